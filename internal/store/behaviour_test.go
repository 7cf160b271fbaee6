package store_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/internal/store/storetest"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/internal/vfs/errorfs"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
)

func openStarted(t testing.TB, fsys vfs.FS, cfg store.Config, clk clock.Clock) *store.Store {
	t.Helper()
	s, err := store.Open(fsys, cfg, nil, clk)
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	return s
}

// codeFilter records the tags codes it sees and accepts everything.
type codeFilter struct{ codes *[]int64 }

func (f codeFilter) MatchTagsCode(c int64) bool { *f.codes = append(*f.codes, c); return true }
func (codeFilter) MatchRecord([]byte) bool      { return true }

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	check := func(field string, mut func(c *store.Config)) {
		t.Helper()
		c := store.DefaultConfig()
		mut(&c)
		err := c.Validate()
		require.Error(t, err)
		require.Contains(t, err.Error(), "Config."+field)
		_, err = store.Open(vfs.NewMem(), c, nil, nil)
		require.Error(t, err)
	}
	require.NoError(t, store.DefaultConfig().Validate())
	check("RootDir", func(c *store.Config) { c.RootDir = "" })
	check("CommitLogSegmentSize", func(c *store.Config) { c.CommitLogSegmentSize = 100 })
	check("MaxMessageSize", func(c *store.Config) { c.MaxMessageSize = 2 << 30 })
	check("FlushDiskType", func(c *store.Config) { c.FlushDiskType = 7 })
	check("DiskFullRatio", func(c *store.Config) { c.DiskFullRatio = 120 })
	check("DeleteWhen", func(c *store.Config) { c.DeleteWhen = []int{25} })
	check("MessageDelayLevel", func(c *store.Config) { c.MessageDelayLevel = "1s 5x" })
	check("SyncFlushTimeout", func(c *store.Config) { c.SyncFlushTimeout = 0 })
	levels, err := store.ParseDelayLevels(store.DefaultMessageDelayLevel)
	require.NoError(t, err)
	require.Len(t, levels, 18)
	require.Equal(t, 2*time.Hour, levels[17])
	hours, err := store.ParseDeleteWhen("01;02")
	require.NoError(t, err)
	require.Equal(t, []int{1, 2}, hours)
}

