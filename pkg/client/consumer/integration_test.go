package consumer_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/consumer"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
)

// fast are the options that keep integration tests quick: short intervals
// and long-poll holds.
func fast(ns string, group string, extra ...client.ConsumerOption) []client.ConsumerOption {
	return append([]client.ConsumerOption{
		client.NameServers(ns),
		consumer.Group(group),
		consumer.RebalanceInterval(200 * time.Millisecond),
		consumer.CommitInterval(100 * time.Millisecond),
		consumer.LockInterval(200 * time.Millisecond),
		consumer.LongPolling(500*time.Millisecond, 5*time.Second),
		consumer.PullRetryDelay(100 * time.Millisecond),
		consumer.OrderlySuspend(50 * time.Millisecond),
	}, extra...)
}

func newProducer(t *testing.T, ns string, opts ...client.ProducerOption) *producer.Producer {
	t.Helper()
	p, err := producer.New(append([]client.ProducerOption{client.NameServers(ns)}, opts...)...)
	require.NoError(t, err)
	require.NoError(t, p.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	return p
}

func createTopic(t *testing.T, c *testutil.Cluster, topic string, queues int32) {
	t.Helper()
	a, err := admin.New(client.NameServers(c.NameServerAddr))
	require.NoError(t, err)
	defer a.Close()
	require.NoError(t, a.CreateTopic(t.Context(), c.BrokerAddr, admin.TopicSpec{Topic: topic, ReadQueues: queues, WriteQueues: queues}))
	testutil.WaitFor(t, 5*time.Second, func() bool {
		r, err := a.TopicRoute(t.Context(), topic)
		return err == nil && len(r.SubscribeQueues()) == int(queues)
	})
}

// collector records messages by UNIQ_KEY.
type collector struct {
	mu   sync.Mutex
	msgs map[string]*message.MessageExt
	all  []*message.MessageExt
}

func newCollector() *collector { return &collector{msgs: map[string]*message.MessageExt{}} }

func (c *collector) add(msgs ...*message.MessageExt) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range msgs {
		c.msgs[m.MsgID()] = m
		c.all = append(c.all, m)
	}
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

func startPush(t *testing.T, opts []client.ConsumerOption, topic string, sel consumer.Selector, h consumer.Handler) *consumer.PushConsumer {
	t.Helper()
	pc, err := consumer.NewPush(opts...)
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, sel, h))
	require.NoError(t, pc.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, pc.Close()) })
	return pc
}

func TestPushClusteringTagsKeysProperties(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t)
	createTopic(t, c, "PushT", 4)
	p := newProducer(t, c.NameServerAddr)
	const n = 40
	for i := range n {
		tag := "a"
		if i%2 == 1 {
			tag = "b"
		}
		_, err := p.Send(t.Context(), producer.NewMessage("PushT", []byte("m"+strconv.Itoa(i)),
			producer.Tags(tag), producer.Keys("k"+strconv.Itoa(i)), producer.Property("p", strconv.Itoa(i))))
		require.NoError(t, err)
	}
	got := newCollector()
	startPush(t, fast(c.NameServerAddr, "g-tags", consumer.FromWhere(consumer.ConsumeFromFirstOffset)), "PushT", consumer.Tag("a"),
		consumer.Concurrently(func(_ context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
			got.add(msgs...)
			return consumer.ConsumeSuccess
		}))
	testutil.WaitFor(t, 10*time.Second, func() bool { return got.count() == n/2 })
	got.mu.Lock()
	defer got.mu.Unlock()
	for _, m := range got.msgs {
		require.Equal(t, "a", m.Tags())
		i, err := strconv.Atoi(m.Property("p"))
		require.NoError(t, err)
		require.Equal(t, []string{"k" + strconv.Itoa(i)}, m.Keys())
		require.Equal(t, "m"+strconv.Itoa(i), string(m.Body))
		require.Equal(t, "PushT", m.Topic)
	}
}

