package timer_test

import (
	"math"
	"testing"
	"time"

	"github.com/petrelmq/petrel/internal/store/timer"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/stretchr/testify/require"
)

func open(t *testing.T, fs vfs.FS, seg int64) *timer.Log {
	t.Helper()
	l, err := timer.Open(fs, timer.Config{Dir: "/timer", Precision: time.Second, SegmentSize: seg})
	require.NoError(t, err)
	return l
}

func rec(at int64, phys int) timer.Record {
	return timer.Record{DeliverAt: at, Phys: message.PhysOffset(phys), Size: 100}
}

func claimAll(t *testing.T, l *timer.Log, now int64) map[int64][]int64 {
	t.Helper()
	out := map[int64][]int64{}
	for {
		b, recs, _, ok, err := l.ClaimDue(now)
		require.NoError(t, err)
		if !ok {
			return out
		}
		for _, r := range recs {
			out[b] = append(out[b], int64(r.Phys))
		}
		l.Finish(b)
	}
}

func TestBucketsOrderAndLate(t *testing.T) {
	t.Parallel()
	l := open(t, vfs.NewMem(), 0)
	defer l.Close()
	require.NoError(t, l.Add([]timer.Record{rec(5_500, 1), rec(2_100, 2), rec(5_100, 3), rec(2_900, 4)}, 4))
	require.Equal(t, int64(4), l.EnqueueOffset())
	require.Equal(t, int64(4), l.Stats().Pending)
	require.Equal(t, 2, l.Stats().Buckets)

	_, _, next, ok, err := l.ClaimDue(1_999)
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, int64(2_000), next)

	b, recs, _, ok, err := l.ClaimDue(2_000)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, int64(2_000), b)
	require.Equal(t, []int64{2_100, 2_900}, []int64{recs[0].DeliverAt, recs[1].DeliverAt}, "sorted by delivery time")

	// Arrives while bucket 2000 is active: joins it through the late list;
	// one in the past joins it too.
	require.NoError(t, l.Add([]timer.Record{rec(2_500, 5), rec(100, 6), rec(3_200, 7)}, 7))
	late := l.TakeLate()
	require.Len(t, late, 2)
	require.Nil(t, l.TakeLate())
	l.Finish(2_000)

	// After the cursor passed, a past record goes to the cursor's bucket.
	require.NoError(t, l.Add([]timer.Record{rec(1_000, 8)}, 8))
	got := claimAll(t, l, 10_000)
	require.ElementsMatch(t, []int64{7, 8}, got[3_000])
	require.ElementsMatch(t, []int64{1, 3}, got[5_000])
	_, _, next, ok, _ = l.ClaimDue(math.MaxInt64 - 1)
	require.False(t, ok)
	require.Equal(t, int64(math.MaxInt64), next)
}

func TestRecoveryRedeliversAfterCheckpoint(t *testing.T) {
	t.Parallel()
	fs := vfs.NewMem()
	l := open(t, fs, 4*timer.RecordSize)
	var recs []timer.Record
	for i := range 10 {
		recs = append(recs, rec(int64(1_000*(i%3+1)+i), i))
	}
	require.NoError(t, l.Add(recs, 10))
	require.NoError(t, l.Sync())
	// Deliver bucket 1000 and add more, but no checkpoint afterwards: a crash.
	b, _, _, ok, err := l.ClaimDue(1_000)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, l.Add([]timer.Record{rec(1_500, 99)}, 11)) // late, joins 1000
	l.Finish(b)
	require.NoError(t, l.Add([]timer.Record{rec(9_000, 100)}, 12))

	l2 := open(t, fs, 4*timer.RecordSize) // reopened from the last checkpoint
	defer l2.Close()
	require.Equal(t, int64(10), l2.EnqueueOffset(), "records after the checkpoint are added again from the commit log")
	got := claimAll(t, l2, 5_000)
	require.ElementsMatch(t, []int64{0, 3, 6, 9}, got[1_000], "bucket 1000 again: at least once")
	require.ElementsMatch(t, []int64{1, 4, 7}, got[2_000])
	require.ElementsMatch(t, []int64{2, 5, 8}, got[3_000])
	require.NoError(t, l2.Sync())
	st := l2.Stats()
	require.Zero(t, st.Pending)
	require.Equal(t, int64(4_000), st.Cursor)

	// After a checkpoint past everything, delivered segments are removed and a
	// reopen has nothing pending.
	require.NoError(t, l2.Add([]timer.Record{rec(7_000, 200)}, 13))
	require.NoError(t, l2.Sync())
	require.Less(t, l2.Stats().DiskBytes, int64(11*timer.RecordSize))
	l3 := open(t, fs, 4*timer.RecordSize)
	defer l3.Close()
	require.Equal(t, int64(1), l3.Stats().Pending)
	got = claimAll(t, l3, 8_000)
	require.Equal(t, []int64{200}, got[7_000])
}

func TestLateChainSurvivesCrash(t *testing.T) {
	t.Parallel()
	fs := vfs.NewMem()
	l := open(t, fs, 0)
	require.NoError(t, l.Add([]timer.Record{rec(1_100, 1), rec(1_200, 2)}, 2))
	_, _, _, ok, err := l.ClaimDue(1_000)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, l.Add([]timer.Record{rec(1_300, 3), rec(900, 4)}, 4))
	require.NoError(t, l.Sync()) // checkpoint while bucket 1000 is still active
	l2 := open(t, fs, 0)
	defer l2.Close()
	got := claimAll(t, l2, 1_000)
	require.ElementsMatch(t, []int64{1, 2, 3, 4}, got[1_000])
}
