// Package officialcompat_test runs the official rocketmq-client-go v2.1.2
// producer against Petrel's consumers on a real in-process cluster. It is a
// package of its own because the official client leaks goroutines and the
// consumer package runs goleak.
package officialcompat_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	rproducer "github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/consumer"
	"github.com/petrelmq/petrel/pkg/message"
)

func init() { rlog.SetLogLevel("error") }

func setup(t *testing.T, topic string, queues int32, selector rproducer.QueueSelector) (*testutil.Cluster, rocketmq.Producer) {
	t.Helper()
	testutil.SkipOfficialClientUnderRace(t)
	c := testutil.StartCluster(t)
	a, err := admin.New(client.NameServers(c.NameServerAddr))
	require.NoError(t, err)
	defer a.Close()
	require.NoError(t, a.CreateTopic(t.Context(), c.BrokerAddr, admin.TopicSpec{Topic: topic, ReadQueues: queues, WriteQueues: queues}))
	testutil.WaitFor(t, 5*time.Second, func() bool {
		r, err := a.TopicRoute(t.Context(), topic)
		return err == nil && len(r.SubscribeQueues()) == int(queues)
	})
	opts := []rproducer.Option{
		rproducer.WithNsResolver(primitive.NewPassthroughResolver([]string{c.NameServerAddr})),
		rproducer.WithGroupName("official-pg"),
		rproducer.WithInstanceName(t.Name()),
		rproducer.WithSendMsgTimeout(5 * time.Second),
	}
	if selector != nil {
		opts = append(opts, rproducer.WithQueueSelector(selector))
	}
	rp, err := rproducer.NewDefaultProducer(opts...)
	require.NoError(t, err)
	require.NoError(t, rp.Start())
	t.Cleanup(func() { _ = rp.Shutdown() })
	return c, rp
}

func fast(ns, group string, extra ...client.ConsumerOption) []client.ConsumerOption {
	return append([]client.ConsumerOption{
		client.NameServers(ns), consumer.Group(group),
		consumer.RebalanceInterval(200 * time.Millisecond), consumer.CommitInterval(100 * time.Millisecond),
		consumer.LockInterval(200 * time.Millisecond), consumer.LongPolling(500*time.Millisecond, 5*time.Second),
		consumer.PullRetryDelay(100 * time.Millisecond), consumer.FromWhere(consumer.ConsumeFromFirstOffset),
	}, extra...)
}

func TestOfficialProducerToPushConsumer(t *testing.T) {
	const topic = "OfficialToSDK"
	c, rp := setup(t, topic, 4, nil)
	type sent struct{ body, tag, key, prop string }
	want := map[string]sent{}
	for i := range 12 {
		tag := []string{"a", "b", "c"}[i%3]
		s := sent{body: "body-" + strconv.Itoa(i), tag: tag, key: "key-" + strconv.Itoa(i), prop: "v" + strconv.Itoa(i)}
		m := primitive.NewMessage(topic, []byte(s.body))
		m.WithTag(s.tag)
		m.WithKeys([]string{s.key})
		m.WithProperty("myprop", s.prop)
		res, err := rp.SendSync(context.Background(), m)
		require.NoError(t, err)
		require.Equal(t, primitive.SendOK, res.Status)
		want[res.MsgID] = s
	}
	var mu sync.Mutex
	got := map[string]*message.MessageExt{}
	pc, err := consumer.NewPush(fast(c.NameServerAddr, "g-official")...)
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, consumer.Tag("a || c"), consumer.Concurrently(func(_ context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			got[m.MsgID()] = m
		}
		return consumer.ConsumeSuccess
	})))
	require.NoError(t, pc.Start(t.Context()))
	defer pc.Close()
	testutil.WaitFor(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 8
	})
	mu.Lock()
	defer mu.Unlock()
	for id, m := range got {
		s, ok := want[id]
		require.True(t, ok, "unknown message %s", id)
		require.Contains(t, []string{"a", "c"}, m.Tags())
		require.Equal(t, s.tag, m.Tags())
		require.Equal(t, s.body, string(m.Body))
		require.Equal(t, []string{s.key}, m.Keys())
		require.Equal(t, s.prop, m.Property("myprop"))
		require.Equal(t, topic, m.Topic)
	}
}

// TestOfficialOrderedProducerToOrderlyConsumer sends per-key sequences with
// the official hash queue selector (sharding key) and checks the orderly
// consumer sees each key in order.
func TestOfficialOrderedProducerToOrderlyConsumer(t *testing.T) {
	const topic = "OfficialOrdered"
	c, rp := setup(t, topic, 8, rproducer.NewHashQueueSelector())
	const keys, perKey = 6, 10
	for i := range perKey {
		for k := range keys {
			m := primitive.NewMessage(topic, []byte(strconv.Itoa(i)))
			key := fmt.Sprintf("order-%d", k)
			m.WithShardingKey(key)
			m.WithKeys([]string{key})
			_, err := rp.SendSync(context.Background(), m)
			require.NoError(t, err)
		}
	}
	var mu sync.Mutex
	seen := map[string][]int{}
	total := 0
	pc, err := consumer.NewPush(fast(c.NameServerAddr, "g-official-orderly")...)
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, consumer.All(), consumer.Orderly(func(_ context.Context, msgs []*message.MessageExt) consumer.OrderlyResult {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			n, _ := strconv.Atoi(string(m.Body))
			seen[m.Keys()[0]] = append(seen[m.Keys()[0]], n)
			total++
		}
		return consumer.OrderlySuccess
	})))
	require.NoError(t, pc.Start(t.Context()))
	defer pc.Close()
	testutil.WaitFor(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return total >= keys*perKey
	})
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, keys)
	for k, seq := range seen {
		want := make([]int, perKey)
		for i := range want {
			want[i] = i
		}
		require.Equal(t, want, seq, "key %s", k)
	}
}
