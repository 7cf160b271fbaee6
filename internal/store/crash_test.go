package store_test

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/internal/store/checkpoint"
	"github.com/petrelmq/petrel/internal/store/consumequeue"
	"github.com/petrelmq/petrel/internal/store/storetest"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
)

// seed returns the seed of a randomised test (STORE_SEED overrides) and logs it.
func seed(t *testing.T) uint64 {
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("STORE_SEED"); v != "" {
		s, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("seed %d (rerun with STORE_SEED=%d)", s, s)
	return s
}

var crashTopics = []string{"CrashA", "CrashB", store.ScheduleTopic}

// ack is an acknowledged put: the message as sent and its result.
type ack struct {
	msg *message.MessageExt
	res store.PutResult
	idx int // position in a batch
}

func crashConfig(mode store.FlushDiskType) store.Config {
	cfg := testConfig("/store", mode, 64<<10)
	cfg.MaxMessageSize = 16 << 10
	// Small files: a queue creates many of them between two flushes, so a crash
	// can lose any of their directory entries and pages (recovery must rebuild
	// such a queue from the commit log).
	cfg.ConsumeQueueEntriesPerFile = 8
	cfg.MaxHashSlotNum = 64
	cfg.MaxIndexNum = 64
	cfg.FlushInterval = 5 * time.Millisecond
	return cfg
}

// TestCrashRecovery runs a random concurrent workload on a crashable MemFS,
// takes crash clones at random points with random unsynced fractions, and checks
// each clone after recovery: every SYNC_FLUSH-acknowledged message is present and
// byte-identical, no partial record is visible, queue offsets are contiguous,
// consume queues and index match the commit log, and the checkpoint taken from
// the clone is no later than its durable consume-queue data.
func TestCrashRecovery(t *testing.T) {
	for _, mode := range []store.FlushDiskType{store.SyncFlush, store.AsyncFlush} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed(t), 1))
			for round := range 3 {
				crashRound(t, rng, mode, round)
			}
		})
	}
}

func crashRound(t *testing.T, rng *rand.Rand, mode store.FlushDiskType, round int) {
	mem := vfs.NewCrashableMem()
	cfg := crashConfig(mode)
	clk := clock.NewManual(time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC))
	s, err := store.Open(mem, cfg, nil, clk)
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))

	var (
		mu   sync.Mutex
		acks []ack
		stop atomic.Bool
		wg   sync.WaitGroup
		n    atomic.Int64
		done = store.NewCompletions()
	)
	// The store reports acknowledgements on done; this goroutine records them
	// (later than they happen, which only makes a snapshot of acks smaller).
	collected, finish := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(collected)
		var cs []store.Completion
		record := func() {
			cs = done.Drain(cs[:0])
			mu.Lock()
			defer mu.Unlock()
			for _, c := range cs {
				if c.Err == nil && c.Result.Status == store.PutOK {
					for j, w := range c.Tag.([]*message.MessageExt) {
						acks = append(acks, ack{w, c.Result, j})
					}
				}
			}
		}
		for {
			select {
			case <-done.Ready():
				record()
			case <-finish:
				record() // Close completed every put
				return
			}
		}
	}()
	writer := func(w int, wseed uint64) {
		defer wg.Done()
		r := rand.New(rand.NewPCG(wseed, uint64(w)))
		for i := 0; !stop.Load(); i++ {
			id := w*1_000_000 + i
			topic := crashTopics[r.IntN(len(crashTopics))]
			q := int32(r.IntN(3))
			mk := func(j int) *message.MessageExt {
				m := storetest.Msg(topic, q, id*10+j, 1+r.IntN(3000))
				if topic == store.ScheduleTopic {
					m.SetProperty(message.PropertyDelayTimeLevel, strconv.Itoa(1+int(q)))
				}
				return m
			}
			clk.Advance(time.Millisecond)
			if r.IntN(10) == 0 {
				batch := []*message.MessageExt{mk(0), mk(1), mk(2)}
				wants := []*message.MessageExt{cloneMsg(batch[0]), cloneMsg(batch[1]), cloneMsg(batch[2])}
				s.Put(batch, done, wants)
			} else {
				m := mk(0)
				if r.IntN(20) == 0 {
					m.SysFlag = m.SysFlag.WithTransactionType(message.SysFlagTransactionPreparedType)
				}
				s.Put([]*message.MessageExt{m}, done, []*message.MessageExt{cloneMsg(m)})
			}
			n.Add(1)
			if r.IntN(50) == 0 {
				if err := s.FlushDerivedForTest(); err != nil {
					t.Error(err)
				}
			}
		}
	}
	for w := range 3 {
		wg.Add(1)
		go writer(w, rng.Uint64())
	}
	type crash struct {
		fs   *vfs.MemFS
		acks []ack
		frac float64
	}
	var crashes []crash
	for range 3 {
		target := n.Load() + 50 + int64(rng.IntN(400))
		storetest.WaitFor(t, 30*time.Second, func() bool { return n.Load() >= target })
		mu.Lock()
		snapshot := append([]ack(nil), acks...)
		mu.Unlock()
		frac := rng.Float64()
		crashes = append(crashes, crash{mem.CrashClone(vfs.CrashCloneOptions{UnsyncedFraction: frac, Seed: rng.Uint64()}), snapshot, frac})
	}
	stop.Store(true)
	wg.Wait()
	require.NoError(t, s.Close())
	close(finish)
	<-collected

	for i, c := range crashes {
		t.Logf("round %d crash %d: %d acks, unsynced fraction %.2f", round, i, len(c.acks), c.frac)
		checkCrashClone(t, c.fs, cfg, clk, c.acks, mode)
	}
}

