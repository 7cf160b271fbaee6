package broker_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/internal/testutil/nemesis"
	"github.com/petrelmq/petrel/pkg/client"
	petrel "github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/header"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// lossyRoute starts a cluster (window as given), creates topic with 4
// queues, and puts a framed proxy in front of the broker: clients that use
// the returned name server reach the broker only through the proxy.
func lossyRoute(t *testing.T, window time.Duration, topic string) (*testutil.Cluster, *nemesis.Proxy, string) {
	t.Helper()
	c := testutil.StartCluster(t, testutil.WithBrokerConfig(func(cfg *broker.Config) { cfg.DuplicateWindow = window }))
	createTopic(t, c, topic, 4)
	px := nemesis.NewFramed(t, c.BrokerAddr)
	_, ns := testutil.StartNameServer(t)
	testutil.NewRegistrar(t, ns).Register(testutil.Registration{BrokerName: "broker-a", BrokerAddr: px.Addr(),
		Topics: map[string]int32{topic: 4}})
	return c, px, ns
}

// stored counts the messages of topic's 4 queues once the broker has
// dispatched everything it stored.
func stored(t *testing.T, c *testutil.Cluster, topic string) int64 {
	t.Helper()
	return storedAt(t, rawClient(t), c.BrokerAddr, topic, 4)
}

func storedAt(t *testing.T, cl *remoting.Client, addr, topic string, queues int) int64 {
	t.Helper()
	testutil.WaitFor(t, 10*time.Second, func() bool { return runtimeTable(t, cl, addr)["dispatchBehindBytes"] == "0" })
	var n int64
	for q := range queues {
		n += maxOffset(t, cl, addr, topic, q)
	}
	return n
}

func dedupInfo(t *testing.T, c *testutil.Cluster) map[string]string {
	t.Helper()
	return runtimeTable(t, rawClient(t), c.BrokerAddr)
}

// sameAnswer checks that the answer the client got is the dropped first one.
func sameAnswer(t *testing.T, dropped *protocol.Command, msgID string, queueID int, queueOffset int64) {
	t.Helper()
	var h header.SendMessageResponse
	require.NoError(t, h.Decode(dropped))
	require.Equal(t, protocol.Success, dropped.ResponseCode())
	require.Equal(t, h.MsgID, msgID, "msgId")
	require.Equal(t, int(h.QueueID), queueID, "queueId")
	require.Equal(t, h.QueueOffset, queueOffset, "queueOffset")
}

// TestDedupOfficialClientRetryAfterLostAnswer: the broker's answer to the
// first attempt is lost, the official client v2.1.2 times out and retries
// with the same UNIQ_KEY: with the window one copy is stored and the retry
// is answered with the first copy's result; without it, two.
func TestDedupOfficialClientRetryAfterLostAnswer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		window time.Duration
		copies int64
	}{{"window", time.Minute, 1}, {"off", 0, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "DedupOfficial" + tc.name
			c, px, ns := lossyRoute(t, tc.window, topic)
			p, err := producer.NewDefaultProducer(
				producer.WithNsResolver(primitive.NewPassthroughResolver([]string{ns})),
				producer.WithGroupName("pg-dedup"), producer.WithInstanceName(instance(t)),
				producer.WithRetry(2), producer.WithSendMsgTimeout(time.Second))
			require.NoError(t, err)
			require.NoError(t, p.Start())
			t.Cleanup(func() { _ = p.Shutdown() })

			px.DropAnswers(1, protocol.SendMessage, protocol.SendMessageV2)
			res, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte("once")))
			require.NoError(t, err)
			require.Equal(t, primitive.SendOK, res.Status)
			dropped := px.Dropped()
			require.Len(t, dropped, 1, "the first answer was lost, so the client retried")
			require.Equal(t, tc.copies, stored(t, c, topic))
			info := dedupInfo(t, c)
			if tc.window == 0 {
				require.Equal(t, "0", info["duplicateDroppedTotal"])
				return
			}
			sameAnswer(t, dropped[0], res.OffsetMsgID, res.MessageQueue.QueueId, res.QueueOffset)
			require.Equal(t, "1", info["duplicateDroppedTotal"])
			require.JSONEq(t, `{"`+topic+`":1}`, info["duplicateDroppedByTopic"])
			require.Equal(t, "1", info["duplicateEntries"])
		})
	}
}

