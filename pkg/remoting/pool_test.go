package remoting

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestPoolHeadWait: HeadWait is how long the oldest queued task has waited
// (sendThreadPoolQueueHeadWaitTimeMills), and 0 with an empty queue. The
// pool's workers are not started: the test takes tasks off as a worker does.
func TestPoolHeadWait(t *testing.T) {
	t.Parallel()
	p := NewPool("test", 1, 4)
	t0 := time.Unix(1000, 0)
	require.Zero(t, p.HeadWait(t0))
	require.True(t, p.trySubmit(&task{queued: t0}))
	require.True(t, p.trySubmit(&task{queued: t0.Add(2 * time.Second)}))
	require.Equal(t, 5*time.Second, p.HeadWait(t0.Add(5*time.Second)))
	<-p.tasks
	p.popWait()
	require.Equal(t, 3*time.Second, p.HeadWait(t0.Add(5*time.Second)))
	require.Zero(t, p.HeadWait(t0), "a clock behind the queue time gives 0, not a negative wait")
	<-p.tasks
	p.popWait()
	require.Zero(t, p.HeadWait(t0.Add(time.Hour)))
	for range 4 {
		require.True(t, p.trySubmit(&task{queued: t0}))
	}
	require.False(t, p.trySubmit(&task{queued: t0}), "full")
	require.Len(t, p.waits, 4, "a refused task leaves no queue time behind")
}
