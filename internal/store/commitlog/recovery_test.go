package commitlog

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/internal/vfs/errorfs"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
)

// TestFaultInjection: a failed write (even ENOSPC: preallocated space makes it
// an I/O error), fsync or segment creation (other than for space or
// descriptors, see TestAllocationFailureHeals) is returned to waiters, leaves
// readable state unchanged, makes the log read-only, and reopening recovers
// every record acknowledged before the failure.
func TestFaultInjection(t *testing.T) {
	cases := []struct {
		name string
		inj  func(sw *errorfs.Switch)
		want error
	}{
		{"write", func(sw *errorfs.Switch) { sw.Set(errorfs.OnNth(errorfs.OpWrite, 1, errorfs.ErrInjected)) }, errorfs.ErrInjected},
		{"write-enospc", func(sw *errorfs.Switch) { sw.Set(errorfs.OnNth(errorfs.OpWrite, 1, syscall.ENOSPC)) }, syscall.ENOSPC},
		{"sync", func(sw *errorfs.Switch) { sw.Set(errorfs.OnNth(errorfs.OpSync, 1, errorfs.ErrInjected)) }, errorfs.ErrInjected},
		{"preallocate-eio", func(sw *errorfs.Switch) { sw.Set(errorfs.FromNth(errorfs.OpPreallocate, 1, syscall.EIO)) }, syscall.EIO},
		{"create", func(sw *errorfs.Switch) { sw.Set(errorfs.FromNth(errorfs.OpCreate, 1, errorfs.ErrInjected)) }, errorfs.ErrInjected},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			mem := vfs.NewMem()
			var sw errorfs.Switch
			fsys := errorfs.Wrap(mem, &sw)
			cfg := Config{Dir: "/cl", SegmentSize: 4096, MaxMessageSize: 2048, FlushMode: FlushSync}
			l := openStarted(t, fsys, cfg, RecoverOptions{})
			acked := map[message.PhysOffset][]byte{}
			for i := range 20 {
				rec := makeRecord(t, i, 200)
				res, err := l.Append(ctx, rec, nil)
				require.NoError(t, err)
				require.NoError(t, l.Sync(ctx, res.End))
				acked[res.Offset] = expected(rec, res.Offset, res.StoreTimestamp, 0)
			}
			before := l.MaxOffset()
			tc.inj(&sw)
			// Keep appending until the fault hits (preallocation/create faults
			// need a roll).
			var failErr error
			for i := 20; i < 200 && failErr == nil; i++ {
				res, err := l.Append(ctx, makeRecord(t, i, 200), nil)
				if err != nil {
					failErr = err
					break
				}
				if err := l.Sync(ctx, res.End); err != nil {
					failErr = err
					break
				}
				before = l.MaxOffset()
			}
			require.Error(t, failErr)
			require.ErrorIs(t, failErr, tc.want)
			require.ErrorIs(t, failErr, ErrReadOnly)
			sw.Set(nil) // the device "recovers"; the log must stay read-only
			_, err := l.Append(ctx, makeRecord(t, 999, 10), nil)
			require.ErrorIs(t, err, ErrReadOnly)
			require.ErrorIs(t, err, tc.want)
			require.LessOrEqual(t, l.MaxOffset(), before+message.PhysOffset(cfg.SegmentSize))
			for off, want := range acked { // earlier data stays readable
				got, err := l.ReadRecord(nil, off)
				require.NoError(t, err)
				require.Equal(t, want, got)
			}
			require.ErrorIs(t, l.Close(), ErrReadOnly)

			l2 := openStarted(t, fsys, cfg, RecoverOptions{})
			defer l2.Close()
			for off, want := range acked {
				got, err := l2.ReadRecord(nil, off)
				require.NoError(t, err)
				require.Equal(t, want, got)
			}
			res, err := l2.Append(ctx, makeRecord(t, 1000, 10), nil)
			require.NoError(t, err)
			require.NoError(t, l2.Sync(ctx, res.End))
		})
	}
}

