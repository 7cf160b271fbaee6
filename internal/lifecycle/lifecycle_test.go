package lifecycle

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestGroup(t *testing.T) {
	defer goleak.VerifyNone(t)
	var g Group
	require.False(t, g.Go("early", func(context.Context) {}), "Go before Start runs nothing")
	require.Error(t, g.Context().Err(), "the context before Start is cancelled")

	parent, cancelParent := context.WithCancel(context.Background())
	require.NoError(t, g.Start(parent, "test"))
	require.ErrorIs(t, g.Start(parent, "test"), ErrStarted)
	cancelParent() // the start context ending does not stop the group
	require.NoError(t, g.Context().Err())

	var ran, stopped atomic.Int32
	for range 3 {
		require.True(t, g.Go("worker", func(ctx context.Context) {
			ran.Add(1)
			<-ctx.Done()
			stopped.Add(1)
		}))
	}
	require.True(t, g.Running())
	g.Stop()
	require.Equal(t, int32(3), ran.Load())
	require.Equal(t, int32(3), stopped.Load(), "Stop waits for every goroutine")
	require.False(t, g.Running())
	require.False(t, g.Go("late", func(context.Context) { t.Error("ran after Stop") }))
	require.ErrorIs(t, g.Start(context.Background(), "again"), ErrClosed)
	g.Stop() // idempotent
}

func TestStopBeforeStart(t *testing.T) {
	var g Group
	g.Stop()
	require.ErrorIs(t, g.Start(context.Background(), "x"), ErrClosed)
}

func TestGate(t *testing.T) {
	var g Gate
	require.True(t, g.Enter())
	require.True(t, g.Enter())
	require.Equal(t, 2, g.InFlight())
	clk := clock.NewManual(time.Unix(0, 0))
	done := make(chan bool)
	go func() { done <- g.Close(clk, time.Minute) }()
	require.Eventually(t, func() bool { return clk.Waiters() > 0 }, 5*time.Second, time.Millisecond)
	require.False(t, g.Enter(), "closing refuses")
	g.Exit()
	g.Exit()
	require.True(t, <-done, "Close returns once the last admitted one exits")
	require.True(t, g.Close(clk, time.Minute), "nothing in flight")

	var h Gate
	require.True(t, h.Enter())
	go func() { done <- h.Close(clk, time.Second) }()
	require.Eventually(t, func() bool { return clk.Waiters() > 0 }, 5*time.Second, time.Millisecond)
	clk.Advance(time.Second)
	require.False(t, <-done, "Close gives up after d")
}
