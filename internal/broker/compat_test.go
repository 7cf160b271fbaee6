package broker_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/remoting"
	"github.com/stretchr/testify/require"
)

// These tests drive the broker with the official Go client v2.1.2. The client
// keeps process-wide state per instance name, so every client gets its own
// instance name and the tests do not run in parallel.

func init() { rlog.SetLogLevel("error") }

// skipIfRace skips tests that run the official consumers under -race.
func skipIfRace(t *testing.T) {
	t.Helper()
	testutil.SkipOfficialClientUnderRace(t)
}

var instanceSeq atomic.Int64

func instance(t *testing.T) string {
	return fmt.Sprintf("%s-%d", t.Name(), instanceSeq.Add(1))
}

func newProducer(t *testing.T, c *testutil.Cluster, opts ...producer.Option) rocketProducer {
	t.Helper()
	all := append([]producer.Option{
		producer.WithNsResolver(primitive.NewPassthroughResolver([]string{c.NameServerAddr})),
		producer.WithGroupName("pg-" + t.Name()),
		producer.WithInstanceName(instance(t)),
		producer.WithRetry(1),
		producer.WithSendMsgTimeout(5 * time.Second),
	}, opts...)
	p, err := producer.NewDefaultProducer(all...)
	require.NoError(t, err)
	require.NoError(t, p.Start())
	t.Cleanup(func() { _ = p.Shutdown() })
	return p
}

type rocketProducer interface {
	SendSync(ctx context.Context, mq ...*primitive.Message) (*primitive.SendResult, error)
	SendAsync(ctx context.Context, f func(context.Context, *primitive.SendResult, error), msg ...*primitive.Message) error
	SendOneWay(ctx context.Context, mq ...*primitive.Message) error
}

func newAdmin(t *testing.T, c *testutil.Cluster) admin.Admin {
	t.Helper()
	adm, err := admin.NewAdmin(admin.WithResolver(primitive.NewPassthroughResolver([]string{c.NameServerAddr})))
	require.NoError(t, err)
	t.Cleanup(func() { _ = adm.Close() })
	return adm
}

func createTopic(t *testing.T, c *testutil.Cluster, topic string, queues int) {
	t.Helper()
	adm := newAdmin(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, adm.CreateTopic(ctx, admin.WithTopicCreate(topic), admin.WithBrokerAddrCreate(c.BrokerAddr),
		admin.WithReadQueueNums(queues), admin.WithWriteQueueNums(queues)))
}

