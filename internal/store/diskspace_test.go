package store_test

import (
	"context"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/internal/store/storetest"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/internal/vfs/errorfs"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
)

// fakeDisk is a MemFS whose statfs figures the test sets: a disk of total
// bytes with reserved blocks, holding the store's files (MemFS's usage) plus
// other bytes that something else wrote. The consume-queue directory can be
// given a disk of its own with a fixed used ratio.
type fakeDisk struct {
	*vfs.MemFS
	mu       sync.Mutex
	total    int64
	reserved int64
	other    int64
	cqRatio  float64 // > 0: the consume-queue directory is on a disk this full
}

var _ vfs.DiskUsage = (*fakeDisk)(nil)

func newFakeDisk(total, reserved int64) *fakeDisk {
	return &fakeDisk{MemFS: vfs.NewMem(), total: total, reserved: reserved}
}

func (f *fakeDisk) Space(path string) (vfs.Space, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cqRatio > 0 && strings.Contains(path, "consumequeue") {
		const total = 1 << 30
		used := uint64(f.cqRatio * total)
		return vfs.Space{Total: total, Free: total - used, Avail: total - used}, nil
	}
	used := f.MemFS.Used() + f.other
	free := max(f.total-used, 0)
	return vfs.Space{Total: uint64(f.total), Free: uint64(free), Avail: uint64(max(free-f.reserved, 0))}, nil
}

// setRatio makes the disk ratio used ÷ (used + available) r, as df shows it,
// by what "others" use.
func (f *fakeDisk) setRatio(r float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.other = int64(r*float64(f.total-f.reserved)) - f.MemFS.Used()
}

// progressOf is a ConsumerProgress with fixed committed offsets.
type progressOf map[string]map[string]message.QueueOffset // topic/queue -> group -> offset

func (p progressOf) CommittedOffsets(topic string, queueID int32) map[string]message.QueueOffset {
	return p[topic+"/"+string(rune('0'+queueID))]
}

func jsonLogger(b *syncBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestReservedBlocksAreNotUsed: on a disk with half its blocks reserved for
// root (mkfs.ext4 -m 50) that df shows 72% used, the store neither deletes
// unexpired data nor refuses messages. Counting reserved blocks as used, as
// (f_blocks - f_bavail) / f_blocks does, would say 86%.
func TestReservedBlocksAreNotUsed(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)
	clk := clock.NewManual(t0)
	disk := newFakeDisk(10<<20, 5<<20)
	disk.SetClock(clk.Now)
	cfg := testConfig("/store", store.SyncFlush, 64<<10)
	cfg.DeleteWhen = []int{4}
	s := openStarted(t, disk, cfg, clk)
	defer func() { require.NoError(t, s.Close()) }()
	for i := range 200 {
		storetest.Put(t, s, storetest.Msg("Res", 0, i, 2000))
	}
	storetest.WaitDispatched(t, s, "Res", 0, 200)
	disk.setRatio(0.72)
	sp, err := disk.Space("/store/commitlog")
	require.NoError(t, err)
	require.Greater(t, float64(sp.Total-sp.Avail)/float64(sp.Total), 0.85, "the old formula's figure")
	segs := s.Stats().CommitLogSegments
	s.CleanForTest()
	st := s.Stats()
	require.InDelta(t, 0.72, st.DiskUsedRatio, 0.01)
	require.Equal(t, segs, st.CommitLogSegments, "nothing deleted")
	require.Empty(t, st.Problems)
	storetest.Put(t, s, storetest.Msg("Res", 0, 200, 10))
}

