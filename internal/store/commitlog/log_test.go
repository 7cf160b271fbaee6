package commitlog

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil/poll"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
)

func TestAppendReadReopen(t *testing.T) {
	forEachConfig(t, func(t *testing.T, fsys vfs.FS, cfg Config) {
		ctx := context.Background()
		l := openStarted(t, fsys, cfg, RecoverOptions{})
		type appended struct {
			off message.PhysOffset
			rec []byte
		}
		var all []appended
		var q message.QueueOffset
		for i := range 200 {
			rec := makeRecord(t, i, 10+i*7%600)
			res, err := l.Append(ctx, rec, func(n int) message.QueueOffset { q += message.QueueOffset(n); return q - message.QueueOffset(n) })
			require.NoError(t, err)
			require.Equal(t, message.QueueOffset(i), res.QueueOffset)
			require.Equal(t, res.Offset+message.PhysOffset(len(rec)), res.End)
			all = append(all, appended{res.Offset, expected(rec, res.Offset, res.StoreTimestamp, res.QueueOffset)})
			if cfg.FlushMode == FlushSync {
				require.NoError(t, l.Sync(ctx, res.End))
				require.GreaterOrEqual(t, l.SyncedOffset(), res.End)
			}
		}
		last := all[len(all)-1]
		poll.WaitFor(t, 5*time.Second, func() bool { return l.MaxOffset() >= last.off+message.PhysOffset(len(last.rec)) })
		for _, a := range all {
			got, err := l.ReadRecord(nil, a.off)
			require.NoError(t, err)
			require.Equal(t, a.rec, got)
			m, _, err := message.DecodeMessage(got)
			require.NoError(t, err)
			require.Equal(t, a.off, m.PhysOffset)
		}
		if cfg.SegmentSize == 4096 {
			require.Greater(t, len(l.Segments()), 5, "tiny segments must roll")
		}
		offs, recs := scanAll(t, l)
		require.Len(t, offs, len(all))
		for i := range all {
			require.Equal(t, all[i].off, offs[i])
			require.Equal(t, all[i].rec, recs[i])
		}
		require.NoError(t, l.Close())
		require.NoError(t, l.Close(), "Close is idempotent")
		_, err := l.Append(ctx, all[0].rec, nil)
		require.ErrorIs(t, err, ErrClosed)

		// Reopen: everything is there, and appends continue contiguously.
		var seen []message.PhysOffset
		l2, err := Open(fsys, cfg, RecoverOptions{OnRecord: func(off message.PhysOffset, rec []byte) error {
			seen = append(seen, off)
			return nil
		}})
		require.NoError(t, err)
		require.NoError(t, l2.Start(ctx))
		defer l2.Close()
		require.Equal(t, offs, seen)
		require.Equal(t, last.off+message.PhysOffset(len(last.rec)), l2.MaxOffset())
		before := l2.MaxOffset()
		res, err := l2.Append(ctx, all[0].rec, nil)
		require.NoError(t, err)
		require.True(t, res.Offset == before || res.Offset%message.PhysOffset(cfg.SegmentSize) == 0)
		require.NoError(t, l2.Sync(ctx, res.End))
		_, recs2 := scanAll(t, l2)
		require.Len(t, recs2, len(all)+1)
	})
}

func TestAppendErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := Config{Dir: "/cl", SegmentSize: 8192, MaxMessageSize: 4096}
	l, err := Open(vfs.NewMem(), cfg, RecoverOptions{})
	require.NoError(t, err)
	rec := makeRecord(t, 1, 100)
	_, err = l.Append(ctx, rec, nil)
	require.ErrorIs(t, err, ErrNotStarted)
	require.NoError(t, l.Start(ctx))
	defer l.Close()
	_, err = l.Append(ctx, makeRecord(t, 1, 5000), nil)
	require.ErrorIs(t, err, ErrMessageTooLarge)
	_, err = l.Append(ctx, rec[:50], nil)
	require.ErrorIs(t, err, ErrInvalidRecord)
	_, err = l.Append(ctx, nil, nil)
	require.ErrorIs(t, err, ErrInvalidRecord)
	bad := append([]byte(nil), rec...)
	bad[4] = 0
	_, err = l.Append(ctx, bad, nil)
	require.ErrorIs(t, err, ErrInvalidRecord)

	// A batch gets consecutive queue offsets and stays in one segment.
	batch := append(append(makeRecord(t, 2, 10), makeRecord(t, 3, 20)...), makeRecord(t, 4, 30)...)
	res, err := l.Append(ctx, batch, func(n int) message.QueueOffset { require.Equal(t, 3, n); return 10 })
	require.NoError(t, err)
	require.Equal(t, 3, res.Records)
	require.NoError(t, l.Sync(ctx, res.End))
	var qs []message.QueueOffset
	_, err = l.Scan(res.Offset, func(off message.PhysOffset, rec []byte) error {
		var v message.RecordView
		require.NoError(t, message.ParseRecord(rec, &v))
		qs = append(qs, v.QueueOffset)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []message.QueueOffset{10, 11, 12}, qs)
	require.NotEqual(t, string(rec), "", "input is not modified")
	require.Equal(t, makeRecord(t, 1, 100), rec)

	require.ErrorIs(t, l.ReadAt(make([]byte, 10), l.MaxOffset()), ErrOutOfRange)
	require.ErrorIs(t, l.ReadAt(make([]byte, 10), -1), ErrOutOfRange)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, DefaultConfig("/x").Validate())
	require.Error(t, Config{}.Validate())
	require.Error(t, Config{Dir: "d", SegmentSize: 4096, MaxMessageSize: 4095}.Validate())
	require.Error(t, Config{Dir: "d", SegmentSize: 1 << 20, MaxMessageSize: 4096, WriteBufferSize: 100}.Validate())
	require.Equal(t, "SYNC_FLUSH", FlushSync.String())
	require.Equal(t, int64(DefaultSegmentSize), DefaultConfig("x").SegmentSize)
}

// TestGroupCommit runs many concurrent sync-flush writers; every acknowledged
// append is durable, and fsyncs are shared between waiters.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mem := vfs.NewCrashableMem()
	count := 0
	var cmu sync.Mutex
	fsys := errorfsCount(mem, func() { cmu.Lock(); count++; cmu.Unlock() })
	cfg := Config{Dir: "/cl", SegmentSize: 1 << 20, MaxMessageSize: 4096, FlushMode: FlushSync}
	l := openStarted(t, fsys, cfg, RecoverOptions{})
	const writers, per = 16, 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[message.PhysOffset][]byte{}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				rec := makeRecord(t, w*1000+i, 200)
				res, err := l.Append(ctx, rec, nil)
				if err != nil {
					t.Error(err)
					return
				}
				done := make(chan error, 1)
				l.SyncAsync(res.End, func(err error) { done <- err })
				if err := <-done; err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[res.Offset] = expected(rec, res.Offset, res.StoreTimestamp, 0)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	cmu.Lock()
	t.Logf("%d appends, %d fsyncs", writers*per, count)
	require.LessOrEqual(t, count, writers*per+2)
	cmu.Unlock()
	// Crash with no unsynced data surviving: every ack survives.
	crashed := mem.CrashClone(vfs.CrashCloneOptions{UnsyncedFraction: 0})
	require.NoError(t, l.Close())
	l2, err := Open(crashed, cfg, RecoverOptions{})
	require.NoError(t, err)
	defer l2.Close()
	for off, want := range acked {
		got, err := l2.ReadRecord(nil, off)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
}

// TestFlushTimeout: a waiter whose fsync does not finish in FlushTimeout gets
// ErrFlushTimeout, and appends continue while the fsync is stuck.
func TestFlushTimeout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := clock.NewManual(time.Unix(1700000000, 0))
	release := make(chan struct{})
	var once sync.Once
	fsys := errorfsBlockSync(vfs.NewMem(), release)
	cfg := Config{Dir: "/cl", SegmentSize: 1 << 20, MaxMessageSize: 4096, FlushMode: FlushSync, Clock: clk}
	l := openStarted(t, fsys, cfg, RecoverOptions{})
	defer func() { once.Do(func() { close(release) }); require.NoError(t, l.Close()) }()
	res, err := l.Append(ctx, makeRecord(t, 1, 100), nil)
	require.NoError(t, err)
	require.Equal(t, clk.Now().UnixMilli(), res.StoreTimestamp)
	done := make(chan error, 1)
	l.SyncAsync(res.End, func(err error) { done <- err })
	// Appends are not blocked by the stuck fsync.
	res2, err := l.Append(ctx, makeRecord(t, 2, 100), nil)
	require.NoError(t, err)
	poll.WaitFor(t, 5*time.Second, func() bool { return l.MaxOffset() >= res2.End })
	poll.WaitFor(t, 5*time.Second, func() bool { return clk.Waiters() > 0 })
	clk.Advance(DefaultFlushTimeout)
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrFlushTimeout)
	case <-time.After(10 * time.Second):
		t.Fatal("no timeout")
	}
	once.Do(func() { close(release) })
	require.NoError(t, l.Sync(ctx, res2.End))
}

