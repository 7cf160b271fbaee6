package consumer_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/clienttest"
	"github.com/petrelmq/petrel/pkg/client/consumer"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
)

// shortDelays makes every delay level 1s, so retried messages come back
// quickly.
func shortDelays(cfg *broker.Config) {
	cfg.Store.MessageDelayLevel = strings.TrimSpace(strings.Repeat("1s ", 18))
}

// TestPushHandlerPanicIsConsumeLater checks that a panicking concurrent
// handler does not crash the process: the panic is recovered and the message
// comes back through the retry topic, as with ConsumeRetryLater.
func TestPushHandlerPanicIsConsumeLater(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t, testutil.WithBrokerConfig(shortDelays))
	createTopic(t, c, "PanicT", 2)
	p := newProducer(t, c.NameServerAddr)
	for i := range 4 {
		_, err := p.Send(t.Context(), producer.NewMessage("PanicT", []byte(strconv.Itoa(i))))
		require.NoError(t, err)
	}
	var mu sync.Mutex
	var attempts []*message.MessageExt
	startPush(t, fast(c.NameServerAddr, "g-panic", consumer.FromWhere(consumer.ConsumeFromFirstOffset)), "PanicT", consumer.All(),
		consumer.Concurrently(func(_ context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
			mu.Lock()
			attempts = append(attempts, msgs...)
			mu.Unlock()
			if string(msgs[0].Body) == "2" && msgs[0].ReconsumeTimes == 0 {
				panic("handler bug")
			}
			return consumer.ConsumeSuccess
		}))
	testutil.WaitFor(t, 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range attempts {
			if string(m.Body) == "2" && m.ReconsumeTimes == 1 {
				return true
			}
		}
		return false
	})
	mu.Lock()
	defer mu.Unlock()
	bodies := map[string]int{}
	for _, m := range attempts {
		bodies[string(m.Body)]++
	}
	require.Equal(t, 2, bodies["2"], "the panicking message once, then once more from the retry topic")
	for _, b := range []string{"0", "1", "3"} {
		require.Equal(t, 1, bodies[b], "message %s", b)
	}
}

// TestPushOrderlyHandlerPanicSuspends checks that a panicking orderly
// handler counts as SuspendCurrentQueueAMoment: the same message is retried
// in place and the queue's order is kept.
func TestPushOrderlyHandlerPanicSuspends(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t)
	createTopic(t, c, "OPanicT", 1)
	p := newProducer(t, c.NameServerAddr)
	for i := range 4 {
		_, err := p.Send(t.Context(), producer.NewMessage("OPanicT", []byte(strconv.Itoa(i))))
		require.NoError(t, err)
	}
	var mu sync.Mutex
	var order []string
	panicked := false
	startPush(t, fast(c.NameServerAddr, "g-opanic", consumer.FromWhere(consumer.ConsumeFromFirstOffset)), "OPanicT", consumer.All(),
		consumer.Orderly(func(_ context.Context, msgs []*message.MessageExt) consumer.OrderlyResult {
			mu.Lock()
			defer mu.Unlock()
			b := string(msgs[0].Body)
			if b == "1" && !panicked {
				panicked = true
				panic("handler bug")
			}
			order = append(order, b+"/"+strconv.Itoa(int(msgs[0].ReconsumeTimes)))
			return consumer.OrderlySuccess
		}))
	testutil.WaitFor(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) == 4
	})
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"0/0", "1/1", "2/0", "3/0"}, order)
}