func TestDirectoryLock(t *testing.T) {
	t.Parallel()
	mem := vfs.NewMem()
	s, err := store.Open(mem, testConfig("/store", store.AsyncFlush, 64<<10), nil, nil)
	require.NoError(t, err)
	_, err = store.Open(mem, testConfig("/store", store.AsyncFlush, 64<<10), nil, nil)
	require.Error(t, err, "a second store on the same directory")
	require.NoError(t, s.Close(), "Close before Start")
	s, err = store.Open(mem, testConfig("/store", store.AsyncFlush, 64<<10), nil, nil)
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

func TestDelayTagsCodeAndListener(t *testing.T) {
	t.Parallel()
	cfg := testConfig("/store", store.AsyncFlush, 64<<10)
	cfg.MessageDelayLevel = "2s 4s 1m"
	clk := clock.NewManual(time.UnixMilli(1_700_000_000_000))
	s, err := store.Open(vfs.NewMem(), cfg, nil, clk)
	require.NoError(t, err)
	dq := store.NewDispatchQueue(16)
	s.AddDispatchQueue(dq)
	require.NoError(t, s.Start(context.Background()))
	defer func() { require.NoError(t, s.Close()) }()
	var results []store.PutResult
	for i, level := range []string{"2", "99", "0"} {
		m := storetest.Msg(store.ScheduleTopic, 0, i, 10)
		m.SetProperty(message.PropertyDelayTimeLevel, level)
		results = append(results, storetest.Put(t, s, m))
	}
	storetest.WaitDispatched(t, s, store.ScheduleTopic, 0, 3)
	var codes []int64
	r, err := s.GetMessages(context.Background(), "g", store.ScheduleTopic, 0, 0, 32, codeFilter{&codes}, nil)
	require.NoError(t, err)
	require.Equal(t, 3, r.Count)
	want := []int64{
		results[0].StoreTimestamp + 4000,   // level 2
		results[1].StoreTimestamp + 60_000, // clamped to the last level
		message.TagsHashCode("T2"),         // level 0: no delay, normal tags code
	}
	require.Equal(t, want, codes)
	var events []store.DispatchEvent
	storetest.WaitFor(t, 10*time.Second, func() bool {
		events, _ = dq.Drain(events)
		return len(events) >= 3
	})
	for i := range 3 {
		ev := events[i]
		require.Equal(t, want[i], ev.TagsCode)
		require.Equal(t, message.QueueOffset(i), ev.QueueOffset)
		require.Equal(t, results[i].StoreTimestamp, ev.StoreTimestamp)
	}
}

// TestLongPollWake parks a "pull" on a dispatch-queue signal, the way the
// broker's long polling does, and checks that a put wakes it with the message
// already readable.
func TestLongPollWake(t *testing.T) {
	t.Parallel()
	s, err := store.Open(vfs.NewMem(), testConfig("/store", store.AsyncFlush, 64<<10), nil, nil)
	require.NoError(t, err)
	dq := store.NewDispatchQueue(16)
	s.AddDispatchQueue(dq)
	require.NoError(t, s.Start(context.Background()))
	defer func() { require.NoError(t, s.Close()) }()
	got := make(chan store.GetResult, 1)
	go func() {
		for polled := false; !polled; {
			<-dq.Ready()
			evs, _ := dq.Drain(nil)
			for _, ev := range evs {
				polled = polled || ev.Topic == "Poll"
			}
		}
		r, err := s.GetMessages(context.Background(), "g", "Poll", 0, 0, 32, nil, nil)
		if err != nil {
			t.Error(err)
		}
		got <- r
	}()
	storetest.Put(t, s, storetest.Msg("Poll", 0, 1, 10))
	select {
	case r := <-got:
		require.Equal(t, store.GetFound, r.Status)
		require.Equal(t, 1, r.Count)
	case <-time.After(10 * time.Second):
		t.Fatal("held pull not woken")
	}
}

func TestTransactionRecords(t *testing.T) {
	t.Parallel()
	s := openStarted(t, vfs.NewMem(), testConfig("/store", store.SyncFlush, 64<<10), nil)
	defer func() { require.NoError(t, s.Close()) }()
	put := func(i int, tran message.SysFlag) store.PutResult {
		m := storetest.Msg("Tx", 0, i, 10)
		m.SysFlag = m.SysFlag.WithTransactionType(tran)
		return storetest.Put(t, s, m)
	}
	require.Equal(t, message.QueueOffset(0), put(0, message.SysFlagTransactionNotType).QueueOffset)
	half := put(1, message.SysFlagTransactionPreparedType)
	require.Equal(t, message.QueueOffset(0), half.QueueOffset, "half messages get queue offset 0")
	rb := put(2, message.SysFlagTransactionRollbackType)
	require.Equal(t, message.QueueOffset(1), put(3, message.SysFlagTransactionCommitType).QueueOffset, "half and rollback do not advance the queue")
	storetest.WaitDispatched(t, s, "Tx", 0, 2)
	got := storetest.GetAll(t, s, "Tx", 0, 0)
	require.Len(t, got, 2)
	require.Equal(t, 0, int(got[0].Flag))
	require.Equal(t, 3, int(got[1].Flag))
	// The half message is indexed, the rollback is not.
	storetest.WaitFor(t, 10*time.Second, func() bool {
		q, err := s.QueryMessage("Tx", "key-1", 8, 0, 1<<62)
		require.NoError(t, err)
		return len(q.Records) == 1
	})
	q, err := s.QueryMessage("Tx", "key-2", 8, 0, 1<<62)
	require.NoError(t, err)
	require.Empty(t, q.Records)
	rec, err := s.LookMessageByOffset(half.PhysOffset, nil)
	require.NoError(t, err, "half messages are readable by offset")
	require.NotEmpty(t, rec)
	_, err = s.LookMessageByOffset(rb.PhysOffset, nil)
	require.NoError(t, err)
}

func TestIPv6Hosts(t *testing.T) {
	t.Parallel()
	cfg := testConfig("/store", store.AsyncFlush, 64<<10)
	cfg.StoreHost = netip.MustParseAddrPort("[2001:db8::2]:10911")
	s := openStarted(t, vfs.NewMem(), cfg, nil)
	defer func() { require.NoError(t, s.Close()) }()
	m := storetest.Msg("V6", 0, 1, 10)
	m.BornHost = netip.MustParseAddrPort("[2001:db8::9]:40000")
	res := storetest.Put(t, s, m)
	require.Len(t, res.MsgID, 56)
	storetest.WaitDispatched(t, s, "V6", 0, 1)
	got := storetest.GetAll(t, s, "V6", 0, 0)
	require.Len(t, got, 1)
	require.True(t, got[0].SysFlag.Has(message.SysFlagBornHostV6|message.SysFlagStoreHostV6))
	require.Equal(t, cfg.StoreHost, got[0].StoreHost)
	require.Equal(t, res.MsgID, got[0].OffsetMsgID())
	require.Equal(t, res.StoreTimestamp, got[0].StoreTimestamp)
	off := s.OffsetByTime("V6", 0, res.StoreTimestamp)
	require.Equal(t, message.QueueOffset(0), off)
}

func TestPutErrors(t *testing.T) {
	t.Parallel()
	cfg := testConfig("/store", store.AsyncFlush, 64<<10)
	cfg.MaxMessageSize = 4096
	s := openStarted(t, vfs.NewMem(), cfg, nil)
	defer func() { require.NoError(t, s.Close()) }()
	_, err := storetest.PutErr(s, storetest.Msg("Big", 0, 1, 5000))
	require.ErrorIs(t, err, store.ErrMessageTooLarge)
	_, err = storetest.PutErr(s, storetest.Msg(strings.Repeat("t", 200), 0, 1, 10))
	require.ErrorIs(t, err, store.ErrBadMessage)
	m := storetest.Msg("Bad", 0, 1, 10)
	m.SetProperty("x\x01y", "v")
	_, err = storetest.PutErr(s, m)
	require.ErrorIs(t, err, store.ErrBadMessage)
	var batch []*message.MessageExt
	for i := range 3 {
		batch = append(batch, storetest.Msg("Big", 0, i, 2000))
	}
	_, err = storetest.PutBatch(s, batch)
	require.ErrorIs(t, err, store.ErrMessageTooLarge)
	res := storetest.Put(t, s, storetest.Msg("Big", 0, 1, 100))
	require.Equal(t, message.QueueOffset(0), res.QueueOffset, "failed puts took no queue offset")
}

func TestGetLimits(t *testing.T) {
	t.Parallel()
	cfg := testConfig("/store", store.AsyncFlush, 1<<20)
	cfg.MaxTransferBytesInMemory = 1000
	s := openStarted(t, vfs.NewMem(), cfg, nil)
	defer func() { require.NoError(t, s.Close()) }()
	for i := range 20 {
		storetest.Put(t, s, storetest.Msg("Lim", 0, i, 300))
	}
	storetest.Put(t, s, storetest.Msg("Lim", 1, 0, 5000))
	storetest.WaitDispatched(t, s, "Lim", 0, 20)
	storetest.WaitDispatched(t, s, "Lim", 1, 1)
	ctx := context.Background()
	r, err := s.GetMessages(ctx, "g", "Lim", 0, 0, 32, nil, nil)
	require.NoError(t, err)
	require.Equal(t, 2, r.Count, "byte cap: two ~400-byte records fit in 1000")
	require.Equal(t, message.QueueOffset(2), r.NextBeginOffset)
	require.False(t, r.SuggestPullFromSlave)
	r, err = s.GetMessages(ctx, "g", "Lim", 1, 0, 32, nil, nil)
	require.NoError(t, err)
	require.Equal(t, 1, r.Count, "the first message always goes")

	// With little memory the data counts as on disk: the disk caps apply and
	// the consumer is told to pull from a slave.
	cfg2 := testConfig("/store", store.AsyncFlush, 1<<20)
	cfg2.PhysicalMemorySize = 100
	s2 := openStarted(t, vfs.NewMem(), cfg2, nil)
	defer func() { require.NoError(t, s2.Close()) }()
	for i := range 20 {
		storetest.Put(t, s2, storetest.Msg("Lim", 0, i, 10))
	}
	storetest.WaitDispatched(t, s2, "Lim", 0, 20)
	r, err = s2.GetMessages(ctx, "g", "Lim", 0, 0, 32, nil, nil)
	require.NoError(t, err)
	require.Equal(t, store.DefaultMaxTransferCountOnDisk, r.Count)
	require.True(t, r.SuggestPullFromSlave)
}

func TestConfigFileBackup(t *testing.T) {
	t.Parallel()
	mem := vfs.NewMem()
	s := openStarted(t, mem, testConfig("/store", store.AsyncFlush, 64<<10), nil)
	defer func() { require.NoError(t, s.Close()) }()
	require.NoError(t, s.SaveConfig("topics.json", []byte(`{"v":1}`)))
	require.NoError(t, s.SaveConfig("topics.json", []byte(`{"v":2}`)))
	bak, err := vfs.ReadFile(mem, "/store/config/topics.json.bak")
	require.NoError(t, err)
	require.Equal(t, `{"v":1}`, string(bak))
	// Damage the file: the backup is used.
	require.NoError(t, vfs.WriteFileAtomic(mem, "/store/config/topics.json", []byte(`{"v":`)))
	data, err := s.LoadConfig("topics.json")
	require.NoError(t, err)
	require.Equal(t, `{"v":1}`, string(data))
}

// blockingSync makes fsyncs of commit-log segments wait while armed.
type blockingSync struct {
	armed   atomic.Bool
	release chan struct{}
	entered chan struct{}
}

func (b *blockingSync) MaybeError(op errorfs.Op, path string) error {
	if op == errorfs.OpSync && strings.Contains(path, "commitlog") && b.armed.Load() {
		select {
		case b.entered <- struct{}{}:
		default:
		}
		<-b.release
	}
	return nil
}

func TestSyncFlushTimeoutAndWaitFalse(t *testing.T) {
	t.Parallel()
	inj := &blockingSync{release: make(chan struct{}), entered: make(chan struct{}, 1)}
	fsys := errorfs.Wrap(vfs.NewMem(), inj)
	clk := clock.NewManual(time.UnixMilli(1_700_000_000_000))
	s := openStarted(t, fsys, testConfig("/store", store.SyncFlush, 64<<10), clk)
	// The store's tickers (derived-data flusher, cleaner) are armed by its
	// goroutines; the flush-timeout timer must be counted on top of them.
	const storeTickers = 2
	storetest.WaitFor(t, 10*time.Second, func() bool { return clk.Waiters() >= storeTickers })
	type out struct {
		r   store.PutResult
		err error
	}
	ch := make(chan out, 2)
	fwd := func(c <-chan store.Completion) {
		go func() { x := <-c; ch <- out{x.Result, x.Err} }()
	}
	// A first message creates the segment (its directory fsync must not be the
	// one blocked: a blocked writer writes nothing, and even WAIT=false is only
	// answered once written).
	fwd(storetest.PutAsync(s, storetest.Msg("Slow", 0, 0, 10)))
	require.NoError(t, (<-ch).err)
	inj.armed.Store(true)
	fwd(storetest.PutAsync(s, storetest.Msg("Slow", 0, 1, 10)))
	<-inj.entered
	// WAIT=false: answered without waiting for the flush.
	m := storetest.Msg("Slow", 0, 2, 10)
	m.SetProperty(message.PropertyWaitStoreMsgOK, "false")
	fwd(storetest.PutAsync(s, m))
	o := <-ch
	require.NoError(t, o.err)
	require.Equal(t, message.QueueOffset(2), o.r.QueueOffset)
	// The first waits for its fsync until the flush timeout.
	storetest.WaitFor(t, 10*time.Second, func() bool { return clk.Waiters() > storeTickers })
	clk.Advance(6 * time.Second)
	o = <-ch
	require.NoError(t, o.err)
	require.Equal(t, store.PutFlushDiskTimeout, o.r.Status, "stored, but not durable in time")
	inj.armed.Store(false)
	close(inj.release)
	require.NoError(t, s.Close())
}

func TestFaultInjection(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   errorfs.Op
		err  error
		want []error
	}{
		{"ENOSPC", errorfs.OpWrite, syscall.ENOSPC, []error{store.ErrNotWritable, store.ErrDiskFull}},
		{"fsync", errorfs.OpSync, errorfs.ErrInjected, []error{store.ErrNotWritable}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mem := vfs.NewMem()
			var sw errorfs.Switch
			fsys := errorfs.Wrap(mem, &sw)
			cfg := testConfig("/store", store.SyncFlush, 64<<10)
			s := openStarted(t, fsys, cfg, nil)
			var acked []store.PutResult
			for i := range 20 {
				acked = append(acked, storetest.Put(t, s, storetest.Msg("Fault", 0, i, 100)))
			}
			sw.Set(errorfs.If(func(op errorfs.Op, path string) bool {
				return op == tc.op && strings.Contains(path, "/commitlog/")
			}, tc.err))
			_, err := storetest.PutErr(s, storetest.Msg("Fault", 0, 20, 100))
			for _, w := range tc.want {
				require.ErrorIs(t, err, w)
			}
			// Sticky: later puts fail at once, even with the fault gone.
			sw.Set(nil)
			_, err = storetest.PutErr(s, storetest.Msg("Fault", 0, 21, 100))
			for _, w := range tc.want {
				require.ErrorIs(t, err, w)
			}
			// Reads still work.
			storetest.WaitDispatched(t, s, "Fault", 0, 20)
			require.Len(t, storetest.GetAll(t, s, "Fault", 0, 0)[:20], 20)
			require.Error(t, s.Close(), "Close reports the sticky error")
			// The abort marker stays; reopening recovers every acked message.
			_, err = mem.Stat("/store/abort")
			require.NoError(t, err)
			s = openStarted(t, mem, cfg, nil)
			defer func() { require.NoError(t, s.Close()) }()
			got := storetest.GetAll(t, s, "Fault", 0, 0)
			require.GreaterOrEqual(t, len(got), len(acked))
			for i, a := range acked {
				require.Equal(t, a.PhysOffset, got[i].PhysOffset)
			}
			res := storetest.Put(t, s, storetest.Msg("Fault", 0, 99, 100))
			require.Equal(t, message.QueueOffset(len(got)), res.QueueOffset)
		})
	}
}

