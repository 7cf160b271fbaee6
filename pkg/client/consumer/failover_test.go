package consumer_test

import (
	"context"
	"strconv"
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
)

// masterSwitch is a broker set "broker-a" of one topic with one queue whose
// master moves from one real broker (old, of the name server c) to another
// (next) at the name server, as in controller mode: next is listed as slave
// id 1 until the switch, then the old master goes away and next registers
// as id 0 from its own address. next is a standalone master (its registrar
// talks to a name server of its own) holding a copy of the messages sent
// before the switch, as a replica would, so queue offsets line up.
type masterSwitch struct {
	topic string
	c     *testutil.Cluster
	next  *testutil.Cluster
	reg   *testutil.Registrar
	p     *producer.Producer // sends through c's name server
	mq    message.MessageQueue
}

func startMasterSwitch(t *testing.T, topic string, before int) *masterSwitch {
	t.Helper()
	s := &masterSwitch{topic: topic, c: testutil.StartCluster(t), mq: message.MessageQueue{Topic: topic, BrokerName: "broker-a"}}
	s.next = testutil.StartCluster(t, testutil.WithBrokerConfig(func(cfg *broker.Config) { cfg.BrokerName = "broker-a" }))
	a, err := admin.New(client.NameServers(s.c.NameServerAddr))
	require.NoError(t, err)
	defer a.Close()
	for _, addr := range []string{s.c.BrokerAddr, s.next.BrokerAddr} {
		require.NoError(t, a.CreateTopic(t.Context(), addr, admin.TopicSpec{Topic: topic, ReadQueues: 1, WriteQueues: 1}))
	}
	s.reg = testutil.NewRegistrar(t, s.c.NameServerAddr)
	s.reg.Register(testutil.Registration{BrokerName: "broker-a", BrokerAddr: s.next.BrokerAddr, BrokerID: 1, Topics: map[string]int32{topic: 1}})
	testutil.WaitFor(t, 10*time.Second, func() bool {
		r, err := a.TopicRoute(t.Context(), topic)
		return err == nil && len(r.PublishQueues()) == 1
	})
	s.p = newProducer(t, s.c.NameServerAddr)
	replica := newProducer(t, s.next.NameServerAddr)
	for i := range before {
		for _, p := range []*producer.Producer{s.p, replica} {
			_, err := p.Send(t.Context(), producer.NewMessage(topic, []byte("before-"+strconv.Itoa(i))))
			require.NoError(t, err)
		}
	}
	// Like a replica that caught up: next's consume queue holds the copies
	// (a pull past its end would be answered OFFSET_ILLEGAL, moving the
	// consumer back to 0, as RocketMQ's master does).
	st := s.next.Broker.Replication().Store
	testutil.WaitFor(t, 10*time.Second, func() bool { return st.MaxOffsetInQueue(topic, 0) == message.QueueOffset(before) })
	return s
}

// kill stops the old master; promote registers next as id 0.
func (s *masterSwitch) kill(t *testing.T) { require.NoError(t, s.c.Broker.Close()) }

func (s *masterSwitch) promote(t *testing.T) time.Time {
	s.reg.Register(testutil.Registration{BrokerName: "broker-a", BrokerAddr: s.next.BrokerAddr, BrokerID: 0,
		Topics: map[string]int32{s.topic: 1}, DataVersion: 2})
	return time.Now()
}

// registered waits until the name server has topic's route (the old
// master's registration that carries it is done).
func (s *masterSwitch) registered(t *testing.T, topic string) {
	t.Helper()
	a, err := admin.New(client.NameServers(s.c.NameServerAddr))
	require.NoError(t, err)
	defer a.Close()
	testutil.WaitFor(t, 10*time.Second, func() bool {
		_, err := a.TopicRoute(t.Context(), topic)
		return err == nil
	})
}

// sendAfter sends n messages once the producer follows the new master.
func (s *masterSwitch) sendAfter(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		testutil.WaitFor(t, 10*time.Second, func() bool {
			_, err := s.p.Send(t.Context(), producer.NewMessage(s.topic, []byte("after-"+strconv.Itoa(i))))
			return err == nil
		})
	}
}

// nextOffset is the group's offset committed on the new master.
func (s *masterSwitch) nextOffset(t *testing.T, group string) message.QueueOffset {
	t.Helper()
	a, err := admin.New(client.NameServers(s.next.NameServerAddr))
	require.NoError(t, err)
	defer a.Close()
	off, err := a.ConsumerOffset(t.Context(), group, s.mq)
	if err != nil {
		return -1
	}
	return off
}

// TestPushFollowsMasterSwitch checks that a push consumer follows a new
// master within moments of its registration, with the default route
// refresh interval (30s): pulls that fail on the old master refresh the
// route and go to the new address, and offsets are committed there.
func TestPushFollowsMasterSwitch(t *testing.T) {
	t.Parallel()
	const before, after = 5, 5
	s := startMasterSwitch(t, "PushSwitch", before)
	got := newCollector()
	startPush(t, fast(s.c.NameServerAddr, "g-switch", consumer.FromWhere(consumer.ConsumeFromFirstOffset)), s.topic, consumer.All(),
		consumer.Concurrently(func(_ context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
			got.add(msgs...)
			return consumer.ConsumeSuccess
		}))
	testutil.WaitFor(t, 10*time.Second, func() bool { return got.count() == before })

	s.kill(t)
	switched := s.promote(t)
	s.sendAfter(t, after)
	testutil.WaitFor(t, 10*time.Second, func() bool { return got.count() == before+after })
	took := time.Since(switched)
	t.Logf("consumed the new master's messages %s after its registration", took)
	require.Less(t, took, 5*time.Second, "long before the 30s route refresh")
	for _, m := range got.all[before:] {
		require.Contains(t, string(m.Body), "after-", "the copies of what was consumed before are not consumed again")
	}
	testutil.WaitFor(t, 10*time.Second, func() bool { return s.nextOffset(t, "g-switch") == before+after })
}

// TestLitePullFollowsMasterSwitch is the same for the lite pull consumer,
// with a PullRetryDelay of an hour: the prefetch retries at once when the
// refreshed route names another address.
func TestLitePullFollowsMasterSwitch(t *testing.T) {
	t.Parallel()
	const before, after = 4, 4
	s := startMasterSwitch(t, "LiteSwitch", before)
	l, err := consumer.NewLitePull(fast(s.c.NameServerAddr, "g-lite-switch",
		consumer.FromWhere(consumer.ConsumeFromFirstOffset), consumer.PullRetryDelay(time.Hour))...)
	require.NoError(t, err)
	require.NoError(t, l.Subscribe(s.topic, consumer.All()))
	require.NoError(t, l.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	require.Len(t, pollN(t, l, before), before)

	// The new master is known at the name server before the consumer's
	// pull fails: the old master answers a held pull SHUTDOWN as it closes.
	// Its registration of the group's retry topic (made for the consumer's
	// heartbeat) must be in first, or it would take id 0 back.
	s.registered(t, "%RETRY%g-lite-switch")
	s.promote(t)
	s.kill(t)
	s.sendAfter(t, after)
	got := pollN(t, l, after)
	for _, m := range got {
		require.Contains(t, string(m.Body), "after-")
	}
	testutil.WaitFor(t, 10*time.Second, func() bool { return s.nextOffset(t, "g-lite-switch") == before+after })
}