// rawClient talks to the broker with Petrel's remoting client, for requests the
// Go client v2.1.2 has no API for.
func rawClient(t *testing.T) *remoting.Client {
	cl := remoting.NewClient(remoting.ClientConfig{}, nil)
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

func invoke(t *testing.T, cl *remoting.Client, addr string, code protocol.RequestCode, ext map[string]string, b []byte) *protocol.Command {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := protocol.NewRequest(code, ext)
	req.Body = b
	resp, err := cl.Invoke(ctx, addr, req)
	require.NoError(t, err)
	return resp
}

func maxOffset(t *testing.T, cl *remoting.Client, addr, topic string, q int) int64 {
	t.Helper()
	resp := invoke(t, cl, addr, protocol.GetMaxOffset, map[string]string{"topic": topic, "queueId": strconv.Itoa(q)}, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	n, err := strconv.ParseInt(resp.Ext("offset"), 10, 64)
	require.NoError(t, err)
	return n
}

// collector is a push-consumer callback that records what it gets.
type collector struct {
	mu   sync.Mutex
	msgs map[string]*primitive.MessageExt // by body
	dups int
}

func (c *collector) consume(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range msgs {
		if _, ok := c.msgs[string(m.Body)]; ok {
			c.dups++
		}
		c.msgs[string(m.Body)] = m
	}
	return consumer.ConsumeSuccess, nil
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

func startPushConsumer(t *testing.T, c *testutil.Cluster, group, topic, expr string) *collector {
	t.Helper()
	col := &collector{msgs: map[string]*primitive.MessageExt{}}
	pc, err := consumer.NewPushConsumer(
		consumer.WithNsResolver(primitive.NewPassthroughResolver([]string{c.NameServerAddr})),
		consumer.WithGroupName(group),
		consumer.WithInstance(instance(t)),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	)
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, consumer.MessageSelector{Type: consumer.TAG, Expression: expr}, col.consume))
	require.NoError(t, pc.Start())
	t.Cleanup(func() { _ = pc.Shutdown() })
	return col
}

func TestCompatSendModesAndPushConsume(t *testing.T) {
	skipIfRace(t)
	c := testutil.StartCluster(t)
	const topic = "SendModes"
	createTopic(t, c, topic, 4)
	p := newProducer(t, c)
	ctx := context.Background()
	const n = 10
	var want []string

	for i := range n {
		body := fmt.Sprintf("sync-%d", i)
		want = append(want, body)
		res, err := p.SendSync(ctx, primitive.NewMessage(topic, []byte(body)))
		require.NoError(t, err)
		require.Equal(t, primitive.SendOK, res.Status)
		require.Len(t, res.OffsetMsgID, 32)
		require.Equal(t, "broker-a", res.MessageQueue.BrokerName)
	}
	var async sync.WaitGroup
	for i := range n {
		body := fmt.Sprintf("async-%d", i)
		want = append(want, body)
		async.Add(1)
		require.NoError(t, p.SendAsync(ctx, func(_ context.Context, res *primitive.SendResult, err error) {
			defer async.Done()
			if err != nil || res.Status != primitive.SendOK {
				t.Errorf("async send: %v %v", res, err)
			}
		}, primitive.NewMessage(topic, []byte(body))))
	}
	async.Wait()
	for i := range n {
		body := fmt.Sprintf("oneway-%d", i)
		want = append(want, body)
		require.NoError(t, p.SendOneWay(ctx, primitive.NewMessage(topic, []byte(body))))
	}
	var batch []*primitive.Message
	for i := range n {
		body := fmt.Sprintf("batch-%d", i)
		want = append(want, body)
		batch = append(batch, primitive.NewMessage(topic, []byte(body)))
	}
	res, err := p.SendSync(ctx, batch...)
	require.NoError(t, err)
	require.Equal(t, primitive.SendOK, res.Status)

	col := startPushConsumer(t, c, "cg-sendmodes", topic, "*")
	testutil.WaitFor(t, 30*time.Second, func() bool { return col.count() >= len(want) })
	col.mu.Lock()
	defer col.mu.Unlock()
	var got []string
	for b := range col.msgs {
		got = append(got, b)
	}
	slices.Sort(got)
	slices.Sort(want)
	require.Equal(t, want, got)
}

func TestCompatPushConsumerTagFilterAndAutoCreate(t *testing.T) {
	skipIfRace(t)
	c := testutil.StartCluster(t)
	const topic = "AutoCreatedTags"
	p := newProducer(t, c)
	ctx := context.Background()
	tags := []string{"TagA", "TagB", "TagC"}
	want := map[string]string{} // body → tag, for TagA and TagC
	for i := range 30 {
		tag := tags[i%3]
		body := fmt.Sprintf("m-%d", i)
		m := primitive.NewMessage(topic, []byte(body))
		m.WithTag(tag)
		m.WithKeys([]string{"key-" + strconv.Itoa(i), "other"})
		m.WithProperty("color", "blue-"+strconv.Itoa(i))
		res, err := p.SendSync(ctx, m)
		require.NoError(t, err, "send %d (the first one auto-creates the topic)", i)
		require.Equal(t, primitive.SendOK, res.Status)
		if tag != "TagB" {
			want[body] = tag
		}
	}
	// The topic was created from TBW102 with min(4, 8) queues.
	cl := rawClient(t)
	resp := invoke(t, cl, c.BrokerAddr, protocol.GetAllTopicConfig, nil, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode())
	require.Contains(t, string(resp.Body), `"AutoCreatedTags":{"topicName":"AutoCreatedTags","readQueueNums":4,"writeQueueNums":4,"perm":6`)

	col := startPushConsumer(t, c, "cg-tags", topic, "TagA || TagC")
	testutil.WaitFor(t, 30*time.Second, func() bool { return col.count() >= len(want) })
	col.mu.Lock()
	defer col.mu.Unlock()
	require.Len(t, col.msgs, len(want))
	for body, tag := range want {
		m := col.msgs[body]
		require.NotNil(t, m, body)
		require.Equal(t, tag, m.GetTags())
		i := body[2:]
		require.Equal(t, "key-"+i+" other", m.GetKeys())
		require.Equal(t, "blue-"+i, m.GetProperty("color"))
		require.Equal(t, "DefaultCluster", m.GetProperty("CLUSTER"))
		require.NotEmpty(t, m.MsgId)
		require.Len(t, m.OffsetMsgId, 32)
	}
}

func TestCompatPullConsumerContiguousOffsets(t *testing.T) {
	skipIfRace(t)
	c := testutil.StartCluster(t)
	const topic = "PullAll"
	const queues = 4
	createTopic(t, c, topic, queues)
	p := newProducer(t, c)
	ctx := context.Background()
	const total = 60
	for i := range total {
		_, err := p.SendSync(ctx, primitive.NewMessage(topic, []byte("p-"+strconv.Itoa(i))))
		require.NoError(t, err)
	}

	pc, err := consumer.NewPullConsumer(
		consumer.WithNsResolver(primitive.NewPassthroughResolver([]string{c.NameServerAddr})),
		consumer.WithGroupName("cg-pull"),
		consumer.WithInstance(instance(t)),
	)
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, consumer.MessageSelector{}))
	require.NoError(t, pc.Start())
	t.Cleanup(func() { _ = pc.Shutdown() })

	cl := rawClient(t)
	// Consume queues are built asynchronously from the commit log.
	testutil.WaitFor(t, 10*time.Second, func() bool {
		var sum int64
		for q := range queues {
			sum += maxOffset(t, cl, c.BrokerAddr, topic, q)
		}
		return sum == total
	})
	seen := map[string]bool{}
	for q := range queues {
		mq := &primitive.MessageQueue{Topic: topic, BrokerName: "broker-a", QueueId: q}
		end := maxOffset(t, cl, c.BrokerAddr, topic, q)
		var off int64
		for off < end {
			res, err := pc.PullFrom(ctx, mq, off, 7)
			require.NoError(t, err)
			require.Equal(t, primitive.PullFound, res.Status)
			require.Equal(t, end, res.MaxOffset)
			for i, m := range res.GetMessageExts() {
				require.Equal(t, off+int64(i), m.QueueOffset, "queue %d", q)
				require.Equal(t, int32(q), int32(m.Queue.QueueId))
				seen[string(m.Body)] = true
			}
			require.Equal(t, off+int64(len(res.GetMessageExts())), res.NextBeginOffset)
			off = res.NextBeginOffset
		}
	}
	require.Len(t, seen, total)
}