// TestAllocationFailureHeals: when the next segment cannot be allocated for
// want of space (ENOSPC from preallocation, or too little space reported
// before creating it) or of file descriptors, the log stays writable: records
// that fit in the current segment are accepted, the one that needs the next
// segment fails with ErrNoSegment (never ErrReadOnly), and once the cause is
// gone appends resume by themselves and Close returns nil.
func TestAllocationFailureHeals(t *testing.T) {
	cases := []struct {
		name  string
		fault func(mem *vfs.MemFS, sw *errorfs.Switch)
		clear func(mem *vfs.MemFS, sw *errorfs.Switch)
		want  error
	}{
		{"preallocate-enospc",
			func(_ *vfs.MemFS, sw *errorfs.Switch) {
				sw.Set(errorfs.FromNth(errorfs.OpPreallocate, 1, syscall.ENOSPC))
			},
			func(_ *vfs.MemFS, sw *errorfs.Switch) { sw.Set(nil) }, syscall.ENOSPC},
		{"create-emfile",
			func(_ *vfs.MemFS, sw *errorfs.Switch) { sw.Set(errorfs.FromNth(errorfs.OpCreate, 1, syscall.EMFILE)) },
			func(_ *vfs.MemFS, sw *errorfs.Switch) { sw.Set(nil) }, syscall.EMFILE},
		// The FS reports less space than a segment: it is not even created.
		{"space-check",
			func(mem *vfs.MemFS, _ *errorfs.Switch) { mem.SetCapacity(mem.Used() + 4096 - 1) },
			func(mem *vfs.MemFS, _ *errorfs.Switch) { mem.SetCapacity(0) }, syscall.ENOSPC},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			mem := vfs.NewMem()
			var sw errorfs.Switch
			fsys := errorfs.Wrap(mem, &sw)
			clk := clock.NewManual(time.UnixMilli(1_700_000_000_000))
			cfg := Config{Dir: "/cl", SegmentSize: 4096, MaxMessageSize: 2048, FlushMode: FlushSync, Clock: clk}
			l := openStarted(t, fsys, cfg, RecoverOptions{})
			// The first segment exists; the second is allocated at half of it.
			res, err := l.Append(ctx, makeRecord(t, 0, 200), nil)
			require.NoError(t, err)
			require.NoError(t, l.Sync(ctx, res.End))
			tc.fault(mem, &sw)
			acked := map[message.PhysOffset][]byte{}
			var failErr error
			for i := 1; i < 200 && failErr == nil; i++ {
				rec := makeRecord(t, i, 200)
				res, err := l.Append(ctx, rec, nil)
				if err != nil {
					failErr = err
					break
				}
				require.NoError(t, l.Sync(ctx, res.End))
				acked[res.Offset] = expected(rec, res.Offset, res.StoreTimestamp, 0)
			}
			require.ErrorIs(t, failErr, ErrNoSegment)
			require.ErrorIs(t, failErr, tc.want)
			require.NotErrorIs(t, failErr, ErrReadOnly)
			require.NoError(t, l.Err(), "not sticky")
			require.ErrorIs(t, l.AllocErr(), ErrNoSegment)
			require.NotEmpty(t, acked, "the current segment was still filled")
			// A record that still fits is accepted meanwhile.
			small := makeRecord(t, 500, 1)
			if res, err := l.Append(ctx, small, nil); err == nil {
				require.NoError(t, l.Sync(ctx, res.End))
				acked[res.Offset] = expected(small, res.Offset, res.StoreTimestamp, 0)
			}

			tc.clear(mem, &sw)
			// No retry before allocRetryInterval: the cause may still be there.
			_, err = l.Append(ctx, makeRecord(t, 600, 200), nil)
			require.ErrorIs(t, err, ErrNoSegment)
			clk.Advance(allocRetryInterval)
			var res2 AppendResult
			require.Eventually(t, func() bool {
				res2, err = l.Append(ctx, makeRecord(t, 601, 200), nil)
				return err == nil
			}, 10*time.Second, time.Millisecond, "appends resume by themselves")
			require.NoError(t, l.Sync(ctx, res2.End))
			require.NoError(t, l.AllocErr())
			for off, want := range acked {
				got, err := l.ReadRecord(nil, off)
				require.NoError(t, err)
				require.Equal(t, want, got)
			}
			require.NoError(t, l.Close(), "a clean close after the episode")
			l2 := openStarted(t, mem, cfg, RecoverOptions{})
			defer l2.Close()
			require.Equal(t, res2.End, l2.MaxOffset())
		})
	}
}

