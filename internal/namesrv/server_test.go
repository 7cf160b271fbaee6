package namesrv

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/petrelmq/petrel/internal/properties"
	"github.com/petrelmq/petrel/internal/testutil/poll"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/remoting"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// testConfig is DefaultConfig on 127.0.0.1:0 with the KV file in dir.
func testConfig(dir string) Config {
	cfg := DefaultConfig()
	cfg.ListenAddr = "127.0.0.1:0"
	cfg.KVConfigPath = filepath.Join(dir, "namesrv", "kvConfig.json")
	return cfg
}

func startServer(t *testing.T, cfg Config, clk clock.Clock) (*Server, string) {
	t.Helper()
	s, err := New(cfg, discardLogger(), clk)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.Start(ctx))
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s, s.Addr().String()
}

func newClient(t *testing.T) *remoting.Client {
	t.Helper()
	cl := remoting.NewClient(remoting.DefaultClientConfig(), discardLogger())
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

func call(t *testing.T, cl *remoting.Client, addr string, r *protocol.Command) *protocol.Command {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cl.Invoke(ctx, addr, r)
	require.NoError(t, err)
	return resp
}

func routeCode(t *testing.T, cl *remoting.Client, addr, topic string) protocol.ResponseCode {
	t.Helper()
	return call(t, cl, addr, req(protocol.GetRouteInfoByTopic, map[string]string{"topic": topic}, nil)).ResponseCode()
}

func TestServerLifecycle(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cfg := testConfig(t.TempDir())

	s, err := New(cfg, nil, clock.Real{})
	require.NoError(t, err)
	require.Nil(t, s.Addr(), "New does not listen")
	require.NoError(t, s.Close(), "Close before Start")
	require.ErrorIs(t, s.Start(context.Background()), ErrClosed)

	s, err = New(cfg, nil, clock.Real{})
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	require.Error(t, s.Start(context.Background()), "second Start")
	require.NotNil(t, s.Addr())
	cl := remoting.NewClient(remoting.DefaultClientConfig(), nil)
	resp := call(t, cl, s.Addr().String(), req(protocol.GetAllTopicListFromNameServer, nil, nil))
	requireCode(t, resp, protocol.Success)
	require.NoError(t, cl.Close())
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "idempotent")
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	// Each error names the namesrv.conf key (a *properties.KeyError), or the
	// field when no key sets it.
	mutate := map[string]func(*Config){
		"listenAddr":                      func(c *Config) { c.ListenAddr = "" },
		"kvConfigPath":                    func(c *Config) { c.KVConfigPath = "" },
		"brokerTimeoutMillis":             func(c *Config) { c.BrokerTimeout = 0 },
		"scanIntervalMillis":              func(c *Config) { c.ScanInterval = -time.Second },
		"scanFirstDelayMillis":            func(c *Config) { c.ScanFirstDelay = -time.Second },
		"maxFrameSize":                    func(c *Config) { c.Remoting.MaxFrameSize = 10 },
		"serverChannelMaxIdleTimeSeconds": func(c *Config) { c.Remoting.IdleTimeout = -time.Second },
		"FS":                              func(c *Config) { c.FS = nil },
		"serverMaxInflightPerConnection":  func(c *Config) { c.Remoting.MaxInflightPerConn = 0 },
		"Remoting":                        func(c *Config) { c.Remoting.WriteTimeout = -1 },
	}
	for name, f := range mutate {
		cfg := DefaultConfig()
		f(&cfg)
		err := cfg.Validate()
		require.Error(t, err, name)
		require.Contains(t, err.Error(), name)
		if name[0] >= 'a' && name[0] <= 'z' {
			var ke *properties.KeyError
			require.ErrorAs(t, err, &ke, name)
			require.Equal(t, name, ke.Key)
		}
		_, err = New(cfg, nil, clock.Real{})
		require.Error(t, err)
	}
	cfg := DefaultConfig()
	require.NoError(t, cfg.Validate())
	require.Equal(t, "0.0.0.0:9876", cfg.ListenAddr)
	require.True(t, strings.HasSuffix(cfg.KVConfigPath, filepath.Join("namesrv", "kvConfig.json")))
	require.Equal(t, 120*time.Second, cfg.BrokerTimeout)
	require.Equal(t, 10*time.Second, cfg.ScanInterval)
	require.False(t, cfg.OrderMessageEnable)
}