// TestRetentionThresholds walks RocketMQ 4.9's three disk thresholds:
// above diskMaxUsedSpaceRatio (75%) expired segments go at any hour, unexpired
// ones stay; above diskSpaceCleanForciblyRatio (85%) the oldest go whatever
// their age, until the disk is below it, each logged at ERROR with what it
// held per consumer group; above diskSpaceWarningLevelRatio (90%) puts are
// refused, and accepted again by themselves once space is back.
func TestRetentionThresholds(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2024, 3, 5, 1, 30, 0, 0, time.UTC)
	clk := clock.NewManual(t0)
	disk := newFakeDisk(4<<20, 0)
	disk.SetClock(clk.Now)
	cfg := testConfig("/store", store.SyncFlush, 64<<10)
	cfg.DeleteWhen = []int{12} // never reached
	var logs syncBuffer
	s, err := store.Open(disk, cfg, jsonLogger(&logs), clk)
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	defer func() { require.NoError(t, s.Close()) }()
	s.SetConsumerProgress(progressOf{"Pol/0": {"behind": 0, "done": 1 << 40}})

	for i := range 100 { // three full segments that will expire
		storetest.Put(t, s, storetest.Msg("Pol", 0, i, 2000))
	}
	clk.Set(t0.Add(73 * time.Hour))
	for i := 100; i < 200; i++ {
		storetest.Put(t, s, storetest.Msg("Pol", 0, i, 2000))
	}
	storetest.WaitDispatched(t, s, "Pol", 0, 200)
	segs := s.Stats().CommitLogSegments
	require.GreaterOrEqual(t, segs, 7)

	// 70%: nothing to do outside deleteWhen.
	disk.setRatio(0.70)
	s.CleanForTest()
	require.Equal(t, segs, s.Stats().CommitLogSegments)

	// 80%: the expired segments go early; the others stay.
	disk.setRatio(0.80)
	s.CleanForTest()
	st := s.Stats()
	require.Equal(t, segs-3, st.CommitLogSegments, "the three expired segments")
	require.Zero(t, st.SegmentsDeletedUnexpired)
	require.NotContains(t, logs.String(), `"level":"ERROR"`)
	segs = st.CommitLogSegments
	minBefore := s.MinOffsetInQueue("Pol", 0)

	// 87%: unexpired segments go, oldest first, until the disk is below 85%.
	disk.setRatio(0.87)
	s.CleanForTest()
	st = s.Stats()
	deleted := segs - st.CommitLogSegments
	require.Positive(t, deleted)
	require.Greater(t, st.CommitLogSegments, 1)
	require.LessOrEqual(t, st.DiskUsedRatio, 0.85)
	require.EqualValues(t, deleted, st.SegmentsDeletedUnexpired)
	lost := int64(s.MinOffsetInQueue("Pol", 0) - minBefore)
	require.Equal(t, lost, st.MessagesDeletedUnexpired)
	var errLines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `"level":"ERROR"`) {
			errLines = append(errLines, l)
		}
	}
	require.Len(t, errLines, deleted, "one ERROR line per segment deleted before its time")
	require.Contains(t, errLines[0], "before its retention time")
	require.Contains(t, errLines[0], `"segment":"/store/commitlog/`)
	require.Contains(t, errLines[0], `"first_message":"2024-03-`)
	require.Contains(t, errLines[0], `"last_message":"2024-03-`)
	require.Contains(t, errLines[0], `"unconsumed":"behind=`)
	require.NotContains(t, errLines[0], "done=", "a group past the segment lost nothing")

	// 92%: puts are refused, with the reason, and the store says so.
	disk.setRatio(0.92)
	s.CheckDiskForTest()
	_, err = storetest.PutErr(s, storetest.Msg("Pol", 0, 300, 10))
	require.ErrorIs(t, err, store.ErrDiskFull)
	require.Contains(t, err.Error(), "diskSpaceWarningLevelRatio 90%")
	st = s.Stats()
	require.True(t, st.Degraded())
	require.Equal(t, "disk", st.Problems[0].What)
	// Space comes back: a refused put has the disk measured again, and puts
	// are accepted without a retention pass or a restart.
	disk.setRatio(0.50)
	clk.Advance(time.Second)
	storetest.WaitFor(t, 10*time.Second, func() bool {
		_, err := storetest.PutErr(s, storetest.Msg("Pol", 0, 301, 10))
		return err == nil
	})
	require.Empty(t, s.Stats().Problems)
}

// TestConsumeQueueDiskMeasuredToo: the consume queues may live on another
// disk; it is measured on its own and can trip the guard alone.
func TestConsumeQueueDiskMeasuredToo(t *testing.T) {
	t.Parallel()
	disk := newFakeDisk(1<<30, 0)
	cfg := testConfig("/store", store.AsyncFlush, 64<<10)
	s := openStarted(t, disk, cfg, nil)
	defer func() { require.NoError(t, s.Close()) }()
	storetest.Put(t, s, storetest.Msg("Cq", 0, 0, 10))
	disk.mu.Lock()
	disk.cqRatio = 0.95
	disk.mu.Unlock()
	s.CheckDiskForTest()
	st := s.Stats()
	require.InDelta(t, 0.95, st.ConsumeQueueDiskUsedRatio, 0.001)
	require.Less(t, st.DiskUsedRatio, 0.01)
	_, err := storetest.PutErr(s, storetest.Msg("Cq", 0, 1, 10))
	require.ErrorIs(t, err, store.ErrDiskFull)
	require.Contains(t, err.Error(), "/store/consumequeue")
	disk.mu.Lock()
	disk.cqRatio = 0.10
	disk.mu.Unlock()
	s.CheckDiskForTest()
	storetest.Put(t, s, storetest.Msg("Cq", 0, 1, 10))
}

// TestSegmentAllocationENOSPC: when the commit log cannot preallocate its next
// segment (ENOSPC injected), puts that need it are refused with ErrDiskFull,
// never ErrNotWritable; once space is back they are accepted again without a
// restart, and Close is clean and removes the abort marker.
func TestSegmentAllocationENOSPC(t *testing.T) {
	t.Parallel()
	mem := vfs.NewMem()
	var sw errorfs.Switch
	fsys := errorfs.Wrap(mem, &sw)
	clk := clock.NewManual(time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC))
	cfg := testConfig("/store", store.AsyncFlush, 16<<10)
	s := openStarted(t, fsys, cfg, clk)
	storetest.Put(t, s, storetest.Msg("A", 0, 0, 500))
	sw.Set(errorfs.If(func(op errorfs.Op, path string) bool {
		return op == errorfs.OpPreallocate && strings.Contains(path, "/commitlog/")
	}, syscall.ENOSPC))
	var err error
	n := 1
	for ; n < 200; n++ {
		if _, err = storetest.PutErr(s, storetest.Msg("A", 0, n, 500)); err != nil {
			break
		}
	}
	require.ErrorIs(t, err, store.ErrDiskFull)
	require.NotErrorIs(t, err, store.ErrNotWritable)
	require.True(t, hasProblem(s, "commitlog"))
	sw.Set(nil)
	clk.Advance(time.Second) // the commit log retries at most every second
	storetest.WaitFor(t, 60*time.Second, func() bool {
		_, err := storetest.PutErr(s, storetest.Msg("A", 0, n, 500))
		return err == nil
	})
	storetest.WaitDispatched(t, s, "A", 0, message.QueueOffset(n+1))
	require.Len(t, storetest.GetAll(t, s, "A", 0, 0), n+1)
	require.False(t, s.Stats().Degraded())
	require.NoError(t, s.Close())
	_, err = mem.Stat("/store/abort")
	require.ErrorIs(t, err, fs.ErrNotExist)
}