// TestDedupPetrelSDKIdempotent: the same with Petrel's SDK and
// producer.Idempotent, for a single message and a batch.
func TestDedupPetrelSDKIdempotent(t *testing.T) {
	const topic = "DedupSDK"
	c, px, ns := lossyRoute(t, time.Minute, topic)
	p, err := petrel.New(client.NameServers(ns), petrel.Group("pg-sdk"), petrel.Idempotent(),
		petrel.AttemptTimeout(500*time.Millisecond), petrel.SendTimeout(5*time.Second))
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	t.Cleanup(func() { _ = p.Close() })
	ctx := context.Background()

	px.DropAnswers(1, protocol.SendMessage, protocol.SendMessageV2)
	res, err := p.Send(ctx, &message.Message{Topic: topic, Body: []byte("once")})
	require.NoError(t, err)
	require.Len(t, px.Dropped(), 1)
	sameAnswer(t, px.Dropped()[0], res.OffsetMsgID, int(res.Queue.QueueID), int64(res.QueueOffset))
	require.Equal(t, int64(1), stored(t, c, topic))

	// An application key: a new message object with the same key is the
	// same send.
	again := &message.Message{Topic: topic, Body: []byte("order-42")}
	again.SetProperty(message.PropertyDedupKey, "order-42")
	first, err := p.Send(ctx, again)
	require.NoError(t, err)
	again = &message.Message{Topic: topic, Body: []byte("order-42")}
	again.SetProperty(message.PropertyDedupKey, "order-42")
	second, err := p.Send(ctx, again)
	require.NoError(t, err)
	require.Equal(t, first.OffsetMsgID, second.OffsetMsgID)
	require.Equal(t, int64(2), stored(t, c, topic))

	px.DropAnswers(1, protocol.SendBatchMessage)
	batch := []*message.Message{{Topic: topic, Body: []byte("b1")}, {Topic: topic, Body: []byte("b2")}, {Topic: topic, Body: []byte("b3")}}
	bres, err := p.SendBatch(ctx, batch...)
	require.NoError(t, err)
	require.Len(t, px.Dropped(), 2)
	sameAnswer(t, px.Dropped()[1], bres.OffsetMsgID, int(bres.Queue.QueueID), int64(bres.QueueOffset))
	require.Equal(t, int64(5), stored(t, c, topic), "each batch message once")
	require.Equal(t, "5", dedupInfo(t, c)["duplicateDroppedTotal"], "1 single, 1 by key, 3 of the batch")
}

// sendRaw sends one SEND_MESSAGE_V2 with the given UNIQ_KEY and returns the
// answer.
func sendRaw(t *testing.T, cl *remoting.Client, addr, topic, group, uniq string, queue int32, props map[string]string) *protocol.Command {
	t.Helper()
	all := map[string]string{message.PropertyUniqKey: uniq}
	for k, v := range props {
		all[k] = v
	}
	ps, err := message.AppendProperties(nil, all)
	require.NoError(t, err)
	req := header.NewRequest(protocol.SendMessageV2, &header.SendMessage{ProducerGroup: group, Topic: topic,
		DefaultTopic: "TBW102", DefaultTopicQueueNums: 4, QueueID: queue, BornTimestamp: time.Now().UnixMilli(),
		Properties: string(ps)})
	req.Body = []byte("body-" + uniq)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cl.Invoke(ctx, addr, req)
	require.NoError(t, err)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	return resp
}

// TestDedupRacingAttempts: many attempts of one key at once store one copy
// and all get the same answer.
func TestDedupRacingAttempts(t *testing.T) {
	c := testutil.StartCluster(t, testutil.WithBrokerConfig(func(cfg *broker.Config) { cfg.DuplicateWindow = time.Minute }))
	createTopic(t, c, "DedupRace", 4)
	const n = 16
	answers := make(chan string, n)
	for i := range n {
		go func() {
			cl := remoting.NewClient(remoting.ClientConfig{}, nil)
			defer cl.Close()
			resp := sendRaw(t, cl, c.BrokerAddr, "DedupRace", "pg", "RACE-KEY", int32(i%4), nil)
			answers <- resp.Ext("msgId") + "/" + resp.Ext("queueId") + "/" + resp.Ext("queueOffset")
		}()
	}
	first := <-answers
	for range n - 1 {
		require.Equal(t, first, <-answers)
	}
	require.Equal(t, int64(1), stored(t, c, "DedupRace"))
}

