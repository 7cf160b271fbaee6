package consumer_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/consumer"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
)

// TestPushOrderlyThroughRebalance sends per-key sequences to 8 queues, lets
// one orderly consumer start, adds a second one (a rebalance hands half the
// queues over), and checks that every message arrived, that no queue ever ran
// two handler calls at once (across both consumers), and that each key's
// messages came in order. Orderly consumption through a rebalance is at
// least once: the new owner of a queue starts at the committed offset, so it
// may deliver again messages the old owner already consumed. What is not
// allowed is a loss, or a message delivered before an earlier one of its
// key: in delivery order, each key's sequence never jumps ahead of the
// highest number seen so far plus one.
func TestPushOrderlyThroughRebalance(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t)
	createTopic(t, c, "OrderT", 8)
	p := newProducer(t, c.NameServerAddr, producer.WithQueueSelector(producer.HashByKey()))
	const keys, perKey = 16, 20
	send := func(from, to int) {
		for i := from; i < to; i++ {
			for k := range keys {
				_, err := p.Send(t.Context(), producer.NewMessage("OrderT", []byte(strconv.Itoa(i)),
					producer.Keys("key"+strconv.Itoa(k))))
				require.NoError(t, err)
			}
		}
	}
	// Both consumers record into one log, in delivery order: calls on one
	// queue never overlap, so the order of a key's entries is the order in
	// which its messages were handed to a handler.
	var mu sync.Mutex
	byKey := map[string][]int{}
	distinct := map[string]bool{}
	active := map[message.MessageQueue]*atomic.Int32{}
	var overlap atomic.Bool
	handler := consumer.Orderly(func(_ context.Context, msgs []*message.MessageExt) consumer.OrderlyResult {
		mq := message.MessageQueue{Topic: msgs[0].Topic, QueueID: msgs[0].QueueID}
		mu.Lock()
		a := active[mq]
		if a == nil {
			a = &atomic.Int32{}
			active[mq] = a
		}
		mu.Unlock()
		if a.Add(1) > 1 {
			overlap.Store(true)
		}
		defer a.Add(-1)
		time.Sleep(time.Millisecond) // widen the window for overlap
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			n, _ := strconv.Atoi(string(m.Body))
			k := m.Keys()[0]
			byKey[k] = append(byKey[k], n)
			distinct[k+"/"+strconv.Itoa(n)] = true
		}
		return consumer.OrderlySuccess
	})
	send(0, perKey/2)
	opts := func(name string) []client.ConsumerOption {
		return fast(c.NameServerAddr, "g-orderly", client.InstanceName(name), consumer.FromWhere(consumer.ConsumeFromFirstOffset))
	}
	c1 := startPush(t, opts("c1"), "OrderT", consumer.All(), handler)
	testutil.WaitFor(t, 10*time.Second, func() bool { return len(held(c1, "OrderT")) == 8 })
	c2 := startPush(t, opts("c2"), "OrderT", consumer.All(), handler)
	send(perKey/2, perKey)
	testutil.WaitFor(t, 30*time.Second, func() bool {
		mu.Lock()
		n := len(distinct)
		mu.Unlock()
		return len(held(c1, "OrderT")) == 4 && len(held(c2, "OrderT")) == 4 && n == keys*perKey
	})
	require.False(t, overlap.Load(), "two handler calls ran at once on one queue")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, byKey, keys)
	deliveries := 0
	for _, seq := range byKey {
		deliveries += len(seq)
	}
	t.Logf("%d deliveries of %d messages", deliveries, keys*perKey)
	for k, seq := range byKey {
		high := -1
		for i, n := range seq {
			require.LessOrEqual(t, n, high+1, "key %s: %d delivered before %d (delivery %d of %v)", k, n, high+1, i, seq)
			high = max(high, n)
		}
		require.Equal(t, perKey-1, high, "key %s: %v", k, seq)
	}
}

func TestPushOrderlySuspendRetriesInOrder(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t)
	createTopic(t, c, "SuspendT", 1)
	p := newProducer(t, c.NameServerAddr)
	for i := range 5 {
		_, err := p.Send(t.Context(), producer.NewMessage("SuspendT", []byte(strconv.Itoa(i))))
		require.NoError(t, err)
	}
	var mu sync.Mutex
	var order []string
	failed := false
	startPush(t, fast(c.NameServerAddr, "g-suspend", consumer.FromWhere(consumer.ConsumeFromFirstOffset)), "SuspendT", consumer.All(),
		consumer.Orderly(func(_ context.Context, msgs []*message.MessageExt) consumer.OrderlyResult {
			mu.Lock()
			defer mu.Unlock()
			b := string(msgs[0].Body)
			if b == "2" && !failed {
				failed = true
				require.EqualValues(t, 0, msgs[0].ReconsumeTimes)
				return consumer.SuspendCurrentQueueAMoment
			}
			order = append(order, b+"/"+strconv.Itoa(int(msgs[0].ReconsumeTimes)))
			return consumer.OrderlySuccess
		}))
	testutil.WaitFor(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) == 5
	})
	require.Equal(t, []string{"0/0", "1/0", "2/1", "3/0", "4/0"}, order)
}