// Every command over TCP with the real remoting client.
func TestServerTCPCommands(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, testConfig(t.TempDir()), clock.Real{})
	cl := newClient(t)
	tc := func(name string, q int32) TopicConfig {
		return TopicConfig{TopicName: name, ReadQueueNums: q, WriteQueueNums: q, Perm: 6}
	}

	// Register: plain JSON body and compressed body.
	resp := call(t, cl, addr, registerReq(t, "broker-a", "10.0.0.1:10911", 0, topicBody(1, tc("T", 4), tc("U", 2)), false))
	requireCode(t, resp, protocol.Success)
	resp = call(t, cl, addr, registerReq(t, "broker-b", "10.0.0.2:10911", 0, topicBody(1, tc("T", 8)), true))
	requireCode(t, resp, protocol.Success)
	resp = call(t, cl, addr, registerReq(t, "broker-a", "10.0.0.3:10911", 1, topicBody(1), true))
	requireCode(t, resp, protocol.Success)
	require.Equal(t, "10.0.0.1:10911", resp.Ext("masterAddr"))
	require.Equal(t, "10.0.0.1:109111", resp.Ext("haServerAddr"))

	bad := registerReq(t, "broker-c", "10.0.0.4:10911", 0, topicBody(1), false)
	bad.ExtFields["bodyCrc32"] = "1"
	resp = call(t, cl, addr, bad)
	requireCode(t, resp, protocol.SystemError)
	require.Equal(t, "crc32 not match", resp.Remark)

	// Route, both encodings.
	resp = call(t, cl, addr, req(protocol.GetRouteInfoByTopic, map[string]string{"topic": "T"}, nil))
	requireCode(t, resp, protocol.Success)
	require.Contains(t, string(resp.Body), `"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.3:10911"}`)
	r := req(protocol.GetRouteInfoByTopic, map[string]string{"topic": "T"}, nil)
	r.Version = protocol.CurrentVersion
	resp = call(t, cl, addr, r)
	requireCode(t, resp, protocol.Success)
	require.True(t, json.Valid(resp.Body))
	require.Equal(t, `{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.3:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"},{"brokerAddrs":{"0":"10.0.0.2:10911"},"brokerName":"broker-b","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4},{"brokerName":"broker-b","perm":6,"readQueueNums":8,"topicSysFlag":0,"writeQueueNums":8}]}`, string(resp.Body))
	requireCode(t, call(t, cl, addr, req(protocol.GetRouteInfoByTopic, map[string]string{"topic": "nope"}, nil)), protocol.TopicNotExist)

	// Cluster info, both encodings.
	resp = call(t, cl, addr, req(protocol.GetBrokerClusterInfo, nil, nil))
	requireCode(t, resp, protocol.Success)
	require.Contains(t, string(resp.Body), `"clusterAddrTable":{"DefaultCluster":["broker-a","broker-b"]}`)
	require.Contains(t, string(resp.Body), `{0:"10.0.0.2:10911"}`)
	r = req(protocol.GetBrokerClusterInfo, nil, nil)
	r.Version = protocol.CurrentVersion
	var ci struct {
		BrokerAddrTable map[string]struct {
			BrokerAddrs map[int64]string `json:"brokerAddrs"`
		} `json:"brokerAddrTable"`
		ClusterAddrTable map[string][]string `json:"clusterAddrTable"`
	}
	require.NoError(t, json.Unmarshal(call(t, cl, addr, r).Body, &ci))
	require.Equal(t, map[int64]string{0: "10.0.0.1:10911", 1: "10.0.0.3:10911"}, ci.BrokerAddrTable["broker-a"].BrokerAddrs)

	// Topic lists.
	body := func(code protocol.RequestCode, ext map[string]string) string {
		t.Helper()
		resp := call(t, cl, addr, req(code, ext, nil))
		requireCode(t, resp, protocol.Success)
		return string(resp.Body)
	}
	require.Equal(t, `{"topicList":["T","U"]}`, body(protocol.GetAllTopicListFromNameServer, nil))
	require.Equal(t, `{"topicList":["T","U"]}`, body(protocol.GetTopicsByCluster, map[string]string{"cluster": "DefaultCluster"}))
	require.Equal(t, `{"brokerAddr":"10.0.0.1:10911","topicList":["DefaultCluster","broker-a","broker-b"]}`, body(protocol.GetSystemTopicListFromNS, nil))
	require.Equal(t, `{"topicList":[]}`, body(protocol.GetUnitTopicList, nil))
	require.Equal(t, `{"topicList":[]}`, body(protocol.GetHasUnitSubTopicList, nil))
	require.Equal(t, `{"topicList":[]}`, body(protocol.GetHasUnitSubUnunitTopicList, nil))

	// Wipe and add write perm.
	resp = call(t, cl, addr, req(protocol.WipeWritePermOfBroker, map[string]string{"brokerName": "broker-a"}, nil))
	requireCode(t, resp, protocol.Success)
	require.Equal(t, "2", resp.Ext("wipeTopicCount"))
	require.Contains(t, body(protocol.GetRouteInfoByTopic, map[string]string{"topic": "U"}), `"perm":4`)
	resp = call(t, cl, addr, req(protocol.AddWritePermOfBroker, map[string]string{"brokerName": "broker-a"}, nil))
	requireCode(t, resp, protocol.Success)
	require.Equal(t, "2", resp.Ext("addTopicCount"))
	require.Contains(t, body(protocol.GetRouteInfoByTopic, map[string]string{"topic": "U"}), `"perm":6`)

	// Delete topic.
	body(protocol.DeleteTopicInNamesrv, map[string]string{"topic": "U"})
	require.Equal(t, `{"topicList":["T"]}`, body(protocol.GetAllTopicListFromNameServer, nil))

	// KV.
	body(protocol.PutKVConfig, map[string]string{"namespace": "ns", "key": "k", "value": "v"})
	resp = call(t, cl, addr, req(protocol.GetKVConfig, map[string]string{"namespace": "ns", "key": "k"}, nil))
	requireCode(t, resp, protocol.Success)
	require.Equal(t, "v", resp.Ext("value"))
	require.Equal(t, `{"table":{"k":"v"}}`, body(protocol.GetKVListByNamespace, map[string]string{"namespace": "ns"}))
	body(protocol.DeleteKVConfig, map[string]string{"namespace": "ns", "key": "k"})
	requireCode(t, call(t, cl, addr, req(protocol.GetKVConfig, map[string]string{"namespace": "ns", "key": "k"}, nil)), protocol.QueryNotFound)
	requireCode(t, call(t, cl, addr, req(protocol.GetKVListByNamespace, map[string]string{"namespace": "none"}, nil)), protocol.QueryNotFound)

	// Config.
	require.Contains(t, body(protocol.GetNamesrvConfig, nil), "orderMessageEnable=false\n")
	resp = call(t, cl, addr, req(protocol.UpdateNamesrvConfig, nil, []byte("orderMessageEnable=true\n")))
	requireCode(t, resp, protocol.Success)
	require.Contains(t, body(protocol.GetNamesrvConfig, nil), "orderMessageEnable=true\n")
	resp = call(t, cl, addr, req(protocol.UpdateNamesrvConfig, nil, []byte("bogus=1\n")))
	requireCode(t, resp, protocol.SystemError)
	require.Contains(t, resp.Remark, "bogus")

	// Query data version.
	hdr := map[string]string{"brokerName": "broker-a", "brokerAddr": "10.0.0.1:10911", "clusterName": "DefaultCluster", "brokerId": "0"}
	resp = call(t, cl, addr, req(protocol.QueryDataVersion, hdr, []byte(`{"counter":1,"timestamp":0}`)))
	requireCode(t, resp, protocol.Success)
	require.Equal(t, "false", resp.Ext("changed"))
	require.JSONEq(t, `{"counter":1,"timestamp":0}`, string(resp.Body))

	// Missing field, unknown code.
	resp = call(t, cl, addr, req(protocol.GetRouteInfoByTopic, nil, nil))
	requireCode(t, resp, protocol.SystemError)
	require.Contains(t, resp.Remark, "<topic>")
	requireCode(t, call(t, cl, addr, req(protocol.SendMessage, nil, nil)), protocol.RequestCodeNotSupported)

	// Unregister.
	body(protocol.UnregisterBroker, map[string]string{"brokerName": "broker-b", "brokerAddr": "10.0.0.2:10911", "clusterName": "DefaultCluster", "brokerId": "0"})
	require.NotContains(t, body(protocol.GetRouteInfoByTopic, map[string]string{"topic": "T"}), "broker-b")
}

