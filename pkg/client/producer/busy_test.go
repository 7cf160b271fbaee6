package producer_test

import (
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

// busyFor makes b answer its next n sends SYSTEM_BUSY, then store them.
func busyFor(b *clienttest.Broker, n int32) {
	var left atomic.Int32
	left.Store(n)
	b.Intercept(protocol.SendMessageV2, func(req *protocol.Command) *protocol.Command {
		if left.Add(-1) == 0 {
			b.Intercept(protocol.SendMessageV2, nil)
		}
		return protocol.NewResponse(req, protocol.SystemBusy, "[OVERLOAD] too many requests in flight on this connection (max 1), try again later")
	})
}

// A SYSTEM_BUSY answer is retried after a backoff that doubles, with any
// selector, within Retries.
func TestBusyRetriedWithBackoff(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	b := clienttest.StartBroker(t, "broker-a")
	ns.SetRoute("T", clienttest.Route(2, b))
	p := start(t, ns, producer.BusyBackoff(20*time.Millisecond, time.Second))

	busyFor(b, 2)
	start := time.Now()
	res, err := p.Send(t.Context(), producer.NewMessage("T", []byte("x")))
	require.NoError(t, err)
	require.Equal(t, producer.SendOK, res.Status)
	// Waits of at least 10ms and 20ms (half of 20ms and of 40ms).
	require.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)
	require.Len(t, b.Requests(protocol.SendMessageV2), 3)

	// An ordering selector is retried too (on the queue it picks again).
	busyFor(b, 1)
	q := message.MessageQueue{Topic: "T", BrokerName: "broker-a", QueueID: 1}
	res, err = p.Send(t.Context(), producer.NewMessage("T", []byte("y")), producer.ToQueue(q))
	require.NoError(t, err)
	require.Equal(t, int32(1), res.Queue.QueueID)

	// Async sends back off on a goroutine of their own and succeed.
	busyFor(b, 2)
	errc := make(chan error, 1)
	p.SendAsync(t.Context(), producer.NewMessage("T", []byte("z")), func(_ *producer.SendResult, err error) { errc <- err })
	require.NoError(t, <-errc)
	require.Len(t, b.Messages("T"), 3)

	// Busy on every attempt: the send fails with the busy error after
	// 1 + Retries attempts.
	busyFor(b, 100)
	_, err = p.Send(t.Context(), producer.NewMessage("T", []byte("w")))
	require.ErrorIs(t, err, protocol.ErrSystemBusy)
	require.ErrorContains(t, err, "after 3 attempts")
	p.SendAsync(t.Context(), producer.NewMessage("T", []byte("w")), func(_ *producer.SendResult, err error) { errc <- err })
	require.ErrorIs(t, <-errc, protocol.ErrSystemBusy)
}

// A backoff that would pass the send timeout is not waited: the send fails
// at once with the busy error.
func TestBusyBackoffWithinSendTimeout(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	b := clienttest.StartBroker(t, "broker-a")
	ns.SetRoute("T", clienttest.Route(1, b))
	p := start(t, ns, producer.BusyBackoff(time.Minute, time.Minute), producer.SendTimeout(2*time.Second))
	busyFor(b, 100)
	start := time.Now()
	_, err := p.Send(t.Context(), producer.NewMessage("T", []byte("x")))
	require.ErrorIs(t, err, protocol.ErrSystemBusy)
	require.Less(t, time.Since(start), time.Second)
	require.Len(t, b.Requests(protocol.SendMessageV2), 1)
}

// Close ends a send waiting out a backoff: its callback gets ErrClosed and
// Close waits for it.
func TestBusyBackoffEndsOnClose(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	b := clienttest.StartBroker(t, "broker-a")
	ns.SetRoute("T", clienttest.Route(1, b))
	p, err := producer.New(client.NameServers(ns.Addr), producer.BusyBackoff(10*time.Second, 10*time.Second),
		producer.SendTimeout(time.Minute))
	require.NoError(t, err)
	require.NoError(t, p.Start(t.Context()))
	busyFor(b, 100)
	errc := make(chan error, 1)
	p.SendAsync(t.Context(), producer.NewMessage("T", []byte("x")), func(_ *producer.SendResult, err error) { errc <- err })
	poll.WaitFor(t, 5*time.Second, func() bool { return len(b.Requests(protocol.SendMessageV2)) == 1 })
	require.NoError(t, p.Close())
	select {
	case err := <-errc:
		require.ErrorIs(t, err, producer.ErrClosed)
	default:
		t.Fatal("Close returned before the callback ran")
	}
}

func TestBusyBackoffOption(t *testing.T) {
	t.Parallel()
	for _, o := range []client.ProducerOption{producer.BusyBackoff(0, time.Second), producer.BusyBackoff(time.Second, time.Millisecond)} {
		_, err := producer.New(client.NameServers("127.0.0.1:9876"), o)
		require.ErrorContains(t, err, "BusyBackoff")
	}
}
