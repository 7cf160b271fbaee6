package consumer_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/clienttest"
	"github.com/petrelmq/petrel/pkg/client/consumer"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
)

// replicaPair is a fake master and slave of "broker-a" serving topic with
// one queue, with n messages sent through the master.
func replicaPair(t *testing.T, topic string, n int) (ns *clienttest.NameServer, m, s *clienttest.Broker) {
	t.Helper()
	ns = clienttest.StartNameServer(t)
	m = clienttest.StartBroker(t, "broker-a")
	s = clienttest.StartSlave(t, m, 1)
	ns.SetRoute(topic, clienttest.Route(1, m, s))
	p := newProducer(t, ns.Addr)
	for i := range n {
		_, err := p.Send(t.Context(), producer.NewMessage(topic, []byte(strconv.Itoa(i))))
		require.NoError(t, err)
	}
	return ns, m, s
}

// pullFlags returns the sysFlag of every pull a broker received.
func pullFlags(b *clienttest.Broker) []int {
	var out []int
	for _, r := range b.Requests(protocol.PullMessage) {
		f, _ := strconv.Atoi(r.Ext("sysFlag"))
		out = append(out, f)
	}
	return out
}

func requireNoCommitFlag(t *testing.T, b *clienttest.Broker) {
	t.Helper()
	for _, f := range pullFlags(b) {
		require.Zero(t, f&int(client.PullFlagCommitOffset), "a pull to a slave carries no commit offset")
	}
}

// TestPushFollowsSuggestedBroker checks that the push consumer pulls from
// the broker id a pull answer suggests (a master finding the consumer far
// behind suggests a slave), without the commit-offset flag, while offsets
// are still committed to the master.
func TestPushFollowsSuggestedBroker(t *testing.T) {
	t.Parallel()
	const topic, n = "RepT", 10
	ns, m, s := replicaPair(t, topic, n)
	m.SetSuggestBrokerID(1)
	s.SetSuggestBrokerID(1)
	got := newCollector()
	startPush(t, fast(ns.Addr, "g-rep", consumer.FromWhere(consumer.ConsumeFromFirstOffset), consumer.PullBatchSize(2)), topic, consumer.All(),
		consumer.Concurrently(func(_ context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
			got.add(msgs...)
			return consumer.ConsumeSuccess
		}))
	mq := message.MessageQueue{Topic: topic, BrokerName: "broker-a", QueueID: 0}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		off, ok := m.ConsumerOffset("g-rep", mq)
		return got.count() == n && ok && off == n
	})
	require.Len(t, m.Requests(protocol.PullMessage), 1, "only the first pull goes to the master")
	require.GreaterOrEqual(t, len(s.Requests(protocol.PullMessage)), n/2, "the rest follow the suggestion")
	requireNoCommitFlag(t, s)
	require.Empty(t, s.Requests(protocol.UpdateConsumerOffset), "offsets go to the master while it is up")

	// The slave suggests the master again (it caught up): back to the master.
	s.SetSuggestBrokerID(0)
	m.SetSuggestBrokerID(0)
	before := len(m.Requests(protocol.PullMessage))
	testutil.WaitFor(t, 10*time.Second, func() bool { return len(m.Requests(protocol.PullMessage)) > before })
}

// TestPushReadsFromSlaveWhileMasterDown checks that when the master drops
// out of the route, the push consumer keeps pulling from the slave, commits
// its offsets there, and a consumer started while the master is still down
// resumes from the slave's offset.
func TestPushReadsFromSlaveWhileMasterDown(t *testing.T) {
	t.Parallel()
	const topic, n, group = "DownT", 10, "g-down"
	ns, m, s := replicaPair(t, topic, n)
	mq := message.MessageQueue{Topic: topic, BrokerName: "broker-a", QueueID: 0}
	masterDown := make(chan struct{})
	got := newCollector()
	var once sync.Once
	opts := fast(ns.Addr, group, consumer.FromWhere(consumer.ConsumeFromFirstOffset), client.RouteRefreshInterval(100*time.Millisecond),
		consumer.PullBatchSize(1), consumer.MaxCachedMessages(1)) // one message at a time: pulls stop while "5" is consumed
	pc, err := consumer.NewPush(opts...)
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, consumer.All(), consumer.Concurrently(func(ctx context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
		if string(msgs[0].Body) == "5" {
			once.Do(func() { <-masterDown })
		}
		got.add(msgs...)
		return consumer.ConsumeSuccess
	})))
	require.NoError(t, pc.Start(t.Context()))
	defer pc.Close()
	testutil.WaitFor(t, 10*time.Second, func() bool {
		off, ok := m.ConsumerOffset(group, mq)
		return ok && off == 5
	})

	// The master goes down: the name server drops it from the route.
	ns.SetRoute(topic, clienttest.Route(1, s))
	m.Close()
	testutil.WaitFor(t, 10*time.Second, func() bool {
		r, ok := pc.Client().CachedRoute(topic)
		if !ok {
			return false
		}
		_, up := r.MasterAddr("broker-a")
		return !up
	})
	close(masterDown)
	testutil.WaitFor(t, 10*time.Second, func() bool {
		off, ok := s.ConsumerOffset(group, mq)
		return got.count() == n && ok && off == n
	})
	require.NotEmpty(t, s.Requests(protocol.PullMessage), "messages 6..9 came from the slave")
	requireNoCommitFlag(t, s)
	require.NoError(t, pc.Close())

	// A consumer started while the master is down takes its offset from the
	// slave: its first pull starts at 10, nothing is consumed again.
	pulls := len(s.Requests(protocol.PullMessage))
	again := newCollector()
	startPush(t, opts, topic, consumer.All(), consumer.Concurrently(func(_ context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
		again.add(msgs...)
		return consumer.ConsumeSuccess
	}))
	testutil.WaitFor(t, 10*time.Second, func() bool { return len(s.Requests(protocol.PullMessage)) > pulls })
	require.Equal(t, "10", s.Requests(protocol.PullMessage)[pulls].Ext("queueOffset"))
	require.Zero(t, again.count())
}

// TestLitePullFollowsSuggestedBroker checks the lite pull consumer follows
// suggestWhichBrokerId too.
func TestLitePullFollowsSuggestedBroker(t *testing.T) {
	t.Parallel()
	const topic, n = "LiteRepT", 6
	ns, m, s := replicaPair(t, topic, n)
	m.SetSuggestBrokerID(1)
	s.SetSuggestBrokerID(1)
	l, err := consumer.NewLitePull(fast(ns.Addr, "g-literep", consumer.PullBatchSize(2))...)
	require.NoError(t, err)
	mq := message.MessageQueue{Topic: topic, BrokerName: "broker-a", QueueID: 0}
	require.NoError(t, l.Assign(t.Context(), []message.MessageQueue{mq}, consumer.All()))
	require.NoError(t, l.Start(t.Context()))
	defer l.Close()
	require.NoError(t, l.Seek(mq, 0))
	require.Len(t, pollN(t, l, n), n)
	require.NotEmpty(t, s.Requests(protocol.PullMessage))
	requireNoCommitFlag(t, s)
}
