package admin_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/consumer"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/trace"
)

// traceTypes returns the record types in order.
func traceTypes(recs []trace.Record) []trace.Type {
	var out []trace.Type
	for _, r := range recs {
		out = append(out, r.Type)
	}
	return out
}

// A producer and a push consumer with client.WithTrace write Pub, SubBefore
// and SubAfter records to RMQ_SYS_TRACE_TOPIC, which QueryTrace finds by
// message id, with RocketMQ's fields; a failed consume and the retry that
// follows are traced too.
func TestSDKTraceProduceConsume(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t, testutil.WithBrokerConfig(func(cfg *broker.Config) {
		cfg.TraceTopicEnable = true
		cfg.Store.MessageDelayLevel = "1s 1s 1s 1s" // a quick retry
	}))
	ns := c.NameServerAddr
	a, err := admin.New(client.NameServers(ns))
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	require.NoError(t, a.CreateTopic(t.Context(), c.BrokerAddr, admin.TopicSpec{Topic: "TracedT", ReadQueues: 2, WriteQueues: 2}))

	p, err := producer.New(client.NameServers(ns), producer.Group("trace-pg"), client.WithTrace(""))
	require.NoError(t, err)
	require.NoError(t, p.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, p.Close()) })

	got := make(chan string, 16)
	var calls atomic.Int32
	cons, err := consumer.NewPush(client.NameServers(ns), consumer.Group("trace-cg"), client.WithTrace(trace.DefaultTopic),
		consumer.RebalanceInterval(200*time.Millisecond), consumer.LongPolling(200*time.Millisecond, 2*time.Second),
		consumer.FromWhere(consumer.ConsumeFromFirstOffset))
	require.NoError(t, err)
	require.NoError(t, cons.Subscribe("TracedT", consumer.All(), consumer.Concurrently(func(_ context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
		for _, m := range msgs {
			got <- m.MsgID()
		}
		if calls.Add(1) == 1 { // the first delivery fails: it is retried
			return consumer.ConsumeRetryLater
		}
		return consumer.ConsumeSuccess
	})))
	require.NoError(t, cons.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, cons.Close()) })

	msg := producer.NewMessage("TracedT", []byte("hello trace"), producer.Tags("TagA"), producer.Keys("k1", "k2"))
	res, err := p.Send(t.Context(), msg)
	require.NoError(t, err)
	for range 2 { // the failed delivery and its retry
		select {
		case id := <-got:
			require.Equal(t, res.MsgID, id)
		case <-time.After(30 * time.Second):
			t.Fatal("message not consumed twice")
		}
	}

	var recs []trace.Record
	testutil.WaitFor(t, 15*time.Second, func() bool {
		found, err := a.QueryTrace(t.Context(), "", res.MsgID)
		require.NoError(t, err)
		recs = nil
		for _, r := range found {
			require.Equal(t, "127.0.0.1", r.TraceHost) // the trace messages came over loopback
			recs = append(recs, r.Record)
		}
		return len(recs) == 5
	})
	require.Equal(t, []trace.Type{trace.Pub, trace.SubBefore, trace.SubBefore, trace.SubAfter, trace.SubAfter}, traceTypes(recs))
	pub := recs[0]
	addr, _ := p.Client().MasterAddr(res.Queue.BrokerName)
	require.Equal(t, trace.Record{Type: trace.Pub, Timestamp: pub.Timestamp, Region: "DefaultRegion", Group: "trace-pg", Topic: "TracedT",
		MsgID: res.MsgID, Tags: "TagA", Keys: "k1 k2", StoreHost: addr, BodyLength: len("hello trace"), CostMillis: pub.CostMillis,
		MsgType: trace.NormalMsg, OffsetMsgID: res.OffsetMsgID, Success: true, ClientHost: p.Client().IP().String()}, pub)
	require.InDelta(t, time.Now().UnixMilli(), pub.Timestamp, float64(time.Minute.Milliseconds()))
	for _, r := range recs[1:] {
		require.Equal(t, "trace-cg", r.Group)
		require.Equal(t, "k1 k2", r.Keys)
		require.NotEmpty(t, r.RequestID)
	}
	require.Equal(t, 0, recs[1].RetryTimes)
	require.Equal(t, 1, recs[2].RetryTimes)
	// One SubAfter failed (FAILED), the other succeeded; each pairs with a
	// SubBefore by request id.
	after := map[bool]trace.Record{recs[3].Success: recs[3], recs[4].Success: recs[4]}
	require.Len(t, after, 2)
	require.Equal(t, trace.ConsumeFailed, after[false].ContextCode)
	require.Equal(t, trace.ConsumeSuccess, after[true].ContextCode)
	require.ElementsMatch(t, []string{recs[1].RequestID, recs[2].RequestID}, []string{recs[3].RequestID, recs[4].RequestID})

	// The index also finds the trace message by the message's keys.
	byKey, err := a.QueryByKey(t.Context(), trace.DefaultTopic, "k2", false, 64, time.UnixMilli(0), time.Now().Add(time.Hour))
	require.NoError(t, err)
	require.NotEmpty(t, byKey)
	require.Zero(t, p.Client().TraceDropped())
	require.Zero(t, cons.Client().TraceDropped())
}

