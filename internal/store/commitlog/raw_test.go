package commitlog

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil/poll"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/message"
)

// slaveConfig returns cfg for a second log next to the first one (same FS).
func slaveConfig(cfg Config) Config {
	cfg.Dir += "-slave"
	return cfg
}

// appendRecords appends n records of random sizes and waits until they are
// readable; it returns the end of each record.
func appendRecords(t *testing.T, l *Log, r *rand.Rand, first, n int) []message.PhysOffset {
	t.Helper()
	ends := make([]message.PhysOffset, 0, n)
	maxBody := min(l.cfg.MaxMessageSize-300, 3000)
	for i := first; i < first+n; i++ {
		res, err := l.Append(context.Background(), makeRecord(t, i, r.IntN(maxBody)), nil)
		require.NoError(t, err)
		ends = append(ends, res.End)
	}
	poll.WaitFor(t, 10*time.Second, func() bool { return l.MaxOffset() >= ends[len(ends)-1] })
	return ends
}

// copyRaw replicates m's bytes into s from s's end up to m's end in random
// pieces, as a replication frame stream does, checking after every piece
// that a live scan of s stops cleanly at a cut record.
func copyRaw(t *testing.T, m, s *Log, r *rand.Rand) {
	t.Helper()
	off := s.NextOffset()
	if s.Empty() {
		off = m.MinOffset()
	}
	var buf []byte
	for off < m.MaxOffset() {
		var err error
		buf, err = m.ReadRaw(off, 1+r.IntN(5000), buf[:0])
		require.NoError(t, err)
		require.NotEmpty(t, buf)
		end, err := s.AppendRaw(context.Background(), off, buf)
		require.NoError(t, err)
		require.Equal(t, off+message.PhysOffset(len(buf)), end)
		off = end
		if r.IntN(8) == 0 {
			waitWritten(t, s, end)
			_, err := s.Scan(s.MinOffset(), nil)
			require.NoError(t, err, "a live scan must wait for a cut record, not fail")
		}
	}
	waitWritten(t, s, off)
}

func waitWritten(t *testing.T, l *Log, upTo message.PhysOffset) {
	t.Helper()
	ch := make(chan error, 1)
	l.WrittenAsync(upTo, func(err error) { ch <- err })
	require.NoError(t, <-ch)
}

// requireSameBytes compares the logs' bytes over [from, to).
func requireSameBytes(t *testing.T, a, b *Log, from, to message.PhysOffset) {
	t.Helper()
	var x, y []byte
	for off := from; off < to; {
		var err error
		x, err = a.ReadRaw(off, 1<<20, x[:0])
		require.NoError(t, err)
		y, err = b.ReadRaw(off, 1<<20, y[:0])
		require.NoError(t, err)
		n := min(len(x), len(y), int(to-off))
		require.Positive(t, n)
		require.True(t, bytes.Equal(x[:n], y[:n]), "bytes differ in [%d, %d)", off, off+message.PhysOffset(n))
		off += message.PhysOffset(n)
	}
}

func TestRawReplicate(t *testing.T) {
	forEachConfig(t, func(t *testing.T, fsys vfs.FS, cfg Config) {
		r := rand.New(rand.NewPCG(seed(t), 1))
		m := openStarted(t, fsys, cfg, RecoverOptions{})
		defer m.Close()
		s := openStarted(t, fsys, slaveConfig(cfg), RecoverOptions{})
		appendRecords(t, m, r, 0, 200)
		copyRaw(t, m, s, r)
		appendRecords(t, m, r, 200, 100)
		copyRaw(t, m, s, r)
		require.Equal(t, m.MaxOffset(), s.MaxOffset())
		requireSameBytes(t, m, s, m.MinOffset(), m.MaxOffset())
		mo, mr := scanAll(t, m)
		so, sr := scanAll(t, s)
		require.Equal(t, mo, so)
		require.Equal(t, mr, sr)
		if cfg.FlushMode == FlushSync {
			require.NoError(t, s.Sync(context.Background(), s.MaxOffset()))
		}
		require.NoError(t, s.Close())

		// The slave's log recovers like any other.
		s = openStarted(t, fsys, slaveConfig(cfg), RecoverOptions{})
		defer s.Close()
		require.Equal(t, m.MaxOffset(), s.MaxOffset())
		so, sr = scanAll(t, s)
		require.Equal(t, mo, so)
		require.Equal(t, mr, sr)
	})
}

