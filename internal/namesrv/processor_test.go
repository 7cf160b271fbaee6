package namesrv

import (
	"encoding/json"
	"hash/crc32"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/stretchr/testify/require"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTestService(t *testing.T) (*service, *clock.Manual) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.KVConfigPath = filepath.Join(t.TempDir(), "kvConfig.json")
	clk := clock.NewManual(t0)
	return newService(cfg, newKVStore(vfs.OS, cfg.KVConfigPath), discardLogger(), clk), clk
}

// req builds a request as the Go client sends it (version 317).
func req(code protocol.RequestCode, ext map[string]string, body []byte) *protocol.Command {
	r := protocol.NewRequest(code, ext)
	r.Version = 317
	r.Body = body
	return r
}

func registerReq(t testing.TB, name, addr string, id int64, rb *RegisterBody, compressed bool) *protocol.Command {
	b, err := body.EncodeRegisterBody(rb, compressed)
	require.NoError(t, err)
	return req(protocol.RegisterBroker, map[string]string{
		"brokerName":   name,
		"brokerAddr":   addr,
		"clusterName":  "DefaultCluster",
		"haServerAddr": addr + "1",
		"brokerId":     strconv.FormatInt(id, 10),
		"compressed":   strconv.FormatBool(compressed),
		"bodyCrc32":    strconv.FormatUint(uint64(crc32.ChecksumIEEE(b)&0x7fffffff), 10),
	}, b)
}

func topicBody(version int64, topics ...TopicConfig) *RegisterBody {
	b := &RegisterBody{Topics: TopicConfigWrapper{DataVersion: DataVersion{Counter: version}, TopicConfigTable: map[string]TopicConfig{}}}
	for _, tc := range topics {
		if tc.TopicFilterType == "" {
			tc.TopicFilterType = "SINGLE_TAG"
		}
		b.Topics.TopicConfigTable[tc.TopicName] = tc
	}
	return b
}

func requireCode(t *testing.T, resp *protocol.Command, code protocol.ResponseCode) {
	t.Helper()
	require.NotNil(t, resp)
	require.Equal(t, code, resp.ResponseCode(), "remark: %s", resp.Remark)
	require.True(t, resp.IsResponse())
}

func TestProcessRegisterAndRoute(t *testing.T) {
	t.Parallel()
	for _, compressed := range []bool{false, true} {
		s, _ := newTestService(t)
		body := topicBody(1, TopicConfig{TopicName: "T", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6})
		resp := s.process(1, registerReq(t, "broker-a", "127.0.0.1:10911", 0, body, compressed))
		requireCode(t, resp, protocol.Success)
		require.Empty(t, resp.Ext("masterAddr"))
		require.Nil(t, resp.Body, "no ORDER_TOPIC_CONFIG namespace yet")

		// Go client (317): fastjson form.
		resp = s.process(2, req(protocol.GetRouteInfoByTopic, map[string]string{"topic": "T"}, nil))
		requireCode(t, resp, protocol.Success)
		require.Equal(t, `{"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}`, string(resp.Body))

		// Java 4.9.8 (409), or acceptStandardJsonOnly: standard JSON.
		std := `{"brokerDatas":[{"brokerAddrs":{"0":"127.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}`
		r := req(protocol.GetRouteInfoByTopic, map[string]string{"topic": "T"}, nil)
		r.Version = 409
		require.Equal(t, std, string(s.process(2, r).Body))
		r = req(protocol.GetRouteInfoByTopic, map[string]string{"topic": "T", "acceptStandardJsonOnly": "true"}, nil)
		require.Equal(t, std, string(s.process(2, r).Body))

		resp = s.process(2, req(protocol.GetRouteInfoByTopic, map[string]string{"topic": "nope"}, nil))
		requireCode(t, resp, protocol.TopicNotExist)
		require.Contains(t, resp.Remark, "nope")
		require.Nil(t, resp.Body)

		// A slave learns its master.
		resp = s.process(3, registerReq(t, "broker-a", "127.0.0.2:10911", 1, topicBody(1), compressed))
		requireCode(t, resp, protocol.Success)
		require.Equal(t, "127.0.0.1:10911", resp.Ext("masterAddr"))
		require.Equal(t, "127.0.0.1:109111", resp.Ext("haServerAddr"))
	}
}

func TestProcessRegisterCRC(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t)
	r := registerReq(t, "b", "a:1", 0, topicBody(1), false)
	r.ExtFields["bodyCrc32"] = "12345"
	resp := s.process(1, r)
	requireCode(t, resp, protocol.SystemError)
	require.Equal(t, "crc32 not match", resp.Remark)

	r.ExtFields["bodyCrc32"] = "0" // disables the check
	requireCode(t, s.process(1, r), protocol.Success)
	delete(r.ExtFields, "bodyCrc32")
	requireCode(t, s.process(1, r), protocol.Success)
	r.ExtFields["bodyCrc32"] = "x"
	requireCode(t, s.process(1, r), protocol.SystemError)

	r = registerReq(t, "b", "a:1", 0, topicBody(1), true)
	r.ExtFields["compressed"] = "false" // zlib bytes are not JSON
	resp = s.process(1, r)
	requireCode(t, resp, protocol.SystemError)
	require.Contains(t, resp.Remark, "bad register body")
}

