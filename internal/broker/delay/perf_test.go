package delay

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/petrelmq/petrel/internal/broker/meta"
	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/internal/store/timer"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/stretchr/testify/require"
)

// The measurements of docs/perf.md ("Delay and timer messages"). They take
// tens of seconds and run only with PETREL_PERF=1:
//
//	PETREL_PERF=1 go test ./internal/broker/delay -run 'TestPerf' -count=1 -v

func skipUnlessPerf(t *testing.T) {
	if os.Getenv("PETREL_PERF") == "" || testing.Short() {
		t.Skip("a measurement: set PETREL_PERF=1")
	}
}

// TestPerfDelayLateness sends 2,000 level-1/level-2 messages spread over 2 s
// through the send path and measures, in-process via a dispatch listener on
// the real topic, lateness = dispatch time - (schedule store time + delay).
func TestPerfDelayLateness(t *testing.T) {
	skipUnlessPerf(t)
	scfg := store.DefaultConfig()
	scfg.RootDir = t.TempDir()
	scfg.MessageDelayLevel = "1s 2s"
	st, err := store.Open(vfs.OS, scfg, nil, clock.Real{})
	require.NoError(t, err)
	defer st.Close()
	svc, err := Open(st, st.Timer(), Config{Levels: scfg.MessageDelayLevel, FlushInterval: 10 * time.Second,
		TimerMaxDelay: 72 * time.Hour, Deliver: true}, clock.Real{}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer svc.Close()

	const n = 2000
	var mu sync.Mutex
	due := map[string]int64{}
	var late []time.Duration
	done := make(chan struct{})
	dq := store.NewDispatchQueue(store.DefaultDispatchQueueSize)
	st.AddDispatchQueue(dq)
	require.NoError(t, st.Start(context.Background()))
	require.NoError(t, svc.Start(context.Background()))
	go func() {
		for {
			select {
			case <-done:
				return
			case <-dq.Ready():
			}
			evs, _ := dq.Drain(nil)
			now := time.Now().UnixMilli()
			for _, ev := range evs {
				if ev.Topic != "Perf" {
					continue
				}
				rec, err := st.LookMessageByOffset(ev.PhysOffset, nil)
				if err != nil {
					t.Error(err)
					return
				}
				var v message.RecordView
				if err := message.ParseRecord(rec, &v); err != nil {
					t.Error(err)
					return
				}
				key, _ := message.LookupProperty(v.Properties, message.PropertyUniqKey)
				mu.Lock()
				late = append(late, time.Duration(now-due[string(key)])*time.Millisecond)
				if len(late) == n {
					close(done)
				}
				mu.Unlock()
			}
		}
	}()
	for i := range n {
		lvl := 1 + i%2
		key := strconv.Itoa(i)
		msg := &message.MessageExt{Message: message.Message{Topic: "Perf", Body: []byte("x"),
			Properties: map[string]string{"DELAY": strconv.Itoa(lvl), message.PropertyUniqKey: key}}}
		require.Empty(t, svc.Prepare(msg))
		mu.Lock()
		due[key] = 1 << 62 // until the put returns its store time
		mu.Unlock()
		res, err := store.PutWait(context.Background(), st, msg)
		require.NoError(t, err)
		mu.Lock()
		due[key] = res.StoreTimestamp + int64(lvl)*1000
		mu.Unlock()
		time.Sleep(time.Millisecond) // spread the send times over ~2 s
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("not all delivered")
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(late)
	q := func(p float64) time.Duration { return late[int(p*float64(len(late)-1))] }
	t.Logf("delay lateness over %d messages: p50 %v, p99 %v, max %v, min %v", n, q(0.5), q(0.99), late[len(late)-1], late[0])
	require.LessOrEqual(t, q(0.99), 100*time.Millisecond)
}

// TestPerfMillionTimers parks one million timer messages (bodies in the
// commit log, due over three days) and indexes them in the timer log, then
// reports the heap the timer log holds and its bytes on disk, and the time to
// reopen (rebuild) it.
func TestPerfMillionTimers(t *testing.T) {
	skipUnlessPerf(t)
	const n = 1_000_000
	dir := t.TempDir()
	scfg := store.DefaultConfig()
	scfg.RootDir = dir
	st, err := store.Open(vfs.OS, scfg, nil, clock.Real{})
	require.NoError(t, err)
	require.NoError(t, st.Start(context.Background()))
	defer st.Close()

	now := time.Now().UnixMilli()
	span := int64(72 * time.Hour / time.Millisecond)
	recs := make([]timer.Record, n)
	ats := make([]int64, n)
	q := store.NewCompletions()
	start := time.Now()
	for i := range n {
		at := now + 1000 + int64(i)*span/n
		msg := &message.MessageExt{Message: message.Message{Topic: meta.TopicTimer, Body: make([]byte, 100),
			Properties: map[string]string{message.PropertyRealTopic: "Perf", message.PropertyRealQueueID: "0",
				propertyTimerOutMS: strconv.FormatInt(at, 10)}}}
		st.Put([]*message.MessageExt{msg}, q, i)
		ats[i] = at
	}
	for range n {
		c, _ := q.Next(context.Background())
		require.NoError(t, c.Err)
		i := c.Tag.(int)
		recs[i] = timer.Record{DeliverAt: ats[i], Phys: c.Result.PhysOffset, Size: int32(c.Result.Size)}
	}
	putTime := time.Since(start)

	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	tcfg := timer.Config{Dir: filepath.Join(dir, "timerlog-perf"), Precision: time.Second}
	tl, err := timer.Open(vfs.OS, tcfg)
	require.NoError(t, err)
	start = time.Now()
	for i := 0; i < n; i += 1000 {
		require.NoError(t, tl.Add(recs[i:i+1000], int64(i+1000)))
	}
	addTime := time.Since(start)
	require.NoError(t, tl.Sync())
	stats := tl.Stats()
	require.Equal(t, int64(n), stats.Pending)
	require.NoError(t, tl.Close())
	recs = nil

	// The heap the reopened log holds for one million pending timers.
	before := heap()
	start = time.Now()
	tl, err = timer.Open(vfs.OS, tcfg)
	require.NoError(t, err)
	reopen := time.Since(start)
	after := heap()
	require.Equal(t, int64(n), tl.Stats().Pending)
	require.NoError(t, tl.Close())

	clog := int64(st.Stats().CommitLogMaxOffset)
	t.Logf("%d pending timers: commit-log puts %v, timer-log adds %v; timer-log heap %s over %d buckets; "+
		"timer log on disk %s; commit log written %s; reopen (rebuild) %v",
		n, putTime.Round(time.Millisecond), addTime.Round(time.Millisecond), mib(int64(after)-int64(before)),
		stats.Buckets, mib(stats.DiskBytes), mib(clog), reopen.Round(time.Millisecond))
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
