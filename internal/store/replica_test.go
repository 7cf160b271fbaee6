package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/internal/store/storetest"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
)

var replTopics = []string{"TopicA", "TopicB"}

// putMessages stores n messages spread over two topics of four queues each,
// with random body sizes.
func putMessages(t *testing.T, s *store.Store, r *rand.Rand, first, n int) {
	t.Helper()
	q := store.NewCompletions()
	for i := first; i < first+n; i++ {
		s.Put([]*message.MessageExt{storetest.Msg(replTopics[i%2], int32(i%4), i, r.IntN(600))}, q, nil)
	}
	for got := 0; got < n; {
		c, err := q.Next(context.Background())
		require.NoError(t, err)
		require.NoError(t, c.Err)
		got++
	}
}

// replicate copies m's commit log into s from s's end to m's end in random
// pieces, as the HA stream does.
func replicate(t *testing.T, m, s *store.Store, r *rand.Rand) {
	t.Helper()
	off := s.CommitLogMaxOffset()
	if s.CommitLogEmpty() {
		off = m.CommitLogMinOffset()
	}
	var buf []byte
	for off < m.CommitLogMaxOffset() {
		var err error
		buf, err = m.ReadCommitLog(off, 1+r.IntN(3000), buf[:0])
		require.NoError(t, err)
		off, err = s.AppendReplicated(context.Background(), off, buf)
		require.NoError(t, err)
	}
}

// requireSameQueues checks that every queue of m reads the same on s.
func requireSameQueues(t *testing.T, m, s *store.Store) {
	t.Helper()
	for _, x := range []*store.Store{m, s} {
		storetest.WaitFor(t, 10*time.Second, func() bool { return x.DispatchedForTest() >= int64(x.CommitLogMaxOffset()) })
	}
	for _, topic := range replTopics {
		for _, qid := range m.QueueIDs(topic) {
			want := m.MaxOffsetInQueue(topic, qid)
			storetest.WaitDispatched(t, s, topic, qid, want)
			require.Equal(t, want, s.MaxOffsetInQueue(topic, qid))
			require.Equal(t, m.MinOffsetInQueue(topic, qid), s.MinOffsetInQueue(topic, qid))
			a := storetest.GetAll(t, m, topic, qid, m.MinOffsetInQueue(topic, qid))
			b := storetest.GetAll(t, s, topic, qid, s.MinOffsetInQueue(topic, qid))
			require.Equal(t, len(a), len(b))
			for i := range a {
				require.Equal(t, a[i].Body, b[i].Body)
				require.Equal(t, a[i].QueueOffset, b[i].QueueOffset)
				require.Equal(t, a[i].PhysOffset, b[i].PhysOffset)
			}
		}
	}
}

func TestReplicateStore(t *testing.T) {
	forEachConfig(t, func(t *testing.T, e env) {
		r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
		mfs, mroot := e.newLoc(t)
		sfs, sroot := e.newLoc(t)
		sroot += "-slave"
		m := openStarted(t, mfs, e.config(mroot), clock.Real{})
		defer m.Close()
		s := openStarted(t, sfs, e.config(sroot), clock.Real{})
		putMessages(t, m, r, 0, 150)
		replicate(t, m, s, r)
		putMessages(t, m, r, 150, 100)
		replicate(t, m, s, r)
		requireSameQueues(t, m, s)
		res, err := s.QueryMessage("TopicA", "key-10", 10, 0, 1<<62)
		require.NoError(t, err)
		require.Len(t, res.Records, 1)

		require.NoError(t, s.Close())
		s = openStarted(t, sfs, e.config(sroot), clock.Real{})
		defer s.Close()
		requireSameQueues(t, m, s)
		require.Equal(t, m.CommitLogMaxOffset(), s.CommitLogMaxOffset())
	})
}