// TestAsyncFlushPolicy: with FlushAsync, little dirty data waits for the
// thorough interval; four pages go at the next FlushInterval tick.
func TestAsyncFlushPolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := clock.NewManual(time.Unix(1700000000, 0))
	cfg := Config{Dir: "/cl", SegmentSize: 1 << 20, MaxMessageSize: 8192, FlushMode: FlushAsync, Clock: clk}
	l := openStarted(t, vfs.NewMem(), cfg, RecoverOptions{})
	defer l.Close()
	poll.WaitFor(t, 5*time.Second, func() bool { return clk.Waiters() > 0 }) // ticker armed
	res, err := l.Append(ctx, makeRecord(t, 1, 100), nil)
	require.NoError(t, err)
	poll.WaitFor(t, 5*time.Second, func() bool { return l.MaxOffset() >= res.End })
	clk.Advance(DefaultFlushInterval)
	time.Sleep(20 * time.Millisecond) // give a wrong flush the chance to happen
	require.Equal(t, message.PhysOffset(0), l.SyncedOffset(), "one small record is not worth a flush yet")
	clk.Advance(DefaultThoroughFlushInterval)
	poll.WaitFor(t, 5*time.Second, func() bool { return l.SyncedOffset() >= res.End })

	var last AppendResult
	for i := range 5 {
		last, err = l.Append(ctx, makeRecord(t, i, 4000), nil)
		require.NoError(t, err)
	}
	poll.WaitFor(t, 5*time.Second, func() bool { return l.MaxOffset() >= last.End })
	clk.Advance(DefaultFlushInterval)
	poll.WaitFor(t, 5*time.Second, func() bool { return l.SyncedOffset() >= last.End })
}

func TestConcurrentReadersAndRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := Config{Dir: "/cl", SegmentSize: 4096, MaxMessageSize: 2048, FlushMode: FlushSync}
	l := openStarted(t, vfs.NewMem(), cfg, RecoverOptions{})
	defer l.Close()
	var offs []message.PhysOffset
	for i := range 100 {
		res, err := l.Append(ctx, makeRecord(t, i, 300), nil)
		require.NoError(t, err)
		offs = append(offs, res.Offset)
	}
	require.NoError(t, l.Sync(ctx, l.NextOffset()))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := r; ; i = (i + 7) % len(offs) {
				select {
				case <-stop:
					return
				default:
				}
				_, err := l.ReadRecord(nil, offs[i])
				if err != nil && !errors.Is(err, ErrOutOfRange) {
					t.Error(err)
					return
				}
			}
		}()
	}
	n, err := l.DeleteSegmentsBefore(offs[50])
	require.NoError(t, err)
	require.Positive(t, n)
	require.LessOrEqual(t, l.MinOffset(), offs[50])
	require.Greater(t, l.MinOffset(), offs[0])
	_, err = l.ReadRecord(nil, offs[0])
	require.ErrorIs(t, err, ErrOutOfRange)
	n, err = l.DeleteSegmentsOlderThan(time.Now().Add(time.Hour))
	require.NoError(t, err)
	require.Positive(t, n)
	require.Len(t, l.Segments(), 1, "the last segment is never deleted")
	close(stop)
	wg.Wait()
}

// TestOnWritten checks that the writer reports every publication of readable data,
// so a follower (the store's dispatcher) can wait on a channel instead of polling.
func TestOnWritten(t *testing.T) {
	t.Parallel()
	wake := make(chan message.PhysOffset, 1024)
	cfg := Config{Dir: "/store/commitlog", SegmentSize: 64 << 10, MaxMessageSize: 8 << 10,
		OnWritten: func(off message.PhysOffset) { wake <- off }}
	l := openStarted(t, vfs.NewMem(), cfg, RecoverOptions{})
	defer l.Close()
	var last AppendResult
	for i := range 20 {
		res, err := l.Append(context.Background(), makeRecord(t, i, 100), nil)
		require.NoError(t, err)
		last = res
	}
	for got := message.PhysOffset(0); got < last.End; {
		select {
		case got = <-wake:
			require.LessOrEqual(t, got, l.MaxOffset())
		case <-time.After(10 * time.Second):
			t.Fatal("OnWritten not called up to the last append")
		}
	}
}