func TestProcessMissingFields(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t)
	broker := map[string]string{"brokerName": "b", "brokerAddr": "a:1", "clusterName": "c", "brokerId": "0", "haServerAddr": ""}
	without := func(m map[string]string, k string) map[string]string {
		c := map[string]string{}
		for kk, v := range m {
			if kk != k {
				c[kk] = v
			}
		}
		return c
	}
	cases := []struct {
		code  protocol.RequestCode
		ext   map[string]string
		field string
	}{
		{protocol.PutKVConfig, map[string]string{"namespace": "n", "key": "k"}, "value"},
		{protocol.PutKVConfig, map[string]string{"key": "k", "value": "v"}, "namespace"},
		{protocol.GetKVConfig, map[string]string{"namespace": "n"}, "key"},
		{protocol.DeleteKVConfig, map[string]string{"key": "k"}, "namespace"},
		{protocol.GetKVListByNamespace, nil, "namespace"},
		{protocol.RegisterBroker, without(broker, "haServerAddr"), "haServerAddr"},
		{protocol.RegisterBroker, without(broker, "brokerId"), "brokerId"},
		{protocol.UnregisterBroker, without(broker, "brokerAddr"), "brokerAddr"},
		{protocol.QueryDataVersion, without(broker, "clusterName"), "clusterName"},
		{protocol.GetRouteInfoByTopic, nil, "topic"},
		{protocol.DeleteTopicInNamesrv, map[string]string{"clusterName": "c"}, "topic"},
		{protocol.WipeWritePermOfBroker, nil, "brokerName"},
		{protocol.AddWritePermOfBroker, nil, "brokerName"},
		{protocol.GetTopicsByCluster, nil, "cluster"},
	}
	for _, c := range cases {
		resp := s.process(1, req(c.code, c.ext, nil))
		requireCode(t, resp, protocol.SystemError)
		require.Contains(t, resp.Remark, "<"+c.field+">", "code %d", c.code)
	}
	// Present but empty is refused too, except where Java allows it
	// (haServerAddr, a KV value).
	for code, ext := range map[protocol.RequestCode]map[string]string{
		protocol.GetRouteInfoByTopic: {"topic": ""},
		protocol.GetKVConfig:         {"namespace": "n", "key": ""},
		protocol.UnregisterBroker:    {"brokerName": "b", "brokerAddr": "a:1", "clusterName": "c", "brokerId": ""},
	} {
		resp := s.process(1, req(code, ext, nil))
		requireCode(t, resp, protocol.SystemError)
		require.Contains(t, resp.Remark, "is empty", code.String())
	}
	requireCode(t, s.process(1, req(protocol.PutKVConfig, map[string]string{"namespace": "n", "key": "k", "value": ""}, nil)), protocol.Success)

	resp := s.process(1, req(protocol.RegisterBroker, map[string]string{
		"brokerName": "b", "brokerAddr": "a:1", "clusterName": "c", "brokerId": "zero", "haServerAddr": "",
	}, nil))
	requireCode(t, resp, protocol.SystemError)
	require.Contains(t, resp.Remark, "brokerId")

	resp = s.process(1, req(999, nil, nil))
	requireCode(t, resp, protocol.RequestCodeNotSupported)
}

func TestProcessKV(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t)
	kv := func(code protocol.RequestCode, ext map[string]string) *protocol.Command {
		return s.process(1, req(code, ext, nil))
	}

	resp := kv(protocol.GetKVConfig, map[string]string{"namespace": "ns", "key": "k"})
	requireCode(t, resp, protocol.QueryNotFound)
	requireCode(t, kv(protocol.GetKVListByNamespace, map[string]string{"namespace": "ns"}), protocol.QueryNotFound)

	requireCode(t, kv(protocol.PutKVConfig, map[string]string{"namespace": "ns", "key": "k", "value": "v"}), protocol.Success)
	resp = kv(protocol.GetKVConfig, map[string]string{"namespace": "ns", "key": "k"})
	requireCode(t, resp, protocol.Success)
	require.Equal(t, "v", resp.Ext("value"))
	resp = kv(protocol.GetKVListByNamespace, map[string]string{"namespace": "ns"})
	requireCode(t, resp, protocol.Success)
	require.Equal(t, `{"table":{"k":"v"}}`, string(resp.Body))

	requireCode(t, kv(protocol.DeleteKVConfig, map[string]string{"namespace": "ns", "key": "k"}), protocol.Success)
	requireCode(t, kv(protocol.GetKVConfig, map[string]string{"namespace": "ns", "key": "k"}), protocol.QueryNotFound)
	resp = kv(protocol.GetKVListByNamespace, map[string]string{"namespace": "ns"})
	requireCode(t, resp, protocol.Success)
	require.Equal(t, `{"table":{}}`, string(resp.Body))
}

