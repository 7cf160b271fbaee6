package store_test

import (
	"context"
	"io/fs"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/internal/store/storetest"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/internal/vfs/errorfs"
	"github.com/petrelmq/petrel/pkg/message"
)

// eventSet collects the queue offsets dispatch listeners were told about.
// eventSet collects the queue offsets of dispatch events.
type eventSet struct {
	q    *store.DispatchQueue
	offs map[message.QueueOffset]bool
}

func newEventSet(s *store.Store) *eventSet {
	e := &eventSet{q: store.NewDispatchQueue(store.DefaultDispatchQueueSize), offs: map[message.QueueOffset]bool{}}
	s.AddDispatchQueue(e.q)
	return e
}

// len drains the queue and returns the number of distinct offsets seen.
func (e *eventSet) len() int {
	evs, _ := e.q.Drain(nil)
	for _, ev := range evs {
		e.offs[ev.QueueOffset] = true
	}
	return len(e.offs)
}

func hasProblem(s *store.Store, what string) bool {
	for _, p := range s.Stats().Problems {
		if p.What == what {
			return true
		}
	}
	return false
}

// TestConsumeQueueFaultsHeal: while consume-queue files cannot be created
// (EMFILE), written (EIO) or fsynced (EIO), puts still succeed, the store
// reports the queue degraded, and once the fault clears the queue is repaired
// from the commit log without a restart: every message becomes readable in
// order, long polls hear of each, the problem goes, and Close is clean.
func TestConsumeQueueFaultsHeal(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   errorfs.Op
		err  error
	}{
		{"create-emfile", errorfs.OpCreate, syscall.EMFILE},
		{"write-eio", errorfs.OpWrite, syscall.EIO},
		{"sync-eio", errorfs.OpSync, syscall.EIO},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mem := vfs.NewMem()
			var sw errorfs.Switch
			fsys := errorfs.Wrap(mem, &sw)
			cfg := testConfig("/store", store.AsyncFlush, 16<<10)
			cfg.FlushConsumeQueueInterval = 50 * time.Millisecond
			s, err := store.Open(fsys, cfg, nil, nil)
			require.NoError(t, err)
			events := newEventSet(s)
			require.NoError(t, s.Start(context.Background()))
			for i := range 10 {
				storetest.Put(t, s, storetest.Msg("H", 0, i, 300))
			}
			storetest.WaitDispatched(t, s, "H", 0, 10)
			// A second queue is created while the fault is on.
			sw.Set(errorfs.If(func(op errorfs.Op, path string) bool {
				return op == tc.op && strings.Contains(path, "/consumequeue/")
			}, tc.err))
			for i := 10; i < 60; i++ {
				storetest.Put(t, s, storetest.Msg("H", 0, i, 300)) // acknowledged
				storetest.Put(t, s, storetest.Msg("N", 1, i, 300))
			}
			// A failed write shows as the queue under repair; a failed fsync
			// as failing flushes (the queue itself is resynced at once).
			storetest.WaitFor(t, 60*time.Second, func() bool {
				return hasProblem(s, "consumequeue H/0") || hasProblem(s, "flush")
			})
			sw.Set(nil)
			storetest.WaitFor(t, 60*time.Second, func() bool {
				return s.MaxOffsetInQueue("H", 0) == 60 && s.MaxOffsetInQueue("N", 1) == 50 && !s.Stats().Degraded()
			})
			got := storetest.GetAll(t, s, "H", 0, 0)
			require.Len(t, got, 60)
			for i, m := range got {
				require.EqualValues(t, i, m.Flag)
				require.EqualValues(t, i, m.QueueOffset)
				checkBody(t, m)
			}
			require.Len(t, storetest.GetAll(t, s, "N", 1, 0), 50)
			storetest.WaitFor(t, 10*time.Second, func() bool { return events.len() == 60 })
			res := storetest.Put(t, s, storetest.Msg("H", 0, 60, 300))
			require.Equal(t, message.QueueOffset(60), res.QueueOffset)
			storetest.WaitDispatched(t, s, "H", 0, 61)
			require.NoError(t, s.Close())
			_, err = mem.Stat("/store/abort")
			require.ErrorIs(t, err, fs.ErrNotExist, "a clean close removes the abort marker")
			s = openStarted(t, mem, cfg, nil)
			defer func() { require.NoError(t, s.Close()) }()
			require.Len(t, storetest.GetAll(t, s, "H", 0, 0), 61)
		})
	}
}

