package producer_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil/poll"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/clienttest"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
)

func start(t *testing.T, ns *clienttest.NameServer, opts ...client.ProducerOption) *producer.Producer {
	t.Helper()
	p, err := producer.New(append([]client.ProducerOption{client.NameServers(ns.Addr)}, opts...)...)
	require.NoError(t, err)
	require.NoError(t, p.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	return p
}

func TestSendSync(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	b := clienttest.StartBroker(t, "broker-a")
	ns.SetRoute("T", clienttest.Route(2, b))
	p := start(t, ns, producer.Group("pg"))

	msg := producer.NewMessage("T", []byte("hello"), producer.Tags("tagA"), producer.Keys("k1", "k2"), producer.Property("color", "red"), producer.UserFlag(7))
	res, err := p.Send(t.Context(), msg)
	require.NoError(t, err)
	require.Equal(t, producer.SendOK, res.Status)
	require.Len(t, res.MsgID, 32)
	require.NotEmpty(t, res.OffsetMsgID)
	require.Equal(t, "DefaultRegion", res.RegionID)
	require.True(t, res.TraceOn)
	require.NotContains(t, msg.Properties, message.PropertyUniqKey, "caller's message is not modified")

	stored := b.Messages("T")
	require.Len(t, stored, 1)
	m := stored[0]
	require.Equal(t, "hello", string(m.Body))
	require.Equal(t, "tagA", m.Tags())
	require.Equal(t, []string{"k1", "k2"}, m.Keys())
	require.Equal(t, "red", m.Property("color"))
	require.Equal(t, int32(7), m.Flag)
	require.Equal(t, res.MsgID, m.MsgID())
	require.Equal(t, res.OffsetMsgID, m.OffsetMsgID())
	reqs := b.Requests(protocol.SendMessageV2)
	require.Len(t, reqs, 1)
	require.Equal(t, "pg", reqs[0].Ext("a"))
	// Round robin over the two queues.
	res2, err := p.Send(t.Context(), msg)
	require.NoError(t, err)
	require.NotEqual(t, res.Queue.QueueID, res2.Queue.QueueID)
	// The producer group reached the broker in a heartbeat.
	poll.WaitFor(t, 5*time.Second, func() bool { return len(b.Heartbeats()) > 0 })
	require.Equal(t, "pg", b.Heartbeats()[0].ProducerDataSet[0].GroupName)
}

func TestSendCompressionRoundTrip(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	b := clienttest.StartBroker(t, "broker-a")
	ns.SetRoute("T", clienttest.Route(1, b))
	p := start(t, ns)
	body := make([]byte, 64<<10)
	for i := range body {
		body[i] = byte(i % 13)
	}
	_, err := p.Send(t.Context(), producer.NewMessage("T", body))
	require.NoError(t, err)
	stored := b.Messages("T")[0]
	require.True(t, stored.SysFlag.Has(message.SysFlagCompressed))
	require.Less(t, len(stored.Body), len(body))
	res, err := p.Client().Pull(t.Context(), b.Addr, client.PullRequest{Queue: message.MessageQueue{Topic: "T", BrokerName: "broker-a"}, Group: "g"})
	require.NoError(t, err)
	require.Equal(t, body, res.Messages[0].Body)
}

func TestSendBatch(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	b := clienttest.StartBroker(t, "broker-a")
	ns.SetRoute("T", clienttest.Route(1, b))
	p := start(t, ns)
	var msgs []*message.Message
	for i := range 10 {
		msgs = append(msgs, producer.NewMessage("T", []byte(strconv.Itoa(i)), producer.Tags("t"+strconv.Itoa(i))))
	}
	res, err := p.SendBatch(t.Context(), msgs...)
	require.NoError(t, err)
	require.Len(t, b.Requests(protocol.SendBatchMessage), 1)
	require.Equal(t, "true", b.Requests(protocol.SendBatchMessage)[0].Ext("m"))
	stored := b.Messages("T")
	require.Len(t, stored, 10)
	ids := ""
	for i, m := range stored {
		require.Equal(t, strconv.Itoa(i), string(m.Body))
		require.Equal(t, "t"+strconv.Itoa(i), m.Tags())
		if i > 0 {
			ids += ","
		}
		ids += m.MsgID()
	}
	require.Equal(t, ids, res.MsgID)
	_, err = p.SendBatch(t.Context(), producer.NewMessage("T", []byte("x")), producer.NewMessage("U", []byte("x")))
	require.ErrorIs(t, err, producer.ErrBadMessage)
}

func TestSendAsyncAndOneway(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	b := clienttest.StartBroker(t, "broker-a")
	ns.SetRoute("T", clienttest.Route(4, b))
	p := start(t, ns, producer.MaxAsyncInflight(4))
	var wg sync.WaitGroup
	var ok atomic.Int32
	for i := range 50 {
		wg.Add(1)
		p.SendAsync(t.Context(), producer.NewMessage("T", []byte(strconv.Itoa(i))), func(r *producer.SendResult, err error) {
			defer wg.Done()
			if err == nil && r.Status == producer.SendOK {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	require.Equal(t, int32(50), ok.Load())
	require.NoError(t, p.SendOneway(t.Context(), producer.NewMessage("T", []byte("oneway"))))
	poll.WaitFor(t, 5*time.Second, func() bool { return len(b.Messages("T")) == 51 })
	reqs := b.Requests(protocol.SendMessageV2)
	require.True(t, reqs[len(reqs)-1].IsOneway())
	// An early failure reaches the callback too.
	done := make(chan error, 1)
	p.SendAsync(t.Context(), producer.NewMessage("", []byte("x")), func(_ *producer.SendResult, err error) { done <- err })
	require.ErrorIs(t, <-done, producer.ErrBadMessage)
}

func TestAsyncCallbacksRunOnClose(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	b := clienttest.StartBroker(t, "broker-a")
	ns.SetRoute("T", clienttest.Route(1, b))
	b.Intercept(protocol.SendMessageV2, func(*protocol.Command) *protocol.Command { return nil }) // never answers
	p, err := producer.New(client.NameServers(ns.Addr), producer.SendTimeout(time.Minute))
	require.NoError(t, err)
	require.NoError(t, p.Start(t.Context()))
	errs := make(chan error, 3)
	for range 3 {
		p.SendAsync(t.Context(), producer.NewMessage("T", []byte("x")), func(_ *producer.SendResult, err error) { errs <- err })
	}
	poll.WaitFor(t, 5*time.Second, func() bool { return len(b.Requests(protocol.SendMessageV2)) == 3 })
	require.NoError(t, p.Close())
	for range 3 {
		require.Error(t, <-errs)
	}
}

func TestAutoCreateThroughTBW102(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	b := clienttest.StartBroker(t, "broker-a")
	def := clienttest.Route(8, b)
	def.QueueDatas[0].Perm = 7
	ns.SetRoute(client.AutoCreateTopicKey, def)
	p := start(t, ns)
	res, err := p.Send(t.Context(), producer.NewMessage("NewTopic", []byte("x")))
	require.NoError(t, err)
	require.Less(t, res.Queue.QueueID, int32(4), "capped at DefaultTopicQueueNums")
	req := b.Requests(protocol.SendMessageV2)[0]
	require.Equal(t, "TBW102", req.Ext("c"))
	require.Equal(t, "4", req.Ext("d"))
	r, ok := p.Client().CachedRoute("NewTopic")
	require.True(t, ok)
	require.Len(t, r.PublishQueues(), 4)

	q := start(t, ns, producer.DisableAutoCreate())
	_, err = q.Send(t.Context(), producer.NewMessage("Other", []byte("x")))
	require.ErrorIs(t, err, protocol.ErrTopicNotExist)
}

type sendHook struct {
	mu     sync.Mutex
	events []client.SendEvent
}

func (h *sendHook) OnSendDone(ev client.SendEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, ev)
}

func TestRetryOnAnotherBroker(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	a := clienttest.StartBroker(t, "broker-a")
	bb := clienttest.StartBroker(t, "broker-b")
	ns.SetRoute("T", clienttest.Route(1, a, bb))
	a.Intercept(protocol.SendMessageV2, func(req *protocol.Command) *protocol.Command {
		return protocol.NewResponse(req, protocol.ServiceNotAvailable, "store not writable")
	})
	h := &sendHook{}
	p := start(t, ns, client.WithHooks(h))
	for range 4 {
		res, err := p.Send(t.Context(), producer.NewMessage("T", []byte("x")))
		require.NoError(t, err)
		require.Equal(t, "broker-b", res.Queue.BrokerName)
	}
	require.Len(t, bb.Messages("T"), 4)
	// broker-a failed once and was avoided afterwards.
	require.Len(t, a.Requests(protocol.SendMessageV2), 1)
	h.mu.Lock()
	require.Len(t, h.events, 5)
	var pe *protocol.Error
	require.ErrorAs(t, h.events[0].Err, &pe)
	require.Equal(t, "broker-a", h.events[0].Queue.BrokerName)
	h.mu.Unlock()

	// A code that is not retriable fails at once.
	bb.Intercept(protocol.SendMessageV2, func(req *protocol.Command) *protocol.Command {
		return protocol.NewResponse(req, protocol.MessageIllegal, "too big")
	})
	_, err := p.Send(t.Context(), producer.NewMessage("T", []byte("x")))
	require.ErrorIs(t, err, protocol.ErrMessageIllegal)
}

func TestRetryAfterTransportError(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	a := clienttest.StartBroker(t, "broker-a")
	bb := clienttest.StartBroker(t, "broker-b")
	ns.SetRoute("T", clienttest.Route(1, a, bb))
	a.Close()
	p := start(t, ns, producer.LatencyFaultTolerance(false))
	for range 3 {
		res, err := p.Send(t.Context(), producer.NewMessage("T", []byte("x")))
		require.NoError(t, err)
		require.Equal(t, "broker-b", res.Queue.BrokerName)
	}
	// Every broker down: the error says how often it tried.
	bb.Close()
	_, err := p.Send(t.Context(), producer.NewMessage("T", []byte("x")))
	require.ErrorContains(t, err, "after 3 attempts")
	// Async retries too.
	errc := make(chan error, 1)
	p.SendAsync(t.Context(), producer.NewMessage("T", []byte("x")), func(_ *producer.SendResult, err error) { errc <- err })
	require.ErrorContains(t, <-errc, "after 3 attempts")
}

func TestOrderedSendsStayOnTheirQueue(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	a := clienttest.StartBroker(t, "broker-a")
	ns.SetRoute("T", clienttest.Route(4, a))
	p := start(t, ns, producer.WithQueueSelector(producer.HashByKey()))
	var first message.MessageQueue
	for i := range 5 {
		res, err := p.Send(t.Context(), producer.NewMessage("T", []byte("x"), producer.ShardingKey("order-42")))
		require.NoError(t, err)
		if i == 0 {
			first = res.Queue
		}
		require.Equal(t, first, res.Queue)
	}
	res, err := p.Send(t.Context(), producer.NewMessage("T", []byte("x")), producer.ToQueue(message.MessageQueue{BrokerName: "broker-a", QueueID: 3}))
	require.NoError(t, err)
	require.Equal(t, int32(3), res.Queue.QueueID)
	_, err = p.Send(t.Context(), producer.NewMessage("T", []byte("x")), producer.ToQueue(message.MessageQueue{BrokerName: "broker-a", QueueID: 9}))
	require.ErrorIs(t, err, producer.ErrNoQueue)
}

func TestSendTimeoutBoundsRetries(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	a := clienttest.StartBroker(t, "broker-a")
	ns.SetRoute("T", clienttest.Route(1, a))
	a.Intercept(protocol.SendMessageV2, func(*protocol.Command) *protocol.Command { return nil })
	// The budget also covers the route lookup and the dial, so it must leave
	// room for them on a loaded machine: the request has to reach the broker.
	p := start(t, ns, producer.SendTimeout(2*time.Second))
	_, err := p.Send(t.Context(), producer.NewMessage("T", []byte("x")))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	poll.WaitFor(t, 5*time.Second, func() bool { return len(a.Requests(protocol.SendMessageV2)) > 0 })
	require.Len(t, a.Requests(protocol.SendMessageV2), 1, "no retry once the budget is spent")
}

func TestNamespaceOnTheWire(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	a := clienttest.StartBroker(t, "broker-a")
	ns.SetRoute("prod%T", clienttest.Route(1, a))
	p := start(t, ns, client.Namespace("prod"), producer.Group("pg"))
	_, err := p.Send(t.Context(), producer.NewMessage("T", []byte("x")))
	require.NoError(t, err)
	require.Len(t, a.Messages("prod%T"), 1)
	require.Equal(t, "prod%pg", a.Requests(protocol.SendMessageV2)[0].Ext("a"))
	_, err = p.Send(context.Background(), producer.NewMessage("Missing", []byte("x")))
	require.True(t, errors.Is(err, protocol.ErrTopicNotExist))
}
