package store_test

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/internal/store/storetest"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/internal/vfs/errorfs"
	"github.com/petrelmq/petrel/pkg/message"
)

// recoveredState is what a recovered store holds: the commit-log end and
// every queue's end.
type recoveredState struct {
	end    message.PhysOffset
	queues map[int32]message.QueueOffset
}

func openAndDescribe(t *testing.T, fsys vfs.FS, cfg store.Config) recoveredState {
	t.Helper()
	s := openStarted(t, fsys, cfg, nil)
	defer func() { require.NoError(t, s.Close()) }()
	_, end := s.CommitLogForTest()
	st := recoveredState{end: end, queues: map[int32]message.QueueOffset{}}
	for q := range int32(2) {
		st.queues[q] = s.MaxOffsetInQueue("Rc", q)
		msgs := storetest.GetAll(t, s, "Rc", q, 0)
		require.Len(t, msgs, int(st.queues[q]), "queue %d reads back whole", q)
		for i, m := range msgs {
			require.Equal(t, message.QueueOffset(i), m.QueueOffset)
		}
	}
	return st
}

// TestCrashDuringRecovery crashes a store, then crashes its recovery again at
// every mutating filesystem operation (with a random part of the unsynced
// changes kept) and reopens: the second recovery must reach the same state as
// an undisturbed one.
func TestCrashDuringRecovery(t *testing.T) {
	t.Parallel()
	sd := seed(t)
	rng := rand.New(rand.NewPCG(sd, 1))
	cfg := crashConfig(store.SyncFlush)
	cfg.CommitLogSegmentSize = 8 << 10
	cfg.MaxMessageSize = 4 << 10
	mem := vfs.NewCrashableMem()
	s := openStarted(t, mem, cfg, nil)
	for i := range 80 {
		storetest.Put(t, s, storetest.Msg("Rc", int32(i%2), i, 300))
	}
	storetest.WaitDispatched(t, s, "Rc", 1, 40)
	base := mem.CrashClone(vfs.CrashCloneOptions{UnsyncedFraction: 0.5, Seed: rng.Uint64()})
	require.NoError(t, s.Close())

	want := openAndDescribe(t, base.CrashClone(vfs.CrashCloneOptions{}), cfg)
	require.Equal(t, message.QueueOffset(40), want.queues[0], "sync-flushed messages survive")

	for k := int64(1); ; k++ {
		fsys := base.CrashClone(vfs.CrashCloneOptions{})
		var n atomic.Int64
		var crashed *vfs.MemFS
		var opened atomic.Bool // recovery finished without a crash: stop counting
		inj := errorfs.InjectorFunc(func(op errorfs.Op, _ string) error {
			switch op {
			case errorfs.OpWrite, errorfs.OpSync, errorfs.OpTruncate, errorfs.OpRemove, errorfs.OpRename,
				errorfs.OpCreate, errorfs.OpPreallocate, errorfs.OpMkdir:
			default:
				return nil
			}
			if opened.Load() {
				return nil
			}
			if crashed != nil {
				return errorfs.ErrInjected // the process is dead
			}
			if n.Add(1) == k {
				crashed = fsys.CrashClone(vfs.CrashCloneOptions{UnsyncedFraction: rng.Float64(), Seed: rng.Uint64()})
				return errorfs.ErrInjected
			}
			return nil
		})
		s, err := store.Open(errorfs.Wrap(fsys, inj), cfg, nil, nil)
		if crashed == nil {
			require.NoError(t, err)
			opened.Store(true)
			require.NoError(t, s.Close())
			t.Logf("recovery crashed at each of its %d mutating operations", k-1)
			break
		}
		if err == nil {
			// Close's own writes fail: the process is dead.
			_ = s.Close()
		}
		got := openAndDescribe(t, crashed, cfg)
		require.Equal(t, want, got, "crash at mutating operation %d of recovery", k)
	}
}
