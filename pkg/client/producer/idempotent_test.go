package producer_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/pkg/client/clienttest"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
)

// loseFirstSend makes the first send to either broker go unanswered.
func loseFirstSend(brokers ...*clienttest.Broker) {
	var lost atomic.Bool
	for _, b := range brokers {
		b.Intercept(protocol.SendMessageV2, func(*protocol.Command) *protocol.Command {
			if lost.CompareAndSwap(false, true) {
				for _, o := range brokers {
					o.Intercept(protocol.SendMessageV2, nil)
				}
			}
			return nil
		})
	}
}

func uniqKeys(reqs []*protocol.Command) []string {
	var ks []string
	for _, r := range reqs {
		ks = append(ks, message.DecodeProperties([]byte(r.Ext("i")))[message.PropertyUniqKey])
	}
	return ks
}

func TestIdempotentRetriesALostAnswerOnTheSameBroker(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	a, b := clienttest.StartBroker(t, "broker-a"), clienttest.StartBroker(t, "broker-b")
	ns.SetRoute("T", clienttest.Route(2, a, b))
	p := start(t, ns, producer.Group("pg"), producer.Idempotent(), producer.AttemptTimeout(200*time.Millisecond),
		producer.SendTimeout(10*time.Second))
	loseFirstSend(a, b)
	res, err := p.Send(t.Context(), producer.NewMessage("T", []byte("x")))
	require.NoError(t, err)
	ra, rb := a.Requests(protocol.SendMessageV2), b.Requests(protocol.SendMessageV2)
	require.Equal(t, 2, len(ra)+len(rb), "the lost attempt and its retry")
	require.True(t, len(ra) == 0 || len(rb) == 0, "both attempts went to one broker")
	keys := uniqKeys(append(ra, rb...))
	require.Equal(t, keys[0], keys[1], "the same UNIQ_KEY")
	require.Equal(t, keys[0], res.MsgID)
}

func TestWithoutIdempotentALostAnswerFailsTheSend(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	a := clienttest.StartBroker(t, "broker-a")
	ns.SetRoute("T", clienttest.Route(2, a))
	p := start(t, ns, producer.Group("pg"), producer.SendTimeout(300*time.Millisecond))
	loseFirstSend(a)
	_, err := p.Send(t.Context(), producer.NewMessage("T", []byte("x")))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Len(t, a.Requests(protocol.SendMessageV2), 1, "not resent: it may be stored")
}

func TestAttemptTimeoutMustBePositive(t *testing.T) {
	t.Parallel()
	_, err := producer.New(producer.AttemptTimeout(0))
	require.ErrorContains(t, err, "AttemptTimeout")
}
