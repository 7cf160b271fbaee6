package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/petrelmq/petrel/internal/testutil/poll"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/remoting"
	"github.com/stretchr/testify/require"
)

// uniqueName makes topic and group names unique per run, so nothing carries
// over from an earlier run (offsets, subscriptions).
func uniqueName(t *testing.T, prefix string) string {
	return fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano())
}

func resolver(e *env) primitive.NsResolver {
	return primitive.NewPassthroughResolver([]string{e.nsAddr})
}

// createTopic creates topic with queues read and write queues on the broker and
// waits until the name server routes it.
func createTopic(t *testing.T, e *env, topic string, queues int) {
	t.Helper()
	adm, err := admin.NewAdmin(admin.WithResolver(resolver(e)))
	require.NoError(t, err)
	defer func() { _ = adm.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, adm.CreateTopic(ctx,
		admin.WithTopicCreate(topic),
		admin.WithBrokerAddrCreate(e.brokerAddr),
		admin.WithReadQueueNums(queues),
		admin.WithWriteQueueNums(queues),
		admin.WithPerm(6),
	))
	poll.Until(t, 30*time.Second, "route of "+topic, func() bool {
		mqs, err := adm.FetchPublishMessageQueues(ctx, topic)
		return err == nil && len(mqs) == queues
	})
}

func newProducer(t *testing.T, e *env, opts ...producer.Option) interface {
	SendSync(ctx context.Context, msgs ...*primitive.Message) (*primitive.SendResult, error)
} {
	t.Helper()
	opts = append([]producer.Option{
		producer.WithNsResolver(resolver(e)),
		producer.WithGroupName(uniqueName(t, "pg")),
		producer.WithRetry(2),
	}, opts...)
	p, err := producer.NewDefaultProducer(opts...)
	require.NoError(t, err)
	require.NoError(t, p.Start())
	t.Cleanup(func() { _ = p.Shutdown() })
	return p
}

// received is one delivery to a consumer instance.
type received struct {
	instance string
	queue    int
	key      string
	seq      int
	at       time.Time
}

// recorder collects deliveries from every instance of a test.
type recorder struct {
	mu   sync.Mutex
	msgs []received
}

func (r *recorder) add(rs ...received) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rs...)
}

func (r *recorder) snapshot() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// body of test messages: {"key":..., "seq":...}.
type payload struct {
	Key string `json:"key"`
	Seq int    `json:"seq"`
}

func newMessage(topic, key string, seq int) *primitive.Message {
	b, _ := json.Marshal(payload{Key: key, Seq: seq})
	return primitive.NewMessage(topic, b)
}

func decode(t *testing.T, instance string, m *primitive.MessageExt) received {
	var p payload
	if err := json.Unmarshal(m.Body, &p); err != nil {
		t.Errorf("bad message body %q: %v", m.Body, err)
	}
	q := -1
	if m.Queue != nil {
		q = m.Queue.QueueId
	}
	return received{instance: instance, queue: q, key: p.Key, seq: p.Seq, at: time.Now()}
}

// startPushConsumer starts a push consumer instance (its own client id
// "<ip>@<instance>" and its own connection) subscribed to topic.
func startPushConsumer(t *testing.T, e *env, group, instance, topic string,
	f func(ctx context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error), opts ...consumer.Option) interface{ Shutdown() error } {
	t.Helper()
	opts = append([]consumer.Option{
		consumer.WithNsResolver(resolver(e)),
		consumer.WithGroupName(group),
		consumer.WithInstance(instance),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	}, opts...)
	c, err := consumer.NewPushConsumer(opts...)
	require.NoError(t, err)
	require.NoError(t, c.Subscribe(topic, consumer.MessageSelector{}, f))
	require.NoError(t, c.Start())
	var once sync.Once
	shutdown := func() error {
		var err error
		once.Do(func() { err = c.Shutdown() })
		return err
	}
	t.Cleanup(func() { _ = shutdown() })
	return shutdownFunc(shutdown)
}

type shutdownFunc func() error

func (f shutdownFunc) Shutdown() error { return f() }

// consumerIDs asks the broker for GET_CONSUMER_LIST_BY_GROUP over a plain
// remoting client, as the Go client does before each rebalance.
func consumerIDs(t *testing.T, cl *remoting.Client, e *env, group string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cl.Invoke(ctx, e.brokerAddr, protocol.NewRequest(protocol.GetConsumerListByGroup, map[string]string{"consumerGroup": group}))
	require.NoError(t, err)
	if resp.ResponseCode() != protocol.Success {
		return nil
	}
	var b struct {
		ConsumerIDList []string `json:"consumerIdList"`
	}
	require.NoError(t, json.Unmarshal(resp.Body, &b))
	slices.Sort(b.ConsumerIDList)
	return b.ConsumerIDList
}

func newRemotingClient(t *testing.T) *remoting.Client {
	cl := remoting.NewClient(remoting.DefaultClientConfig(), nil)
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}
