package producer_test

import (
	"context"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil/poll"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/clienttest"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/trace"
)

// traceRecords decodes every trace message stored for topic; it also checks
// that each message's KEYS are the index keys of its records.
func traceRecords(t *testing.T, b *clienttest.Broker, topic string) []trace.Record {
	t.Helper()
	var out []trace.Record
	for _, m := range b.Messages(topic) {
		recs := trace.Decode(m.Body)
		require.Equal(t, trace.Keys(recs), m.Keys())
		out = append(out, recs...)
	}
	return out
}

// A transactional producer with WithTrace writes a Pub (Trans_Msg_Half) for
// the half message and an EndTransaction for each END_TRANSACTION, the one
// answering a check marked fromTransactionCheck; a batch gets a Pub per
// message; Close sends what is queued.
func TestTraceTransactionAndBatch(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	b := clienttest.StartBroker(t, "broker-a")
	ns.SetRoute("T", clienttest.Route(1, b))
	ns.SetRoute("MyTrace", clienttest.Route(1, b))
	checked := make(chan struct{}, 1)
	tp, err := producer.NewTransactional(client.NameServers(ns.Addr), producer.Group("txg"), client.WithTrace("MyTrace"),
		producer.TransactionListener(
			func(context.Context, *message.Message) producer.TransactionState { return producer.TransactionRollback },
			func(context.Context, *message.MessageExt) producer.TransactionState {
				checked <- struct{}{}
				return producer.TransactionCommit
			}))
	require.NoError(t, err)
	require.NoError(t, tp.Start(t.Context()))
	closed := false
	defer func() {
		if !closed {
			_ = tp.Close()
		}
	}()
	require.True(t, tp.Client().TraceOn())
	require.Equal(t, "MyTrace", tp.Client().TraceTopic())

	res, err := tp.SendInTransaction(t.Context(), producer.NewMessage("T", []byte("tx"), producer.Tags("TT"), producer.Keys("kx")))
	require.NoError(t, err)
	batch, err := tp.SendBatch(t.Context(), producer.NewMessage("T", []byte("b1"), producer.Keys("kb1")), producer.NewMessage("T", []byte("b22")))
	require.NoError(t, err)

	// The broker checks the half message back.
	half := b.Messages("T")[0]
	half.SetProperty(message.PropertyRealTopic, "T")
	rec, err := message.AppendRecord(nil, half)
	require.NoError(t, err)
	poll.WaitFor(t, 5*time.Second, func() bool { return b.Conn() != nil })
	check := protocol.NewRequest(protocol.CheckTransactionState, map[string]string{
		"tranStateTableOffset": "7", "commitLogOffset": "8", "msgId": half.MsgID(), "transactionId": half.MsgID(),
	})
	check.Body = rec
	require.NoError(t, b.Conn().InvokeOneway(t.Context(), check))
	<-checked
	poll.WaitFor(t, 5*time.Second, func() bool { return len(b.Requests(protocol.EndTransaction)) == 2 })
	require.NoError(t, tp.Close())
	closed = true

	recs := traceRecords(t, b, "MyTrace")
	require.Len(t, recs, 5)
	slices.SortStableFunc(recs, func(x, y trace.Record) int { return strings.Compare(string(x.Type), string(y.Type)) })
	ends, pubs := recs[:2], recs[2:]
	ids := strings.Split(batch.MsgID, ",")
	require.Equal(t, []string{res.MsgID, ids[0], ids[1]}, []string{pubs[0].MsgID, pubs[1].MsgID, pubs[2].MsgID})
	require.Equal(t, trace.TransMsgHalf, pubs[0].MsgType)
	require.Equal(t, "txg", pubs[0].Group)
	require.Equal(t, "kx", pubs[0].Keys)
	require.Equal(t, "TT", pubs[0].Tags)
	require.Equal(t, b.Addr, pubs[0].StoreHost)
	require.Equal(t, trace.NormalMsg, pubs[1].MsgType)
	require.Equal(t, "kb1", pubs[1].Keys)
	require.Equal(t, 3, pubs[2].BodyLength)
	require.Equal(t, strings.Split(batch.OffsetMsgID, ","), []string{pubs[1].OffsetMsgID, pubs[2].OffsetMsgID})

	for _, e := range ends {
		require.Equal(t, trace.EndTransaction, e.Type)
		require.Equal(t, res.MsgID, e.MsgID)
		require.Equal(t, "T", e.Topic)
		require.Equal(t, "txg", e.Group)
		require.Equal(t, "kx", e.Keys)
		require.Equal(t, trace.TransMsgCommit, e.MsgType)
	}
	require.Equal(t, trace.StateRollback, ends[0].TransactionState)
	require.False(t, ends[0].FromCheck)
	require.Equal(t, trace.StateCommit, ends[1].TransactionState)
	require.True(t, ends[1].FromCheck)
	require.Zero(t, tp.Client().TraceDropped())
}