func TestServerKVPersistsAcrossRestart(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t.TempDir())
	s1, err := New(cfg, discardLogger(), clock.Real{})
	require.NoError(t, err)
	require.NoError(t, s1.Start(context.Background()))
	cl := newClient(t)
	addr1 := s1.Addr().String()
	for _, kv := range [][3]string{{"ns", "a", "1"}, {"ns", "b", "2"}, {NamespaceOrderTopicConfig, "T", "broker-a:4"}} {
		requireCode(t, call(t, cl, addr1, req(protocol.PutKVConfig, map[string]string{"namespace": kv[0], "key": kv[1], "value": kv[2]}, nil)), protocol.Success)
	}
	requireCode(t, call(t, cl, addr1, req(protocol.DeleteKVConfig, map[string]string{"namespace": "ns", "key": "b"}, nil)), protocol.Success)
	require.NoError(t, s1.Close())

	_, addr2 := startServer(t, cfg, clock.Real{})
	resp := call(t, cl, addr2, req(protocol.GetKVListByNamespace, map[string]string{"namespace": "ns"}, nil))
	requireCode(t, resp, protocol.Success)
	require.Equal(t, `{"table":{"a":"1"}}`, string(resp.Body))
	// The order config comes back in REGISTER_BROKER answers.
	resp = call(t, cl, addr2, registerReq(t, "broker-a", "10.0.0.1:10911", 0, topicBody(1), false))
	requireCode(t, resp, protocol.Success)
	require.Equal(t, `{"table":{"T":"broker-a:4"}}`, string(resp.Body))
}