// TestRetention: expired segments go at a DeleteWhen hour and not before.
// Everything is by the store's clock (file times come from it too) and in UTC,
// so neither the machine's time zone nor the hour the test runs at matters;
// the background cleaner (woken by the same clock) racing CleanForTest
// changes nothing, since passes are serialised and each trims what moved.
func TestRetention(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2024, 3, 5, 1, 30, 0, 0, time.UTC)
	clk := clock.NewManual(t0)
	// SYNC_FLUSH: every acknowledged segment is durable, so it may be deleted.
	cfg := testConfig("/store", store.SyncFlush, 64<<10)
	cfg.DeleteWhen = []int{t0.Add(74 * time.Hour).Hour()}
	mem := vfs.NewMem()
	mem.SetClock(clk.Now)
	s := openStarted(t, mem, cfg, clk)
	defer func() { require.NoError(t, s.Close()) }()
	const n = 100
	var last store.PutResult
	for i := range n {
		last = storetest.Put(t, s, storetest.Msg("Ret", 0, i, 2000))
	}
	storetest.WaitDispatched(t, s, "Ret", 0, n)
	segs := s.Stats().CommitLogSegments
	require.Greater(t, segs, 2)
	clk.Set(t0.Add(71 * time.Hour)) // not old enough
	s.CleanForTest()
	require.Equal(t, segs, s.Stats().CommitLogSegments)
	clk.Set(t0.Add(73 * time.Hour)) // old enough, but not the hour
	s.CleanForTest()
	require.Equal(t, segs, s.Stats().CommitLogSegments)
	clk.Set(t0.Add(74 * time.Hour)) // the hour
	s.CleanForTest()
	st := s.Stats()
	require.Equal(t, 1, st.CommitLogSegments, "every expired segment but the active one")
	require.Greater(t, st.CommitLogMinOffset, message.PhysOffset(0))
	require.LessOrEqual(t, st.CommitLogMinOffset, last.PhysOffset, "the active segment stays")
	min := s.MinOffsetInQueue("Ret", 0)
	require.Greater(t, min, message.QueueOffset(0))
	r, err := s.GetMessages(context.Background(), "g", "Ret", 0, 0, 32, nil, nil)
	require.NoError(t, err)
	require.Equal(t, store.GetOffsetTooSmall, r.Status, "the queue was trimmed in the same pass")
	require.Equal(t, min, r.NextBeginOffset)
	got := storetest.GetAll(t, s, "Ret", 0, min)
	require.Equal(t, n-int(min), len(got))
	ts, err := s.EarliestMessageTime("Ret", 0)
	require.NoError(t, err)
	require.Equal(t, got[0].StoreTimestamp, ts)
	require.Zero(t, st.SegmentsDeletedUnexpired)
}