func TestProcessOrderTopicConf(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t)
	requireCode(t, s.process(1, req(protocol.PutKVConfig, map[string]string{
		"namespace": NamespaceOrderTopicConfig, "key": "T", "value": "broker-a:4",
	}, nil)), protocol.Success)

	resp := s.process(1, registerReq(t, "broker-a", "a:1", 0, topicBody(1, TopicConfig{TopicName: "T", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6}), false))
	requireCode(t, resp, protocol.Success)
	require.Equal(t, `{"table":{"T":"broker-a:4"}}`, string(resp.Body))

	route := func() string {
		resp := s.process(2, req(protocol.GetRouteInfoByTopic, map[string]string{"topic": "T"}, nil))
		requireCode(t, resp, protocol.Success)
		return string(resp.Body)
	}
	require.NotContains(t, route(), "orderTopicConf", "off by default")

	requireCode(t, s.process(1, req(protocol.UpdateNamesrvConfig, nil, []byte("orderMessageEnable=true\n"))), protocol.Success)
	require.Contains(t, route(), `"orderTopicConf":"broker-a:4"`)
}

func TestProcessConfig(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t)
	get := func() string {
		resp := s.process(1, req(protocol.GetNamesrvConfig, nil, nil))
		requireCode(t, resp, protocol.Success)
		return string(resp.Body)
	}
	want := "brokerTimeoutMillis=120000\nkvConfigPath=" + s.cfg.KVConfigPath +
		"\nlistenAddr=0.0.0.0:9876\norderMessageEnable=false\nscanFirstDelayMillis=5000\nscanIntervalMillis=10000\n"
	require.Equal(t, want, get())

	bad := map[string]string{
		"nope=1\n":                                    "unknown config keys: nope",
		"listenAddr=1.2.3.4:5\n":                      "cannot change at runtime: listenAddr",
		"orderMessageEnable=maybe\n":                  "orderMessageEnable",
		"brokerTimeoutMillis=0\n":                     "brokerTimeoutMillis must be positive",
		"orderMessageEnable=true\nkvConfigPath=/x\n":  "kvConfigPath",
		"# only a comment\n":                          "no config entries",
		"orderMessageEnable=true\nbrokerTimeout=1\n":  "unknown config keys: brokerTimeout",
		"brokerTimeoutMillis=-5\norderMessageEnable=": "brokerTimeoutMillis",
	}
	for body, remark := range bad {
		resp := s.process(1, req(protocol.UpdateNamesrvConfig, nil, []byte(body)))
		requireCode(t, resp, protocol.SystemError)
		require.Contains(t, resp.Remark, remark, "body %q", body)
	}
	require.Equal(t, want, get(), "failed updates change nothing")

	requireCode(t, s.process(1, req(protocol.UpdateNamesrvConfig, nil,
		[]byte("orderMessageEnable = true\r\nbrokerTimeoutMillis:30000\n"))), protocol.Success)
	require.Contains(t, get(), "orderMessageEnable=true\n")
	require.Contains(t, get(), "brokerTimeoutMillis=30000\n")
	require.Equal(t, 30*time.Second, s.runtime().BrokerTimeout)
}