func TestPushOffsetsSurviveRestart(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t)
	createTopic(t, c, "RestartT", 2)
	p := newProducer(t, c.NameServerAddr)
	send := func(from, to int) {
		for i := from; i < to; i++ {
			_, err := p.Send(t.Context(), producer.NewMessage("RestartT", []byte(strconv.Itoa(i))))
			require.NoError(t, err)
		}
	}
	send(0, 10)
	got := newCollector()
	h := consumer.Concurrently(func(_ context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
		got.add(msgs...)
		return consumer.ConsumeSuccess
	})
	opts := fast(c.NameServerAddr, "g-restart", consumer.FromWhere(consumer.ConsumeFromFirstOffset))
	pc, err := consumer.NewPush(opts...)
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe("RestartT", consumer.All(), h))
	require.NoError(t, pc.Start(t.Context()))
	testutil.WaitFor(t, 10*time.Second, func() bool { return got.count() == 10 })
	require.NoError(t, pc.Close())
	require.ErrorIs(t, pc.Start(t.Context()), consumer.ErrClosed)

	send(10, 20)
	startPush(t, opts, "RestartT", consumer.All(), h)
	testutil.WaitFor(t, 10*time.Second, func() bool { return got.count() == 20 })
	got.mu.Lock()
	defer got.mu.Unlock()
	require.Len(t, got.all, 20, "no message delivered twice after a clean restart")
}

func TestPushConsumeFrom(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t)
	createTopic(t, c, "FromT", 1)
	p := newProducer(t, c.NameServerAddr)
	for i := range 5 {
		_, err := p.Send(t.Context(), producer.NewMessage("FromT", []byte(strconv.Itoa(i))))
		require.NoError(t, err)
	}
	a, err := admin.New(client.NameServers(c.NameServerAddr))
	require.NoError(t, err)
	defer a.Close()
	mq := message.MessageQueue{Topic: "FromT", BrokerName: "broker-a", QueueID: 0}

	run := func(group string, opt client.ConsumerOption, wantFirst string) {
		t.Helper()
		got := newCollector()
		pc := startPush(t, fast(c.NameServerAddr, group, opt), "FromT", consumer.All(),
			consumer.Concurrently(func(_ context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
				got.add(msgs...)
				return consumer.ConsumeSuccess
			}))
		testutil.WaitFor(t, 10*time.Second, func() bool { return len(pc.Assignment()) > 0 })
		if wantFirst == "" {
			// From last: nothing old arrives; a new message does.
			_, err := p.Send(t.Context(), producer.NewMessage("FromT", []byte("new")))
			require.NoError(t, err)
			testutil.WaitFor(t, 10*time.Second, func() bool { return got.count() >= 1 })
			got.mu.Lock()
			require.Equal(t, "new", string(got.all[0].Body))
			got.mu.Unlock()
			return
		}
		// All five old messages arrive; concurrent consumption may deliver
		// them in any order, so the first one is the lowest offset seen once
		// all have come.
		testutil.WaitFor(t, 10*time.Second, func() bool { return got.count() >= 5 })
		got.mu.Lock()
		defer got.mu.Unlock()
		first := got.all[0]
		for _, m := range got.all {
			if m.QueueOffset < first.QueueOffset {
				first = m
			}
		}
		require.Equal(t, wantFirst, string(first.Body))
	}
	run("g-first", consumer.FromWhere(consumer.ConsumeFromFirstOffset), "0")
	// The broker answers offset 0 for a queue from which nothing was deleted
	// (RocketMQ's "young queue" rule), so new groups start at 0 whatever the
	// policy; the policies past that answer are unit-tested (TestComputeFrom).
	run("g-ts", consumer.ConsumeTimestamp(time.Now().Add(time.Hour)), "0")
	run("g-young", consumer.FromWhere(consumer.ConsumeFromLastOffset), "0")
	// A group with a committed offset starts there.
	max, err := a.MaxOffset(t.Context(), mq)
	require.NoError(t, err)
	require.EqualValues(t, 5, max)
	require.NoError(t, commitAt(t, c, "g-last", mq, max))
	run("g-last", consumer.FromWhere(consumer.ConsumeFromLastOffset), "")
}

func commitAt(t *testing.T, c *testutil.Cluster, group string, mq message.MessageQueue, off message.QueueOffset) error {
	t.Helper()
	cli, err := client.New(client.NameServers(c.NameServerAddr))
	require.NoError(t, err)
	defer cli.Close()
	req := newUpdateOffset(group, mq, off)
	_, err = cli.Call(t.Context(), c.BrokerAddr, req)
	return err
}

var _ = fmt.Sprint
