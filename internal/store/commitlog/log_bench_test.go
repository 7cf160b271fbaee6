package commitlog

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/message"
)

const benchSegment = 256 << 20

func benchLog(b *testing.B, mode FlushMode) *Log {
	b.Helper()
	cfg := Config{Dir: filepath.Join(b.TempDir(), "cl"), SegmentSize: benchSegment, FlushMode: mode}
	l, err := Open(vfs.OS, cfg, RecoverOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if err := l.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	return l
}

// benchRecord returns an encoded record of exactly size bytes.
func benchRecord(b *testing.B, size int) []byte {
	rec, err := recordBytes(1, 0)
	if err != nil {
		b.Fatal(err)
	}
	rec, err = recordBytes(1, size-len(rec))
	if err != nil || len(rec) != size {
		b.Fatalf("record of %d bytes: %v", len(rec), err)
	}
	return rec
}

func sizeLabel(n int) string {
	if n >= 1024 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

// rawFile is the baseline: a plain preallocated file written sequentially.
type rawFile struct {
	mu  sync.Mutex
	f   *os.File
	off int64

	// asyncCadence: fdatasync like the log's FlushAsync flusher, every
	// DefaultFlushInterval when at least DefaultFlushLeastPages pages are dirty
	// (the thorough flush every 10 s needs no emulation: runs are shorter and
	// always have that much dirty).
	asyncCadence bool
	lastSync     time.Time
	dirty        int64
}

func newRawFile(b *testing.B) *rawFile {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "raw"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	if err := unix.Fallocate(int(f.Fd()), 0, 0, benchSegment); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return &rawFile{f: f}
}

func (r *rawFile) write(b *testing.B, p []byte) {
	r.mu.Lock()
	off := r.off
	r.off = (r.off + int64(len(p))) % (benchSegment - int64(len(p)))
	r.mu.Unlock()
	if _, err := r.f.WriteAt(p, off); err != nil {
		b.Fatal(err)
	}
	if r.asyncCadence {
		r.mu.Lock()
		r.dirty += int64(len(p))
		sync := r.dirty >= DefaultFlushLeastPages*pageSize && time.Since(r.lastSync) >= DefaultFlushInterval
		if sync {
			r.dirty, r.lastSync = 0, time.Now()
		}
		r.mu.Unlock()
		if sync {
			if err := unix.Fdatasync(int(r.f.Fd())); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// benchWarmup is how many records the async benchmarks write before timing,
// so that first-touch costs (page-cache growth, the log's creation of the next
// segment) do not land in short runs of one side only.
const benchWarmup = 2000

// BenchmarkAppendAsync measures ASYNC_FLUSH appends until the data is handed to
// the OS (the timer includes draining the write buffer), against a plain file
// written with the same bytes (pwrite per record) and the log's fsync cadence
// (fdatasync every FlushInterval when FlushLeastPages are dirty). Both write
// benchWarmup records before the timer starts.
func BenchmarkAppendAsync(b *testing.B) {
	for _, size := range []int{128, 1024, 16 << 10} {
		for _, writers := range []int{1, 8} {
			name := sizeLabel(size) + "/writers=" + strconv.Itoa(writers)
			b.Run(name+"/log", func(b *testing.B) {
				l := benchLog(b, FlushAsync)
				rec := benchRecord(b, size)
				ctx := context.Background()
				for range benchWarmup {
					if _, err := l.Append(ctx, rec, nil); err != nil {
						b.Fatal(err)
					}
				}
				for next := l.NextOffset(); l.MaxOffset() < next; {
					time.Sleep(50 * time.Microsecond)
				}
				b.ReportAllocs()
				b.SetBytes(int64(size))
				b.ResetTimer()
				if writers == 1 {
					for b.Loop() {
						if _, err := l.Append(ctx, rec, nil); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					b.SetParallelism(writers / 2) // GOMAXPROCS 2 here: 8 goroutines
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if _, err := l.Append(ctx, rec, nil); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				next := l.NextOffset()
				for l.MaxOffset() < next {
					time.Sleep(50 * time.Microsecond) // wait for the writer to drain
				}
			})
			b.Run(name+"/raw", func(b *testing.B) {
				r := newRawFile(b)
				r.asyncCadence, r.lastSync = true, time.Now()
				rec := benchRecord(b, size)
				for range benchWarmup {
					r.write(b, rec)
				}
				b.ReportAllocs()
				b.SetBytes(int64(size))
				b.ResetTimer()
				if writers == 1 {
					for b.Loop() {
						r.write(b, rec)
					}
				} else {
					b.SetParallelism(writers / 2)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							r.write(b, rec)
						}
					})
				}
			})
		}
	}
}

// BenchmarkAppendSync measures SYNC_FLUSH appends of 1 KiB from 64 concurrent
// writers, each waiting for durability (group commit), against a plain file that
// writes 1 KiB records and fdatasyncs once per 64 KiB.
func BenchmarkAppendSync(b *testing.B) {
	const size, writers = 1024, 64
	b.Run("1KiB/writers=64/log", func(b *testing.B) {
		l := benchLog(b, FlushSync)
		rec := benchRecord(b, size)
		ctx := context.Background()
		b.ReportAllocs()
		b.SetBytes(size)
		b.SetParallelism(writers / 2)
		b.RunParallel(func(pb *testing.PB) {
			done := make(chan error, 1)
			cb := func(err error) { done <- err }
			for pb.Next() {
				res, err := l.Append(ctx, rec, nil)
				if err != nil {
					b.Error(err)
					return
				}
				l.SyncAsync(res.End, cb)
				if err := <-done; err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("1KiB/64KiB-per-fdatasync/raw", func(b *testing.B) {
		r := newRawFile(b)
		rec := benchRecord(b, size)
		b.ReportAllocs()
		b.SetBytes(size)
		n := 0
		for b.Loop() {
			r.write(b, rec)
			if n++; n%64 == 0 {
				if err := unix.Fdatasync(int(r.f.Fd())); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkRead reads 1 KiB records by offset into a reused buffer, against
// pread of the same bytes from a plain file.
func BenchmarkRead(b *testing.B) {
	const size, count = 1024, 4096
	b.Run("1KiB/log", func(b *testing.B) {
		l := benchLog(b, FlushAsync)
		rec := benchRecord(b, size)
		ctx := context.Background()
		offs := make([]message.PhysOffset, count)
		for i := range offs {
			res, err := l.Append(ctx, rec, nil)
			if err != nil {
				b.Fatal(err)
			}
			offs[i] = res.Offset
		}
		if err := l.Sync(ctx, l.NextOffset()); err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 0, size)
		b.ReportAllocs()
		b.SetBytes(size)
		i := 0
		for b.Loop() {
			var err error
			if buf, err = l.ReadRecord(buf[:0], offs[i%count]); err != nil {
				b.Fatal(err)
			}
			i += 7
		}
	})
	b.Run("1KiB/raw", func(b *testing.B) {
		r := newRawFile(b)
		rec := benchRecord(b, size)
		for range count {
			r.write(b, rec)
		}
		buf := make([]byte, size)
		b.ReportAllocs()
		b.SetBytes(size)
		i := 0
		for b.Loop() {
			if _, err := r.f.ReadAt(buf, int64((i%count)*size)); err != nil {
				b.Fatal(err)
			}
			i += 7
		}
	})
}

// BenchmarkRawCopy compares the two ways of getting appended bytes into a
// segment: memcpy into a shared mmap of the file versus pwrite from a buffer,
// each followed by the flush call at the same cadence (msync / fdatasync per
// 64 KiB). It informed the choice of pwrite (see doc.go).
func BenchmarkRawCopy(b *testing.B) {
	const size = 1024
	rec := make([]byte, size)
	for _, flush := range []bool{false, true} {
		suffix := "/noflush"
		if flush {
			suffix = "/flush-per-64KiB"
		}
		b.Run("mmap"+suffix, func(b *testing.B) {
			r := newRawFile(b)
			m, err := unix.Mmap(int(r.f.Fd()), 0, benchSegment, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
			if err != nil {
				b.Fatal(err)
			}
			defer unix.Munmap(m)
			b.SetBytes(size)
			var off, last int
			for b.Loop() {
				if off+size > len(m) {
					off, last = 0, 0
				}
				copy(m[off:], rec)
				off += size
				if flush && off-last >= 64<<10 {
					if err := unix.Msync(m[last:off], unix.MS_SYNC); err != nil {
						b.Fatal(err)
					}
					last = off
				}
			}
		})
		b.Run("pwrite"+suffix, func(b *testing.B) {
			r := newRawFile(b)
			b.SetBytes(size)
			var n atomic.Int64
			for b.Loop() {
				r.write(b, rec)
				if flush && n.Add(1)%64 == 0 {
					if err := unix.Fdatasync(int(r.f.Fd())); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
