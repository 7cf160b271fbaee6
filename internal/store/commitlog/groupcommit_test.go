package commitlog

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil/poll"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/clock"
)

// TestFlushTimeoutPerWaiter: waiters share one timeout timer, yet each times out
// FlushTimeout after its own SyncAsync, not earlier and not later.
func TestFlushTimeoutPerWaiter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := clock.NewManual(time.Unix(1700000000, 0))
	release := make(chan struct{})
	var once sync.Once
	fsys := errorfsBlockSync(vfs.NewMem(), release)
	cfg := Config{Dir: "/cl", SegmentSize: 1 << 20, MaxMessageSize: 4096, FlushMode: FlushSync, Clock: clk}
	l := openStarted(t, fsys, cfg, RecoverOptions{})
	defer func() { once.Do(func() { close(release) }); require.NoError(t, l.Close()) }()

	res1, err := l.Append(ctx, makeRecord(t, 1, 100), nil)
	require.NoError(t, err)
	done1 := make(chan error, 1)
	l.SyncAsync(res1.End, func(err error) { done1 <- err })
	poll.WaitFor(t, 5*time.Second, func() bool { return clk.Waiters() > 0 })

	clk.Advance(2 * time.Second)
	res2, err := l.Append(ctx, makeRecord(t, 2, 100), nil)
	require.NoError(t, err)
	done2 := make(chan error, 1)
	l.SyncAsync(res2.End, func(err error) { done2 <- err })

	clk.Advance(DefaultFlushTimeout - 2*time.Second) // waiter 1's deadline
	select {
	case err := <-done1:
		require.ErrorIs(t, err, ErrFlushTimeout)
	case <-time.After(10 * time.Second):
		t.Fatal("waiter 1 did not time out")
	}
	select {
	case err := <-done2:
		t.Fatalf("waiter 2 completed %v before its deadline", err)
	case <-time.After(20 * time.Millisecond):
	}
	poll.WaitFor(t, 5*time.Second, func() bool { return clk.Waiters() > 0 }) // re-armed
	clk.Advance(2 * time.Second)
	select {
	case err := <-done2:
		require.ErrorIs(t, err, ErrFlushTimeout)
	case <-time.After(10 * time.Second):
		t.Fatal("waiter 2 did not time out")
	}
	once.Do(func() { close(release) })
	require.NoError(t, l.Sync(ctx, res2.End))
}

// TestGroupCommitConcurrencyDrops: after many concurrent waiters taught the
// flusher to gather that many, a lone writer is not held up for long (the
// gather is bounded by the last fsync's duration) and nothing hangs.
func TestGroupCommitConcurrencyDrops(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := Config{Dir: t.TempDir(), SegmentSize: 1 << 20, MaxMessageSize: 4096, FlushMode: FlushSync}
	l := openStarted(t, vfs.OS, cfg, RecoverOptions{})
	defer l.Close()
	rec := makeRecord(t, 1, 500)
	appendSync := func() {
		res, err := l.Append(ctx, rec, nil)
		require.NoError(t, err)
		require.NoError(t, l.Sync(ctx, res.End))
	}
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range 20 {
				appendSync()
			}
		})
	}
	wg.Wait()
	start := time.Now()
	for range 20 {
		appendSync()
	}
	// 20 fsyncs of a few hundred µs each plus at most one bounded gather each;
	// a flusher waiting for 32 waiters that never come would take FlushTimeout.
	require.Less(t, time.Since(start), 20*DefaultFlushTimeout/10)
}