// TestAllocationFailureHealsWhileIdle: a failed allocation is retried
// every allocRetryInterval even when nothing is appended, so AllocErr (the
// store's "commitlog" problem, a degraded /readyz) clears once space is back
// without waiting for traffic.
func TestAllocationFailureHealsWhileIdle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mem := vfs.NewMem()
	var sw errorfs.Switch
	clk := clock.NewManual(time.UnixMilli(1_700_000_000_000))
	// Asynchronous flushing, as a broker's default: no Sync wakes the writer.
	cfg := Config{Dir: "/cl", SegmentSize: 4096, MaxMessageSize: 2048, FlushMode: FlushAsync, Clock: clk}
	l := openStarted(t, errorfs.Wrap(mem, &sw), cfg, RecoverOptions{})
	defer l.Close()
	sw.Set(errorfs.FromNth(errorfs.OpPreallocate, 1, syscall.ENOSPC))
	for i := 0; l.AllocErr() == nil && i < 200; i++ {
		_, _ = l.Append(ctx, makeRecord(t, i, 200), nil)
		time.Sleep(time.Millisecond) // let the writer run
	}
	require.ErrorIs(t, l.AllocErr(), ErrNoSegment)

	sw.Set(nil) // space is back; nothing is appended from here on
	require.Eventually(t, func() bool {
		clk.Advance(allocRetryInterval)
		return l.AllocErr() == nil
	}, 10*time.Second, 10*time.Millisecond, "the allocation is retried while idle")
}

// TestCrashRecovery runs random workloads on a crashable MemFS, crashes at a
// random point keeping a random fraction of unsynced writes, and reopens: every
// sync-acknowledged record is present and identical, every visible record is
// one that was appended there (no partial record), and offsets are contiguous.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	s := seed(t)
	rng := rand.New(rand.NewPCG(s, 1))
	iters := 60
	if testing.Short() {
		iters = 10
	}
	for it := range iters {
		ctx := context.Background()
		mem := vfs.NewCrashableMem()
		segSize := []int64{2048, 4096, 1 << 16}[rng.IntN(3)]
		cfg := Config{Dir: "/cl", SegmentSize: segSize, MaxMessageSize: 1024, FlushMode: FlushMode(rng.IntN(2))}
		appended := map[message.PhysOffset][]byte{}
		acked := map[message.PhysOffset]bool{}
		var crashed *vfs.MemFS
		// Up to three crash/reopen cycles on the same data.
		fsys := vfs.FS(mem)
		for cycle := range 3 {
			l := openStarted(t, fsys, cfg, RecoverOptions{})
			n := rng.IntN(120)
			cut := rng.IntN(n + 1)
			frac := rng.Float64()
			var clone *vfs.MemFS
			for i := range n {
				if i == cut {
					clone = fsys.(*vfs.MemFS).CrashClone(vfs.CrashCloneOptions{UnsyncedFraction: frac, Seed: rng.Uint64()})
				}
				rec := makeRecord(t, it*100000+cycle*1000+i, rng.IntN(700))
				res, err := l.Append(ctx, rec, nil)
				require.NoError(t, err)
				appended[res.Offset] = expected(rec, res.Offset, res.StoreTimestamp, 0)
				if rng.IntN(3) == 0 {
					require.NoError(t, l.Sync(ctx, res.End))
					if clone == nil {
						acked[res.Offset] = true
					}
				}
			}
			if clone == nil {
				clone = fsys.(*vfs.MemFS).CrashClone(vfs.CrashCloneOptions{UnsyncedFraction: frac, Seed: rng.Uint64()})
			}
			require.NoError(t, l.Close())
			crashed = clone
			fsys = crashed

			l2, err := Open(fsys, cfg, RecoverOptions{})
			require.NoError(t, err, "iteration %d cycle %d", it, cycle)
			offs, recs := scanAll(t, l2)
			seen := map[message.PhysOffset]bool{}
			for i, off := range offs {
				want, ok := appended[off]
				require.True(t, ok, "record at %d was never appended", off)
				require.Equal(t, want, recs[i], "partial or altered record at %d", off)
				seen[off] = true
				if i > 0 {
					prevEnd := offs[i-1] + message.PhysOffset(len(recs[i-1]))
					require.True(t, off == prevEnd || (off%message.PhysOffset(segSize) == 0 && off-prevEnd < message.PhysOffset(segSize)),
						"gap between %d and %d", prevEnd, off)
				}
			}
			for off := range acked {
				require.True(t, seen[off], "acknowledged record at %d lost (iteration %d cycle %d)", off, it, cycle)
			}
			// Forget what did not survive: later cycles may reuse those offsets.
			for off := range appended {
				if !seen[off] {
					delete(appended, off)
				}
			}
			require.NoError(t, l2.Close())
		}
	}
}

