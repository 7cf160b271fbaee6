package client

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

func sampleRoute() *body.TopicRouteData {
	return &body.TopicRouteData{
		QueueDatas: []body.QueueData{
			{BrokerName: "broker-b", ReadQueueNums: 2, WriteQueueNums: 2, Perm: 6},
			{BrokerName: "broker-a", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6, TopicSysFlag: 1},
		},
		BrokerDatas: []*body.BrokerData{
			{Cluster: "DefaultCluster", BrokerName: "broker-a", Addrs: map[int64]string{0: "10.0.0.2:10911", 1: "10.0.0.3:10911"}},
			{Cluster: "DefaultCluster", BrokerName: "broker-b", Addrs: map[int64]string{0: "10.0.0.4:10911"}},
		},
		FilterServerTable: map[string][]string{},
	}
}

func TestDecodeRouteBothEncodings(t *testing.T) {
	t.Parallel()
	for _, standard := range []bool{true, false} {
		enc := body.EncodeRoute(sampleRoute(), standard)
		got, err := DecodeRoute(enc)
		require.NoError(t, err, "standard=%v: %s", standard, enc)
		r := NewRoute("T", got)
		a, ok := r.MasterAddr("broker-a")
		require.True(t, ok)
		require.Equal(t, "10.0.0.2:10911", a)
		bd, _ := r.Broker("broker-a")
		require.Equal(t, "10.0.0.3:10911", bd.Addrs[1], "slave id must not collapse to 0")
		require.Equal(t, int32(1), got.QueueDatas[0].TopicSysFlag)
		require.Len(t, r.PublishQueues(), 6)
		require.Equal(t, message.MessageQueue{Topic: "T", BrokerName: "broker-a", QueueID: 0}, r.PublishQueues()[0])
		require.Equal(t, "broker-b", r.PublishQueues()[5].BrokerName)
	}
}

func TestDecodeRouteVerbatimForms(t *testing.T) {
	t.Parallel()
	check := func(name, in string, want func(*testing.T, *body.TopicRouteData)) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			rd, err := DecodeRoute([]byte(in))
			require.NoError(t, err)
			want(t, rd)
		})
	}
	// The fastjson form with bare integer keys, exactly as a Java name server
	// answers a version-317 request.
	check("fastjson", `{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.2:10911",1:"10.0.0.3:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}`,
		func(t *testing.T, rd *body.TopicRouteData) {
			require.Equal(t, map[int64]string{0: "10.0.0.2:10911", 1: "10.0.0.3:10911"}, rd.BrokerDatas[0].Addrs)
		})
	// Whitespace inside brokerAddrs broke rocketmq-client-go (" a:1"); we trim.
	check("spaces", `{ "brokerDatas" : [ { "brokerAddrs" : { 0 : "10.0.0.2:10911" , "1": "10.0.0.3:10911" } , "brokerName":"b","cluster":"c"} ], "queueDatas":[] }`,
		func(t *testing.T, rd *body.TopicRouteData) {
			require.Equal(t, map[int64]string{0: "10.0.0.2:10911", 1: "10.0.0.3:10911"}, rd.BrokerDatas[0].Addrs)
		})
	// A missing brokerAddrs made rocketmq-client-go panic; here it is empty.
	check("no brokerAddrs", `{"brokerDatas":[{"brokerName":"b","cluster":"c"}],"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":1,"writeQueueNums":1}]}`,
		func(t *testing.T, rd *body.TopicRouteData) {
			r := NewRoute("T", rd)
			require.Empty(t, r.PublishQueues(), "no master: not writable")
			require.Len(t, r.SubscribeQueues(), 1)
		})
	check("no queueDatas", `{"brokerDatas":[]}`, func(t *testing.T, rd *body.TopicRouteData) {
		require.Empty(t, rd.QueueDatas)
	})
	check("old topicSynFlag", `{"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":1,"writeQueueNums":1,"topicSynFlag":3}],"brokerDatas":[]}`,
		func(t *testing.T, rd *body.TopicRouteData) { require.Equal(t, int32(3), rd.QueueDatas[0].TopicSysFlag) })
	check("unicode and escapes", `{"brokerDatas":[{"brokerAddrs":{0:"h:1"},"brokerName":"br\u00e4ker,{x:1}","cluster":"c"}],"queueDatas":[]}`,
		func(t *testing.T, rd *body.TopicRouteData) {
			require.Equal(t, "bräker,{x:1}", rd.BrokerDatas[0].BrokerName)
		})
	check("arrays of numbers", `{"brokerDatas":[],"queueDatas":[],"filterServerTable":{"a:1":["x","y"]},"extra":[1,2,{3:4}]}`,
		func(t *testing.T, rd *body.TopicRouteData) {
			require.Equal(t, []string{"x", "y"}, rd.FilterServerTable["a:1"])
		})
}

func TestDecodeRouteErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "null", "  ", `{`, `{"brokerDatas":[{"brokerAddrs":{x:"a"}}]}`, `{"brokerDatas":[{"brokerAddrs":{0}}]}`, `{"queueDatas":[{"readQueueNums":-1}]}`, `{"a":"unterminated}`} {
		_, err := DecodeRoute([]byte(in))
		require.ErrorIs(t, err, ErrBadRoute, "input %q", in)
	}
}

func FuzzDecodeRoute(f *testing.F) {
	f.Add(body.EncodeRoute(sampleRoute(), true))
	f.Add(body.EncodeRoute(sampleRoute(), false))
	f.Add([]byte(`{"brokerDatas":[{"brokerAddrs":{0 :"a"}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rd, err := DecodeRoute(b)
		if err == nil {
			NewRoute("T", rd) // must not panic either
		}
	})
}

func TestRouteOrderTopicConfAndPerm(t *testing.T) {
	t.Parallel()
	rd := sampleRoute()
	rd.QueueDatas[0].Perm = 4 // broker-b read-only
	r := NewRoute("T", rd)
	require.Len(t, r.PublishQueues(), 4)
	require.Len(t, r.SubscribeQueues(), 6)

	rd = sampleRoute()
	rd.OrderTopicConf = "broker-b:3;broker-a:1;junk"
	r = NewRoute("T", rd)
	require.Equal(t, []message.MessageQueue{
		{Topic: "T", BrokerName: "broker-b", QueueID: 0}, {Topic: "T", BrokerName: "broker-b", QueueID: 1},
		{Topic: "T", BrokerName: "broker-b", QueueID: 2}, {Topic: "T", BrokerName: "broker-a", QueueID: 0},
	}, r.PublishQueues())
}

func TestRouteWithTopic(t *testing.T) {
	t.Parallel()
	rd := sampleRoute()
	rd.QueueDatas[1].Perm = 7
	rd.QueueDatas[1].WriteQueueNums = 8
	def := NewRoute(AutoCreateTopicKey, rd)
	r := def.WithTopic("New", 4)
	require.Equal(t, "New", r.Topic())
	require.Len(t, r.PublishQueues(), 6) // 4 on a (capped from 8) + 2 on b
	for _, q := range r.PublishQueues() {
		require.Equal(t, "New", q.Topic)
	}
	require.Equal(t, int32(6), r.Data().QueueDatas[0].Perm, "inherit bit dropped")
}

func TestDecodeClusterInfo(t *testing.T) {
	t.Parallel()
	ci := &body.ClusterInfo{
		BrokerAddrTable:  map[string]*body.BrokerData{"broker-a": sampleRoute().BrokerDatas[0]},
		ClusterAddrTable: map[string][]string{"DefaultCluster": {"broker-a"}},
	}
	for _, standard := range []bool{true, false} {
		got, err := DecodeClusterInfo(body.EncodeClusterInfo(ci, standard))
		require.NoError(t, err)
		require.Equal(t, ci.ClusterAddrTable, got.ClusterAddrTable)
		require.Equal(t, ci.BrokerAddrTable["broker-a"].Addrs, got.BrokerAddrTable["broker-a"].Addrs)
	}
}

func TestSubscribeAddr(t *testing.T) {
	t.Parallel()
	rd := &body.TopicRouteData{
		QueueDatas: []body.QueueData{{BrokerName: "full", ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6}},
		BrokerDatas: []*body.BrokerData{
			{BrokerName: "full", Addrs: map[int64]string{0: "m:1", 1: "s1:1", 2: "s2:1"}},
			{BrokerName: "headless", Addrs: map[int64]string{2: "s2:1", 3: "s3:1"}},
			{BrokerName: "empty", Addrs: map[int64]string{0: ""}},
		},
	}
	r := NewRoute("T", rd)
	type want struct {
		addr string
		id   int64
		ok   bool
	}
	f := func(name string, id int64, only bool, w want) {
		t.Helper()
		a, gotID, ok := r.SubscribeAddr(name, id, only)
		require.Equal(t, w, want{a, gotID, ok}, "%s id %d only %v", name, id, only)
	}
	f("full", 0, true, want{"m:1", 0, true})
	f("full", 1, true, want{"s1:1", 1, true})
	f("full", 5, true, want{})
	f("full", 5, false, want{"m:1", 0, true})
	f("headless", 0, true, want{})                 // master down: not with onlyThisBroker
	f("headless", 0, false, want{"s2:1", 2, true}) // but any slave otherwise
	f("headless", 1, true, want{"s2:1", 2, true})  // a missing slave id: the next one
	f("headless", 3, false, want{"s3:1", 3, true})
	f("empty", 0, false, want{})
	f("unknown", 0, false, want{})
}