func TestRawCutRecordRecovers(t *testing.T) {
	fsys := vfs.NewMem()
	cfg := Config{Dir: "/cl", SegmentSize: 1 << 16, MaxMessageSize: 8 << 10}
	r := rand.New(rand.NewPCG(seed(t), 2))
	m := openStarted(t, fsys, cfg, RecoverOptions{})
	defer m.Close()
	ends := appendRecords(t, m, r, 0, 10)
	s := openStarted(t, fsys, slaveConfig(cfg), RecoverOptions{})
	cut := ends[6] + 50 // inside record 7
	buf, err := m.ReadRaw(0, int(cut), nil)
	require.NoError(t, err)
	_, err = s.AppendRaw(context.Background(), 0, buf)
	require.NoError(t, err)
	require.NoError(t, s.Sync(context.Background(), cut))
	next, err := s.Scan(0, nil)
	require.NoError(t, err)
	require.Equal(t, ends[6], next)
	require.NoError(t, s.Close())
	s = openStarted(t, fsys, slaveConfig(cfg), RecoverOptions{})
	defer s.Close()
	require.Equal(t, ends[6], s.MaxOffset(), "recovery drops the cut record")
}

func TestRawEmptyLogStartsAtSegment(t *testing.T) {
	fsys := vfs.NewMem()
	cfg := Config{Dir: "/cl", SegmentSize: 4096, MaxMessageSize: 2048}
	m := openStarted(t, fsys, cfg, RecoverOptions{})
	defer m.Close()
	r := rand.New(rand.NewPCG(seed(t), 3))
	appendRecords(t, m, r, 0, 40) // several segments
	base := m.MaxOffset() - m.MaxOffset()%4096
	require.Positive(t, base)

	s := openStarted(t, fsys, slaveConfig(cfg), RecoverOptions{})
	defer s.Close()
	require.True(t, s.Empty())
	_, err := s.AppendRaw(context.Background(), base+1, []byte{1})
	require.ErrorIs(t, err, ErrRawOffset)
	buf, err := m.ReadRaw(base, 4096, nil)
	require.NoError(t, err)
	end, err := s.AppendRaw(context.Background(), base, buf)
	require.NoError(t, err)
	waitWritten(t, s, end)
	require.Equal(t, base, s.MinOffset())
	require.Equal(t, m.MaxOffset(), s.MaxOffset())
	requireSameBytes(t, m, s, base, m.MaxOffset())
}

func TestRawErrors(t *testing.T) {
	fsys := vfs.NewMem()
	cfg := Config{Dir: "/cl", SegmentSize: 4096, MaxMessageSize: 2048}
	l := openStarted(t, fsys, cfg, RecoverOptions{})
	defer l.Close()
	r := rand.New(rand.NewPCG(seed(t), 4))
	appendRecords(t, l, r, 0, 40)
	end := l.MaxOffset()

	_, err := l.AppendRaw(context.Background(), end+1, []byte{1})
	require.ErrorIs(t, err, ErrRawOffset)
	_, err = l.AppendRaw(context.Background(), end, make([]byte, 4096))
	require.ErrorIs(t, err, ErrRawOffset, "crosses the segment end")

	_, err = l.ReadRaw(end+1, 10, nil)
	require.ErrorIs(t, err, ErrOutOfRange)
	b, err := l.ReadRaw(end, 10, nil)
	require.NoError(t, err)
	require.Empty(t, b)

	// A full segment reads up to its end: blank record, then zeros.
	b, err = l.ReadRaw(0, 1<<20, nil)
	require.NoError(t, err)
	require.Len(t, b, 4096)

	require.NoError(t, l.Sync(context.Background(), end))
	n, err := l.DeleteSegmentsBefore(8192)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	_, err = l.ReadRaw(100, 10, nil)
	require.ErrorIs(t, err, ErrBeforeMinOffset)
	require.ErrorIs(t, err, ErrOutOfRange)
}

func TestTruncate(t *testing.T) {
	forEachConfig(t, func(t *testing.T, fsys vfs.FS, cfg Config) {
		r := rand.New(rand.NewPCG(seed(t), 5))
		l := openStarted(t, fsys, cfg, RecoverOptions{})
		ends := appendRecords(t, l, r, 0, 120)
		offs, recs := scanAll(t, l)
		require.Len(t, offs, 120)

		require.ErrorIs(t, l.Truncate(context.Background(), l.NextOffset()+1), ErrOutOfRange)
		k := 70
		to := ends[k-1]
		require.NoError(t, l.Truncate(context.Background(), to))
		require.Equal(t, to, l.MaxOffset())
		require.Equal(t, to, l.NextOffset())
		require.Equal(t, to, l.SyncedOffset(), "the truncation is durable")
		o, rs := scanAll(t, l)
		require.Equal(t, offs[:k], o)
		require.Equal(t, recs[:k], rs)

		// Appends continue at the cut.
		res, err := l.Append(context.Background(), makeRecord(t, 1000, 10), nil)
		require.NoError(t, err)
		if to%message.PhysOffset(cfg.SegmentSize)+res.End-res.Offset+message.BlankHeaderSize <= message.PhysOffset(cfg.SegmentSize) {
			require.Equal(t, to, res.Offset)
		}
		require.NoError(t, l.Sync(context.Background(), res.End))
		_, rs = scanAll(t, l)
		require.Len(t, rs, k+1)
		require.NoError(t, l.Close())

		l = openStarted(t, fsys, cfg, RecoverOptions{})
		defer l.Close()
		o, rs = scanAll(t, l)
		require.Equal(t, offs[:k], o[:k])
		require.Len(t, rs, k+1)
		require.Equal(t, res.End, l.MaxOffset())

		// Truncating to the very start keeps the first segment, empty.
		lo := l.MinOffset()
		require.NoError(t, l.Truncate(context.Background(), lo))
		require.False(t, l.Empty())
		require.Equal(t, lo, l.MaxOffset())
		o, _ = scanAll(t, l)
		require.Empty(t, o)
	})
}