func TestTruncateCommitLogStore(t *testing.T) {
	forEachConfig(t, func(t *testing.T, e env) {
		r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
		fsys, root := e.newLoc(t)
		s := openStarted(t, fsys, e.config(root), clock.Real{})
		putMessages(t, s, r, 0, 200)
		// Cut after record 120: find its end.
		var starts, ends []message.PhysOffset
		require.NoError(t, s.ScanForTest(func(off message.PhysOffset, rec []byte) error {
			starts = append(starts, off)
			ends = append(ends, off+message.PhysOffset(len(rec)))
			return nil
		}))
		require.Len(t, ends, 200)
		to := ends[119]
		storetest.WaitFor(t, 10*time.Second, func() bool { return s.DispatchedForTest() >= int64(ends[199]) })

		require.Error(t, s.TruncateCommitLog(context.Background(), s.CommitLogMaxOffset()+1))
		require.NoError(t, s.TruncateCommitLog(context.Background(), to))
		require.Equal(t, to, s.CommitLogMaxOffset())
		start, end, err := s.LastCommitLogRecord(s.CommitLogMaxOffset())
		require.NoError(t, err)
		require.Equal(t, ends[119], end)
		require.Equal(t, starts[119], start)

		check := func(s *store.Store, n int) {
			t.Helper()
			for i := range 8 {
				topic, qid := replTopics[i%2], int32(i%4)
				want := 0
				for j := 0; j < n; j++ {
					if replTopics[j%2] == topic && int32(j%4) == qid {
						want++
					}
				}
				storetest.WaitDispatched(t, s, topic, qid, message.QueueOffset(want))
				require.Equal(t, message.QueueOffset(want), s.MaxOffsetInQueue(topic, qid), "%s/%d", topic, qid)
				require.Len(t, storetest.GetAll(t, s, topic, qid, 0), want)
			}
		}
		check(s, 120)
		for _, tc := range []struct {
			key   string
			found bool
		}{{"key-100", true}, {"key-150", false}} {
			res, err := s.QueryMessage(replTopics[0], tc.key, 10, 0, 1<<62)
			require.NoError(t, err)
			require.Equal(t, tc.found, len(res.Records) == 1, tc.key)
		}

		// New records continue the queues where the cut left them.
		putMessages(t, s, r, 120, 40)
		check(s, 160)
		require.NoError(t, s.Close())
		s = openStarted(t, fsys, e.config(root), clock.Real{})
		defer s.Close()
		check(s, 160)
	})
}

func TestResetCommitLogStore(t *testing.T) {
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	cfg := testConfig("/m", store.AsyncFlush, 8<<10)
	m := openStarted(t, vfs.NewMem(), cfg, clock.Real{})
	defer m.Close()
	sfs := vfs.NewMem()
	s := openStarted(t, sfs, testConfig("/s", store.AsyncFlush, 8<<10), clock.Real{})
	defer s.Close()
	putMessages(t, m, r, 0, 100)
	putMessages(t, s, r, 0, 10) // something to throw away
	base := m.CommitLogMaxOffset() - m.CommitLogMaxOffset()%(8<<10)
	require.Positive(t, base)
	require.Error(t, s.ResetCommitLog(context.Background(), base+1))
	require.NoError(t, s.ResetCommitLog(context.Background(), base))
	require.True(t, s.CommitLogEmpty())
	require.Equal(t, base, s.CommitLogMinOffset())
	require.Equal(t, base, s.CommitLogMaxOffset())
	for i := range 8 {
		topic, qid := replTopics[i%2], int32(i%4)
		require.Equal(t, s.MinOffsetInQueue(topic, qid), s.MaxOffsetInQueue(topic, qid))
	}
	// The master's data from base on: its queues' entries land at the
	// master's queue offsets.
	replicate(t, m, s, r)
	for _, x := range []*store.Store{m, s} {
		storetest.WaitFor(t, 10*time.Second, func() bool { return x.DispatchedForTest() >= int64(x.CommitLogMaxOffset()) })
	}
	filled := 0
	for i := range 8 {
		topic, qid := replTopics[i%2], int32(i%4)
		if s.MaxOffsetInQueue(topic, qid) == s.MinOffsetInQueue(topic, qid) {
			// No record of this queue in the master's last segment: the reset
			// slave has no such queue (a pull answers NO_MATCHED_LOGIC_QUEUE).
			continue
		}
		got := storetest.GetAll(t, s, topic, qid, s.MinOffsetInQueue(topic, qid))
		require.NotEmpty(t, got)
		filled++
		all := storetest.GetAll(t, m, topic, qid, 0)
		require.Equal(t, all[len(all)-len(got):][0].Body, got[0].Body)
		require.Equal(t, m.MaxOffsetInQueue(topic, qid), got[len(got)-1].QueueOffset+1)
		require.Equal(t, m.MaxOffsetInQueue(topic, qid), s.MaxOffsetInQueue(topic, qid))
	}
	require.Positive(t, filled)
}

// fakeReplicator answers every wait with a fixed status, at once or later.
type fakeReplicator struct {
	mu      sync.Mutex
	st      store.PutStatus
	later   bool
	pending []*store.ReplicaWait
	calls   []message.PhysOffset
}

func (f *fakeReplicator) WaitReplicated(upTo message.PhysOffset, w *store.ReplicaWait) {
	f.mu.Lock()
	f.calls = append(f.calls, upTo)
	if f.later {
		f.pending = append(f.pending, w)
		f.mu.Unlock()
		return
	}
	f.mu.Unlock()
	w.Done(f.st)
	w.Done(store.PutOK) // a second call is ignored
}

func (f *fakeReplicator) release(st store.PutStatus) {
	f.mu.Lock()
	p := f.pending
	f.pending = nil
	f.mu.Unlock()
	for _, w := range p {
		w.Done(st)
	}
}

