package admin_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/clienttest"
	"github.com/petrelmq/petrel/pkg/client/consumer"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAdminAgainstRealCluster(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t)
	a, err := admin.New(client.NameServers(c.NameServerAddr))
	require.NoError(t, err)
	require.NoError(t, a.Start(t.Context()))
	defer a.Close()
	ctx := t.Context()

	ci, err := a.ClusterInfo(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"broker-a"}, ci.ClusterAddrTable["DefaultCluster"])
	masters, err := a.ClusterMasters(ctx, "DefaultCluster")
	require.NoError(t, err)
	require.Equal(t, []string{c.BrokerAddr}, masters)
	_, err = a.ClusterMasters(ctx, "Nope")
	require.ErrorIs(t, err, admin.ErrNoBroker)

	require.NoError(t, a.CreateTopicInCluster(ctx, "DefaultCluster", admin.TopicSpec{Topic: "AdminT", ReadQueues: 2, WriteQueues: 2}))
	r, err := a.TopicRoute(ctx, "AdminT")
	require.NoError(t, err)
	require.Len(t, r.PublishQueues(), 2)
	topics, err := a.Topics(ctx)
	require.NoError(t, err)
	require.Contains(t, topics, "AdminT")
	require.Error(t, a.CreateTopic(ctx, c.BrokerAddr, admin.TopicSpec{}))

	p, err := producer.New(client.NameServers(c.NameServerAddr))
	require.NoError(t, err)
	require.NoError(t, p.Start(ctx))
	defer p.Close()
	for range 6 {
		_, err := p.Send(ctx, producer.NewMessage("AdminT", []byte("x"), producer.Keys("kk")))
		require.NoError(t, err)
	}
	maxOffsets := map[int32]message.QueueOffset{}
	testutil.WaitFor(t, 10*time.Second, func() bool { // dispatch to consume queues is asynchronous
		var total message.QueueOffset
		for _, q := range r.PublishQueues() {
			q.Topic = "AdminT"
			maxOff, err := a.MaxOffset(ctx, q)
			require.NoError(t, err)
			maxOffsets[q.QueueID] = maxOff
			total += maxOff
		}
		return total == 6
	})
	for _, q := range r.PublishQueues() {
		q.Topic = "AdminT"
		minOff, err := a.MinOffset(ctx, q)
		require.NoError(t, err)
		require.Equal(t, message.QueueOffset(0), minOff)
		res, err := a.Pull(ctx, q, 0, 32)
		require.NoError(t, err)
		require.Len(t, res.Messages, int(maxOffsets[q.QueueID]))
		for _, m := range res.Messages {
			require.Equal(t, []string{"kk"}, m.Keys())
		}
		off, err := a.ConsumerOffset(ctx, "g1", q)
		require.NoError(t, err, "young queue: offset 0")
		require.Equal(t, message.QueueOffset(0), off)
	}

	lag, err := a.Lag(ctx, "g1", "AdminT")
	require.NoError(t, err)
	require.Equal(t, int64(6), lag)

	groups, err := a.ConsumerGroups(ctx, c.BrokerAddr)
	require.NoError(t, err)
	require.NotNil(t, groups)

	found, err := a.QueryByKey(ctx, "AdminT", "kk", false, 32, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, found, 6, "every message sent with key kk")

	require.NoError(t, a.DeleteTopic(ctx, "AdminT", ""))
	topics, err = a.Topics(ctx)
	require.NoError(t, err)
	require.False(t, slices.Contains(topics, "AdminT"))
	_, err = a.TopicRoute(ctx, "AdminT")
	require.ErrorIs(t, err, protocol.ErrTopicNotExist)
}