func TestCompatAdminTopicLifecycle(t *testing.T) {
	c := testutil.StartCluster(t)
	adm := newAdmin(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const topic = "AdminTopic"
	require.NoError(t, adm.CreateTopic(ctx, admin.WithTopicCreate(topic), admin.WithBrokerAddrCreate(c.BrokerAddr)))

	// The broker registers before answering, so the route exists at once.
	mqs, err := adm.FetchPublishMessageQueues(ctx, topic)
	require.NoError(t, err)
	require.Len(t, mqs, 8)
	list, err := adm.FetchAllTopicList(ctx)
	require.NoError(t, err)
	require.Contains(t, list.TopicList, topic)
	require.Contains(t, list.TopicList, "TBW102")

	groups, err := adm.GetAllSubscriptionGroup(ctx, c.BrokerAddr, 5*time.Second)
	require.NoError(t, err)
	require.True(t, groups.SubscriptionGroupTable["TOOLS_CONSUMER"].ConsumeEnable)
	require.Equal(t, 16, groups.SubscriptionGroupTable["TOOLS_CONSUMER"].RetryMaxTimes)

	require.NoError(t, adm.DeleteTopic(ctx, admin.WithTopicDelete(topic), admin.WithBrokerAddrDelete(c.BrokerAddr),
		admin.WithNameSrvAddr([]string{c.NameServerAddr})))
	resp := invoke(t, rawClient(t), c.BrokerAddr, protocol.GetAllTopicConfig, nil, nil)
	require.NotContains(t, string(resp.Body), `"`+topic+`"`)
	list, err = adm.FetchAllTopicList(ctx)
	require.NoError(t, err)
	require.NotContains(t, list.TopicList, topic)
}

func TestCompatLongPollingWakesPromptly(t *testing.T) {
	skipIfRace(t)
	c := testutil.StartCluster(t)
	const topic = "LongPoll"
	createTopic(t, c, topic, 1)
	p := newProducer(t, c)
	pc, err := consumer.NewPullConsumer(
		consumer.WithNsResolver(primitive.NewPassthroughResolver([]string{c.NameServerAddr})),
		consumer.WithGroupName("cg-longpoll"),
		consumer.WithInstance(instance(t)),
	)
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, consumer.MessageSelector{}))
	require.NoError(t, pc.Start())
	t.Cleanup(func() { _ = pc.Shutdown() })

	type result struct {
		res  *primitive.PullResult
		err  error
		when time.Time
	}
	// The v2.1.2 pull consumer also pulls its assigned queues in the
	// background, when its own rebalance gets to it (slow on a loaded machine):
	// give that pull a moment to be held, then count from whatever is held, so
	// the wait below is for our pull.
	deadline := time.Now().Add(5 * time.Second)
	for c.Broker.HeldPulls() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	base := c.Broker.HeldPulls()
	done := make(chan result, 1)
	go func() {
		res, err := pc.PullFrom(context.Background(), &primitive.MessageQueue{Topic: topic, BrokerName: "broker-a", QueueId: 0}, 0, 1)
		done <- result{res, err, time.Now()}
	}()
	testutil.WaitFor(t, 30*time.Second, func() bool { return c.Broker.HeldPulls() > base })
	sent := time.Now()
	_, err = p.SendSync(context.Background(), primitive.NewMessage(topic, []byte("wake up")))
	require.NoError(t, err)
	select {
	case r := <-done:
		require.NoError(t, r.err)
		require.Equal(t, primitive.PullFound, r.res.Status)
		require.Equal(t, "wake up", string(r.res.GetMessageExts()[0].Body))
		require.Less(t, r.when.Sub(sent), 10*time.Second, "woken, not timed out (20 s)")
	case <-time.After(15 * time.Second):
		t.Fatal("held pull not answered after a message arrived")
	}
}