func TestReset(t *testing.T) {
	fsys := vfs.NewMem()
	cfg := Config{Dir: "/cl", SegmentSize: 4096, MaxMessageSize: 2048}
	l := openStarted(t, fsys, cfg, RecoverOptions{})
	r := rand.New(rand.NewPCG(seed(t), 6))
	appendRecords(t, l, r, 0, 30)
	require.ErrorIs(t, l.Reset(context.Background(), 100), ErrOutOfRange)
	require.NoError(t, l.Reset(context.Background(), 3*4096))
	require.True(t, l.Empty())
	require.Equal(t, message.PhysOffset(3*4096), l.MinOffset())
	require.Equal(t, message.PhysOffset(3*4096), l.MaxOffset())
	names, err := fsys.List("/cl")
	require.NoError(t, err)
	require.Empty(t, names)

	// An empty log takes a master's data at any segment boundary.
	m := openStarted(t, fsys, slaveConfig(cfg), RecoverOptions{})
	defer m.Close()
	appendRecords(t, m, r, 0, 30)
	base := m.MaxOffset() - m.MaxOffset()%4096
	buf, err := m.ReadRaw(base, 4096, nil)
	require.NoError(t, err)
	end, err := l.AppendRaw(context.Background(), base, buf)
	require.NoError(t, err)
	waitWritten(t, l, end)
	require.Equal(t, base, l.MinOffset())
	requireSameBytes(t, m, l, base, end)
	require.NoError(t, l.Close())
	require.ErrorIs(t, l.Reset(context.Background(), 0), ErrClosed)
	require.ErrorIs(t, l.Truncate(context.Background(), 0), ErrClosed)
}

// TestTruncateWithFlusher truncates while a writer appends and waits for
// durability, so that the flusher's fsyncs race with the truncations: synced
// must never pass the end, appends fail only with ErrTruncating, and the log
// recovers to exactly what it held.
func TestTruncateWithFlusher(t *testing.T) {
	for _, mode := range []FlushMode{FlushSync, FlushAsync} {
		t.Run(mode.String(), func(t *testing.T) {
			fsys := vfs.NewMem()
			cfg := Config{Dir: "/cl", SegmentSize: 8192, MaxMessageSize: 2048, FlushMode: mode, FlushInterval: time.Millisecond, FlushLeastPages: 1}
			l := openStarted(t, fsys, cfg, RecoverOptions{})
			var mu sync.Mutex // appends and truncations alternate, as the store guarantees
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					mu.Lock()
					res, err := l.Append(context.Background(), makeRecord(t, i, i%500), nil)
					mu.Unlock()
					if errors.Is(err, ErrTruncating) {
						continue
					}
					if !assertNoError(t, err) {
						return
					}
					err = l.Sync(context.Background(), res.End)
					if err != nil && !errors.Is(err, ErrFlushTimeout) {
						t.Errorf("sync: %v", err)
						return
					}
				}
			}()
			r := rand.New(rand.NewPCG(seed(t), 7))
			for range 50 {
				time.Sleep(time.Millisecond) // let appends and fsyncs run; not synchronisation
				mu.Lock()
				waitWritten(t, l, l.NextOffset())
				offs, _ := scanAll(t, l)
				if len(offs) > 1 {
					to := offs[r.IntN(len(offs))]
					err := l.Truncate(context.Background(), to)
					if !errors.Is(err, ErrTruncating) {
						require.NoError(t, err)
						require.Equal(t, to, l.MaxOffset())
					}
				}
				require.LessOrEqual(t, l.SyncedOffset(), l.MaxOffset())
				mu.Unlock()
			}
			close(stop)
			wg.Wait()
			require.LessOrEqual(t, l.SyncedOffset(), l.MaxOffset())
			require.NoError(t, l.Sync(context.Background(), l.NextOffset()))
			offs, recs := scanAll(t, l)
			end := l.MaxOffset()
			require.NoError(t, l.Close())
			l = openStarted(t, fsys, cfg, RecoverOptions{})
			defer l.Close()
			o, rs := scanAll(t, l)
			require.Equal(t, offs, o)
			require.Equal(t, recs, rs)
			require.Equal(t, end, l.MaxOffset())
		})
	}
}

func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Errorf("unexpected error: %v", err)
		return false
	}
	return true
}
