package consumequeue

import (
	"flag"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/vfs"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomised tests (0: time-based)")

func testSeed(t *testing.T) uint64 {
	s := *seedFlag
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed=%d)", s, s)
	return s
}

// TestCrashAfterFlush runs random appends, flushes, truncations and retention on a
// crashable MemFS, crashes it at random points keeping a random part of the unsynced
// writes, and reopens: everything flushed is there, and the queue is an exact,
// contiguous prefix of what was appended (no torn or stale entry is visible).
func TestCrashAfterFlush(t *testing.T) {
	t.Parallel()
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	cfg := Config{EntriesPerFile: 16, WriteBufferEntries: 5}
	for round := 0; round < 60; round++ {
		fsys := vfs.NewCrashableMem()
		dir := "/store/consumequeue/T/0"
		q, err := Open(fsys, dir, cfg)
		require.NoError(t, err)
		// durable: MaxOffset at the last Flush; durableMin: MinOffset then.
		var durable, durableMin queueOffset
		steps := 20 + rng.IntN(200)
		for i := 0; i < steps; i++ {
			next := q.MaxOffset()
			r := rng.IntN(100)
			// Recovery scans the last three files (as RocketMQ): it relies on
			// fewer than two files of entries being appended between flushes.
			if next-durable >= queueOffset(2*cfg.EntriesPerFile-1) {
				r = 90
			}
			switch {
			case r < 85:
				e := entryAt(next)
				require.NoError(t, q.Append(next, e.Phys, e.Size, e.TagsCode))
			case r < 95:
				require.NoError(t, q.Flush())
				durable, durableMin = next, q.MinOffset()
			case r < 98:
				cut := queueOffset(rng.Int64N(int64(next) + 1))
				require.NoError(t, q.TruncateTo(entryAt(cut).Phys))
				require.NoError(t, q.Flush())
				durable, durableMin = q.MaxOffset(), q.MinOffset()
			default:
				del := queueOffset(rng.Int64N(int64(next) + 1))
				_, err := q.DeleteBelow(entryAt(del).Phys)
				require.NoError(t, err)
				require.NoError(t, q.Flush())
				durable, durableMin = next, q.MinOffset()
			}
		}
		next := q.MaxOffset()
		crashed := fsys.CrashClone(vfs.CrashCloneOptions{UnsyncedFraction: rng.Float64(), Seed: rng.Uint64()})
		q2, err := Open(crashed, dir, cfg)
		require.NoError(t, err, "round %d", round)
		lo, hi := q2.MinOffset(), q2.MaxOffset()
		if durable > durableMin {
			// Flushed entries are all there. (A queue with no entry may come back
			// fresh: with no file left, it has nothing to remember its offset by,
			// as in RocketMQ.)
			require.GreaterOrEqual(t, hi, durable, "round %d: flushed entries lost", round)
			require.LessOrEqual(t, lo, durableMin, "round %d: flushed entries lost", round)
		}
		require.LessOrEqual(t, hi, next, "round %d: entries past what was appended", round)
		for off := lo; off < hi; off++ {
			got, err := q2.Get(off)
			require.NoError(t, err)
			require.Equal(t, entryAt(off), got, "round %d offset %d", round, off)
		}
		require.NoError(t, q2.Close())
		require.NoError(t, q.Close())
	}
}

// Regression: an entry whose first bytes (phys) were lost in a crash while the
// page with its size and tags code survived looked valid, so recovery kept it
// (and the entries after it) with a wrong phys; the store then served the wrong
// bytes. Recovery now also ends the queue at an entry that points below the end
// of the previous one.
func TestOpenEndsAtTornPhys(t *testing.T) {
	t.Parallel()
	fsys := vfs.NewMem()
	cfg := Config{EntriesPerFile: 64, WriteBufferEntries: 4}
	q, err := Open(fsys, "/cq/T/0", cfg)
	require.NoError(t, err)
	for i := range 10 {
		require.NoError(t, q.Append(queueOffset(i), physOffset(1000+100*i), 100, int64(i)))
	}
	require.NoError(t, q.Close())
	// Entry 6 loses its phys (now 0x00..ff of the low byte only); size and tags stay.
	f, err := fsys.OpenReadWrite("/cq/T/0/" + fileName(0))
	require.NoError(t, err)
	_, err = f.WriteAt(make([]byte, 7), 6*EntrySize)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	q, err = Open(fsys, "/cq/T/0", cfg)
	require.NoError(t, err)
	defer q.Close()
	require.Equal(t, queueOffset(6), q.MaxOffset())
	require.Equal(t, physOffset(1000+100*5+100), q.MaxPhysOffset())
	_, err = q.Get(6)
	require.ErrorIs(t, err, ErrOffsetOverflow)
}