func cloneMsg(m *message.MessageExt) *message.MessageExt {
	c := *m
	c.Body = append([]byte(nil), m.Body...)
	c.Properties = map[string]string{}
	for k, v := range m.Properties {
		c.Properties[k] = v
	}
	return &c
}

// checkCrashClone recovers a crash clone and checks the invariants.
func checkCrashClone(t *testing.T, fsys *vfs.MemFS, cfg store.Config, clk clock.Clock, acks []ack, mode store.FlushDiskType) {
	t.Helper()
	// The checkpoint as the crash left it, and the consume queues' durable
	// entries, before recovery changes anything.
	cp, err := checkpoint.Load(fsys, "/store/checkpoint")
	require.NoError(t, err)
	rawMax := map[string]message.QueueOffset{}
	probe := fsys.CrashClone(vfs.CrashCloneOptions{}) // everything is synced in a clone
	for _, topic := range crashTopics {
		for q := range 3 {
			dir := "/store/consumequeue/" + topic + "/" + strconv.Itoa(q)
			if _, err := probe.Stat(dir); err != nil {
				continue
			}
			cq, err := consumequeue.Open(probe, dir, consumequeue.Config{EntriesPerFile: cfg.ConsumeQueueEntriesPerFile, WriteBufferEntries: 16})
			require.NoError(t, err)
			rawMax[topic+"/"+strconv.Itoa(q)] = cq.MaxOffset()
			require.NoError(t, cq.Close())
		}
	}

	s, err := store.Open(fsys, cfg, nil, clk)
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()

	// Walk the recovered commit log: every record is whole (Scan validates) and
	// its queue offsets are contiguous per queue.
	type rec struct {
		off message.PhysOffset
		m   *message.MessageExt
	}
	perQueue := map[string][]rec{}
	byOff := map[message.PhysOffset]*message.MessageExt{}
	var maxTs int64
	require.NoError(t, s.ScanForTest(func(off message.PhysOffset, b []byte) error {
		m, _, err := message.DecodeMessage(b)
		require.NoError(t, err)
		byOff[off] = m
		maxTs = max(maxTs, m.StoreTimestamp)
		tran := m.SysFlag.TransactionType()
		if tran == message.SysFlagTransactionPreparedType {
			require.Equal(t, message.QueueOffset(0), m.QueueOffset)
			return nil
		}
		k := m.Topic + "/" + strconv.Itoa(int(m.QueueID))
		perQueue[k] = append(perQueue[k], rec{off, m})
		return nil
	}))
	// Every acknowledged message is there, byte for byte as acknowledged.
	if mode == store.SyncFlush {
		for _, a := range acks {
			off := a.res.PhysOffset
			qoff := a.res.QueueOffset
			for j := 0; j < a.idx; j++ { // later messages of a batch
				off += message.PhysOffset(byOff[off].StoreSize)
				qoff++
			}
			m := byOff[off]
			require.NotNil(t, m, "acked message at %d missing", off)
			require.Equal(t, a.msg.Body, m.Body)
			require.Equal(t, a.msg.Properties, m.Properties)
			require.Equal(t, a.msg.Topic, m.Topic)
			if a.msg.SysFlag.TransactionType() != message.SysFlagTransactionPreparedType {
				require.Equal(t, qoff, m.QueueOffset)
			}
		}
	}
	// Consume queues match the commit log exactly.
	for k, recs := range perQueue {
		topic, q := k[:len(k)-2], int32(k[len(k)-1]-'0')
		for i, r := range recs {
			require.Equal(t, message.QueueOffset(i), r.m.QueueOffset, "queue %s offsets contiguous", k)
		}
		require.Equal(t, message.QueueOffset(len(recs)), s.MaxOffsetInQueue(topic, q), "queue %s fully dispatched", k)
		require.Equal(t, message.QueueOffset(0), s.MinOffsetInQueue(topic, q), "queue %s starts at 0 (raw max before recovery %d, first record at %d)",
			k, rawMax[k], recs[0].off)
		for i := range recs {
			r, err := s.GetMessages(context.Background(), "g", topic, q, message.QueueOffset(i), 1, nil, nil)
			require.NoError(t, err)
			require.Equal(t, store.GetFound, r.Status, "queue %s entry %d", k, i)
			ms, err := message.DecodeMessages(r.Body)
			if err != nil || len(ms) != 1 || ms[0].PhysOffset != recs[i].off {
				t.Fatalf("queue %s entry %d: body %d bytes, want record at %d of %d bytes (%v, %d decoded), raw max %d, cp %d/%d, record ts %d",
					k, i, len(r.Body), recs[i].off, recs[i].m.StoreSize, err, len(ms), rawMax[k], cp.LogicsMsgTimestamp(), cp.PhysicMsgTimestamp(), recs[i].m.StoreTimestamp)
			}
		}
		got := storetest.GetAll(t, s, topic, q, 0)
		require.Len(t, got, len(recs))
		for i, g := range got {
			require.Equal(t, recs[i].off, g.PhysOffset, "queue %s entry %d points at its record", k, i)
		}
		// Checkpoint no later than durable consume-queue data: every record
		// stored before the checkpoint's time had its entry on disk (records
		// sharing its millisecond may lie after the flushed position).
		for _, r := range recs {
			if r.m.StoreTimestamp < cp.LogicsMsgTimestamp() {
				require.Less(t, r.m.QueueOffset, rawMax[k], "queue %s entry %d (ts %d) not durable but checkpoint says %d",
					k, r.m.QueueOffset, r.m.StoreTimestamp, cp.LogicsMsgTimestamp())
			}
		}
	}
	if cp.PhysicMsgTimestamp() > 0 {
		require.LessOrEqual(t, cp.PhysicMsgTimestamp(), maxTs, "checkpoint physic time past durable data")
	}
	// The index holds every record's unique key.
	for off, m := range byOff {
		if m.SysFlag.TransactionType() == message.SysFlagTransactionRollbackType {
			continue
		}
		qr, err := s.QueryMessage(m.Topic, m.Properties[message.PropertyUniqKey], 64, 0, 1<<62)
		require.NoError(t, err)
		found := false
		for _, b := range qr.Records {
			g, _, err := message.DecodeMessage(b)
			require.NoError(t, err)
			found = found || g.PhysOffset == off
		}
		require.True(t, found, "record at %d not in the index", off)
	}
}