func TestProcessAdmin(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t)
	tc := func(name string) TopicConfig {
		return TopicConfig{TopicName: name, ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6}
	}
	requireCode(t, s.process(1, registerReq(t, "broker-a", "a:1", 0, topicBody(1, tc("A"), tc("B")), false)), protocol.Success)
	requireCode(t, s.process(2, registerReq(t, "broker-b", "b:1", 0, topicBody(1, tc("B")), false)), protocol.Success)

	body := func(code protocol.RequestCode, ext map[string]string) string {
		resp := s.process(9, req(code, ext, nil))
		requireCode(t, resp, protocol.Success)
		return string(resp.Body)
	}
	require.Equal(t, `{"topicList":["A","B"]}`, body(protocol.GetAllTopicListFromNameServer, nil))
	require.Equal(t, `{"topicList":["A","B"]}`, body(protocol.GetTopicsByCluster, map[string]string{"cluster": "DefaultCluster"}))
	require.Equal(t, `{"topicList":[]}`, body(protocol.GetTopicsByCluster, map[string]string{"cluster": "other"}))
	require.Equal(t, `{"brokerAddr":"a:1","topicList":["DefaultCluster","broker-a","broker-b"]}`, body(protocol.GetSystemTopicListFromNS, nil))
	for _, c := range []protocol.RequestCode{protocol.GetUnitTopicList, protocol.GetHasUnitSubTopicList, protocol.GetHasUnitSubUnunitTopicList} {
		require.Equal(t, `{"topicList":[]}`, body(c, nil))
	}
	require.Equal(t, `{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"a:1"},"brokerName":"broker-a","cluster":"DefaultCluster"},"broker-b":{"brokerAddrs":{0:"b:1"},"brokerName":"broker-b","cluster":"DefaultCluster"}},"clusterAddrTable":{"DefaultCluster":["broker-a","broker-b"]}}`,
		body(protocol.GetBrokerClusterInfo, nil))
	r := req(protocol.GetBrokerClusterInfo, nil, nil)
	r.Version = 409
	require.True(t, json.Valid(s.process(1, r).Body))

	resp := s.process(9, req(protocol.WipeWritePermOfBroker, map[string]string{"brokerName": "broker-a"}, nil))
	requireCode(t, resp, protocol.Success)
	require.Equal(t, "2", resp.Ext("wipeTopicCount"))
	require.Contains(t, body(protocol.GetRouteInfoByTopic, map[string]string{"topic": "A"}), `"perm":4`)
	resp = s.process(9, req(protocol.AddWritePermOfBroker, map[string]string{"brokerName": "broker-a"}, nil))
	requireCode(t, resp, protocol.Success)
	require.Equal(t, "2", resp.Ext("addTopicCount"))
	require.Contains(t, body(protocol.GetRouteInfoByTopic, map[string]string{"topic": "A"}), `"perm":6`)

	body(protocol.DeleteTopicInNamesrv, map[string]string{"topic": "B", "clusterName": "other"})
	require.Equal(t, `{"topicList":["A","B"]}`, body(protocol.GetAllTopicListFromNameServer, nil))
	body(protocol.DeleteTopicInNamesrv, map[string]string{"topic": "B"})
	require.Equal(t, `{"topicList":["A"]}`, body(protocol.GetAllTopicListFromNameServer, nil))

	requireCode(t, s.process(1, req(protocol.UnregisterBroker, map[string]string{
		"brokerName": "broker-a", "brokerAddr": "a:1", "clusterName": "DefaultCluster", "brokerId": "0",
	}, nil)), protocol.Success)
	require.Equal(t, `{"topicList":[]}`, body(protocol.GetAllTopicListFromNameServer, nil))
}

func TestProcessQueryDataVersionAndLiveness(t *testing.T) {
	t.Parallel()
	s, clk := newTestService(t)
	requireCode(t, s.process(1, registerReq(t, "broker-a", "a:1", 0,
		topicBody(5, TopicConfig{TopicName: "T", ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6}), false)), protocol.Success)
	hdr := map[string]string{"brokerName": "broker-a", "brokerAddr": "a:1", "clusterName": "DefaultCluster", "brokerId": "0"}

	resp := s.process(1, req(protocol.QueryDataVersion, hdr, []byte(`{"counter":6,"timestamp":0}`)))
	requireCode(t, resp, protocol.Success)
	require.Equal(t, "true", resp.Ext("changed"))
	require.JSONEq(t, `{"counter":5,"timestamp":0}`, string(resp.Body))

	requireCode(t, s.process(1, req(protocol.QueryDataVersion, hdr, []byte(`{`))), protocol.SystemError)

	// An unchanged version refreshes liveness: at 100 s it moves the deadline.
	clk.Advance(100 * time.Second)
	resp = s.process(1, req(protocol.QueryDataVersion, hdr, []byte(`{"counter":5,"timestamp":0}`)))
	require.Equal(t, "false", resp.Ext("changed"))
	clk.Advance(100 * time.Second)
	s.scan()
	requireCode(t, s.process(2, req(protocol.GetRouteInfoByTopic, map[string]string{"topic": "T"}, nil)), protocol.Success)
	clk.Advance(21 * time.Second)
	s.scan()
	requireCode(t, s.process(2, req(protocol.GetRouteInfoByTopic, map[string]string{"topic": "T"}, nil)), protocol.TopicNotExist)

	// Connection close drops at once.
	requireCode(t, s.process(7, registerReq(t, "broker-a", "a:1", 0,
		topicBody(5, TopicConfig{TopicName: "T", ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6}), false)), protocol.Success)
	requireCode(t, s.process(2, req(protocol.GetRouteInfoByTopic, map[string]string{"topic": "T"}, nil)), protocol.Success)
	s.connClosed(7, "peer")
	requireCode(t, s.process(2, req(protocol.GetRouteInfoByTopic, map[string]string{"topic": "T"}, nil)), protocol.TopicNotExist)
}
