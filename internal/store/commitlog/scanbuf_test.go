package commitlog

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil/poll"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/message"
)

// TestScanWithReusedBuffer: a ScanBuffer reused across scans returns exactly
// what a fresh Scan returns, including records appended after an earlier scan
// read (zeros) past the then MaxOffset, across segment rolls.
func TestScanWithReusedBuffer(t *testing.T) {
	forEachConfig(t, func(t *testing.T, fsys vfs.FS, cfg Config) {
		ctx := context.Background()
		l := openStarted(t, fsys, cfg, RecoverOptions{})
		defer l.Close()
		var sb ScanBuffer
		var got [][]byte
		next := l.MinOffset()
		collect := func(_ message.PhysOffset, rec []byte) error {
			got = append(got, append([]byte(nil), rec...))
			return nil
		}
		for i := range 60 {
			res, err := l.Append(ctx, makeRecord(t, i, 50+i*13), nil)
			require.NoError(t, err)
			poll.WaitFor(t, 5e9, func() bool { return l.MaxOffset() >= res.End })
			next, err = l.ScanWith(&sb, next, collect)
			require.NoError(t, err)
		}
		_, want := scanAll(t, l)
		require.Equal(t, want, got)

	})
}

// TestScanWithDoesNotAllocate: following the log one record at a time, as the
// dispatcher does, reuses the window (Scan allocated one per call).
func TestScanWithDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	cfg := Config{Dir: t.TempDir(), SegmentSize: 1 << 20, MaxMessageSize: 4096}
	l := openStarted(t, vfs.OS, cfg, RecoverOptions{})
	defer l.Close()
	var sb ScanBuffer
	res, err := l.Append(ctx, makeRecord(t, 1, 1000), nil)
	require.NoError(t, err)
	poll.WaitFor(t, 5e9, func() bool { return l.MaxOffset() >= res.End })
	_, err = l.ScanWith(&sb, 0, func(message.PhysOffset, []byte) error { return nil })
	require.NoError(t, err)
	for i := range 20 {
		res, err := l.Append(ctx, makeRecord(t, i, 1000), nil)
		require.NoError(t, err)
		poll.WaitFor(t, 5e9, func() bool { return l.MaxOffset() >= res.End })
		from := res.Offset
		nop := func(message.PhysOffset, []byte) error { return nil }
		allocs := testing.AllocsPerRun(1, func() {
			if _, err := l.ScanWith(&sb, from, nop); err != nil {
				t.Error(err)
			}
		})
		require.Zero(t, allocs, "record %d", i)
	}
}