func TestReplicatorStatus(t *testing.T) {
	for _, mode := range []store.FlushDiskType{store.AsyncFlush, store.SyncFlush} {
		t.Run(mode.String(), func(t *testing.T) {
			s := openStarted(t, vfs.NewMem(), testConfig("/s", mode, 1<<20), clock.Real{})
			defer s.Close()
			for _, st := range []store.PutStatus{store.PutOK, store.PutFlushSlaveTimeout, store.PutSlaveNotAvailable} {
				f := &fakeReplicator{st: st}
				s.SetReplicator(f)
				res := storetest.Put(t, s, storetest.Msg("T", 0, 1, 10))
				require.Equal(t, st, res.Status)
				require.Equal(t, []message.PhysOffset{res.PhysOffset + message.PhysOffset(res.Size)}, f.calls)
			}

			// WAIT=false does not wait for a slave.
			f := &fakeReplicator{later: true}
			s.SetReplicator(f)
			msg := storetest.Msg("T", 0, 2, 10)
			msg.Properties[message.PropertyWaitStoreMsgOK] = "false"
			require.Equal(t, store.PutOK, storetest.Put(t, s, msg).Status)
			require.Empty(t, f.calls)

			// The answer waits for the replicator.
			ch := storetest.PutAsync(s, storetest.Msg("T", 0, 3, 10))
			storetest.WaitFor(t, 5*time.Second, func() bool {
				f.mu.Lock()
				defer f.mu.Unlock()
				return len(f.pending) == 1
			})
			select {
			case c := <-ch:
				t.Fatalf("answered before the slave: %+v", c)
			case <-time.After(50 * time.Millisecond):
			}
			f.release(store.PutFlushSlaveTimeout)
			c := <-ch
			require.NoError(t, c.Err)
			require.Equal(t, store.PutFlushSlaveTimeout, c.Result.Status)

			s.SetReplicator(nil)
			require.Equal(t, store.PutOK, storetest.Put(t, s, storetest.Msg("T", 0, 4, 10)).Status)
		})
	}
}

func TestCommitLogWrittenSignal(t *testing.T) {
	s := openStarted(t, vfs.NewMem(), testConfig("/s", store.AsyncFlush, 1<<20), clock.Real{})
	defer s.Close()
	ch := s.CommitLogWritten()
	max := s.CommitLogMaxOffset()
	storetest.Put(t, s, storetest.Msg("T", 0, 1, 10))
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no signal")
	}
	require.Greater(t, s.CommitLogMaxOffset(), max)
}

func TestLastCommitLogRecord(t *testing.T) {
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 4))
	s := openStarted(t, vfs.NewMem(), testConfig("/s", store.AsyncFlush, 8<<10), clock.Real{})
	defer s.Close()
	_, _, err := s.LastCommitLogRecord(100)
	require.ErrorIs(t, err, store.ErrNotFound)
	putMessages(t, s, r, 0, 100)
	type rec struct{ start, end message.PhysOffset }
	var recs []rec
	require.NoError(t, s.ScanForTest(func(off message.PhysOffset, b []byte) error {
		recs = append(recs, rec{off, off + message.PhysOffset(len(b))})
		return nil
	}))
	storetest.WaitFor(t, 10*time.Second, func() bool { return s.DispatchedForTest() >= int64(recs[len(recs)-1].end) })
	for _, limit := range []message.PhysOffset{recs[0].end, recs[0].end + 1, recs[50].end - 1, recs[50].end,
		recs[99].end, recs[99].end + 100, 8 << 10, 16<<10 + 1} {
		want := rec{}
		for _, x := range recs {
			if x.end <= limit {
				want = x
			}
		}
		start, end, err := s.LastCommitLogRecord(limit)
		require.NoError(t, err, fmt.Sprint(limit))
		require.Equal(t, want, rec{start, end}, "limit %d", limit)
	}
	_, _, err = s.LastCommitLogRecord(recs[0].end - 1)
	require.ErrorIs(t, err, store.ErrNotFound)
	_ = strconv.Itoa
}

// TestReplicaQueueOffsets: the topic-queue table follows the replicated queue
// offsets, so a slave could take puts as a master without reusing offsets.
func TestReplicaQueueOffsets(t *testing.T) {
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	m := openStarted(t, vfs.NewMem(), testConfig("/m", store.AsyncFlush, 1<<20), clock.Real{})
	defer m.Close()
	s := openStarted(t, vfs.NewMem(), testConfig("/s", store.AsyncFlush, 1<<20), clock.Real{})
	defer s.Close()
	putMessages(t, m, r, 0, 50)
	replicate(t, m, s, r)
	requireSameQueues(t, m, s)
	res := storetest.Put(t, s, storetest.Msg("TopicA", 2, 1000, 10))
	require.Equal(t, m.MaxOffsetInQueue("TopicA", 2), res.QueueOffset)
}