func TestMessageWasRemoving(t *testing.T) {
	t.Parallel()
	cfg := testConfig("/store", store.SyncFlush, 64<<10)
	s := openStarted(t, vfs.NewMem(), cfg, nil)
	defer func() { require.NoError(t, s.Close()) }()
	// More removed entries than one pull scans (800), so a pull from 0 finds
	// nothing readable.
	const n = 1500
	var results []store.PutResult
	for i := range n {
		results = append(results, storetest.Put(t, s, storetest.Msg("Rm", 0, i, 200)))
	}
	storetest.WaitDispatched(t, s, "Rm", 0, n)
	cut := results[1400].PhysOffset
	deleted, err := s.DeleteSegmentsForTest(cut)
	require.NoError(t, err)
	require.Positive(t, deleted)
	// Entries below the commit log's minimum are still in the queue (not yet
	// trimmed): a pull there answers MESSAGE_WAS_REMOVING and moves on.
	r, err := s.GetMessages(context.Background(), "g", "Rm", 0, 0, 4, nil, nil)
	require.NoError(t, err)
	require.Equal(t, store.GetMessageWasRemoving, r.Status)
	require.Equal(t, message.QueueOffset(800), r.NextBeginOffset)
	minOff := s.MinOffsetInQueue("Rm", 0)
	require.Positive(t, minOff, "MinOffsetInQueue skips entries below the commit log")
	lo, _ := s.CommitLogForTest()
	e, err := s.MessageStoreTime("Rm", 0, minOff)
	require.NoError(t, err)
	require.Positive(t, e)
	require.GreaterOrEqual(t, results[minOff].PhysOffset, lo)
	require.Less(t, results[minOff-1].PhysOffset, lo)
	// Pulling from the start eventually reaches readable data.
	off := message.QueueOffset(0)
	for range 100 {
		r, err = s.GetMessages(context.Background(), "g", "Rm", 0, off, 32, nil, nil)
		require.NoError(t, err)
		if r.Status == store.GetFound {
			break
		}
		require.Greater(t, r.NextBeginOffset, off)
		off = r.NextBeginOffset
	}
	require.Equal(t, store.GetFound, r.Status)
	_, err = s.LookMessageByOffset(results[0].PhysOffset, nil)
	require.True(t, errors.Is(err, store.ErrNotFound))
}