// TestDedupTopicAttribute: the topic attribute overrides the broker default
// both ways, is kept in the topic config, and bad attributes are refused.
func TestDedupTopicAttribute(t *testing.T) {
	c := testutil.StartCluster(t)
	cl := rawClient(t)
	create := func(topic, attrs string) *protocol.Command {
		req := header.NewRequest(protocol.UpdateAndCreateTopic, &header.CreateTopic{Topic: topic, DefaultTopic: "TBW102",
			ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6, TopicFilterType: "SINGLE_TAG", Attributes: attrs})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := cl.Invoke(ctx, c.BrokerAddr, req)
		require.NoError(t, err)
		return resp
	}
	resp := create("DedupAttr", "+duplicateWindowSeconds=60")
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	resp = create("DedupAttr", "") // an update without attributes keeps them
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	sendRaw(t, cl, c.BrokerAddr, "DedupAttr", "pg", "K1", 0, nil)
	sendRaw(t, cl, c.BrokerAddr, "DedupAttr", "pg", "K1", 1, nil)
	require.Equal(t, int64(1), stored(t, c, "DedupAttr"), "the topic's window, with the broker default off")

	resp = create("DedupAttr", "-duplicateWindowSeconds")
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	sendRaw(t, cl, c.BrokerAddr, "DedupAttr", "pg", "K1", 0, nil)
	require.Equal(t, int64(2), stored(t, c, "DedupAttr"), "attribute removed: the default (off) applies")

	for _, bad := range []string{"+duplicateWindowSeconds=-1", "+duplicateWindowSeconds=x", "+noSuchAttribute=1", "duplicateWindowSeconds=5"} {
		resp = create("DedupAttr", bad)
		require.Equal(t, protocol.SystemError, resp.ResponseCode(), bad)
		require.Contains(t, resp.Remark, "attribute", bad)
	}
}

// TestDedupDelayAndHalfMessages: a delay-level message is de-duplicated by
// its topic (and answered with the parked record's result); a transactional
// half message is not de-duplicated.
func TestDedupDelayAndHalfMessages(t *testing.T) {
	c := testutil.StartCluster(t, testutil.WithBrokerConfig(func(cfg *broker.Config) { cfg.DuplicateWindow = time.Minute }))
	createTopic(t, c, "DedupDelay", 4)
	cl := rawClient(t)
	delay := map[string]string{message.PropertyDelayTimeLevel: "3"}
	a := sendRaw(t, cl, c.BrokerAddr, "DedupDelay", "pg", "D1", 0, delay)
	b := sendRaw(t, cl, c.BrokerAddr, "DedupDelay", "pg", "D1", 2, delay)
	require.Equal(t, a.Ext("msgId"), b.Ext("msgId"))
	require.Equal(t, "0", b.Ext("queueId"))
	require.Equal(t, "1", dedupInfo(t, c)["duplicateDroppedTotal"])

	half := map[string]string{message.PropertyTransactionPrepared: "true", message.PropertyProducerGroup: "pg"}
	h1 := sendHalf(t, cl, c.BrokerAddr, "DedupDelay", "H1", half)
	h2 := sendHalf(t, cl, c.BrokerAddr, "DedupDelay", "H1", half)
	require.NotEqual(t, h1, h2, "half messages are stored as sent")
}

func sendHalf(t *testing.T, cl *remoting.Client, addr, topic, uniq string, props map[string]string) string {
	t.Helper()
	props[message.PropertyUniqKey] = uniq
	ps, err := message.AppendProperties(nil, props)
	require.NoError(t, err)
	req := header.NewRequest(protocol.SendMessageV2, &header.SendMessage{ProducerGroup: "pg", Topic: topic,
		DefaultTopic: "TBW102", DefaultTopicQueueNums: 4, SysFlag: int32(message.SysFlagTransactionPreparedType),
		BornTimestamp: time.Now().UnixMilli(), Properties: string(ps)})
	req.Body = []byte("half")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cl.Invoke(ctx, addr, req)
	require.NoError(t, err)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	return resp.Ext("msgId")
}

// startBroker starts a broker on dir with a one-minute window.
func startBroker(t *testing.T, ns, dir string, clk clock.Clock, f func(*broker.Config)) *broker.Broker {
	t.Helper()
	cfg := broker.DefaultConfig()
	cfg.ListenAddr, cfg.BrokerIP1, cfg.NameServers = "127.0.0.1:0", "127.0.0.1", []string{ns}
	cfg.Store.RootDir = dir
	cfg.DuplicateWindow = time.Minute
	if f != nil {
		f(&cfg)
	}
	b, err := broker.New(cfg, nil, clk)
	require.NoError(t, err)
	require.NoError(t, b.Start(context.Background()))
	return b
}

// TestDedupWindowExpiry: a retry after the window is stored again.
func TestDedupWindowExpiry(t *testing.T) {
	_, ns := testutil.StartNameServer(t)
	clk := clock.NewManual(time.Now())
	b := startBroker(t, ns, t.TempDir(), clk, nil)
	t.Cleanup(func() { _ = b.Close() })
	cl := rawClient(t)
	first := sendRaw(t, cl, b.Addr(), "DedupExpiry", "pg", "E1", 0, nil)
	clk.Advance(time.Minute - time.Millisecond)
	require.Equal(t, first.Ext("msgId"), sendRaw(t, cl, b.Addr(), "DedupExpiry", "pg", "E1", 0, nil).Ext("msgId"))
	clk.Advance(time.Millisecond)
	late := sendRaw(t, cl, b.Addr(), "DedupExpiry", "pg", "E1", 0, nil)
	require.NotEqual(t, first.Ext("msgId"), late.Ext("msgId"))
	require.Equal(t, int64(2), storedAt(t, cl, b.Addr(), "DedupExpiry", 1))
}

