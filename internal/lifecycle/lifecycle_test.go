package lifecycle

import (
	"context"
	"sync/atomic"
	"testing"

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
