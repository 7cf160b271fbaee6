package longpoll

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// harness runs a Service on a manual clock and records what it re-runs.
type harness struct {
	s   *Service
	clk *clock.Manual
	mu  sync.Mutex
	ran []*Pull
}

func newHarness(t *testing.T, max int) *harness {
	h := &harness{clk: clock.NewManual(time.Unix(1000, 0))}
	h.s = NewService(h.clk, max, func(_ context.Context, p *Pull) {
		h.mu.Lock()
		h.ran = append(h.ran, p)
		h.mu.Unlock()
	})
	require.NoError(t, h.s.Start(context.Background()))
	t.Cleanup(func() { h.s.Close() })
	return h
}

func (h *harness) ranCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ran)
}

func (h *harness) waitRan(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return h.ranCount() == n }, 10*time.Second, time.Millisecond)
}

func pull(topic string, q int32, off message.QueueOffset, deadline time.Time) *Pull {
	return &Pull{Key: Key{topic, q}, Offset: off, Deadline: deadline}
}

func TestServiceWakesOnDispatch(t *testing.T) {
	defer goleak.VerifyNone(t)
	h := newHarness(t, 10)
	p := pull("T", 0, 5, h.clk.Now().Add(20*time.Second))
	p.Filter = tagSet{message.TagsHashCode("TagA"): true}
	require.NoError(t, h.s.Hold(p, nil))
	require.Equal(t, 1, h.s.Held())
	h.s.OnDispatch(Key{"T", 0}, 5, message.TagsHashCode("TagB"))
	require.Equal(t, 1, h.s.Held())
	h.s.OnDispatch(Key{"T", 0}, 6, message.TagsHashCode("TagA"))
	h.waitRan(t, 1)
	require.Zero(t, h.s.Held())
	h.s.Close()
}

func TestServiceExpiresAtDeadline(t *testing.T) {
	h := newHarness(t, 10)
	var ps []*Pull
	for _, d := range []time.Duration{3 * time.Second, time.Second, 2 * time.Second} {
		p := pull("T", 0, 0, h.clk.Now().Add(d))
		ps = append(ps, p)
		require.NoError(t, h.s.Hold(p, nil))
	}
	h.clk.Advance(999 * time.Millisecond)
	require.Never(t, func() bool { return h.ranCount() > 0 }, 50*time.Millisecond, 5*time.Millisecond)
	h.clk.Advance(time.Millisecond)
	h.waitRan(t, 1)
	h.clk.Advance(2 * time.Second)
	h.waitRan(t, 3)
	require.Same(t, ps[1], h.ran[0], "the earliest deadline first")
}

func TestServiceBoundClosedConnAndClose(t *testing.T) {
	h := newHarness(t, 2)
	closedConn := make(chan struct{})
	close(closedConn)
	require.NoError(t, h.s.Hold(pull("T", 0, 0, h.clk.Now().Add(time.Minute)), closedConn))
	require.Zero(t, h.s.Held(), "a pull of a closed connection is dropped")
	for range 2 {
		require.NoError(t, h.s.Hold(pull("T", 0, 0, h.clk.Now().Add(time.Minute)), nil))
	}
	require.ErrorIs(t, h.s.Hold(pull("T", 0, 0, h.clk.Now().Add(time.Minute)), nil), ErrFull)
	require.Equal(t, 2, h.s.Close(), "Close answers every held pull")
	require.Equal(t, 2, h.ranCount())
	require.ErrorIs(t, h.s.Hold(pull("T", 0, 0, h.clk.Now().Add(time.Minute)), nil), ErrClosed)
}

// TestServiceAnsweredExactlyOnce races dispatch, wake-ups, the deadline,
// WakeAll and Close over many held pulls: each is re-run exactly once.
func TestServiceAnsweredExactlyOnce(t *testing.T) {
	const n = 200
	h := newHarness(t, n)
	for i := range n {
		require.NoError(t, h.s.Hold(pull("T", int32(i%4), 0, h.clk.Now().Add(time.Duration(1+i%3)*time.Second)), nil))
	}
	var wg sync.WaitGroup
	wg.Add(4)
	go func() {
		defer wg.Done()
		for q := range int32(4) {
			h.s.OnDispatch(Key{"T", q}, 0, 0)
		}
	}()
	go func() {
		defer wg.Done()
		for q := range int32(4) {
			h.s.WakeQueue(Key{"T", q}, 1)
		}
	}()
	go func() { defer wg.Done(); h.clk.Advance(2 * time.Second) }()
	go func() { defer wg.Done(); h.s.WakeAll() }()
	closed := h.s.Close()
	wg.Wait()
	h.waitRan(t, n)
	seen := map[*Pull]int{}
	h.mu.Lock()
	for _, p := range h.ran {
		seen[p]++
	}
	h.mu.Unlock()
	require.Len(t, seen, n)
	for _, c := range seen {
		require.Equal(t, 1, c)
	}
	require.LessOrEqual(t, closed, n)
	require.Zero(t, h.s.Held())
}

func TestServiceDropConn(t *testing.T) {
	h := newHarness(t, 10)
	p := pull("T", 0, 0, h.clk.Now().Add(time.Minute))
	p.ConnID = 7
	require.NoError(t, h.s.Hold(p, nil))
	require.NoError(t, h.s.Hold(pull("T", 0, 0, h.clk.Now().Add(time.Minute)), nil))
	require.Zero(t, h.s.DropConn(8))
	require.Equal(t, 1, h.s.DropConn(7))
	require.Equal(t, 1, h.s.Held())
}