// TestRebuildDerived deletes the consume queues and index of a cleanly closed
// store: the next open rebuilds them from the commit log.
func TestRebuildDerived(t *testing.T) {
	t.Parallel()
	mem := vfs.NewMem()
	cfg := testConfig("/store", store.AsyncFlush, 64<<10)
	s := openStarted(t, mem, cfg, nil)
	for i := range 50 {
		storetest.Put(t, s, storetest.Msg("Re", int32(i%2), i, 500))
	}
	require.NoError(t, s.Close())
	require.NoError(t, mem.RemoveAll("/store/consumequeue"))
	require.NoError(t, mem.RemoveAll("/store/index"))
	s = openStarted(t, mem, cfg, nil)
	defer func() { require.NoError(t, s.Close()) }()
	require.Equal(t, message.QueueOffset(25), s.MaxOffsetInQueue("Re", 1))
	require.Len(t, storetest.GetAll(t, s, "Re", 1, 0), 25)
	q, err := s.QueryMessage("Re", "key-7", 8, 0, 1<<62)
	require.NoError(t, err)
	require.Len(t, q.Records, 1)
	res := storetest.Put(t, s, storetest.Msg("Re", 0, 99, 10))
	require.Equal(t, message.QueueOffset(25), res.QueueOffset)
}