func TestQueryByKeyFake(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	b := clienttest.StartBroker(t, "broker-a")
	ns.SetRoute("T", clienttest.Route(1, b))
	var recs []byte
	for i, keys := range []string{"a b", "b", "c"} {
		m := &message.MessageExt{Message: message.Message{Topic: "T", Body: []byte{byte('0' + i)}}, StoreTimestamp: int64(i)}
		m.SetProperty(message.PropertyKeys, keys)
		rec, err := message.AppendRecord(nil, m)
		require.NoError(t, err)
		recs = append(recs, rec...)
	}
	b.Intercept(protocol.QueryMessage, func(req *protocol.Command) *protocol.Command {
		if req.Ext("key") == "none" {
			return protocol.NewResponse(req, protocol.QueryNotFound, "can not find message")
		}
		resp := protocol.NewResponse(req, protocol.Success, "")
		resp.Body = recs // a hash index may return more than asked for
		return resp
	})
	a, err := admin.New(client.NameServers(ns.Addr))
	require.NoError(t, err)
	defer a.Close()
	got, err := a.QueryByKey(t.Context(), "T", "b", false, 32, time.Unix(0, 0), time.Now())
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "0", string(got[0].Body))
	require.Equal(t, "1", string(got[1].Body))
	got, err = a.QueryByKey(t.Context(), "T", "none", false, 32, time.Unix(0, 0), time.Now())
	require.NoError(t, err)
	require.Empty(t, got)
	req := b.Requests(protocol.QueryMessage)[0]
	require.Equal(t, "32", req.Ext("maxNum"))
	require.Equal(t, "0", req.Ext("beginTimestamp"))
}

// TestAdminResetOffsetByTime: a group that consumed a topic with Petrel's
// push consumer is reset to the start; the broker tells the consumer, which
// consumes everything again, and the stored offsets move back.
func TestAdminResetOffsetByTime(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t)
	ctx := t.Context()
	a, err := admin.New(client.NameServers(c.NameServerAddr))
	require.NoError(t, err)
	require.NoError(t, a.Start(ctx))
	defer a.Close()
	require.NoError(t, a.CreateTopicInCluster(ctx, "DefaultCluster", admin.TopicSpec{Topic: "ResetT", ReadQueues: 2, WriteQueues: 2}))

	_, err = a.ResetOffsetByTime(ctx, "g-reset", "ResetT", time.Time{}, true)
	require.ErrorIs(t, err, protocol.ErrConsumerNotOnline)

	p, err := producer.New(client.NameServers(c.NameServerAddr))
	require.NoError(t, err)
	require.NoError(t, p.Start(ctx))
	defer p.Close()
	const n = 6
	for range n {
		_, err := p.Send(ctx, producer.NewMessage("ResetT", []byte("x")))
		require.NoError(t, err)
	}

	var mu sync.Mutex
	got := 0
	pc, err := consumer.NewPush(client.NameServers(c.NameServerAddr), consumer.Group("g-reset"),
		consumer.FromWhere(consumer.ConsumeFromFirstOffset))
	require.NoError(t, err)
	defer pc.Close()
	require.NoError(t, pc.Subscribe("ResetT", consumer.All(), consumer.Concurrently(
		func(_ context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
			mu.Lock()
			defer mu.Unlock()
			got += len(msgs)
			return consumer.ConsumeSuccess
		})))
	require.NoError(t, pc.Start(ctx))
	count := func() int { mu.Lock(); defer mu.Unlock(); return got }
	testutil.WaitFor(t, 30*time.Second, func() bool { return count() == n })

	offs, err := a.ResetOffsetByTime(ctx, "g-reset", "ResetT", time.Time{}, true)
	require.NoError(t, err)
	require.Len(t, offs, 2)
	for mq, off := range offs {
		require.Equal(t, message.QueueOffset(0), off, mq)
	}
	testutil.WaitFor(t, 30*time.Second, func() bool { return count() == 2*n })
	testutil.WaitFor(t, 30*time.Second, func() bool {
		lag, err := a.Lag(ctx, "g-reset", "ResetT")
		return err == nil && lag == 0
	})
}

func TestQueueLag(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ broker, consumer, min, want int64 }{
		{10, 4, 0, 6},
		{10, 10, 0, 0},
		{3, 5, 0, 0},    // the consumer is ahead (a slave had less): no negative lag
		{10, -1, 0, 10}, // nothing committed (RocketMQ's -1): the whole queue
		{10, 0, 4, 6},   // nothing committed, the first 4 deleted: what can still be read
		{10, 2, 4, 6},   // behind retention
		{0, 0, 0, 0},
	} {
		require.Equal(t, c.want, admin.QueueLag(c.broker, c.consumer, c.min), "%+v", c)
	}
}
