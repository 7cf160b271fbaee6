package producer_test

import (
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
)

// masterRoute is topic T on "broker-a" with one queue, master at addr.
func masterRoute(addr string) *body.TopicRouteData {
	return &body.TopicRouteData{
		QueueDatas:        []body.QueueData{{BrokerName: "broker-a", ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6}},
		BrokerDatas:       []*body.BrokerData{{Cluster: "DefaultCluster", BrokerName: "broker-a", Addrs: map[int64]string{0: addr}}},
		FilterServerTable: map[string][]string{},
	}
}

// switched starts a name server routing T to old as broker-a's master, a
// producer that caches that route, and then moves the master to next at the
// name server (the producer does not know yet).
func switched(t *testing.T, opts ...client.ProducerOption) (ns *clienttest.NameServer, old, next *clienttest.Broker, p *producer.Producer) {
	t.Helper()
	ns = clienttest.StartNameServer(t)
	old = clienttest.StartBroker(t, "broker-a")
	next = clienttest.StartBroker(t, "broker-a")
	ns.SetRoute("T", masterRoute(old.Addr))
	p = start(t, ns, opts...)
	_, err := p.Client().Route(t.Context(), "T")
	require.NoError(t, err)
	ns.SetRoute("T", masterRoute(next.Addr))
	return ns, old, next, p
}

func refuse(b *clienttest.Broker, code protocol.ResponseCode, remark string) {
	b.Intercept(protocol.SendMessageV2, func(req *protocol.Command) *protocol.Command {
		return protocol.NewResponse(req, code, remark)
	})
}

// TestNotMasterAnswerFollowsNewMaster checks that an answer meaning "not a
// writable master" refreshes the route and the retry, in the same Send, goes
// to the new master.
func TestNotMasterAnswerFollowsNewMaster(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		code   protocol.ResponseCode
		remark string
	}{
		{"slave", protocol.ServiceNotAvailable, "service not available now. It may be caused by one of the following reasons: the broker's disk is full, messages are put to the slave, message store has been shut down, etc."},
		{"lease lost", protocol.ServiceNotAvailable, "not master any more; the message may be lost; send again"},
		{"not writable", protocol.NoPermission, "the broker[broker-a] sending message is forbidden"},
		{"in-sync replicas", protocol.SystemError, "in-sync replicas not enough"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, old, next, p := switched(t)
			refuse(old, tc.code, tc.remark)
			res, err := p.Send(t.Context(), producer.NewMessage("T", []byte("x")))
			require.NoError(t, err)
			require.Equal(t, producer.SendOK, res.Status)
			require.Len(t, old.Requests(protocol.SendMessageV2), 1)
			require.Len(t, next.Messages("T"), 1)
		})
	}
}

// TestOtherAnswersKeepTheRoute checks that a retriable answer that says
// nothing about the route (TOPIC_NOT_EXIST, or SYSTEM_ERROR for another
// reason) is retried as before, without a route refresh.
func TestOtherAnswersKeepTheRoute(t *testing.T) {
	t.Parallel()
	for _, code := range []protocol.ResponseCode{protocol.TopicNotExist, protocol.SystemError} {
		ns, old, next, p := switched(t)
		refuse(old, code, "something else")
		before := ns.Requests()
		_, err := p.Send(t.Context(), producer.NewMessage("T", []byte("x")))
		require.Error(t, err)
		require.Len(t, old.Requests(protocol.SendMessageV2), 1+producer.DefaultRetries)
		require.Empty(t, next.Messages("T"))
		require.Equal(t, before, ns.Requests(), "code %d: no route refresh", code)
	}
}

// TestRefreshIsSharedAndRateLimited checks that many sends failing on the
// old master at once cost the name server one route request.
func TestRefreshIsSharedAndRateLimited(t *testing.T) {
	t.Parallel()
	ns, old, _, p := switched(t, client.StaleRouteRefreshInterval(time.Hour), producer.Retries(0))
	ns.SetRoute("T", masterRoute(old.Addr)) // the name server has not learnt of a new master yet
	refuse(old, protocol.ServiceNotAvailable, "not master")
	before := ns.Requests()
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = p.Send(t.Context(), producer.NewMessage("T", []byte("x")))
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.ErrorIs(t, err, protocol.ErrServiceNotAvailable)
	}
	poll.WaitFor(t, 10*time.Second, func() bool { return ns.Requests() == before+1 })
	_, err := p.Send(t.Context(), producer.NewMessage("T", []byte("x")))
	require.Error(t, err)
	require.Equal(t, before+1, ns.Requests(), "within the interval: no new refresh")
}

// TestSendsWithoutRetriesRefreshInTheBackground checks that a send that is
// not retried (an ordering selector, a oneway send's broker answer, an async
// send out of attempts) still refreshes the route for the sends that follow.
func TestSendsWithoutRetriesRefreshInTheBackground(t *testing.T) {
	t.Parallel()
	_, old, next, p := switched(t)
	old.Close()
	mq := message.MessageQueue{Topic: "T", BrokerName: "broker-a", QueueID: 0}
	_, err := p.Send(t.Context(), producer.NewMessage("T", []byte("x")), producer.ToQueue(mq))
	require.Error(t, err, "a send to one queue is not retried")
	poll.WaitFor(t, 10*time.Second, func() bool {
		r, _ := p.Client().CachedRoute("T")
		a, _ := r.MasterAddr("broker-a")
		return a == next.Addr
	})
	_, err = p.Send(t.Context(), producer.NewMessage("T", []byte("y")), producer.ToQueue(mq))
	require.NoError(t, err)
	require.Len(t, next.Messages("T"), 1)

	// Oneway: a transport error is retried after the refresh.
	_, old2, next2, p2 := switched(t)
	old2.Close()
	require.NoError(t, p2.SendOneway(t.Context(), producer.NewMessage("T", []byte("ow"))))
	poll.WaitFor(t, 10*time.Second, func() bool { return len(next2.Messages("T")) == 1 })

	// Async: the retry follows the refreshed route too.
	_, old3, next3, p3 := switched(t)
	old3.Close()
	errc := make(chan error, 1)
	p3.SendAsync(t.Context(), producer.NewMessage("T", []byte("a")), func(_ *producer.SendResult, err error) { errc <- err })
	require.NoError(t, <-errc)
	require.Len(t, next3.Messages("T"), 1)
}
