package consumer

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/pkg/message"
)

func msgAt(off message.QueueOffset, size int) *message.MessageExt {
	return &message.MessageExt{QueueOffset: off, Message: message.Message{Body: make([]byte, size)}}
}

func TestProcessQueueCommitOffset(t *testing.T) {
	t.Parallel()
	pq := newProcessQueue(t.Context(), message.MessageQueue{Topic: "T"})
	defer pq.cancel()
	_, ok := pq.commitOffset()
	require.False(t, ok, "nothing pulled yet")
	ms := []*message.MessageExt{msgAt(10, 100), msgAt(11, 100), msgAt(12, 100)}
	require.Equal(t, 3, pq.put(ms))
	require.Equal(t, 0, pq.put(ms[:1]), "duplicates are not cached twice")
	n, bytes := pq.size()
	require.Equal(t, 3, n)
	require.EqualValues(t, 300, bytes)
	// Out-of-order acks: the commit offset stays at the smallest in flight.
	off, _ := pq.remove(ms[1:2])
	require.EqualValues(t, 10, off)
	off, _ = pq.remove(ms[:1])
	require.EqualValues(t, 12, off)
	off, _ = pq.remove(ms[2:])
	require.EqualValues(t, 13, off, "all acked: the offset after the last pulled")
	pq.setNext(20)
	off, _ = pq.commitOffset()
	require.EqualValues(t, 20, off)
	n, bytes = pq.size()
	require.Zero(t, n)
	require.Zero(t, bytes)
}

func TestProcessQueueHeadAndLock(t *testing.T) {
	t.Parallel()
	pq := newProcessQueue(t.Context(), message.MessageQueue{Topic: "T"})
	defer pq.cancel()
	pq.put([]*message.MessageExt{msgAt(0, 1), msgAt(1, 1), msgAt(2, 1)})
	head := pq.head(2)
	require.Len(t, head, 2)
	require.EqualValues(t, 0, head[0].QueueOffset)
	pq.remove(head[:1])
	require.EqualValues(t, 1, pq.head(1)[0].QueueOffset)

	now := time.Unix(1000, 0)
	require.False(t, pq.lockValid(now))
	pq.setLocked(true, now)
	require.True(t, pq.lockValid(now.Add(lockLifetime-time.Second)))
	require.False(t, pq.lockValid(now.Add(lockLifetime)), "a lock not renewed expires")
	pq.setLocked(false, now)
	require.False(t, pq.lockValid(now))
	pq.drop()
	require.True(t, pq.dropped())
	require.Error(t, pq.ctx.Err())
}

func TestOffsetTableAndLocalFile(t *testing.T) {
	t.Parallel()
	a := message.MessageQueue{Topic: "T", BrokerName: "b", QueueID: 0}
	b := message.MessageQueue{Topic: "T", BrokerName: "b", QueueID: 1}
	tbl := newOffsetTable()
	tbl.update(a, 5, true)
	tbl.update(a, 3, true)
	got, _ := tbl.get(a)
	require.EqualValues(t, 5, got, "increase-only ignores smaller offsets")
	tbl.update(a, 3, false)
	tbl.update(b, 7, false)
	require.Len(t, tbl.take(nil, false), 2)
	require.Empty(t, tbl.take(nil, false), "clean after take")

	path := filepath.Join(t.TempDir(), "x", "offsets.json")
	l := &localOffsets{path: path}
	_, found, err := l.fetch(t.Context(), a)
	require.NoError(t, err)
	require.False(t, found)
	require.NoError(t, l.persist(t.Context(), map[message.MessageQueue]message.QueueOffset{a: 3, b: 7}))
	l2 := &localOffsets{path: path}
	off, found, err := l2.fetch(t.Context(), b)
	require.NoError(t, err)
	require.True(t, found)
	require.EqualValues(t, 7, off)
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.tmp*"))
	require.Empty(t, matches, "no temporary file left behind")
}

func TestDecodeResetOffsetBody(t *testing.T) {
	t.Parallel()
	got, err := DecodeResetOffsetBody([]byte(`{"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:100,{"brokerName":"broker-a","queueId":1,"topic":"T"}:200}}`))
	require.NoError(t, err)
	require.Equal(t, map[message.MessageQueue]message.QueueOffset{
		{Topic: "T", BrokerName: "broker-a", QueueID: 0}: 100,
		{Topic: "T", BrokerName: "broker-a", QueueID: 1}: 200,
	}, got)
	_, err = DecodeResetOffsetBody([]byte(`{"offsetTable":{{"topic":"T"}}}`))
	require.ErrorIs(t, err, errBadResetBody)
	_, err = DecodeResetOffsetBody([]byte(`{}`))
	require.ErrorIs(t, err, errBadResetBody)
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	_, err := NewPush()
	require.ErrorContains(t, err, "Group is required")
	_, err = NewPush(Group("g"), LongPolling(time.Second, time.Second))
	require.Error(t, err)
	_, err = NewLitePull(Group("g"), PullBatchSize(0))
	require.Error(t, err)
}

func TestProcessQueueExpire(t *testing.T) {
	t.Parallel()
	pq := newProcessQueue(t.Context(), message.MessageQueue{Topic: "T"})
	defer pq.cancel()
	ms := []*message.MessageExt{msgAt(0, 1), msgAt(1, 1), msgAt(2, 1)}
	pq.put(ms)
	t0 := time.Unix(1000, 0)
	const timeout = time.Minute
	old, oldCtx := pq.begin(ms[:1], t0)
	young, youngCtx := pq.begin(ms[1:2], t0.Add(30*time.Second))
	require.Empty(t, pq.expire(t0.Add(timeout), timeout, true), "exactly the timeout is not past it")

	got := pq.expire(t0.Add(timeout+time.Second), timeout, true)
	require.Equal(t, []*consumeCall{old}, got)
	require.Error(t, oldCtx.Err(), "an expired call's context is cancelled")
	require.NoError(t, youngCtx.Err())
	require.True(t, pq.end(old), "the handler's result no longer counts")
	require.False(t, pq.end(young))

	// Not settled: the expiry keeps owning it and sees it again.
	require.Equal(t, []*consumeCall{old}, pq.expire(t0.Add(2*timeout), timeout, true))
	pq.settle(old, nil)
	require.Empty(t, pq.expire(t0.Add(3*timeout), timeout, true))

	// Without takeOver (orderly) a call is reported once and stays the
	// handler's.
	o, octx := pq.begin(ms[2:], t0)
	require.Equal(t, []*consumeCall{o}, pq.expire(t0.Add(2*timeout), timeout, false))
	require.Error(t, octx.Err())
	require.Empty(t, pq.expire(t0.Add(3*timeout), timeout, false))
	require.False(t, pq.end(o))
}