// A lite pull consumer with client.WithTrace traces each pulled message as
// consumed at once, as RocketMQ's does: a SubBefore and a successful
// SubAfter.
func TestSDKTraceLitePull(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t, testutil.WithBrokerConfig(func(cfg *broker.Config) { cfg.TraceTopicEnable = true }))
	ns := c.NameServerAddr
	a, err := admin.New(client.NameServers(ns))
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	require.NoError(t, a.CreateTopic(t.Context(), c.BrokerAddr, admin.TopicSpec{Topic: "LiteTracedT", ReadQueues: 1, WriteQueues: 1}))
	p, err := producer.New(client.NameServers(ns))
	require.NoError(t, err)
	require.NoError(t, p.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	res, err := p.Send(t.Context(), producer.NewMessage("LiteTracedT", []byte("lite")))
	require.NoError(t, err)

	l, err := consumer.NewLitePull(client.NameServers(ns), consumer.Group("trace-lite"), client.WithTrace(""),
		consumer.FromWhere(consumer.ConsumeFromFirstOffset))
	require.NoError(t, err)
	require.NoError(t, l.Subscribe("LiteTracedT", consumer.All()))
	require.NoError(t, l.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var got []*message.MessageExt
	for len(got) == 0 {
		got, err = l.Poll(ctx)
		require.NoError(t, err)
	}
	require.Equal(t, res.MsgID, got[0].MsgID())

	var recs []admin.TraceRecord
	testutil.WaitFor(t, 15*time.Second, func() bool {
		recs, err = a.QueryTrace(t.Context(), "", res.MsgID)
		require.NoError(t, err)
		return len(recs) == 2
	})
	require.Equal(t, trace.SubBefore, recs[0].Type)
	require.Equal(t, trace.SubAfter, recs[1].Type)
	require.Equal(t, "trace-lite", recs[1].Group)
	require.Equal(t, trace.ConsumeSuccess, recs[1].ContextCode)
	require.True(t, recs[1].Success)
	require.Equal(t, recs[0].RequestID, recs[1].RequestID)

	// Reading the trace topic with trace on writes no records about it.
	total := func() (n message.QueueOffset) {
		offs, err := a.MaxOffsets(t.Context(), trace.DefaultTopic)
		require.NoError(t, err)
		for _, o := range offs {
			n += o
		}
		return n
	}
	before := total()
	require.NotZero(t, before)
	r, err := consumer.NewLitePull(client.NameServers(ns), consumer.Group("trace-reader"), client.WithTrace(""),
		consumer.FromWhere(consumer.ConsumeFromFirstOffset))
	require.NoError(t, err)
	require.NoError(t, r.Subscribe(trace.DefaultTopic, consumer.All()))
	require.NoError(t, r.Start(t.Context()))
	for n := 0; n < int(before); {
		got, err := r.Poll(ctx)
		require.NoError(t, err)
		n += len(got)
	}
	require.NoError(t, r.Close())
	require.Zero(t, r.Client().TraceDropped())
	require.Equal(t, before, total())
}
