package consumer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/pkg/message"
)

type fakePositions struct {
	max, min message.QueueOffset
	search   map[int64]message.QueueOffset
}

func (f fakePositions) maxOffset(context.Context, message.MessageQueue) (message.QueueOffset, error) {
	return f.max, nil
}
func (f fakePositions) minOffset(context.Context, message.MessageQueue) (message.QueueOffset, error) {
	return f.min, nil
}
func (f fakePositions) searchOffset(_ context.Context, _ message.MessageQueue, ms int64) (message.QueueOffset, error) {
	return f.search[ms], nil
}

type fakeBackend struct {
	stored map[message.MessageQueue]message.QueueOffset
	err    error
}

func (f fakeBackend) fetch(_ context.Context, mq message.MessageQueue) (message.QueueOffset, bool, error) {
	off, ok := f.stored[mq]
	return off, ok, f.err
}
func (f fakeBackend) persist(context.Context, map[message.MessageQueue]message.QueueOffset) error {
	return nil
}

// TestComputeFrom checks RocketMQ's computePullFromWhere rules.
func TestComputeFrom(t *testing.T) {
	t.Parallel()
	ts := time.UnixMilli(1_700_000_000_000)
	mq := message.MessageQueue{Topic: "T", BrokerName: "b"}
	retry := message.MessageQueue{Topic: "%RETRY%g", BrokerName: "b"}
	pos := fakePositions{max: 100, min: 7, search: map[int64]message.QueueOffset{ts.UnixMilli(): 42}}
	f := func(model MessageModel, from ConsumeFrom, be fakeBackend, q message.MessageQueue, want message.QueueOffset) {
		t.Helper()
		b := &base{cfg: defaultConfig(), positions: pos, backend: be}
		b.cfg.model, b.cfg.from, b.cfg.timestamp = model, from, ts
		got, err := b.computeFrom(t.Context(), q)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	none := fakeBackend{}
	f(Clustering, ConsumeFromLastOffset, fakeBackend{stored: map[message.MessageQueue]message.QueueOffset{mq: 5}}, mq, 5)
	f(Clustering, ConsumeFromLastOffset, none, mq, 100)
	f(Clustering, ConsumeFromLastOffset, none, retry, 0)
	f(Clustering, ConsumeFromFirstOffset, none, mq, 0)
	f(Broadcasting, ConsumeFromFirstOffset, none, mq, 7)
	f(Clustering, ConsumeFromTimestamp, none, mq, 42)
	f(Clustering, ConsumeFromTimestamp, none, retry, 100)

	b := &base{cfg: defaultConfig(), positions: pos, backend: fakeBackend{err: errors.New("down")}}
	_, err := b.computeFrom(t.Context(), mq)
	require.Error(t, err, "a failed offset query leaves the queue for the next round")
}
