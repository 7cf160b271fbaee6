//go:build e2e

package e2e

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
	"github.com/apache/rocketmq-client-go/v2/rlog"
	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/internal/testutil/tlstest"
	"github.com/petrelmq/petrel/pkg/auth"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
	"github.com/petrelmq/petrel/pkg/remoting"
)

const e2eACL = `accounts:
  - accessKey: e2eAdmin01
    secretKey: e2eAdminSecret
    admin: true
  - accessKey: e2eUser001
    secretKey: e2eUserSecret
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - secured=PUB|SUB
`

// TestSecurityStandalone runs `petrel standalone` with aclEnable=true and
// tls.server.mode=permissive, and drives it as users and attackers would:
// the official Go client with and without the right keys, a forged broker
// registration, an ACL edit while running, plain and TLS health checks.
func TestSecurityStandalone(t *testing.T) {
	rlog.SetLogLevel("error")
	dir := t.TempDir()
	aclPath := filepath.Join(dir, "plain_acl.yml")
	require.NoError(t, os.WriteFile(aclPath, []byte(e2eACL), 0o600))
	ca := tlstest.NewCA(t, dir)
	cert, key := ca.Issue(t, "server", "petrel")
	conf := writeBrokerConf(t, "brokerIP1=127.0.0.1", "aclEnable=true", "aclFilePath="+aclPath,
		"accessKey=e2eAdmin01", "secretKey=e2eAdminSecret",
		"tls.server.mode=permissive", "tls.server.certPath="+cert, "tls.server.keyPath="+key)
	s := startStandalone(t, conf, t.TempDir(), 0)
	require.NotContains(t, s.p.output(), "e2eAdminSecret", "the secret key is never logged")

	admin := remoting.NewClient(remoting.ClientConfig{Sign: auth.Credentials{AccessKey: "e2eAdmin01", SecretKey: "e2eAdminSecret"}.Sign}, nil)
	t.Cleanup(func() { _ = admin.Close() })
	createTopic(t, admin, s.broker, "secured", 1)
	createTopic(t, admin, s.broker, "other", 1)

	// Unsigned requests, even on the plain port, are refused.
	resp := rawCall(t, newRawClient(t), s.broker, protocol.GetMaxOffset, map[string]string{"topic": "secured", "queueId": "0"})
	require.Equal(t, protocol.NoPermission, resp.ResponseCode(), resp.Remark)
	require.Contains(t, resp.Remark, "No accessKey is configured")

	user := primitive.Credentials{AccessKey: "e2eUser001", SecretKey: "e2eUserSecret"}
	newProducer := func(creds primitive.Credentials) syncSender {
		p, err := producer.NewDefaultProducer(
			producer.WithNsResolver(primitive.NewPassthroughResolver([]string{s.ns})),
			producer.WithGroupName("e2e-acl-pg"),
			producer.WithInstanceName(fmt.Sprintf("%s-%d-%d", t.Name(), os.Getpid(), producerSeq.Add(1))),
			producer.WithRetry(0), producer.WithSendMsgTimeout(5*time.Second),
			producer.WithCredentials(creds))
		require.NoError(t, err)
		require.NoError(t, p.Start())
		t.Cleanup(func() { _ = p.Shutdown() })
		return p
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	good := newProducer(user)
	for i := range 3 {
		_, err := good.SendSync(ctx, primitive.NewMessage("secured", []byte(fmt.Sprintf("m%d", i))))
		require.NoError(t, err)
	}
	_, err := good.SendSync(ctx, primitive.NewMessage("other", []byte("denied")))
	require.ErrorContains(t, err, "No default permission for topic=other")
	bad := newProducer(primitive.Credentials{AccessKey: "e2eUser001", SecretKey: "guessed-secret"})
	_, err = bad.SendSync(ctx, primitive.NewMessage("secured", []byte("forged")))
	require.ErrorContains(t, err, "Check signature failed for accessKey=e2eUser001")
	testutil.WaitFor(t, 10*time.Second, func() bool { return maxQueueOffset(t, admin, s.broker, "secured", 0) == 3 })
	require.Zero(t, maxQueueOffset(t, admin, s.broker, "other", 0))
	require.Contains(t, s.p.output(), `msg="acl: request refused" access_key=e2eUser001`)

	// petrel admin signs with --access-key/--secret-key; unsigned, it is refused.
	out, code := run(t, 30*time.Second, "admin", "topicStatus", "-n", s.ns, "-t", "secured", "-o", "json")
	require.NotZero(t, code, out)
	out, code = run(t, 30*time.Second, "admin", "topicStatus", "-n", s.ns, "-t", "secured", "-o", "json",
		"--access-key", "e2eAdmin01", "--secret-key", "e2eAdminSecret")
	require.Zero(t, code, out)
	require.Contains(t, out, `"maxOffset": 3`)

	if !testutil.RaceEnabled { // the official consumer races internally
		got := make(chan string, 10)
		pc, err := consumer.NewPushConsumer(
			consumer.WithNsResolver(primitive.NewPassthroughResolver([]string{s.ns})),
			consumer.WithGroupName("e2e-acl-group"),
			consumer.WithInstance(fmt.Sprintf("%s-c-%d", t.Name(), os.Getpid())),
			consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
			consumer.WithCredentials(user))
		require.NoError(t, err)
		require.NoError(t, pc.Subscribe("secured", consumer.MessageSelector{}, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			for _, m := range msgs {
				got <- string(m.Body)
			}
			return consumer.ConsumeSuccess, nil
		}))
		require.NoError(t, pc.Start())
		t.Cleanup(func() { _ = pc.Shutdown() })
		seen := map[string]bool{}
		for len(seen) < 3 {
			select {
			case b := <-got:
				seen[b] = true
			case <-ctx.Done():
				t.Fatalf("consumed %v of 3", seen)
			}
		}
	}

	// A forged registration of broker-a at another address is refused by
	// the embedded name server.
	rb := &body.RegisterBody{Topics: body.TopicConfigWrapper{DataVersion: body.DataVersion{Counter: 99, Timestamp: time.Now().UnixMilli()},
		TopicConfigTable: map[string]body.TopicConfig{"secured": {TopicName: "secured", ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6, TopicFilterType: "SINGLE_TAG"}}}}
	data, err := body.EncodeRegisterBody(rb, false)
	require.NoError(t, err)
	req := header.NewRequest(protocol.RegisterBroker, &header.RegisterBroker{BrokerName: "broker-a", BrokerAddr: "127.0.0.1:1",
		ClusterName: "DefaultCluster", HAServerAddr: "127.0.0.1:1"})
	req.Body = data
	resp = call(t, newRawClient(t), s.ns, req)
	require.Equal(t, protocol.NoPermission, resp.ResponseCode(), resp.Remark)
	route := call(t, newRawClient(t), s.ns, protocol.NewRequest(protocol.GetRouteInfoByTopic, map[string]string{"topic": "secured"}))
	require.Equal(t, protocol.Success, route.ResponseCode(), "route reads stay open")
	require.NotContains(t, string(route.Body), "127.0.0.1:1\"")

	// Editing the file while running takes effect within seconds.
	require.NoError(t, os.WriteFile(aclPath, []byte(strings.Replace(e2eACL, "secured=PUB|SUB", "secured=PUB|SUB\n      - other=PUB", 1)), 0o600))
	testutil.WaitFor(t, 10*time.Second, func() bool {
		_, err := good.SendSync(ctx, primitive.NewMessage("other", []byte("now allowed")))
		return err == nil
	})

	// TLS and plain on the same port (permissive); health signs and uses TLS.
	out, code = run(t, 20*time.Second, "health", "--addr", s.broker, "--tls", "--tls-trust-cert", ca.CertPath,
		"--access-key", "e2eAdmin01", "--secret-key", "e2eAdminSecret")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "messages stored")
	out, code = run(t, 20*time.Second, "health", "--addr", s.broker)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "ACL on")
	out, code = run(t, 20*time.Second, "health", "--addr", s.broker, "--tls")
	require.Equal(t, 1, code, "the test CA is not in the system roots:\n"+out)
}

