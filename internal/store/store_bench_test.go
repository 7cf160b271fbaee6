package store_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/internal/store/checkpoint"
	"github.com/petrelmq/petrel/internal/store/storetest"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/message"
)

// benchStore opens a started store in a temp dir on the OS filesystem with
// 256 MiB segments and the default consume-queue and index geometry.
func benchStore(b *testing.B, mode store.FlushDiskType) *store.Store {
	b.Helper()
	cfg := store.DefaultConfig()
	cfg.RootDir = filepath.Join(b.TempDir(), "store")
	cfg.CommitLogSegmentSize = 256 << 20
	cfg.FlushDiskType = mode
	cfg.StoreHost = testStoreHost
	s := openStarted(b, vfs.OS, cfg, nil)
	b.Cleanup(func() { require.NoError(b, s.Close()) })
	return s
}

func recordOf(b *testing.B, size int) []byte {
	rec, err := message.AppendRecord(nil, storetest.BenchMsg("Bench", 0, size))
	require.NoError(b, err)
	return rec
}

// rawFile is a preallocated file for the raw baselines.
func rawFile(b *testing.B) *os.File {
	f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
	require.NoError(b, err)
	require.NoError(b, unix.Fallocate(int(f.Fd()), 0, 0, 1<<30))
	b.Cleanup(func() { f.Close() })
	return f
}

// BenchmarkStorePut: Put of 1 KiB bodies through the whole store (encode, append,
// write, dispatch to consume queue and index), with a raw pwrite baseline in the
// same run.
func BenchmarkStorePut(b *testing.B) {
	const size = 1024
	b.Run("async/writers=1", func(b *testing.B) { storetest.BenchPut(b, benchStore(b, store.AsyncFlush), size, 1) })
	b.Run("async/writers=8", func(b *testing.B) { storetest.BenchPut(b, benchStore(b, store.AsyncFlush), size, 8) })
	b.Run("sync/writers=64", func(b *testing.B) { storetest.BenchPut(b, benchStore(b, store.SyncFlush), size, 64) })
	b.Run("raw/pwrite", func(b *testing.B) {
		rec := recordOf(b, size)
		f := rawFile(b)
		b.SetBytes(int64(len(rec)))
		b.ReportAllocs()
		var off int64
		for b.Loop() {
			if _, err := f.WriteAt(rec, off%(1<<30-int64(len(rec)))); err != nil {
				b.Fatal(err)
			}
			off += int64(len(rec))
		}
	})
	b.Run("raw/pwrite-64KiB-fdatasync", func(b *testing.B) {
		rec := recordOf(b, size)
		f := rawFile(b)
		b.SetBytes(int64(len(rec)))
		b.ReportAllocs()
		var off, dirty int64
		for b.Loop() {
			if _, err := f.WriteAt(rec, off%(1<<30-int64(len(rec)))); err != nil {
				b.Fatal(err)
			}
			off += int64(len(rec))
			if dirty += int64(len(rec)); dirty >= 64<<10 {
				if err := unix.Fdatasync(int(f.Fd())); err != nil {
					b.Fatal(err)
				}
				dirty = 0
			}
		}
	})
}

// BenchmarkStoreGet: GetMessages of 32 × 1 KiB from the page cache, with a raw
// baseline of 32 preads of the same records.
func BenchmarkStoreGet(b *testing.B) {
	const n, size, batch = 20000, 1024, 32
	b.Run("get/batch=32", func(b *testing.B) {
		s := benchStore(b, store.AsyncFlush)
		storetest.FillQueue(b, s, "Get", 0, n, size)
		storetest.BenchGet(b, s, "Get", 0, n, batch)
	})
	b.Run("get/batch=32/interleaved", func(b *testing.B) {
		// Two queues written in turn: no two records of a queue are adjacent.
		s := benchStore(b, store.AsyncFlush)
		m0, m1 := storetest.BenchMsg("Get", 0, size), storetest.BenchMsg("Get", 1, size)
		for range n {
			for _, m := range []*message.MessageExt{m0, m1} {
				_, err := store.PutWait(context.Background(), s, m)
				require.NoError(b, err)
			}
		}
		storetest.WaitCaughtUp(b, s)
		storetest.BenchGet(b, s, "Get", 0, n, batch)
	})
	b.Run("raw/pread-32", func(b *testing.B) {
		rec := recordOf(b, size)
		f := rawFile(b)
		for i := range n {
			_, err := f.WriteAt(rec, int64(i*len(rec)))
			require.NoError(b, err)
		}
		buf := make([]byte, batch*len(rec))
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			for j := range batch {
				if _, err := f.ReadAt(buf[j*len(rec):(j+1)*len(rec)], int64(((i+j)%n)*len(rec))); err != nil {
					b.Fatal(err)
				}
			}
			i = (i + batch) % (n - batch)
		}
		b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "msgs/s")
	})
}

// BenchmarkRecovery2GiB writes a 2 GiB commit log of 1 KiB messages (with
// consume queues and index) and measures Open: after a clean stop, after a crash
// (abort marker present; the checkpoint from the last flush), and with consume
// queues and index deleted (full rebuild). One iteration each; run with
// -benchtime=1x. Reports seconds per Open.
func BenchmarkRecovery2GiB(b *testing.B) {
	if testing.Short() {
		b.Skip("writes 2 GiB")
	}
	root := filepath.Join(b.TempDir(), "store")
	cfg := store.DefaultConfig()
	cfg.RootDir = root
	cfg.StoreHost = testStoreHost
	s, err := store.Open(vfs.OS, cfg, nil, nil)
	require.NoError(b, err)
	require.NoError(b, s.Start(b.Context()))
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := storetest.BenchMsg("Recover", int32(w), 1024)
			for s.Stats().CommitLogMaxOffset < 2<<30 {
				if _, err := store.PutWait(b.Context(), s, m); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(b, s.Close())
	reopen := func(name string, prepare func()) {
		b.Run(name, func(b *testing.B) {
			var d time.Duration
			for b.Loop() {
				prepare()
				t0 := time.Now()
				s, err := store.Open(vfs.OS, cfg, nil, nil)
				d += time.Since(t0)
				require.NoError(b, err)
				require.Equal(b, message.QueueOffset(0), s.MinOffsetInQueue("Recover", 0))
				require.NoError(b, s.Close())
			}
			b.ReportMetric(d.Seconds()/float64(b.N), "s/open")
		})
	}
	reopen("clean", func() {})
	reopen("crash", func() { require.NoError(b, checkpoint.CreateAbort(vfs.OS, cfg.RootDir+"/abort")) })
	reopen("rebuild", func() {
		require.NoError(b, os.RemoveAll(filepath.Join(root, "consumequeue")))
		require.NoError(b, os.RemoveAll(filepath.Join(root, "index")))
	})
}