// segmentBytes returns the content of the segment at base.
func segmentBytes(t *testing.T, fsys vfs.FS, cfg Config, base message.PhysOffset) []byte {
	b, err := vfs.ReadFile(fsys, fsys.PathJoin(cfg.Dir, SegmentName(base)))
	require.NoError(t, err)
	return b
}

// memWith returns a MemFS holding one segment file with data.
func memWith(t *testing.T, cfg Config, base message.PhysOffset, data []byte) *vfs.MemFS {
	m := vfs.NewMem()
	require.NoError(t, m.MkdirAll(cfg.Dir, 0o755))
	f, err := m.Create(m.PathJoin(cfg.Dir, SegmentName(base)))
	require.NoError(t, err)
	_, err = f.Write(data)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return m
}

func writeRecords(t *testing.T, cfg Config, n int) (*vfs.MemFS, []message.PhysOffset, [][]byte) {
	ctx := context.Background()
	mem := vfs.NewMem()
	l := openStarted(t, mem, cfg, RecoverOptions{})
	var offs []message.PhysOffset
	var recs [][]byte
	for i := range n {
		rec := makeRecord(t, i, 50+i*13%300)
		res, err := l.Append(ctx, rec, nil)
		require.NoError(t, err)
		offs = append(offs, res.Offset)
		recs = append(recs, expected(rec, res.Offset, res.StoreTimestamp, 0))
	}
	require.NoError(t, l.Close())
	return mem, offs, recs
}

// TestTornLastRecordEveryByte cuts the last record at every byte (the rest of the
// segment reads as zeros): recovery keeps every earlier record and drops it.
func TestTornLastRecordEveryByte(t *testing.T) {
	t.Parallel()
	cfg := Config{Dir: "/cl", SegmentSize: 1 << 16, MaxMessageSize: 4096}
	mem, offs, recs := writeRecords(t, cfg, 10)
	seg := segmentBytes(t, mem, cfg, 0)
	last := offs[len(offs)-1]
	for cut := range len(recs[len(recs)-1]) {
		data := append([]byte(nil), seg...)
		clear(data[int(last)+cut:])
		l, err := Open(memWith(t, cfg, 0, data), cfg, RecoverOptions{})
		require.NoError(t, err, "cut %d", cut)
		require.Equal(t, last, l.MaxOffset(), "cut %d", cut)
		gotOffs, got := scanAll(t, l)
		require.Equal(t, offs[:len(offs)-1], gotOffs)
		require.Equal(t, recs[:len(recs)-1], got)
		require.NoError(t, l.Close())
	}
	// Garbage (not zeros) after a cut is dropped too, and zeroed so a later
	// append cannot resurrect it.
	data := append([]byte(nil), seg...)
	for i := int(last) + 10; i < len(data); i++ {
		data[i] = 0xEE
	}
	m := memWith(t, cfg, 0, data)
	l := openStarted(t, m, cfg, RecoverOptions{})
	require.Equal(t, last, l.MaxOffset())
	require.NoError(t, l.Close())
	after := segmentBytes(t, m, cfg, 0)
	require.True(t, bytes.Equal(after[last:], make([]byte, len(after)-int(last))))
}