func TestServerLivenessExpiry(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(t0)
	_, addr := startServer(t, testConfig(t.TempDir()), clk)
	cl := newClient(t)
	requireCode(t, call(t, cl, addr, registerReq(t, "broker-a", "10.0.0.1:10911", 0,
		topicBody(1, TopicConfig{TopicName: "T", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6}), false)), protocol.Success)

	// The scan goroutine arms one timer; each Advance past it runs one scan, after
	// which the timer is armed again. Waiting for that makes every step
	// deterministic.
	step := func(d time.Duration) {
		t.Helper()
		poll.WaitFor(t, 10*time.Second, func() bool { return clk.Waiters() == 1 })
		clk.Advance(d)
		poll.WaitFor(t, 10*time.Second, func() bool { return clk.Waiters() == 1 })
	}
	step(5 * time.Second)   // first scan at 5 s
	step(115 * time.Second) // 120 s silent: kept
	require.Equal(t, protocol.Success, routeCode(t, cl, addr, "T"))
	step(10 * time.Second) // 130 s silent: dropped
	require.Equal(t, protocol.TopicNotExist, routeCode(t, cl, addr, "T"))
}

func TestServerDropsBrokerOnConnClose(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, testConfig(t.TempDir()), clock.Real{})
	broker := remoting.NewClient(remoting.DefaultClientConfig(), discardLogger())
	requireCode(t, call(t, broker, addr, registerReq(t, "broker-a", "10.0.0.1:10911", 0,
		topicBody(1, TopicConfig{TopicName: "T", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6}), false)), protocol.Success)

	cl := newClient(t)
	require.Equal(t, protocol.Success, routeCode(t, cl, addr, "T"))
	require.NoError(t, broker.Close())
	poll.WaitFor(t, 10*time.Second, func() bool { return routeCode(t, cl, addr, "T") == protocol.TopicNotExist })
}