// blockingWrite blocks commit-log writes (pwrite) while armed.
type blockingWrite struct {
	armed   atomic.Bool
	release chan struct{}
	entered chan struct{}
}

func (b *blockingWrite) MaybeError(op errorfs.Op, path string) error {
	if op == errorfs.OpWrite && strings.Contains(path, "commitlog") && b.armed.Load() {
		select {
		case b.entered <- struct{}{}:
		default:
		}
		<-b.release
	}
	return nil
}

// TestAsyncFlushAcksOnlyWrittenMessages checks the ASYNC_FLUSH acknowledgement
// point: a put is answered once the commit log's writer has handed the record to
// the OS, never while it only sits in the log's own buffer (a kill -9 would lose
// it there).
func TestAsyncFlushAcksOnlyWrittenMessages(t *testing.T) {
	t.Parallel()
	inj := &blockingWrite{release: make(chan struct{}), entered: make(chan struct{}, 1)}
	fsys := errorfs.Wrap(vfs.NewMem(), inj)
	clk := clock.NewManual(time.UnixMilli(1_700_000_000_000))
	s := openStarted(t, fsys, testConfig("/store", store.AsyncFlush, 64<<10), clk)
	type out struct {
		r   store.PutResult
		err error
	}
	ch := make(chan out, 1)
	fwd := func(c <-chan store.Completion) {
		go func() { x := <-c; ch <- out{x.Result, x.Err} }()
	}
	// The first put creates the segment; the write after it is the one blocked.
	fwd(storetest.PutAsync(s, storetest.Msg("W", 0, 0, 10)))
	require.NoError(t, (<-ch).err)
	inj.armed.Store(true)
	fwd(storetest.PutAsync(s, storetest.Msg("W", 0, 1, 10)))
	<-inj.entered
	select {
	case o := <-ch:
		t.Fatalf("put answered (%+v) while its record was not yet written", o)
	case <-time.After(200 * time.Millisecond):
	}
	inj.armed.Store(false)
	close(inj.release)
	o := <-ch
	require.NoError(t, o.err)
	require.Equal(t, message.QueueOffset(1), o.r.QueueOffset)
	require.NoError(t, s.Close())
}
