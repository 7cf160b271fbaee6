package broker_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/broker/meta"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/stretchr/testify/require"
)

// These run the official client v2.1.2 (skipped under -race, see skipIfRace).

type arrival struct {
	at             time.Time
	reconsumeTimes int32
	topic          string
}

func startFuncConsumer(t *testing.T, c *testutil.Cluster, group, topic string, maxReconsume int32,
	f func(*primitive.MessageExt) consumer.ConsumeResult) {
	t.Helper()
	opts := []consumer.Option{
		consumer.WithNsResolver(primitive.NewPassthroughResolver([]string{c.NameServerAddr})),
		consumer.WithGroupName(group),
		consumer.WithInstance(instance(t)),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	}
	if maxReconsume > 0 {
		opts = append(opts, consumer.WithMaxReconsumeTimes(maxReconsume))
	}
	pc, err := consumer.NewPushConsumer(opts...)
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, consumer.MessageSelector{Type: consumer.TAG, Expression: "*"},
		func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			res := consumer.ConsumeSuccess
			for _, m := range msgs {
				if r := f(m); r != consumer.ConsumeSuccess {
					res = r
				}
			}
			return res, nil
		}))
	require.NoError(t, pc.Start())
	t.Cleanup(func() { _ = pc.Shutdown() })
}

func TestCompatDelayLevelsAndTimer(t *testing.T) {
	skipIfRace(t)
	c := testutil.StartCluster(t, testutil.WithBrokerConfig(func(cfg *broker.Config) {
		cfg.Store.MessageDelayLevel = "1s 2s 3s"
		cfg.TimerPrecision = 100 * time.Millisecond
	}))
	const topic = "CompatDelay"
	createTopic(t, c, topic, 2)
	var mu sync.Mutex
	got := map[string]time.Time{}
	startFuncConsumer(t, c, "cg-compat-delay", topic, 0, func(m *primitive.MessageExt) consumer.ConsumeResult {
		mu.Lock()
		defer mu.Unlock()
		got[string(m.Body)] = time.Now()
		return consumer.ConsumeSuccess
	})

	p := newProducer(t, c)
	ctx := context.Background()
	sent := map[string]time.Time{}
	want := map[string]time.Duration{}
	for lvl := 1; lvl <= 3; lvl++ {
		body := fmt.Sprintf("level-%d", lvl)
		sent[body] = time.Now()
		want[body] = time.Duration(lvl) * time.Second
		_, err := p.SendSync(ctx, primitive.NewMessage(topic, []byte(body)).WithDelayTimeLevel(lvl))
		require.NoError(t, err)
	}
	at := time.Now().Add(1500 * time.Millisecond)
	sent["timer"], want["timer"] = time.Now(), time.Until(at)
	msg := primitive.NewMessage(topic, []byte("timer"))
	msg.WithProperty("__STARTDELIVERTIME", strconv.FormatInt(at.UnixMilli(), 10))
	_, err := p.SendSync(ctx, msg)
	require.NoError(t, err)

	testutil.WaitFor(t, 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == len(sent)
	})
	mu.Lock()
	defer mu.Unlock()
	for body, s := range sent {
		require.GreaterOrEqual(t, got[body].Sub(s), want[body]-5*time.Millisecond, body)
		require.Less(t, got[body].Sub(s), want[body]+10*time.Second, body)
	}
	require.False(t, got["timer"].Before(at.Truncate(time.Millisecond)))
}

func TestCompatRetryLaterThenDLQ(t *testing.T) {
	skipIfRace(t)
	c := testutil.StartCluster(t, testutil.WithBrokerConfig(func(cfg *broker.Config) {
		cfg.Store.MessageDelayLevel = "1s 1s 1s 1s 1s 1s"
	}))
	const topic, group = "CompatRetry", "cg-compat-retry"
	createTopic(t, c, topic, 1)
	// The retry topic would be created by the consumer's first heartbeat; the
	// client only sees its route on its next refresh (30 s), so create it first.
	createTopic(t, c, meta.RetryTopic(group), 1)
	var mu sync.Mutex
	var arrivals []arrival
	startFuncConsumer(t, c, group, topic, 2, func(m *primitive.MessageExt) consumer.ConsumeResult {
		mu.Lock()
		defer mu.Unlock()
		arrivals = append(arrivals, arrival{at: time.Now(), reconsumeTimes: m.ReconsumeTimes, topic: m.Topic})
		return consumer.ConsumeRetryLater
	})
	p := newProducer(t, c)
	_, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte("always-fails")))
	require.NoError(t, err)

	cl := rawClient(t)
	testutil.WaitFor(t, 45*time.Second, func() bool {
		return maxOffset(t, cl, c.BrokerAddr, meta.DLQTopic(group), 0) == 1
	})
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, arrivals, 3, "the first delivery and two retries")
	for i, a := range arrivals {
		require.Equal(t, int32(i), a.reconsumeTimes)
		require.Equal(t, topic, a.topic, "RETRY_TOPIC maps the retry topic back")
		if i > 0 {
			// Due times are store timestamps (whole milliseconds) plus the
			// level, so a retry can come up to a millisecond before a full
			// second of wall-clock time has passed.
			require.GreaterOrEqual(t, a.at.Sub(arrivals[i-1].at), time.Second-5*time.Millisecond, "retried after its delay level")
		}
	}
}