// TestDedupMemoryBound: at duplicateMaxEntries the oldest sends are
// forgotten, counted and shown.
func TestDedupMemoryBound(t *testing.T) {
	_, ns := testutil.StartNameServer(t)
	b := startBroker(t, ns, t.TempDir(), clock.Real{}, func(c *broker.Config) { c.DuplicateMaxEntries = 10 })
	t.Cleanup(func() { _ = b.Close() })
	cl := rawClient(t)
	for i := range 25 {
		sendRaw(t, cl, b.Addr(), "DedupCap", "pg", "C"+strconv.Itoa(i), 0, nil)
	}
	conf := invoke(t, cl, b.Addr(), protocol.GetBrokerConfig, nil, nil)
	require.Contains(t, string(conf.Body), "duplicateWindowSeconds=60")
	require.Contains(t, string(conf.Body), "duplicateMaxEntries=10")
	info := runtimeTable(t, cl, b.Addr())
	require.Equal(t, "10", info["duplicateEntries"])
	require.Equal(t, "15", info["duplicateEvictedTotal"])
	sendRaw(t, cl, b.Addr(), "DedupCap", "pg", "C24", 0, nil) // remembered
	require.Equal(t, int64(25), storedAt(t, cl, b.Addr(), "DedupCap", 1))
	sendRaw(t, cl, b.Addr(), "DedupCap", "pg", "C0", 0, nil) // forgotten: stored again
	require.Equal(t, int64(26), storedAt(t, cl, b.Addr(), "DedupCap", 1))
}

func runtimeTable(t *testing.T, cl *remoting.Client, addr string) map[string]string {
	t.Helper()
	resp := invoke(t, cl, addr, protocol.GetBrokerRuntimeInfo, nil, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	var kv struct{ Table map[string]string }
	require.NoError(t, json.Unmarshal(resp.Body, &kv))
	return kv.Table
}

// TestDedupSurvivesRestart: the window is rebuilt from the commit log when
// the broker starts again on its store.
func TestDedupSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	_, ns := testutil.StartNameServer(t)
	start := func() *broker.Broker { return startBroker(t, ns, dir, clock.Real{}, nil) }
	b := start()
	cl := rawClient(t)
	first := sendRaw(t, cl, b.Addr(), "DedupRestart", "pg", "R1", 1, nil)
	require.NoError(t, b.Close())

	b = start()
	t.Cleanup(func() { _ = b.Close() })
	retry := sendRaw(t, cl, b.Addr(), "DedupRestart", "pg", "R1", 3, nil)
	require.Equal(t, first.Ext("msgId"), retry.Ext("msgId"))
	require.Equal(t, first.Ext("queueId"), retry.Ext("queueId"))
	require.Equal(t, first.Ext("queueOffset"), retry.Ext("queueOffset"))
	require.Equal(t, int64(1), storedAt(t, cl, b.Addr(), "DedupRestart", 4))
}

// TestDedupPromotedSlaveHasTheWindow: a slave's commit log carries the
// de-dup records, so a broker started as master on the slave's store (what
// internal/failover does when it promotes a slave) answers a retry from the
// first copy.
func TestDedupPromotedSlaveHasTheWindow(t *testing.T) {
	window := testutil.WithBrokerConfig(func(cfg *broker.Config) { cfg.DuplicateWindow = time.Minute })
	c := testutil.StartCluster(t, window)
	cl := rawClient(t)
	first := sendRaw(t, cl, c.BrokerAddr, "DedupPromote", "pg", "P1", 2, nil)
	sl := testutil.StartSlave(t, c, 1, window)
	master := runtimeTable(t, cl, c.BrokerAddr)["commitLogMaxOffset"]
	testutil.WaitFor(t, 30*time.Second, func() bool { return runtimeTable(t, cl, sl.Addr)["commitLogMaxOffset"] == master })
	require.NoError(t, sl.Broker.Close())
	require.NoError(t, c.Broker.Close())

	_, ns := testutil.StartNameServer(t)
	promoted := startBroker(t, ns, sl.StoreDir, clock.Real{}, nil)
	t.Cleanup(func() { _ = promoted.Close() })
	retry := sendRaw(t, cl, promoted.Addr(), "DedupPromote", "pg", "P1", 0, nil)
	for _, k := range []string{"msgId", "queueId", "queueOffset"} {
		require.Equal(t, first.Ext(k), retry.Ext(k), k)
	}
	require.Equal(t, int64(1), storedAt(t, cl, promoted.Addr(), "DedupPromote", 4))
}