// TestServerMasterSwitch drives a failover over TCP: the slave B registers as
// id 0 from its own address, the old master A's connection closes, a late
// UNREGISTER_BROKER of A's master incarnation arrives, and A comes back as a
// slave. The route names B as id 0 throughout, once.
func TestServerMasterSwitch(t *testing.T) {
	t.Parallel()
	s, addr := startServer(t, testConfig(t.TempDir()), clock.Real{})
	const a, b = "10.0.0.1:10911", "10.0.0.2:10911"
	topics := topicBody(1, TopicConfig{TopicName: "T", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6})
	brokerA := remoting.NewClient(remoting.DefaultClientConfig(), discardLogger())
	t.Cleanup(func() { _ = brokerA.Close() })
	brokerB := newClient(t)
	cl := newClient(t)
	route := func() string {
		t.Helper()
		var rd struct {
			BrokerDatas []struct {
				BrokerAddrs map[string]string `json:"brokerAddrs"`
			} `json:"brokerDatas"`
		}
		r := req(protocol.GetRouteInfoByTopic, map[string]string{"topic": "T"}, nil)
		r.Version = 409 // standard JSON
		resp := call(t, cl, addr, r)
		requireCode(t, resp, protocol.Success)
		require.NoError(t, json.Unmarshal(resp.Body, &rd))
		require.Len(t, rd.BrokerDatas, 1)
		out, err := json.Marshal(rd.BrokerDatas[0].BrokerAddrs)
		require.NoError(t, err)
		return string(out)
	}

	requireCode(t, call(t, brokerA, addr, registerReq(t, "broker-a", a, 0, topics, false)), protocol.Success)
	resp := call(t, brokerB, addr, registerReq(t, "broker-a", b, 1, topics, false))
	requireCode(t, resp, protocol.Success)
	require.Equal(t, a, resp.Ext("masterAddr"))
	require.Equal(t, `{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"}`, route())

	// B is promoted: it registers id 0 from its own address.
	requireCode(t, call(t, brokerB, addr, registerReq(t, "broker-a", b, 0, topics, false)), protocol.Success)
	require.Equal(t, `{"0":"10.0.0.2:10911"}`, route())

	// A's connection closes; once the name server has dropped A's liveness,
	// B is still id 0.
	require.NoError(t, brokerA.Close())
	poll.WaitFor(t, 10*time.Second, func() bool {
		s.svc.mu.RLock()
		defer s.svc.mu.RUnlock()
		return s.svc.mu.rt.live[a] == nil
	})
	require.Equal(t, `{"0":"10.0.0.2:10911"}`, route())

	// A late UNREGISTER_BROKER of A as id 0 leaves B alone.
	requireCode(t, call(t, cl, addr, req(protocol.UnregisterBroker, map[string]string{
		"brokerName": "broker-a", "brokerAddr": a, "clusterName": "DefaultCluster", "brokerId": "0",
	}, nil)), protocol.Success)
	require.Equal(t, `{"0":"10.0.0.2:10911"}`, route())

	// A returns as slave 2 and is told B is the master, with B's HA address.
	brokerA2 := newClient(t)
	resp = call(t, brokerA2, addr, registerReq(t, "broker-a", a, 2, topics, false))
	requireCode(t, resp, protocol.Success)
	require.Equal(t, b, resp.Ext("masterAddr"))
	require.Equal(t, b+"1", resp.Ext("haServerAddr"))
	require.Equal(t, `{"0":"10.0.0.2:10911","2":"10.0.0.1:10911"}`, route())
}