func TestPushBroadcasting(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t)
	createTopic(t, c, "BcastT", 4)
	p := newProducer(t, c.NameServerAddr)
	const n = 20
	for i := range n {
		_, err := p.Send(t.Context(), producer.NewMessage("BcastT", []byte(strconv.Itoa(i))))
		require.NoError(t, err)
	}
	dir := t.TempDir()
	h := func(col *collector) consumer.Concurrently {
		return func(_ context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
			col.add(msgs...)
			return consumer.ConsumeSuccess
		}
	}
	opts := func(name string) []client.ConsumerOption {
		return fast(c.NameServerAddr, "g-bcast", client.InstanceName(name), consumer.Model(consumer.Broadcasting),
			consumer.FromWhere(consumer.ConsumeFromFirstOffset), consumer.OffsetFile(filepath.Join(dir, name, "offsets.json")))
	}
	a, b := newCollector(), newCollector()
	ca, err := consumer.NewPush(opts("a")...)
	require.NoError(t, err)
	require.NoError(t, ca.Subscribe("BcastT", consumer.All(), h(a)))
	require.NoError(t, ca.Start(t.Context()))
	startPush(t, opts("b"), "BcastT", consumer.All(), h(b))
	testutil.WaitFor(t, 10*time.Second, func() bool { return a.count() == n && b.count() == n })
	require.NoError(t, ca.Close())

	// The offset file holds the next offset of every queue: 20 messages in all.
	raw, err := os.ReadFile(filepath.Join(dir, "a", "offsets.json"))
	require.NoError(t, err)
	var f struct {
		Offsets []struct {
			Topic  string `json:"topic"`
			Offset int64  `json:"offset"`
		} `json:"offsets"`
	}
	require.NoError(t, json.Unmarshal(raw, &f))
	var sum int64
	for _, e := range f.Offsets {
		require.Equal(t, "BcastT", e.Topic)
		sum += e.Offset
	}
	require.EqualValues(t, n, sum)

	// A restarted member resumes from its file: only new messages arrive.
	_, err = p.Send(t.Context(), producer.NewMessage("BcastT", []byte("late")))
	require.NoError(t, err)
	a2 := newCollector()
	startPush(t, opts("a"), "BcastT", consumer.All(), h(a2))
	testutil.WaitFor(t, 10*time.Second, func() bool { return a2.count() == 1 && b.count() == n+1 })
	a2.mu.Lock()
	require.Equal(t, "late", string(a2.all[0].Body))
	a2.mu.Unlock()
}

// TestPushRetryLater checks ConsumeRetryLater: the message goes back to the
// broker (CONSUMER_SEND_MSG_BACK) and is delivered again through
// %RETRY%<group> with ReconsumeTimes 1, its real topic and properties.
func TestPushRetryLater(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t, testutil.WithBrokerConfig(func(cfg *broker.Config) {
		cfg.Store.MessageDelayLevel = strings.TrimSpace(strings.Repeat("1s ", 18))
	}))
	createTopic(t, c, "RetryT", 2)
	p := newProducer(t, c.NameServerAddr)
	_, err := p.Send(t.Context(), producer.NewMessage("RetryT", []byte("once more"), producer.Tags("x"), producer.Keys("K1")))
	require.NoError(t, err)
	var mu sync.Mutex
	var attempts []*message.MessageExt
	startPush(t, fast(c.NameServerAddr, "g-retry", consumer.FromWhere(consumer.ConsumeFromFirstOffset)), "RetryT", consumer.Tag("x"),
		consumer.Concurrently(func(_ context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
			mu.Lock()
			defer mu.Unlock()
			attempts = append(attempts, msgs...)
			if len(attempts) == 1 {
				return consumer.ConsumeRetryLater
			}
			return consumer.ConsumeSuccess
		}))
	testutil.WaitFor(t, 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(attempts) >= 2
	})
	mu.Lock()
	defer mu.Unlock()
	again := attempts[1]
	require.Equal(t, "RetryT", again.Topic)
	require.Equal(t, "once more", string(again.Body))
	require.EqualValues(t, 1, again.ReconsumeTimes)
	require.Equal(t, []string{"K1"}, again.Keys())
	require.Equal(t, attempts[0].MsgID(), again.MsgID())
}

// held returns the queues of topic a push consumer holds.
func held(pc *consumer.PushConsumer, topic string) []message.MessageQueue {
	var out []message.MessageQueue
	for _, q := range pc.Assignment() {
		if q.Topic == topic {
			out = append(out, q)
		}
	}
	return out
}
