package delay

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/stretchr/testify/require"
)

// TestSchedulerManualClock drives the scheduler over a MemFS store with a
// manual clock: nothing is delivered before its level's delay, a new earlier
// head wakes the sleeping scheduler, and the offsets are persisted on stop.
func TestSchedulerManualClock(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_000)
	clk := clock.NewManual(t0)
	cfg := store.DefaultConfig()
	cfg.RootDir = "/store"
	cfg.CommitLogSegmentSize = 8 << 20
	cfg.MessageDelayLevel = "1s 5s"
	st, err := store.Open(vfs.NewMem(), cfg, nil, clk)
	require.NoError(t, err)
	require.NoError(t, st.Start(context.Background()))
	defer st.Close()
	delays, err := store.ParseDelayLevels(cfg.MessageDelayLevel)
	require.NoError(t, err)
	s := newScheduler(st, st, clk, slog.New(slog.DiscardHandler), delays, time.Minute)
	dq := store.NewDispatchQueue(store.DefaultDispatchQueueSize)
	st.AddDispatchQueue(dq)
	fwdCtx, stopFwd := context.WithCancel(context.Background())
	fwdDone := make(chan struct{})
	go func() { // the broker's dispatch goroutine, reduced to this listener
		defer close(fwdDone)
		for {
			select {
			case <-fwdCtx.Done():
				return
			case <-dq.Ready():
				evs, _ := dq.Drain(nil)
				for _, ev := range evs {
					s.onDispatch(ev)
				}
			}
		}
	}()
	defer func() { stopFwd(); <-fwdDone }()

	b := &Service{levels: delays}
	put := func(level int, body string) {
		t.Helper()
		msg := &message.MessageExt{Message: message.Message{Topic: "Real", Body: []byte(body),
			Properties: map[string]string{"TAGS": "A"}}, QueueID: 0}
		b.ParkLevel(msg, level)
		_, err := store.PutWait(context.Background(), st, msg)
		require.NoError(t, err)
	}
	realCount := func() int64 { return int64(st.MaxOffsetInQueue("Real", 0)) }

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.run(ctx) }()

	// The scheduler may arm its timer before or after an Advance: it computes
	// the wait from clk.Now(), so no synchronisation with it is needed.
	put(2, "five") // stored at t0, due t0+5s
	clk.Advance(time.Second)
	put(1, "one") // stored at t0+1s, due t0+2s: a new earliest head wakes the scheduler
	clk.Advance(999 * time.Millisecond)
	require.Never(t, func() bool { return realCount() > 0 }, 50*time.Millisecond, 5*time.Millisecond)
	clk.Advance(time.Millisecond)
	require.Eventually(t, func() bool { return realCount() == 1 }, 5*time.Second, 2*time.Millisecond)
	require.Never(t, func() bool { return realCount() > 1 }, 50*time.Millisecond, 5*time.Millisecond)
	clk.Advance(3 * time.Second)
	require.Eventually(t, func() bool { return realCount() == 2 }, 5*time.Second, 2*time.Millisecond)

	put(1, "later")
	require.Never(t, func() bool { return realCount() > 2 }, 50*time.Millisecond, 5*time.Millisecond)
	clk.Advance(time.Second)
	require.Eventually(t, func() bool { return realCount() == 3 }, 5*time.Second, 2*time.Millisecond)

	cancel()
	wg.Wait()
	require.NoError(t, s.persist())
	data, err := st.LoadConfig(delayOffsetFileName)
	require.NoError(t, err)
	var f delayOffsetFile
	require.NoError(t, json.Unmarshal(data, &f))
	require.Equal(t, map[int]int64{1: 2, 2: 1}, f.OffsetTable)

	// A new scheduler resumes from the file and delivers nothing again.
	s2 := newScheduler(st, st, clk, slog.New(slog.DiscardHandler), delays, time.Minute)
	require.NoError(t, s2.load())
	require.Equal(t, int64(2), s2.offset(0))
	require.Equal(t, noneDue, s2.deliverLevel(ctx2(t), 0, clk.Now().UnixMilli()))
	require.Equal(t, int64(3), realCount())
}

func ctx2(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}
