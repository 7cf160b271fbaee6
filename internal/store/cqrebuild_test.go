package store_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/internal/store/checkpoint"
	"github.com/petrelmq/petrel/internal/store/storetest"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/message"
)

// TestRecoverDamagedConsumeQueue builds the on-disk states a crash leaves when a
// queue created several files since its last flush (directory entries and data
// of unsynced files are lost independently): the queue's first file missing, or
// a file before the last three empty or zeroed. Recovery must notice and rebuild
// the queue from the commit log, not serve a queue that starts late or refuse to
// open.
func TestRecoverDamagedConsumeQueue(t *testing.T) {
	t.Parallel()
	const n = 40 // five files of 8 entries
	qdir := "/store/consumequeue/Dmg/0"
	file := func(i int) string { return qdir + "/" + fmt16(i*8*20) }
	cases := map[string]func(t *testing.T, fsys vfs.FS){
		"first file missing": func(t *testing.T, fsys vfs.FS) {
			require.NoError(t, fsys.Remove(file(0)))
		},
		"first two files missing": func(t *testing.T, fsys vfs.FS) {
			require.NoError(t, fsys.Remove(file(0)))
			require.NoError(t, fsys.Remove(file(1)))
		},
		"non-tail file empty": func(t *testing.T, fsys vfs.FS) {
			f, err := fsys.OpenReadWrite(file(1))
			require.NoError(t, err)
			require.NoError(t, f.Truncate(0))
			require.NoError(t, f.Close())
		},
		"first file empty": func(t *testing.T, fsys vfs.FS) {
			f, err := fsys.OpenReadWrite(file(0))
			require.NoError(t, err)
			require.NoError(t, f.Truncate(0))
			require.NoError(t, f.Close())
		},
		"non-tail file zeroed": func(t *testing.T, fsys vfs.FS) {
			f, err := fsys.OpenReadWrite(file(1))
			require.NoError(t, err)
			_, err = f.WriteAt(make([]byte, 8*20), 0)
			require.NoError(t, err)
			require.NoError(t, f.Close())
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig("/store", store.SyncFlush, 64<<10)
			require.Equal(t, 8, cfg.ConsumeQueueEntriesPerFile)
			fsys := vfs.NewMem()
			s := openStarted(t, fsys, cfg, nil)
			for i := range n {
				storetest.Put(t, s, storetest.Msg("Dmg", 0, i, 100))
			}
			storetest.WaitDispatched(t, s, "Dmg", 0, n)
			require.NoError(t, s.Close())
			// A crash before any checkpoint covered these entries: the abort
			// marker is there and the checkpoint is not.
			require.NoError(t, fsys.Remove("/store/checkpoint"))
			require.NoError(t, checkpoint.CreateAbort(fsys, "/store/abort"))
			damage(t, fsys)

			var logs syncBuffer
			s, err := store.Open(fsys, cfg, slog.New(slog.NewTextHandler(&logs, nil)), nil)
			require.NoError(t, err)
			defer func() { require.NoError(t, s.Close()) }()
			if strings.HasSuffix(name, "missing") {
				require.Contains(t, logs.String(), "rebuilding consume queue from the commit log", "a rebuild is loud")
			}
			require.Equal(t, message.QueueOffset(0), s.MinOffsetInQueue("Dmg", 0))
			require.Equal(t, message.QueueOffset(n), s.MaxOffsetInQueue("Dmg", 0))
			got := storetest.GetAll(t, s, "Dmg", 0, 0)
			require.Len(t, got, n)
			for i, m := range got {
				require.Equal(t, message.QueueOffset(i), m.QueueOffset)
			}
		})
	}
}

func fmt16(v int) string {
	b := []byte("00000000000000000000")
	for i := len(b) - 1; v > 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b)
}

// syncBuffer is a bytes.Buffer safe for a logger used from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestRebuildQueueOfRecreatedTopic: a queue rebuilt from the commit log whose
// topic was deleted and created again sees its offsets start over; the later
// records win, as before the crash, and new messages continue after them.
func TestRebuildQueueOfRecreatedTopic(t *testing.T) {
	t.Parallel()
	cfg := testConfig("/store", store.SyncFlush, 64<<10)
	fsys := vfs.NewMem()
	s := openStarted(t, fsys, cfg, nil)
	for i := range 20 {
		storetest.Put(t, s, storetest.Msg("Re", 0, i, 100))
	}
	storetest.WaitDispatched(t, s, "Re", 0, 20)
	require.NoError(t, s.DeleteTopic("Re"))
	var want []message.PhysOffset
	for i := range 12 {
		want = append(want, storetest.Put(t, s, storetest.Msg("Re", 0, 100+i, 100)).PhysOffset)
	}
	storetest.WaitDispatched(t, s, "Re", 0, 12)
	require.NoError(t, s.Close())
	require.NoError(t, fsys.Remove("/store/checkpoint"))
	require.NoError(t, checkpoint.CreateAbort(fsys, "/store/abort"))
	require.NoError(t, fsys.Remove("/store/consumequeue/Re/0/"+fmt16(0)))

	s = openStarted(t, fsys, cfg, nil)
	defer func() { require.NoError(t, s.Close()) }()
	require.Equal(t, message.QueueOffset(0), s.MinOffsetInQueue("Re", 0))
	require.Equal(t, message.QueueOffset(12), s.MaxOffsetInQueue("Re", 0))
	got := storetest.GetAll(t, s, "Re", 0, 0)
	require.Len(t, got, 12)
	for i, m := range got {
		require.Equal(t, want[i], m.PhysOffset)
	}
	r := storetest.Put(t, s, storetest.Msg("Re", 0, 200, 100))
	require.Equal(t, message.QueueOffset(12), r.QueueOffset)
	storetest.WaitDispatched(t, s, "Re", 0, 13)
}

// TestCleanStopDoesNotRebuild: after a clean stop with many small consume-queue
// files nothing is rebuilt and only the last record is re-dispatched.
func TestCleanStopDoesNotRebuild(t *testing.T) {
	t.Parallel()
	cfg := testConfig("/store", store.AsyncFlush, 64<<10)
	fsys := vfs.NewMem()
	s := openStarted(t, fsys, cfg, nil)
	for i := range 100 {
		storetest.Put(t, s, storetest.Msg("Cl", int32(i%3), i, 100))
	}
	storetest.WaitDispatched(t, s, "Cl", 0, 34)
	require.NoError(t, s.Close())
	var logs syncBuffer
	s, err := store.Open(fsys, cfg, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.Contains(t, logs.String(), "cq_rebuilt=0")
	require.Contains(t, logs.String(), "records_redispatched=1 ", "only the last indexed record")
	require.NotContains(t, logs.String(), "level=WARN")
}