// TestBitFlipMidLog flips a bit inside a record with valid records after it:
// Open refuses with a *CorruptionError; with Repair it truncates there.
func TestBitFlipMidLog(t *testing.T) {
	t.Parallel()
	s := seed(t)
	rng := rand.New(rand.NewPCG(s, 2))
	cfg := Config{Dir: "/cl", SegmentSize: 1 << 16, MaxMessageSize: 4096}
	mem, offs, recs := writeRecords(t, cfg, 30)
	seg := segmentBytes(t, mem, cfg, 0)
	for range 40 {
		k := rng.IntN(len(offs) - 1)
		rec := recs[k]
		// Flip within what the format protects: TOTALSIZE, MAGIC,
		// PHYSICALOFFSET or the body (BODYCRC covers only the body).
		var pos int
		switch rng.IntN(4) {
		case 0:
			pos = rng.IntN(8)
		case 1:
			pos = message.PosPhysOffset + rng.IntN(8)
		default:
			var v message.RecordView
			require.NoError(t, message.ParseRecord(rec, &v))
			pos = 88 + rng.IntN(len(v.Body))
		}
		data := append([]byte(nil), seg...)
		data[int(offs[k])+pos] ^= 1 << rng.IntN(8)
		_, err := Open(memWith(t, cfg, 0, data), cfg, RecoverOptions{})
		var ce *CorruptionError
		require.ErrorAs(t, err, &ce, "record %d byte %d", k, pos)
		require.ErrorIs(t, err, ErrCorrupt)
		require.Equal(t, offs[k], ce.Offset)

		l, err := Open(memWith(t, cfg, 0, data), cfg, RecoverOptions{Repair: true})
		require.NoError(t, err)
		require.Equal(t, offs[k], l.MaxOffset())
		require.NoError(t, l.Close())
	}
}

// TestCorruptEarlierSegment: damage in a segment followed by a valid segment is
// corruption even at the segment's end.
func TestCorruptEarlierSegment(t *testing.T) {
	t.Parallel()
	cfg := Config{Dir: "/cl", SegmentSize: 4096, MaxMessageSize: 2048}
	mem, offs, _ := writeRecords(t, cfg, 40)
	require.Greater(t, offs[len(offs)-1], message.PhysOffset(2*4096))
	// Zero the blank record at the end of the first segment.
	f, err := mem.OpenReadWrite("/cl/" + SegmentName(0))
	require.NoError(t, err)
	var lastInFirst message.PhysOffset
	for _, o := range offs {
		if o < 4096 {
			lastInFirst = o
		}
	}
	_, err = f.WriteAt(make([]byte, 4096-int(lastInFirst)), int64(lastInFirst))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = Open(mem, cfg, RecoverOptions{})
	require.ErrorIs(t, err, ErrCorrupt)
}

func TestRecoverFromOffsetAndNames(t *testing.T) {
	t.Parallel()
	cfg := Config{Dir: "/cl", SegmentSize: 4096, MaxMessageSize: 2048}
	mem, offs, _ := writeRecords(t, cfg, 40)
	from := offs[25]
	var seen []message.PhysOffset
	l, err := Open(mem, cfg, RecoverOptions{From: from, OnRecord: func(off message.PhysOffset, _ []byte) error {
		seen = append(seen, off)
		return nil
	}})
	require.NoError(t, err)
	require.Equal(t, offs[25:], seen)
	require.NoError(t, l.Close())

	stop := errors.New("stop")
	_, err = Open(mem, cfg, RecoverOptions{OnRecord: func(message.PhysOffset, []byte) error { return stop }})
	require.ErrorIs(t, err, stop)

	// A segment name that is not a multiple of the segment size.
	require.NoError(t, vfs.WriteFileAtomic(mem, "/cl/00000000000000000100", nil))
	_, err = Open(mem, cfg, RecoverOptions{})
	require.ErrorIs(t, err, ErrCorrupt)
	require.NoError(t, mem.Remove("/cl/00000000000000000100"))
	// A missing segment in the middle.
	require.NoError(t, mem.Remove("/cl/"+SegmentName(4096)))
	_, err = Open(mem, cfg, RecoverOptions{})
	require.ErrorIs(t, err, ErrCorrupt)
}
