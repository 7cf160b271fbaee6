package broker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/stretchr/testify/require"
)

// holdHarness runs a holdService on a manual clock and records what it re-runs.
type holdHarness struct {
	s   *holdService
	clk *clock.Manual
	mu  sync.Mutex
	ran []*protocol.Command
}

func newHoldHarness(t *testing.T, max int) *holdHarness {
	h := &holdHarness{clk: clock.NewManual(time.Unix(1000, 0))}
	h.s = newHoldService(h.clk, max, func(_ context.Context, p *heldPull) {
		h.mu.Lock()
		h.ran = append(h.ran, p.req)
		h.mu.Unlock()
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); h.s.sweeper(ctx) }()
	go func() { defer wg.Done(); h.s.runner(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return h
}

func (h *holdHarness) ranCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ran)
}

func waitUntil(t *testing.T, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestHoldWakesOnMatchingDispatchOnly(t *testing.T) {
	t.Parallel()
	h := newHoldHarness(t, 10)
	f, err := buildFilter("TagA", "TAG")
	require.NoError(t, err)
	req := protocol.NewRequest(protocol.PullMessage, nil)
	require.NoError(t, h.s.hold(nil, req, "T", 0, 5, f, h.clk.Now().Add(20*time.Second)))
	require.Equal(t, 1, h.s.held())

	// Other queue, older offset, other tag: still held.
	h.s.onDispatch(store.DispatchEvent{Topic: "T", QueueID: 1, QueueOffset: 5, TagsCode: message.TagsHashCode("TagA")})
	h.s.onDispatch(store.DispatchEvent{Topic: "T", QueueID: 0, QueueOffset: 4, TagsCode: message.TagsHashCode("TagA")})
	h.s.onDispatch(store.DispatchEvent{Topic: "T", QueueID: 0, QueueOffset: 5, TagsCode: message.TagsHashCode("TagB")})
	require.Equal(t, 1, h.s.held())
	require.Equal(t, 0, h.ranCount())

	h.s.onDispatch(store.DispatchEvent{Topic: "T", QueueID: 0, QueueOffset: 6, TagsCode: message.TagsHashCode("TagA")})
	waitUntil(t, func() bool { return h.ranCount() == 1 })
	require.Equal(t, 0, h.s.held())
}

func TestHoldExpiresAtDeadline(t *testing.T) {
	t.Parallel()
	h := newHoldHarness(t, 10)
	for i, d := range []time.Duration{3 * time.Second, time.Second, 2 * time.Second} {
		req := protocol.NewRequest(protocol.PullMessage, map[string]string{"i": string(rune('0' + i))})
		require.NoError(t, h.s.hold(nil, req, "T", 0, 0, matchAll, h.clk.Now().Add(d)))
	}
	h.clk.Advance(999 * time.Millisecond)
	require.Equal(t, 3, h.s.held())
	h.clk.Advance(time.Millisecond)
	waitUntil(t, func() bool { return h.ranCount() == 1 })
	h.clk.Advance(2 * time.Second)
	waitUntil(t, func() bool { return h.ranCount() == 3 })
	require.Equal(t, 0, h.s.held())
	require.Equal(t, "1", h.ran[0].Ext("i"))
}

func TestHoldBoundAndClose(t *testing.T) {
	t.Parallel()
	h := newHoldHarness(t, 2)
	for range 2 {
		require.NoError(t, h.s.hold(nil, protocol.NewRequest(protocol.PullMessage, nil), "T", 0, 0, matchAll, h.clk.Now().Add(time.Minute)))
	}
	require.ErrorIs(t, h.s.hold(nil, protocol.NewRequest(protocol.PullMessage, nil), "T", 0, 0, matchAll, h.clk.Now().Add(time.Minute)), errHoldsFull)
	require.Equal(t, 2, h.s.close())
	require.Equal(t, 2, h.ranCount())
	require.ErrorIs(t, h.s.hold(nil, protocol.NewRequest(protocol.PullMessage, nil), "T", 0, 0, matchAll, h.clk.Now().Add(time.Minute)), errHoldsClosed)
}

func TestWakeQueueIgnoresFilter(t *testing.T) {
	t.Parallel()
	h := newHoldHarness(t, 10)
	f, _ := buildFilter("TagA", "TAG")
	require.NoError(t, h.s.hold(nil, protocol.NewRequest(protocol.PullMessage, nil), "T", 0, 3, f, h.clk.Now().Add(time.Minute)))
	h.s.wakeQueue("T", 0, 3)
	require.Equal(t, 1, h.s.held())
	h.s.wakeQueue("T", 0, 4)
	waitUntil(t, func() bool { return h.ranCount() == 1 })
}

// TestHoldAnsweredExactlyOnce races wake-ups (dispatch and wakeQueue), the
// deadline and close over many held pulls: each is re-run exactly once and
// nothing is left held or keyed.
func TestHoldAnsweredExactlyOnce(t *testing.T) {
	t.Parallel()
	const n = 200
	h := newHoldHarness(t, n)
	reqs := make([]*protocol.Command, n)
	for i := range n {
		reqs[i] = protocol.NewRequest(protocol.PullMessage, nil)
		q := int32(i % 4)
		require.NoError(t, h.s.hold(nil, reqs[i], "T", q, 0, matchAll, h.clk.Now().Add(time.Duration(1+i%3)*time.Second)))
	}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		for q := range int32(4) {
			h.s.onDispatch(store.DispatchEvent{Topic: "T", QueueID: q, QueueOffset: 0})
		}
	}()
	go func() {
		defer wg.Done()
		for q := range int32(4) {
			h.s.wakeQueue("T", q, 1)
		}
	}()
	go func() {
		defer wg.Done()
		h.clk.Advance(2 * time.Second)
	}()
	closed := h.s.close()
	wg.Wait()
	waitUntil(t, func() bool { return h.ranCount() >= n })
	h.mu.Lock()
	seen := map[*protocol.Command]int{}
	for _, r := range h.ran {
		seen[r]++
	}
	h.mu.Unlock()
	require.Len(t, seen, n)
	for _, c := range seen {
		require.Equal(t, 1, c)
	}
	require.LessOrEqual(t, closed, n)
	require.Equal(t, 0, h.s.held())
	h.s.mu.Lock()
	require.Empty(t, h.s.byKey, "no per-key state once nothing is held")
	h.s.mu.Unlock()
}

func TestHoldDropConnForgetsOnlyThatConnection(t *testing.T) {
	t.Parallel()
	h := newHoldHarness(t, 10)
	f, err := buildFilter("*", "TAG")
	require.NoError(t, err)
	deadline := h.clk.Now().Add(time.Minute)
	require.NoError(t, h.s.hold(nil, protocol.NewRequest(11, nil), "T", 0, 0, f, deadline))
	require.Equal(t, 1, h.s.held())
	require.Zero(t, h.s.dropConn(7), "a connection with nothing held")
	require.Equal(t, 1, h.s.held(), "pulls without a connection are not anyone's")
}