// TestIndexFaultHeals: while index files cannot be created, keys of new
// messages are not queryable and the store reports the index degraded; once
// the fault clears the index is reopened and rebuilt from the commit log, and
// every key is found again, without a restart.
func TestIndexFaultHeals(t *testing.T) {
	t.Parallel()
	mem := vfs.NewMem()
	var sw errorfs.Switch
	fsys := errorfs.Wrap(mem, &sw)
	cfg := testConfig("/store", store.AsyncFlush, 16<<10)
	cfg.FlushConsumeQueueInterval = 50 * time.Millisecond
	s := openStarted(t, fsys, cfg, nil)
	for i := range 5 {
		storetest.Put(t, s, storetest.Msg("I", 0, i, 100))
	}
	storetest.WaitDispatched(t, s, "I", 0, 5)
	sw.Set(errorfs.If(func(op errorfs.Op, path string) bool {
		return op == errorfs.OpCreate && strings.Contains(path, "/index/")
	}, syscall.EMFILE))
	for i := 5; i < 60; i++ { // 32-entry index files: several rolls
		storetest.Put(t, s, storetest.Msg("I", 0, i, 100))
	}
	storetest.WaitFor(t, 60*time.Second, func() bool { return hasProblem(s, "index") })
	sw.Set(nil)
	storetest.WaitFor(t, 60*time.Second, func() bool { return !s.Stats().Degraded() })
	for _, i := range []int{0, 7, 33, 59} {
		r, err := s.QueryMessage("I", "key-"+itoa(i), 4, 0, 1<<62)
		require.NoError(t, err)
		require.Len(t, r.Records, 1, "key-%d", i)
		m, _, err := message.DecodeMessage(r.Records[0])
		require.NoError(t, err)
		require.EqualValues(t, i, m.Flag)
	}
	require.NoError(t, s.Close())
}

// TestDispatchReadFaultHeals: while the dispatcher cannot read the commit
// log, new messages are stored but not dispatched and the store says so; once
// reads work again dispatch resumes by itself.
func TestDispatchReadFaultHeals(t *testing.T) {
	t.Parallel()
	var sw errorfs.Switch
	fsys := errorfs.Wrap(vfs.NewMem(), &sw)
	s := openStarted(t, fsys, testConfig("/store", store.AsyncFlush, 16<<10), nil)
	defer func() { require.NoError(t, s.Close()) }()
	storetest.Put(t, s, storetest.Msg("R", 0, 0, 100))
	storetest.WaitDispatched(t, s, "R", 0, 1)
	sw.Set(errorfs.If(func(op errorfs.Op, path string) bool {
		return op == errorfs.OpRead && strings.Contains(path, "/commitlog/")
	}, syscall.EIO))
	for i := 1; i < 20; i++ {
		storetest.Put(t, s, storetest.Msg("R", 0, i, 100))
	}
	storetest.WaitFor(t, 60*time.Second, func() bool { return hasProblem(s, "dispatch") })
	require.Less(t, s.MaxOffsetInQueue("R", 0), message.QueueOffset(20))
	sw.Set(nil)
	storetest.WaitDispatched(t, s, "R", 0, 20)
	storetest.WaitFor(t, 10*time.Second, func() bool { return !s.Stats().Degraded() })
	require.Len(t, storetest.GetAll(t, s, "R", 0, 0), 20)
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
