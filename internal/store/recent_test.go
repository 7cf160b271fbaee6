package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/internal/store/storetest"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
)

// TestRecordsSince: the scan starts in the segment holding the first record
// stored at the given time, not before, and reaches the end.
func TestRecordsSince(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_700_000_000, 0)
	clk := clock.NewManual(t0)
	s := openStarted(t, vfs.NewMem(), testConfig("/store", store.AsyncFlush, 64<<10), clk)
	defer func() { require.NoError(t, s.Close()) }()
	const n = 100 // 2000-byte bodies: several 64 KiB segments
	for i := range n {
		storetest.Put(t, s, storetest.Msg("Since", 0, i, 2000))
		clk.Advance(time.Second)
	}
	require.Greater(t, s.Stats().CommitLogSegments, 3)
	since := t0.Add(70 * time.Second).UnixMilli()
	var times []int64
	var v message.RecordView
	for rec, err := range s.RecordsSince(since) {
		require.NoError(t, err)
		require.NoError(t, message.ParseRecord(rec, &v))
		times = append(times, v.StoreTimestamp)
	}
	require.Equal(t, t0.Add(99*time.Second).UnixMilli(), times[len(times)-1], "to the end")
	require.LessOrEqual(t, times[0], since, "from before the time asked")
	require.Less(t, len(times), n, "not from the start of the log")
	first := 0
	for first < len(times) && times[first] < since {
		first++
	}
	require.Equal(t, 30, len(times)-first, "every record from the time asked")
	require.Less(t, first, 40, "at most about a segment before it")

	count := 0
	for range s.RecordsSince(since) {
		count++
		break
	}
	require.Equal(t, 1, count, "breaking the loop stops the scan")
	count = 0
	for range s.RecordsSince(t0.Add(time.Hour).UnixMilli()) {
		count++
	}
	require.Positive(t, count, "the last segment is always read")
}
