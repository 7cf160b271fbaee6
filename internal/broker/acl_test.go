package broker_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/namesrv"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/internal/testutil/tlstest"
	petreladmin "github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/auth"
	"github.com/petrelmq/petrel/pkg/client"
	petrelproducer "github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
	"github.com/petrelmq/petrel/pkg/remoting"
)

var (
	aclAdmin = auth.Credentials{AccessKey: "adminKey01", SecretKey: "adminSecret01"}
	aclUser  = auth.Credentials{AccessKey: "userKey001", SecretKey: "userSecret01"}
)

const aclFile = `globalWhiteRemoteAddresses: []
accounts:
  - accessKey: adminKey01
    secretKey: adminSecret01
    admin: true
  - accessKey: userKey001
    secretKey: userSecret01
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - aclTopic=PUB|SUB
      - subOnly=SUB
`

// startACL starts a cluster whose broker runs with aclEnable=true and the
// ACL file above (in the store's config directory, the default place); the
// broker signs its registrations with the admin account.
func startACL(t *testing.T) (*testutil.Cluster, string) {
	t.Helper()
	var path string
	c := testutil.StartCluster(t, testutil.WithBrokerConfig(func(cfg *broker.Config) {
		cfg.ACLEnable = true
		cfg.Credentials = aclAdmin
		path = cfg.ACLPath()
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(aclFile), 0o600))
	}))
	require.Equal(t, filepath.Join(c.StoreDir, "config", "plain_acl.yml"), path)
	return c, path
}