// Tracing never fails or blocks a send: with no route to the trace topic
// every send succeeds and every record is counted as dropped.
func TestTraceFailureDoesNotFailSends(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	b := clienttest.StartBroker(t, "broker-a")
	ns.SetRoute("T", clienttest.Route(2, b))
	p, err := producer.New(client.NameServers(ns.Addr), client.WithTrace("NoSuchTrace"), client.CallTimeout(time.Second))
	require.NoError(t, err)
	require.NoError(t, p.Start(t.Context()))
	const n = 20
	for i := range n {
		_, err := p.Send(t.Context(), producer.NewMessage("T", []byte{byte(i + 1)}))
		require.NoError(t, err)
	}
	require.NoError(t, p.Close())
	require.Equal(t, int64(n), p.Client().TraceDropped())
	require.Len(t, b.Messages("T"), n)
}

// The record queue is bounded: Trace never blocks, and what does not fit is
// dropped and counted.
func TestTraceQueueBounded(t *testing.T) {
	t.Parallel()
	c, err := client.New(client.NameServers("127.0.0.1:1"), client.WithTrace(""))
	require.NoError(t, err)
	defer c.Close()
	for range client.TraceQueueSize + 10 { // not started: nothing drains the queue
		c.Trace(trace.Record{Type: trace.Pub, MsgID: "x"})
	}
	require.Equal(t, int64(10), c.TraceDropped())
	off, err := client.New(client.NameServers("127.0.0.1:1"))
	require.NoError(t, err)
	defer off.Close()
	off.Trace(trace.Record{Type: trace.Pub})
	require.False(t, off.TraceOn())
	require.Zero(t, off.TraceDropped())
}

// A trace broker that never answers blocks neither sends nor Close: the
// user's sends go on, the trace messages time out (CallTimeout) and count as
// dropped, and Close gives up on them after CallTimeout.
func TestTraceBrokerHangs(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns sync.WaitGroup
	held := make(chan net.Conn, 16)
	conns.Go(func() { // accepts and never reads or answers
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held <- c
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		conns.Wait()
		close(held)
		for c := range held {
			_ = c.Close()
		}
	})
	ns := clienttest.StartNameServer(t)
	b := clienttest.StartBroker(t, "broker-a")
	ns.SetRoute("T", clienttest.Route(1, b))
	ns.SetRoute("HungTrace", &body.TopicRouteData{
		QueueDatas:        []body.QueueData{{BrokerName: "hung", ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6}},
		BrokerDatas:       []*body.BrokerData{{Cluster: "DefaultCluster", BrokerName: "hung", Addrs: map[int64]string{0: ln.Addr().String()}}},
		FilterServerTable: map[string][]string{},
	})
	p, err := producer.New(client.NameServers(ns.Addr), client.WithTrace("HungTrace"), client.CallTimeout(200*time.Millisecond))
	require.NoError(t, err)
	require.NoError(t, p.Start(t.Context()))
	const n = 50
	for i := range n {
		_, err := p.Send(t.Context(), producer.NewMessage("T", []byte{byte(i + 1)}))
		require.NoError(t, err)
	}
	require.NoError(t, p.Close())
	require.Equal(t, int64(n), p.Client().TraceDropped())
	require.Len(t, b.Messages("T"), n)
}
