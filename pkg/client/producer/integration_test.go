package producer_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
)

// readAll pulls every message of the topic's queues from offset 0.
func readAll(t *testing.T, a *admin.Admin, topic string) []*message.MessageExt {
	t.Helper()
	r, err := a.TopicRoute(t.Context(), topic)
	require.NoError(t, err)
	var out []*message.MessageExt
	for _, q := range r.SubscribeQueues() {
		q.Topic = topic
		off := message.QueueOffset(0)
		for {
			res, err := a.Pull(t.Context(), q, off, 32)
			require.NoError(t, err)
			if len(res.Messages) == 0 {
				break
			}
			out = append(out, res.Messages...)
			off = res.NextBeginOffset
		}
	}
	return out
}

func newAdmin(t *testing.T, nsAddr string) *admin.Admin {
	t.Helper()
	a, err := admin.New(client.NameServers(nsAddr))
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func startReal(t *testing.T, nsAddr string, opts ...client.ProducerOption) *producer.Producer {
	t.Helper()
	p, err := producer.New(append([]client.ProducerOption{client.NameServers(nsAddr)}, opts...)...)
	require.NoError(t, err)
	require.NoError(t, p.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	return p
}

func TestRealBrokerSendModes(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t)
	a := newAdmin(t, c.NameServerAddr)
	require.NoError(t, a.CreateTopic(t.Context(), c.BrokerAddr, admin.TopicSpec{Topic: "Modes", ReadQueues: 4, WriteQueues: 4}))
	p := startReal(t, c.NameServerAddr, producer.Group("modes"))

	want := map[string]string{} // UNIQ_KEY → body
	res, err := p.Send(t.Context(), producer.NewMessage("Modes", []byte("sync"), producer.Tags("tg"), producer.Keys("k1", "k2"), producer.Property("p", "v")))
	require.NoError(t, err)
	require.Equal(t, producer.SendOK, res.Status)
	want[res.MsgID] = "sync"

	big := make([]byte, 100<<10)
	for i := range big {
		big[i] = byte('a' + i%26)
	}
	res, err = p.Send(t.Context(), producer.NewMessage("Modes", big))
	require.NoError(t, err)
	want[res.MsgID] = string(big)

	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range 20 {
		wg.Add(1)
		body := "async-" + strconv.Itoa(i)
		p.SendAsync(t.Context(), producer.NewMessage("Modes", []byte(body)), func(r *producer.SendResult, err error) {
			defer wg.Done()
			if !assertNoError(t, err) {
				return
			}
			mu.Lock()
			want[r.MsgID] = body
			mu.Unlock()
		})
	}
	wg.Wait()

	var batch []*message.Message
	for i := range 5 {
		batch = append(batch, producer.NewMessage("Modes", []byte("batch-"+strconv.Itoa(i)), producer.Tags("b")))
	}
	res, err = p.SendBatch(t.Context(), batch...)
	require.NoError(t, err)
	for i, id := range splitComma(res.MsgID) {
		want[id] = "batch-" + strconv.Itoa(i)
	}
	require.NoError(t, p.SendOneway(t.Context(), producer.NewMessage("Modes", []byte("oneway"), producer.Keys("ow"))))

	var got []*message.MessageExt
	testutil.WaitFor(t, 10*time.Second, func() bool {
		got = readAll(t, a, "Modes")
		return len(got) == len(want)+1
	})
	byID := map[string]*message.MessageExt{}
	for _, m := range got {
		byID[m.MsgID()] = m
	}
	for id, body := range want {
		m := byID[id]
		require.NotNil(t, m, "message %s read back", id)
		require.Equal(t, body, string(m.Body))
	}
	sync1 := byID[firstKey(want, "sync")]
	require.Equal(t, "tg", sync1.Tags())
	require.Equal(t, []string{"k1", "k2"}, sync1.Keys())
	require.Equal(t, "v", sync1.Property("p"))
	require.True(t, byID[firstKey(want, string(big))].SysFlag.Has(message.SysFlagCompressed), "stored compressed")
}

func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Errorf("async send: %v", err)
		return false
	}
	return true
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func firstKey(m map[string]string, v string) string {
	for k, x := range m {
		if x == v {
			return k
		}
	}
	return ""
}

func TestRealBrokerAutoCreateAndNameServerDown(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t)
	a := newAdmin(t, c.NameServerAddr)
	p := startReal(t, c.NameServerAddr)
	res, err := p.Send(t.Context(), producer.NewMessage("AutoCreated", []byte("x")))
	require.NoError(t, err)
	require.Less(t, res.Queue.QueueID, int32(producer.DefaultTopicQueueNums))
	testutil.WaitFor(t, 10*time.Second, func() bool {
		r, err := a.TopicRoute(t.Context(), "AutoCreated")
		return err == nil && len(r.PublishQueues()) == producer.DefaultTopicQueueNums
	})
	// With the route cached, sends keep working while the name server is down.
	require.NoError(t, c.NameServer.Close())
	for range 5 {
		_, err := p.Send(t.Context(), producer.NewMessage("AutoCreated", []byte("y")))
		require.NoError(t, err)
	}
	_, err = p.Client().RefreshRoute(t.Context(), "AutoCreated")
	require.ErrorIs(t, err, client.ErrNoNameServer)
}

func TestRealBrokerRetryOnAnotherBroker(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t)
	c2 := testutil.StartCluster(t, testutil.WithBrokerConfig(func(cfg *broker.Config) {
		cfg.BrokerName = "broker-b"
		cfg.NameServers = []string{c.NameServerAddr}
	}))
	a := newAdmin(t, c.NameServerAddr)
	for _, addr := range []string{c.BrokerAddr, c2.BrokerAddr} {
		require.NoError(t, a.CreateTopic(t.Context(), addr, admin.TopicSpec{Topic: "Two", ReadQueues: 2, WriteQueues: 2}))
	}
	h := &sendHook{}
	p := startReal(t, c.NameServerAddr, client.WithHooks(h))
	r, err := p.Client().Route(t.Context(), "Two")
	require.NoError(t, err)
	require.Equal(t, []string{"broker-a", "broker-b"}, r.BrokerNames())

	require.NoError(t, c.Broker.Close()) // broker-a goes away; the cached route still lists it
	for range 6 {
		res, err := p.Send(t.Context(), producer.NewMessage("Two", []byte("x")))
		require.NoError(t, err)
		require.Equal(t, "broker-b", res.Queue.BrokerName)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	failedOnA := 0
	for _, ev := range h.events {
		if ev.Err != nil {
			require.Equal(t, "broker-a", ev.Queue.BrokerName)
			failedOnA++
		}
	}
	require.Equal(t, 1, failedOnA, "broker-a is tried once, then avoided")
}