// TestTLSEnforcingStandalone: with tls.server.mode=enforcing a plain client
// is refused and a TLS client is served, on the broker and on the embedded
// name server (which takes the broker's tls.server.* settings), while the
// broker registers over TLS (tls.enable).
func TestTLSEnforcingStandalone(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir)
	cert, key := ca.Issue(t, "server", "petrel")
	conf := writeBrokerConf(t, "brokerIP1=127.0.0.1", "tls.server.mode=enforcing", "tls.server.certPath="+cert, "tls.server.keyPath="+key,
		"tls.enable=true", "tls.client.trustCertPath="+ca.CertPath)
	s := startStandalone(t, conf, t.TempDir(), 0)
	out, code := run(t, 20*time.Second, "health", "--addr", s.broker, "--timeout", "3s")
	require.Equal(t, 1, code, out)
	out, code = run(t, 20*time.Second, "health", "--addr", s.broker, "--tls", "--tls-trust-cert", ca.CertPath)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "broker at "+s.broker+" is ready")
	out, code = run(t, 20*time.Second, "health", "--addr", s.ns, "--timeout", "3s")
	require.Equal(t, 1, code, out)
	out, code = run(t, 20*time.Second, "health", "--addr", s.ns, "--tls", "--tls-trust-cert", ca.CertPath)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "name server at "+s.ns+" is ready (")
}
