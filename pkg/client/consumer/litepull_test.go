package consumer_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/consumer"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
)

// pollN polls until n messages arrived.
func pollN(t *testing.T, l *consumer.LitePullConsumer, n int) []*message.MessageExt {
	t.Helper()
	var out []*message.MessageExt
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for len(out) < n {
		msgs, err := l.Poll(ctx)
		require.NoError(t, err, "got %d of %d", len(out), n)
		out = append(out, msgs...)
	}
	return out
}

func bodies(msgs []*message.MessageExt) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, string(m.Body))
	}
	return out
}

func TestLitePullAssignSeekCommit(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t)
	createTopic(t, c, "LiteT", 1)
	p := newProducer(t, c.NameServerAddr)
	for i := range 10 {
		_, err := p.Send(t.Context(), producer.NewMessage("LiteT", []byte(strconv.Itoa(i))))
		require.NoError(t, err)
	}
	mq := message.MessageQueue{Topic: "LiteT", BrokerName: "broker-a", QueueID: 0}
	opts := fast(c.NameServerAddr, "g-lite", consumer.AutoCommit(false), consumer.FromWhere(consumer.ConsumeFromFirstOffset))
	l, err := consumer.NewLitePull(opts...)
	require.NoError(t, err)
	require.NoError(t, l.Assign(t.Context(), []message.MessageQueue{mq}, consumer.All()))
	require.NoError(t, l.Start(t.Context()))
	got := pollN(t, l, 10)
	require.Equal(t, []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}, bodies(got))

	require.NoError(t, l.CommitSync(t.Context()))
	off, found, err := l.Committed(t.Context(), mq)
	require.NoError(t, err)
	require.True(t, found)
	require.EqualValues(t, 10, off)

	require.NoError(t, l.Seek(mq, 7))
	require.Equal(t, []string{"7", "8", "9"}, bodies(pollN(t, l, 3)))
	require.NoError(t, l.SeekToBeginning(t.Context(), mq))
	require.Equal(t, "0", string(pollN(t, l, 1)[0].Body))
	require.NoError(t, l.SeekToEnd(t.Context(), mq))
	l.Pause(mq)
	_, err = p.Send(t.Context(), producer.NewMessage("LiteT", []byte("new")))
	require.NoError(t, err)
	short, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	_, err = l.Poll(short)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "a paused queue is not prefetched")
	l.Resume(mq)
	require.Equal(t, []string{"new"}, bodies(pollN(t, l, 1)))
	require.ErrorIs(t, l.Seek(message.MessageQueue{Topic: "LiteT", BrokerName: "broker-a", QueueID: 9}, 0), consumer.ErrNotAssigned)

	// Without a commit after the seek, a restart resumes at the committed 10.
	require.NoError(t, l.Close())
	_, err = l.Poll(t.Context())
	require.ErrorIs(t, err, consumer.ErrClosed)
	l2, err := consumer.NewLitePull(opts...)
	require.NoError(t, err)
	require.NoError(t, l2.Assign(t.Context(), []message.MessageQueue{mq}, consumer.All()))
	require.NoError(t, l2.Start(t.Context()))
	defer l2.Close()
	require.Equal(t, []string{"new"}, bodies(pollN(t, l2, 1)))
}

func TestLitePullSubscribeAutoCommit(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t)
	createTopic(t, c, "LiteSubT", 4)
	p := newProducer(t, c.NameServerAddr)
	for i := range 20 {
		tag := "keep"
		if i%4 == 0 {
			tag = "skip"
		}
		_, err := p.Send(t.Context(), producer.NewMessage("LiteSubT", []byte(strconv.Itoa(i)), producer.Tags(tag)))
		require.NoError(t, err)
	}
	opts := fast(c.NameServerAddr, "g-litesub", client.InstanceName("l1"), consumer.FromWhere(consumer.ConsumeFromFirstOffset))
	l, err := consumer.NewLitePull(opts...)
	require.NoError(t, err)
	require.NoError(t, l.Subscribe("LiteSubT", consumer.Tag("keep")))
	require.NoError(t, l.Start(t.Context()))
	got := pollN(t, l, 15)
	for _, m := range got {
		require.Equal(t, "keep", m.Tags())
		require.Equal(t, "LiteSubT", m.Topic)
	}
	require.Len(t, l.Assignment(), 4)
	require.NoError(t, l.Close())

	// Auto-committed on Close: a restarted member gets only new messages.
	_, err = p.Send(t.Context(), producer.NewMessage("LiteSubT", []byte("late"), producer.Tags("keep")))
	require.NoError(t, err)
	l2, err := consumer.NewLitePull(opts...)
	require.NoError(t, err)
	require.NoError(t, l2.Subscribe("LiteSubT", consumer.Tag("keep")))
	require.NoError(t, l2.Start(t.Context()))
	defer l2.Close()
	require.Equal(t, []string{"late"}, bodies(pollN(t, l2, 1)))
}