// TestPushConsumeTimeoutFreesQueue checks ConsumeTimeout: a handler that
// never returns by itself has its context cancelled, its message is sent
// back for retry and comes again through the retry topic, and the queue's
// committed offset moves past it.
func TestPushConsumeTimeoutFreesQueue(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t, testutil.WithBrokerConfig(shortDelays))
	createTopic(t, c, "StuckT", 1)
	p := newProducer(t, c.NameServerAddr)
	const n = 5
	for i := range n {
		_, err := p.Send(t.Context(), producer.NewMessage("StuckT", []byte(strconv.Itoa(i))))
		require.NoError(t, err)
	}
	var mu sync.Mutex
	var done []*message.MessageExt
	cancelled := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	startPush(t, fast(c.NameServerAddr, "g-stuck", consumer.FromWhere(consumer.ConsumeFromFirstOffset), consumer.ConsumeTimeout(time.Second)),
		"StuckT", consumer.All(),
		consumer.Concurrently(func(ctx context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
			if string(msgs[0].Body) == "1" && msgs[0].ReconsumeTimes == 0 {
				<-ctx.Done() // stuck until the consume timeout gives up on it
				close(cancelled)
				<-release // and stuck some more: its result must not matter
				return consumer.ConsumeRetryLater
			}
			mu.Lock()
			done = append(done, msgs...)
			mu.Unlock()
			return consumer.ConsumeSuccess
		}))
	testutil.WaitFor(t, 20*time.Second, func() bool {
		select {
		case <-cancelled:
		default:
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		for _, m := range done {
			if string(m.Body) == "1" && m.ReconsumeTimes == 1 && m.Topic == "StuckT" {
				return true
			}
		}
		return false
	})
	a, err := admin.New(client.NameServers(c.NameServerAddr))
	require.NoError(t, err)
	defer a.Close()
	mq := message.MessageQueue{Topic: "StuckT", BrokerName: "broker-a", QueueID: 0}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		off, err := a.ConsumerOffset(t.Context(), "g-stuck", mq)
		return err == nil && off == n
	})
}

// TestTwoPushConsumersOfOneGroupInOneProcess checks that two consumers of
// one group made in one process without InstanceName are two members: they
// split the queues, and each message is consumed once.
func TestTwoPushConsumersOfOneGroupInOneProcess(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t)
	createTopic(t, c, "TwinT", 8)
	got := newCollector()
	h := consumer.Concurrently(func(_ context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
		got.add(msgs...)
		return consumer.ConsumeSuccess
	})
	opts := fast(c.NameServerAddr, "g-twin", consumer.FromWhere(consumer.ConsumeFromFirstOffset))
	c1 := startPush(t, opts, "TwinT", consumer.All(), h)
	c2 := startPush(t, opts, "TwinT", consumer.All(), h)
	require.NotEqual(t, c1.Client().ID(), c2.Client().ID())
	testutil.WaitFor(t, 15*time.Second, func() bool {
		return len(held(c1, "TwinT")) == 4 && len(held(c2, "TwinT")) == 4
	})
	p := newProducer(t, c.NameServerAddr)
	const n = 40
	for i := range n {
		_, err := p.Send(t.Context(), producer.NewMessage("TwinT", []byte(strconv.Itoa(i))))
		require.NoError(t, err)
	}
	testutil.WaitFor(t, 10*time.Second, func() bool { return got.count() == n })
	got.mu.Lock()
	defer got.mu.Unlock()
	require.Len(t, got.all, n, "each message consumed once")
}

// TestDuplicateMemberRefused checks that a second consumer of a group with
// the same explicit InstanceName in one process is refused at Start, and
// may start once the first is closed.
func TestDuplicateMemberRefused(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	h := consumer.Concurrently(func(context.Context, []*message.MessageExt) consumer.ConsumeResult { return consumer.ConsumeSuccess })
	mk := func(group string) *consumer.PushConsumer {
		pc, err := consumer.NewPush(client.NameServers(ns.Addr), consumer.Group(group), client.InstanceName("same"))
		require.NoError(t, err)
		require.NoError(t, pc.Subscribe("T", consumer.All(), h))
		return pc
	}
	first := mk("g-dup")
	require.NoError(t, first.Start(t.Context()))
	second := mk("g-dup")
	require.ErrorIs(t, second.Start(t.Context()), consumer.ErrDuplicateMember)
	other := mk("g-dup-other")
	require.NoError(t, other.Start(t.Context()), "another group may use the same instance name")
	require.NoError(t, other.Close())
	require.NoError(t, first.Close())
	require.NoError(t, second.Start(t.Context()))
	require.NoError(t, second.Close())
}