// signedClient is a remoting client that signs with creds.
func signedClient(t *testing.T, creds auth.Credentials) *remoting.Client {
	cl := remoting.NewClient(remoting.ClientConfig{Sign: creds.Sign}, nil)
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

func TestACLRawRequests(t *testing.T) {
	c, path := startACL(t)
	admin := &rawBroker{t: t, c: c, cl: signedClient(t, aclAdmin), addr: c.BrokerAddr}
	user := &rawBroker{t: t, c: c, cl: signedClient(t, aclUser), addr: c.BrokerAddr}
	anon := &rawBroker{t: t, c: c, cl: rawClient(t), addr: c.BrokerAddr}
	admin.createTopic("aclTopic", 1, 6)
	admin.createTopic("subOnly", 1, 6)
	admin.createTopic("other", 1, 6)
	stored := func(topic string) int64 { return maxOffset(t, admin.cl, c.BrokerAddr, topic, 0) }
	refused := func(resp *protocol.Command, reason string) {
		t.Helper()
		require.Equal(t, protocol.NoPermission, resp.ResponseCode(), resp.Remark)
		require.Contains(t, resp.Remark, reason)
	}

	require.Equal(t, protocol.Success, user.send("aclTopic", 0, "", "ok").ResponseCode())
	testutil.WaitFor(t, 10*time.Second, func() bool { return stored("aclTopic") == 1 }) // dispatch is asynchronous

	refused(anon.send("aclTopic", 0, "", "x"), "No accessKey is configured")
	wrong := &rawBroker{t: t, c: c, cl: signedClient(t, auth.Credentials{AccessKey: aclUser.AccessKey, SecretKey: "not-the-secret"}), addr: c.BrokerAddr}
	refused(wrong.send("aclTopic", 0, "", "x"), "Check signature failed for accessKey=userKey001")
	unknown := &rawBroker{t: t, c: c, cl: signedClient(t, auth.Credentials{AccessKey: "nobody0001", SecretKey: "whatever01"}), addr: c.BrokerAddr}
	refused(unknown.send("aclTopic", 0, "", "x"), "No acl config for nobody0001")

	// A signature replayed over a modified body.
	req := protocol.NewRequest(protocol.SendMessage, sendV1("aclTopic", 0, nil))
	req.Body = []byte("original")
	aclUser.Sign(req)
	req.Body = []byte("tampered")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := anon.cl.Invoke(ctx, c.BrokerAddr, req)
	require.NoError(t, err)
	refused(resp, "Check signature failed")

	refused(user.send("subOnly", 0, "", "x"), "No permission for topic=subOnly (PUB needed, SUB granted)")
	refused(user.send("other", 0, "", "x"), "No default permission for topic=other")
	require.Equal(t, int64(1), stored("aclTopic"), "nothing refused was stored")
	require.Zero(t, stored("subOnly"))
	require.Zero(t, stored("other"))

	// Admin codes need an admin account.
	resp = user.call(protocol.DeleteTopicInBroker, map[string]string{"topic": "aclTopic"}, nil)
	refused(resp, "Need admin permission for request code=215, but accessKey=userKey001 is not admin")
	resp = user.call(protocol.UpdateBrokerConfig, nil, []byte("brokerPermission=4\n"))
	refused(resp, "Need admin permission")
	resp = user.call(protocol.UpdateAndCreateACLConfig, map[string]string{"accessKey": aclUser.AccessKey, "admin": "true"}, nil)
	refused(resp, "Need admin permission")

	// The file edited while running applies within seconds.
	edited := strings.Replace(aclFile, "subOnly=SUB", "subOnly=PUB", 1)
	require.NoError(t, os.WriteFile(path, []byte(edited), 0o600))
	testutil.WaitFor(t, 10*time.Second, func() bool {
		return user.send("subOnly", 0, "", "now").ResponseCode() == protocol.Success
	})

	// The ACL admin codes manage accounts.
	resp = admin.call(protocol.UpdateAndCreateACLConfig, map[string]string{"accessKey": "newKey0001", "secretKey": "newSecret01",
		"topicPerms": "other=PUB", "admin": "false"}, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	newbie := &rawBroker{t: t, c: c, cl: signedClient(t, auth.Credentials{AccessKey: "newKey0001", SecretKey: "newSecret01"}), addr: c.BrokerAddr}
	require.Equal(t, protocol.Success, newbie.send("other", 0, "", "hi").ResponseCode())
	resp = admin.call(protocol.GetBrokerClusterACLConfig, nil, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	require.Contains(t, string(resp.Body), `"accessKey":"newKey0001"`)
	require.NotContains(t, string(resp.Body), "newSecret01", "secrets are never sent back")
	resp = admin.call(protocol.GetBrokerClusterACLInfo, nil, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	require.Contains(t, resp.Ext("version"), `"counter":1`)
	resp = admin.call(protocol.DeleteACLConfig, map[string]string{"accessKey": "newKey0001"}, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	refused(newbie.send("other", 0, "", "x"), "No acl config for newKey0001")
	resp = admin.call(protocol.UpdateGlobalWhiteAddrsConfig, map[string]string{"globalWhiteAddrs": "127.0.0.1"}, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	require.Equal(t, protocol.Success, anon.send("other", 0, "", "white").ResponseCode(), "white-listed address")

	// Only the accepted sends were stored, refused ones never.
	testutil.WaitFor(t, 10*time.Second, func() bool { return stored("subOnly") == 1 && stored("other") == 2 })
	require.Equal(t, int64(1), stored("aclTopic"))

	// The broker's own config answer shows no secret.
	resp = admin.call(protocol.GetBrokerConfig, nil, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	require.NotContains(t, string(resp.Body), aclAdmin.SecretKey)
}

func TestACLOfficialClient(t *testing.T) {
	skipIfRace(t)
	c, _ := startACL(t)
	admin := &rawBroker{t: t, c: c, cl: signedClient(t, aclAdmin), addr: c.BrokerAddr}
	admin.createTopic("aclTopic", 2, 6)
	admin.createTopic("subOnly", 2, 6)
	userCreds := primitive.Credentials{AccessKey: aclUser.AccessKey, SecretKey: aclUser.SecretKey}
	total := func(topic string) int64 {
		return maxOffset(t, admin.cl, c.BrokerAddr, topic, 0) + maxOffset(t, admin.cl, c.BrokerAddr, topic, 1)
	}

	p := newProducer(t, c, producer.WithCredentials(userCreds))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 4 {
		res, err := p.SendSync(ctx, primitive.NewMessage("aclTopic", []byte("signed-"+string(rune('a'+i)))))
		require.NoError(t, err)
		require.Equal(t, primitive.SendOK, res.Status)
	}
	testutil.WaitFor(t, 10*time.Second, func() bool { return total("aclTopic") == 4 }) // dispatch is asynchronous

	_, err := p.SendSync(ctx, primitive.NewMessage("subOnly", []byte("no")))
	require.ErrorContains(t, err, "No permission for topic=subOnly")
	require.Zero(t, total("subOnly"))

	bad := newProducer(t, c, producer.WithCredentials(primitive.Credentials{AccessKey: aclUser.AccessKey, SecretKey: "wrong-secret"}),
		producer.WithGroupName("pg-bad"))
	_, err = bad.SendSync(ctx, primitive.NewMessage("aclTopic", []byte("forged")))
	require.ErrorContains(t, err, "Check signature failed")
	none := newProducer(t, c, producer.WithGroupName("pg-none"))
	_, err = none.SendSync(ctx, primitive.NewMessage("aclTopic", []byte("anonymous")))
	require.ErrorContains(t, err, "No accessKey is configured")
	require.Equal(t, int64(4), total("aclTopic"), "nothing refused was stored")

	col := &collector{msgs: map[string]*primitive.MessageExt{}}
	pc, err := consumer.NewPushConsumer(
		consumer.WithNsResolver(primitive.NewPassthroughResolver([]string{c.NameServerAddr})),
		consumer.WithGroupName("aclGroup"),
		consumer.WithInstance(instance(t)),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
		consumer.WithCredentials(userCreds),
	)
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe("aclTopic", consumer.MessageSelector{Type: consumer.TAG, Expression: "*"}, col.consume))
	require.NoError(t, pc.Start())
	t.Cleanup(func() { _ = pc.Shutdown() })
	testutil.WaitFor(t, 20*time.Second, func() bool { return col.count() == 4 })
}

// With aclEnable on the name server, a forged REGISTER_BROKER (unsigned, or
// signed by an account that is not admin) cannot redirect producers, while
// the broker, signing with its admin account, registers; route reads stay
// open.
func TestACLNameServerRefusesForgedRegistration(t *testing.T) {
	var aclPath string
	c := testutil.StartCluster(t,
		testutil.WithNameServerConfig(func(cfg *namesrv.Config) {
			cfg.ACLEnable = true
			aclPath = cfg.ACLPath()
			require.NoError(t, os.MkdirAll(filepath.Dir(aclPath), 0o755))
			require.NoError(t, os.WriteFile(aclPath, []byte(aclFile), 0o600))
		}),
		testutil.WithBrokerConfig(func(cfg *broker.Config) { cfg.Credentials = aclAdmin }))
	admin := &rawBroker{t: t, c: c, cl: signedClient(t, aclAdmin), addr: c.BrokerAddr}
	admin.createTopic("routed", 1, 6)

	route := func() string {
		resp := invoke(t, rawClient(t), c.NameServerAddr, protocol.GetRouteInfoByTopic, map[string]string{"topic": "routed"}, nil)
		require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
		return string(resp.Body)
	}
	testutil.WaitFor(t, 10*time.Second, func() bool { return strings.Contains(route(), c.BrokerAddr) })

	const forger = "127.0.0.1:1"
	forge := func(cl *remoting.Client) *protocol.Command {
		rb := &body.RegisterBody{Topics: body.TopicConfigWrapper{
			DataVersion: body.DataVersion{Counter: 99, Timestamp: time.Now().UnixMilli()},
			TopicConfigTable: map[string]body.TopicConfig{"routed": {TopicName: "routed", ReadQueueNums: 1,
				WriteQueueNums: 1, Perm: body.PermRead | body.PermWrite, TopicFilterType: "SINGLE_TAG"}},
		}}
		data, err := body.EncodeRegisterBody(rb, false)
		require.NoError(t, err)
		req := header.NewRequest(protocol.RegisterBroker, &header.RegisterBroker{BrokerName: "broker-a",
			BrokerAddr: forger, ClusterName: "DefaultCluster", HAServerAddr: forger, BrokerID: 0})
		req.Body = data
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := cl.Invoke(ctx, c.NameServerAddr, req)
		require.NoError(t, err)
		return resp
	}
	resp := forge(rawClient(t))
	require.Equal(t, protocol.NoPermission, resp.ResponseCode(), resp.Remark)
	require.Contains(t, resp.Remark, "No accessKey is configured")
	resp = forge(signedClient(t, aclUser))
	require.Equal(t, protocol.NoPermission, resp.ResponseCode(), resp.Remark)
	require.Contains(t, resp.Remark, "Need admin permission for request code=103")
	for _, code := range []protocol.RequestCode{protocol.UnregisterBroker, protocol.WipeWritePermOfBroker, protocol.PutKVConfig,
		protocol.DeleteKVConfig, protocol.UpdateNamesrvConfig} {
		resp = invoke(t, rawClient(t), c.NameServerAddr, code, map[string]string{"brokerName": "broker-a",
			"namespace": "ns", "key": "k", "value": "v"}, []byte("orderMessageEnable=true"))
		require.Equal(t, protocol.NoPermission, resp.ResponseCode(), "%s: %s", code, resp.Remark)
	}
	require.NotContains(t, route(), forger)
	require.Contains(t, route(), c.BrokerAddr)
}

// Petrel's SDK signs with client.WithCredentials: the producer and the admin
// client get what their account allows.
func TestACLPetrelSDK(t *testing.T) {
	c, _ := startACL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	adm, err := petreladmin.New(client.NameServers(c.NameServerAddr), client.WithCredentials(aclAdmin))
	require.NoError(t, err)
	require.NoError(t, adm.Start(ctx))
	t.Cleanup(func() { _ = adm.Close() })
	require.NoError(t, adm.CreateTopic(ctx, c.BrokerAddr, petreladmin.TopicSpec{Topic: "aclTopic", ReadQueues: 1, WriteQueues: 1}))
	require.NoError(t, adm.CreateTopic(ctx, c.BrokerAddr, petreladmin.TopicSpec{Topic: "subOnly", ReadQueues: 1, WriteQueues: 1}))

	userAdm, err := petreladmin.New(client.NameServers(c.NameServerAddr), client.WithCredentials(aclUser))
	require.NoError(t, err)
	require.NoError(t, userAdm.Start(ctx))
	t.Cleanup(func() { _ = userAdm.Close() })
	err = userAdm.CreateTopic(ctx, c.BrokerAddr, petreladmin.TopicSpec{Topic: "mine"})
	require.ErrorIs(t, err, protocol.ErrNoPermission)
	require.ErrorContains(t, err, "Need admin permission")

	p, err := petrelproducer.New(client.NameServers(c.NameServerAddr), client.WithCredentials(aclUser))
	require.NoError(t, err)
	require.NoError(t, p.Start(ctx))
	t.Cleanup(func() { _ = p.Close() })
	_, err = p.Send(ctx, petrelproducer.NewMessage("aclTopic", []byte("sdk")))
	require.NoError(t, err)
	_, err = p.Send(ctx, petrelproducer.NewMessage("subOnly", []byte("no")))
	require.ErrorIs(t, err, protocol.ErrNoPermission)
	_, err = p.SendBatch(ctx, petrelproducer.NewMessage("subOnly", []byte("b1")), petrelproducer.NewMessage("subOnly", []byte("b2")))
	require.ErrorIs(t, err, protocol.ErrNoPermission, "batches are checked too")

	_, err = petrelproducer.New(client.NameServers(c.NameServerAddr), client.WithCredentials(auth.Credentials{AccessKey: "only-key"}))
	require.ErrorContains(t, err, "WithCredentials needs both")
}

// tls.server.mode on the broker and the name server: enforcing refuses
// plain clients, permissive serves both; the broker registers over TLS
// (tls.enable) and Petrel's SDK sends over TLS.
func TestTLSBrokerAndNameServer(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir)
	cert, key := ca.Issue(t, "server", "petrel")
	settings := remoting.TLSSettings{ServerMode: "enforcing", ServerCertPath: cert, ServerKeyPath: key,
		ClientEnable: true, ClientTrustCertPath: ca.CertPath}
	c := testutil.StartCluster(t,
		testutil.WithNameServerConfig(func(cfg *namesrv.Config) { cfg.TLS = settings }),
		testutil.WithBrokerConfig(func(cfg *broker.Config) { cfg.TLS = settings; cfg.FastListenPort = -1 }))
	ccfg, err := remoting.ClientTLSConfig(ca.CertPath, "", "", false)
	require.NoError(t, err)
	tlsCl := remoting.NewClient(remoting.ClientConfig{TLS: ccfg}, nil)
	t.Cleanup(func() { _ = tlsCl.Close() })
	admin := &rawBroker{t: t, c: c, cl: tlsCl, addr: c.BrokerAddr}
	admin.createTopic("tlsTopic", 1, 6)

	// Plain clients are refused by both ports.
	for _, addr := range []string{c.BrokerAddr, c.NameServerAddr} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := rawClient(t).Invoke(ctx, addr, protocol.NewRequest(protocol.GetBrokerClusterInfo, nil))
		cancel()
		require.Error(t, err, addr)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := petrelproducer.New(client.NameServers(c.NameServerAddr), client.WithTLS(ccfg))
	require.NoError(t, err)
	require.NoError(t, p.Start(ctx))
	t.Cleanup(func() { _ = p.Close() })
	_, err = p.Send(ctx, petrelproducer.NewMessage("tlsTopic", []byte("over TLS")))
	require.NoError(t, err, "the route came from the name server over TLS, where the broker registered over TLS")
}

func TestTLSPermissiveBroker(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir)
	cert, key := ca.Issue(t, "server", "petrel")
	c := testutil.StartCluster(t, testutil.WithBrokerConfig(func(cfg *broker.Config) {
		cfg.TLS = remoting.TLSSettings{ServerMode: "permissive", ServerCertPath: cert, ServerKeyPath: key}
		cfg.FastListenPort = -1
	}))
	ccfg, err := remoting.ClientTLSConfig(ca.CertPath, "", "", false)
	require.NoError(t, err)
	tlsCl := remoting.NewClient(remoting.ClientConfig{TLS: ccfg}, nil)
	t.Cleanup(func() { _ = tlsCl.Close() })
	for _, cl := range []*remoting.Client{tlsCl, rawClient(t)} {
		resp := invoke(t, cl, c.BrokerAddr, protocol.GetBrokerRuntimeInfo, nil, nil)
		require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	}
}

// pkg/admin manages accounts with the ACL admin codes.
func TestACLAdminClient(t *testing.T) {
	c, _ := startACL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	adm, err := petreladmin.New(client.NameServers(c.NameServerAddr), client.WithCredentials(aclAdmin))
	require.NoError(t, err)
	require.NoError(t, adm.Start(ctx))
	t.Cleanup(func() { _ = adm.Close() })

	require.NoError(t, adm.UpdateACLAccount(ctx, c.BrokerAddr, petreladmin.ACLAccount{AccessKey: "sdkUser01", SecretKey: "sdkSecret01",
		TopicPerms: []string{"a=PUB", "b=SUB"}, DefaultGroupPerm: "SUB"}))
	cfg, err := adm.ACLConfig(ctx, c.BrokerAddr)
	require.NoError(t, err)
	var found *petreladmin.ACLAccount
	for i := range cfg.Accounts {
		if cfg.Accounts[i].AccessKey == "sdkUser01" {
			found = &cfg.Accounts[i]
		}
	}
	require.NotNil(t, found)
	require.Equal(t, []string{"a=PUB", "b=SUB"}, found.TopicPerms)
	require.Equal(t, "******", found.SecretKey)
	v, err := adm.ACLVersion(ctx, c.BrokerAddr)
	require.NoError(t, err)
	require.Equal(t, int64(1), v.Version.Counter)
	require.Equal(t, v.Version, v.Files[filepath.Join(c.StoreDir, "config", "plain_acl.yml")])
	require.Equal(t, c.BrokerAddr, v.BrokerAddr)
	require.NoError(t, adm.SetACLGlobalWhiteAddrs(ctx, c.BrokerAddr, "", []string{"10.1.*.*"}))
	err = adm.SetACLGlobalWhiteAddrs(ctx, c.BrokerAddr, filepath.Join(c.StoreDir, "other.yml"), []string{"10.2.*.*"})
	require.ErrorIs(t, err, &protocol.Error{Code: protocol.UpdateGlobalWhiteAddrsConfigFailed})
	cfg, err = adm.ACLConfig(ctx, c.BrokerAddr)
	require.NoError(t, err)
	require.Equal(t, []string{"10.1.*.*"}, cfg.GlobalWhiteAddrs)
	require.NoError(t, adm.DeleteACLAccount(ctx, c.BrokerAddr, "sdkUser01"))
	err = adm.DeleteACLAccount(ctx, c.BrokerAddr, "sdkUser01")
	require.ErrorIs(t, err, &protocol.Error{Code: protocol.DeleteACLConfigFailed})
	require.ErrorContains(t, adm.UpdateACLAccount(ctx, c.BrokerAddr, petreladmin.ACLAccount{AccessKey: "short"}), "accessKey must be longer")
}

// With tls.server.mode=enforcing on master and slave and tls.enable, the
// slave replicates over TLS (the HA port speaks TLS too) and registers over
// TLS; with ACL on, the slave's calls to its master are signed.
func TestTLSAndACLReplication(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir)
	cert, key := ca.Issue(t, "server", "petrel")
	settings := remoting.TLSSettings{ServerMode: "enforcing", ServerCertPath: cert, ServerKeyPath: key,
		ClientEnable: true, ClientTrustCertPath: ca.CertPath}
	aclPath := filepath.Join(dir, "plain_acl.yml")
	require.NoError(t, os.WriteFile(aclPath, []byte(aclFile), 0o600))
	secure := testutil.WithBrokerConfig(func(cfg *broker.Config) {
		cfg.TLS = settings
		cfg.FastListenPort = -1
		cfg.ACLEnable, cfg.ACLFilePath, cfg.Credentials = true, aclPath, aclAdmin
	})
	c := testutil.StartCluster(t, testutil.WithNameServerConfig(func(cfg *namesrv.Config) { cfg.TLS = settings }), secure)
	slave := testutil.StartSlave(t, c, 1, secure)

	ccfg, err := remoting.ClientTLSConfig(ca.CertPath, "", "", false)
	require.NoError(t, err)
	cl := remoting.NewClient(remoting.ClientConfig{TLS: ccfg, Sign: aclAdmin.Sign}, nil)
	t.Cleanup(func() { _ = cl.Close() })
	master := &rawBroker{t: t, c: c, cl: cl, addr: c.BrokerAddr}
	master.createTopic("replicated", 1, 6)
	for i := range 5 {
		require.Equal(t, protocol.Success, master.send("replicated", 0, "", fmt.Sprintf("m%d", i)).ResponseCode())
	}
	testutil.WaitFor(t, 20*time.Second, func() bool {
		resp := invoke(t, cl, slave.Addr, protocol.GetMaxOffset, map[string]string{"topic": "replicated", "queueId": "0"}, nil)
		return resp.ResponseCode() == protocol.Success && resp.Ext("offset") == "5"
	})
}
