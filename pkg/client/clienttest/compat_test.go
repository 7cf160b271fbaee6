package clienttest_test

// Cross-client tests: Petrel's SDK against the official rocketmq-client-go
// v2.1.2 on a real in-process cluster. They live here, not in the SDK
// packages, because the official client leaks goroutines and those packages
// run goleak.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rconsumer "github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	rproducer "github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
)

func init() { rlog.SetLogLevel("error") }

var instanceSeq atomic.Int64

func instance(t *testing.T) string { return fmt.Sprintf("%s-%d", t.Name(), instanceSeq.Add(1)) }

func createTopic(t *testing.T, c *testutil.Cluster, topic string, queues int32) *admin.Admin {
	t.Helper()
	a, err := admin.New(client.NameServers(c.NameServerAddr))
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	require.NoError(t, a.CreateTopic(t.Context(), c.BrokerAddr, admin.TopicSpec{Topic: topic, ReadQueues: queues, WriteQueues: queues}))
	return a
}

type received struct {
	mu   sync.Mutex
	msgs map[string]*primitive.MessageExt
}

func TestSDKProducerToOfficialPushConsumer(t *testing.T) {
	testutil.SkipOfficialClientUnderRace(t)
	c := testutil.StartCluster(t)
	const topic = "SDKToOfficial"
	createTopic(t, c, topic, 4)

	p, err := producer.New(client.NameServers(c.NameServerAddr), producer.Group("sdk-pg"))
	require.NoError(t, err)
	require.NoError(t, p.Start(t.Context()))
	defer p.Close()

	type sent struct {
		body, tag, keys, prop string
	}
	want := map[string]sent{}
	big := strings.Repeat("compress me ", 1000)
	for i, s := range []sent{{"plain", "a", "k1 k2", "v1"}, {big, "b", "k3", "v2"}} {
		res, err := p.Send(t.Context(), producer.NewMessage(topic, []byte(s.body), producer.Tags(s.tag), producer.Keys(strings.Fields(s.keys)...), producer.Property("myprop", s.prop)))
		require.NoError(t, err, i)
		want[res.MsgID] = s
	}
	var batch []*message.Message
	for i := range 3 {
		batch = append(batch, producer.NewMessage(topic, []byte(fmt.Sprint("batch-", i)), producer.Tags("c"), producer.Keys(fmt.Sprint("bk", i)), producer.Property("myprop", "bv")))
	}
	res, err := p.SendBatch(t.Context(), batch...)
	require.NoError(t, err)
	for i, id := range strings.Split(res.MsgID, ",") {
		want[id] = sent{fmt.Sprint("batch-", i), "c", fmt.Sprint("bk", i), "bv"}
	}

	got := &received{msgs: map[string]*primitive.MessageExt{}}
	pc, err := rconsumer.NewPushConsumer(
		rconsumer.WithNsResolver(primitive.NewPassthroughResolver([]string{c.NameServerAddr})),
		rconsumer.WithGroupName("official-cg"),
		rconsumer.WithInstance(instance(t)),
		rconsumer.WithConsumeFromWhere(rconsumer.ConsumeFromFirstOffset),
	)
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, rconsumer.MessageSelector{Type: rconsumer.TAG, Expression: "a || b || c"},
		func(_ context.Context, msgs ...*primitive.MessageExt) (rconsumer.ConsumeResult, error) {
			got.mu.Lock()
			defer got.mu.Unlock()
			for _, m := range msgs {
				got.msgs[m.MsgId] = m
			}
			return rconsumer.ConsumeSuccess, nil
		}))
	require.NoError(t, pc.Start())
	defer pc.Shutdown()

	testutil.WaitFor(t, 30*time.Second, func() bool {
		got.mu.Lock()
		defer got.mu.Unlock()
		return len(got.msgs) >= len(want)
	})
	got.mu.Lock()
	defer got.mu.Unlock()
	for id, s := range want {
		m := got.msgs[id]
		require.NotNil(t, m, "official consumer got %s (MsgId = our UNIQ_KEY)", id)
		require.Equal(t, s.body, string(m.Body))
		require.Equal(t, s.tag, m.GetTags())
		require.Equal(t, s.keys, m.GetKeys())
		require.Equal(t, s.prop, m.GetProperty("myprop"))
		require.Equal(t, topic, m.Topic)
	}
}

func TestOfficialProducerToSDKPull(t *testing.T) {
	c := testutil.StartCluster(t)
	const topic = "OfficialToSDK"
	a := createTopic(t, c, topic, 2)
	rp, err := rproducer.NewDefaultProducer(
		rproducer.WithNsResolver(primitive.NewPassthroughResolver([]string{c.NameServerAddr})),
		rproducer.WithGroupName("official-pg"),
		rproducer.WithInstanceName(instance(t)),
		rproducer.WithSendMsgTimeout(5*time.Second),
	)
	require.NoError(t, err)
	require.NoError(t, rp.Start())
	defer rp.Shutdown()

	want := map[string]string{}
	big := strings.Repeat("x", 10000) // the official producer compresses it
	for i, body := range []string{"one", "two", big} {
		m := primitive.NewMessage(topic, []byte(body))
		m.WithTag(fmt.Sprint("t", i))
		m.WithKeys([]string{fmt.Sprint("key", i)})
		m.WithProperty("myprop", fmt.Sprint("v", i))
		res, err := rp.SendSync(context.Background(), m)
		require.NoError(t, err)
		want[res.MsgID] = body
	}

	r, err := a.TopicRoute(t.Context(), topic)
	require.NoError(t, err)
	got := map[string]*message.MessageExt{}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		for _, q := range r.SubscribeQueues() {
			q.Topic = topic
			res, err := a.Pull(t.Context(), q, 0, 32)
			require.NoError(t, err)
			for _, m := range res.Messages {
				got[m.MsgID()] = m
			}
		}
		return len(got) == len(want)
	})
	for id, body := range want {
		m := got[id]
		require.NotNil(t, m, id)
		require.Equal(t, body, string(m.Body))
		require.NotEmpty(t, m.Tags())
		require.Len(t, m.Keys(), 1)
		require.True(t, strings.HasPrefix(m.Property("myprop"), "v"))
	}
}
