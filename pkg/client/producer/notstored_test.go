package producer_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/pkg/client/clienttest"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/protocol"
)

// TestSendStoredNotOKIsAResult checks the answers of a broker that stored a
// message but whose flush or replication did not confirm (10, 11, 12): by
// default they are results with the matching status, not errors, and the
// message is not sent again.
func TestSendStoredNotOKIsAResult(t *testing.T) {
	t.Parallel()
	for code, want := range map[protocol.ResponseCode]producer.SendStatus{
		protocol.FlushDiskTimeout:  producer.SendFlushDiskTimeout,
		protocol.SlaveNotAvailable: producer.SendSlaveNotAvailable,
		protocol.FlushSlaveTimeout: producer.SendFlushSlaveTimeout,
	} {
		ns := clienttest.StartNameServer(t)
		a := clienttest.StartBroker(t, "broker-a")
		b := clienttest.StartBroker(t, "broker-b")
		a.SetSendStatus(code)
		ns.SetRoute("T", clienttest.Route(1, a, b))
		p := start(t, ns)
		res, err := p.Send(t.Context(), producer.NewMessage("T", []byte("x")))
		require.NoError(t, err, "code %d", code)
		require.Equal(t, want, res.Status)
		require.Equal(t, "broker-a", res.Queue.BrokerName)
		require.NotEmpty(t, res.OffsetMsgID)
		require.Len(t, a.Messages("T"), 1, "the message is stored")
		require.Empty(t, b.Requests(protocol.SendMessageV2), "no retry without RetryAnotherBrokerWhenNotStoreOK")
	}
}

// TestRetryAnotherBrokerWhenNotStoreOK checks the option: a stored-not-OK
// answer is sent again to another broker, and the SendOK result from there
// is returned (sync and async).
func TestRetryAnotherBrokerWhenNotStoreOK(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	a := clienttest.StartBroker(t, "broker-a")
	b := clienttest.StartBroker(t, "broker-b")
	a.SetSendStatus(protocol.FlushSlaveTimeout)
	ns.SetRoute("T", clienttest.Route(1, a, b))
	p := start(t, ns, producer.RetryAnotherBrokerWhenNotStoreOK(true), producer.LatencyFaultTolerance(false))

	// Round robin starts on broker-a, the first queue.
	res, err := p.Send(t.Context(), producer.NewMessage("T", []byte("sync")))
	require.NoError(t, err)
	require.Equal(t, producer.SendOK, res.Status)
	require.Equal(t, "broker-b", res.Queue.BrokerName)
	require.Len(t, a.Messages("T"), 1, "stored on the first broker too: a duplicate")
	require.Len(t, b.Messages("T"), 1)

	// The retry took broker-b's turn: next in turn is broker-a again.
	type outcome struct {
		r   *producer.SendResult
		err error
	}
	done := make(chan outcome, 1)
	p.SendAsync(t.Context(), producer.NewMessage("T", []byte("async")), func(r *producer.SendResult, err error) {
		done <- outcome{r, err}
	})
	o := <-done
	require.NoError(t, o.err)
	r := o.r
	require.Equal(t, producer.SendOK, r.Status)
	require.Equal(t, "broker-b", r.Queue.BrokerName)
	require.Len(t, a.Messages("T"), 2, "the async send tried broker-a first")
	require.Len(t, b.Messages("T"), 2)
}

// TestRetryAnotherBrokerWhenNotStoreOKExhausted checks that when no attempt
// gets SendOK, the last stored-not-OK result is returned, not an error.
func TestRetryAnotherBrokerWhenNotStoreOKExhausted(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	a := clienttest.StartBroker(t, "broker-a")
	b := clienttest.StartBroker(t, "broker-b")
	a.SetSendStatus(protocol.SlaveNotAvailable)
	b.SetSendStatus(protocol.FlushDiskTimeout)
	ns.SetRoute("T", clienttest.Route(1, a, b))
	p := start(t, ns, producer.RetryAnotherBrokerWhenNotStoreOK(true), producer.Retries(2), producer.LatencyFaultTolerance(false))
	res, err := p.Send(t.Context(), producer.NewMessage("T", []byte("x")))
	require.NoError(t, err)
	require.Equal(t, producer.SendSlaveNotAvailable, res.Status, "attempts a, b, a: the last answer")
	require.Equal(t, "broker-a", res.Queue.BrokerName)
	require.Len(t, a.Messages("T"), 2)
	require.Len(t, b.Messages("T"), 1)
}
