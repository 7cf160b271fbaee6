package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"runtime/pprof"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/internal/store/checkpoint"
	"github.com/petrelmq/petrel/internal/store/commitlog"
	"github.com/petrelmq/petrel/internal/store/consumequeue"
	"github.com/petrelmq/petrel/internal/store/index"
	"github.com/petrelmq/petrel/internal/store/timer"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
)

var _ MessageStore = (*Store)(nil)

// ScheduleTopic is the system topic of delayed messages: its consume-queue tags
// code is the delivery time.
const ScheduleTopic = "SCHEDULE_TOPIC_XXXX"

// Store is the file-based MessageStore: one commit log, consume queues and an
// index derived from it by the dispatcher, a checkpoint and an abort marker, in
// RocketMQ 4.x's layout. See the package documentation for the goroutines, lock
// order, recovery and shutdown. All methods are safe for concurrent use.
type Store struct {
	fs     vfs.FS
	cfg    Config
	log    *slog.Logger
	clk    clock.Clock
	delays []time.Duration
	idHost string // upper-case hex of StoreHost, the prefix of offset message ids

	dirLock io.Closer
	clog    *commitlog.Log
	// idx is nil when MessageIndexEnable is false. The dispatcher replaces it
	// when it repairs the index (reopenIndex), holding idxMu; other goroutines
	// hold idxMu shared while they use it.
	idx   *index.Service
	idxMu sync.RWMutex
	timer *timer.Log // timer messages' delivery index (Timer)
	cp    *checkpoint.Checkpoint

	// putGate: a put holds it shared from its closed check until its append
	// returned; Close takes it exclusively once to wait for in-flight appends.
	putGate sync.RWMutex
	closed  atomic.Bool

	// tq is the topic-queue table: the next queue offset of every queue, handed
	// out under the commit log's append lock (see putReq.assign).
	tq struct {
		sync.RWMutex
		m map[string]map[int32]*atomic.Int64
	}
	// cq holds the open consume queues. Creation and DeleteTopic hold the write
	// lock across their file I/O, so a queue directory is never created while
	// it is being removed.
	cq struct {
		sync.RWMutex
		m map[string]map[int32]*consumequeue.Queue
	}
	cqCfg consumequeue.Config

	// Dispatcher state. dispatched is the watermark: every record below it has
	// been dispatched. dispatchedTs is the store time of the last record below
	// it; it is stored after dispatched, so a reader that loads dispatchedTs and
	// then dispatched gets a time of a record below the offset it reads.
	dispatched   atomic.Int64
	dispatchedTs atomic.Int64
	dispatchWake chan struct{} // cap 1
	// cpUnsaved: the last checkpoint write failed, so the checkpoint's values
	// in memory are ahead of the file; the next flushDerived writes it again.
	cpUnsaved atomic.Bool
	dqueues   atomic.Pointer[[]*DispatchQueue]
	disp      dispatcher // owned by Open's recovery, then by the dispatcher goroutine

	repl replicaState // replication support (replica.go)
	// fence, if set, is the error every new put is refused with
	// (SetWriteFence); dispatchLimit, if not negative, is the offset the
	// dispatcher stops before (SetDispatchLimit).
	fence         atomic.Pointer[error]
	dispatchLimit atomic.Int64

	// Disk guard (clean.go). diskRatio and cqDiskRatio: math.Float64bits of
	// the last measured used ratio of the commit-log and consume-queue
	// filesystems.
	diskFull       atomic.Bool
	diskFullSince  atomic.Int64 // Unix ms
	diskFullWhy    atomic.Pointer[string]
	diskRatio      atomic.Uint64
	cqDiskRatio    atomic.Uint64
	statfsFailing  atomic.Bool
	spaceWake      chan struct{} // cap 1: the cleaner measures the disk
	nextSpaceCheck atomic.Int64  // commit-log offset at which to measure again
	refusedCheckAt atomic.Int64  // clock ns before which a refused put asks for no measurement
	allocFailSince atomic.Int64  // Unix ms of the commit log's first failed allocation in a row; 0 if none

	// Retention (clean.go): passes are serialised by cleanMu, which guards
	// trimmedTo, the commit-log minimum the derived files were last trimmed to.
	cleanMu          sync.Mutex
	trimmedTo        message.PhysOffset
	forcedDeletions  atomic.Int64 // unexpired segments deleted for space
	expiredDeletions atomic.Int64 // segments deleted past FileReservedTime
	forcedMessages   atomic.Int64 // consume-queue entries they held
	progress         atomic.Pointer[ConsumerProgress]

	// health holds the problems Stats reports; repairMu guards repairReq,
	// repairs asked of the dispatcher by other goroutines (repair.go).
	health    health
	repairMu  sync.Mutex
	repairReq map[repairKey]error

	putCount  atomic.Int64
	getCount  atomic.Int64
	putLatMax atomic.Int64 // µs

	bufPool sync.Pool // *[]byte record encoding buffers
	cfgMu   sync.Mutex

	lc struct {
		sync.Mutex
		started bool
		closed  bool
	}
	ctx          context.Context // the store's lifetime; cancelled by Close
	cancel       context.CancelFunc
	stopBg       chan struct{}
	stopDispatch chan struct{}
	bgWG         sync.WaitGroup // cleaner and derived-data flusher
	dispWG       sync.WaitGroup // dispatcher
	closeOnce    sync.Once
	closeErr     error
}

// Open locks the store directory (a lock file in RootDir), recovers the commit
// log, consume queues and index (see the package documentation for the rules
// after a clean stop and after a crash), re-dispatches what the derived files
// miss, and creates the abort marker. It starts no goroutines (Start does). log
// may be nil (discard); clk may be nil (clock.Real).
func Open(fsys vfs.FS, cfg Config, log *slog.Logger, clk clock.Clock) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if clk == nil {
		clk = clock.Real{}
	}
	delays, _ := ParseDelayLevels(cfg.MessageDelayLevel) // validated
	s := &Store{
		fs:           fsys,
		cfg:          cfg,
		log:          log.With("component", "store"),
		clk:          clk,
		delays:       delays,
		idHost:       message.OffsetMsgID(cfg.StoreHost, 0),
		dispatchWake: make(chan struct{}, 1),
		spaceWake:    make(chan struct{}, 1),
		stopBg:       make(chan struct{}),
		stopDispatch: make(chan struct{}),
		cqCfg:        consumequeue.Config{EntriesPerFile: cfg.ConsumeQueueEntriesPerFile, WriteBufferEntries: 256},
	}
	s.idHost = s.idHost[:len(s.idHost)-16]
	s.tq.m = make(map[string]map[int32]*atomic.Int64)
	s.cq.m = make(map[string]map[int32]*consumequeue.Queue)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.disp.s = s
	s.dispatchLimit.Store(-1)
	if err := fsys.MkdirAll(cfg.RootDir, 0o755); err != nil {
		return nil, fmt.Errorf("store: create %s: %w", cfg.RootDir, err)
	}
	lk, err := fsys.Lock(fsys.PathJoin(cfg.RootDir, "lock"))
	if err != nil {
		return nil, fmt.Errorf("store: lock %s (another broker using it?): %w", cfg.RootDir, err)
	}
	s.dirLock = lk
	if err := s.open(); err != nil {
		s.closeFiles()
		s.cancel()
		return nil, err
	}
	s.log.Info("store opened", "root", cfg.RootDir, "flush", cfg.FlushDiskType.String(),
		"segment_size", cfg.CommitLogSegmentSize, "min_offset", s.clog.MinOffset(), "max_offset", s.clog.MaxOffset(),
		"queues", len(s.queueList()), "index", cfg.MessageIndexEnable)
	return s, nil
}

// Timer returns the timer log, which the broker's delay room fills and
// drains. The store owns it and closes it in Close.
func (s *Store) Timer() *timer.Log { return s.timer }

// closeFiles releases whatever Open managed to open, after a failed Open.
func (s *Store) closeFiles() {
	if s.timer != nil {
		_ = s.timer.Close()
	}
	for _, q := range s.queueList() {
		_ = q.Close()
	}
	if s.idx != nil {
		_ = s.idx.Close()
	}
	if s.clog != nil {
		_ = s.clog.Close()
	}
	if s.dirLock != nil {
		_ = s.dirLock.Close()
	}
}

func (s *Store) commitLogConfig() commitlog.Config {
	mode := commitlog.FlushAsync
	if s.cfg.FlushDiskType == SyncFlush {
		mode = commitlog.FlushSync
	}
	return commitlog.Config{
		Dir:                   s.cfg.CommitLogDir,
		SegmentSize:           s.cfg.CommitLogSegmentSize,
		MaxMessageSize:        s.cfg.MaxMessageSize,
		FlushMode:             mode,
		FlushInterval:         s.cfg.FlushInterval,
		FlushLeastPages:       s.cfg.FlushLeastPages,
		ThoroughFlushInterval: s.cfg.FlushThoroughInterval,
		FlushTimeout:          s.cfg.SyncFlushTimeout,
		Clock:                 s.clk,
		Logger:                s.log,
		OnWritten: func(off message.PhysOffset) {
			s.onWritten(off)
			s.signalWritten() // replica.go
		},
		OnAllocated: s.onAllocated,
		OnFlush:     s.cfg.OnFlush,
	}
}

func (s *Store) wakeDispatcher() {
	select {
	case s.dispatchWake <- struct{}{}:
	default:
	}
}

// Start launches the dispatcher, the consume-queue/index flusher and the
// retention cleaner, and starts the commit log's writer and flusher. ctx only
// supplies values (pprof labels); Close stops everything. Start after Close
// returns ErrClosed; a second Start does nothing.
func (s *Store) Start(ctx context.Context) error {
	s.lc.Lock()
	defer s.lc.Unlock()
	if s.lc.closed {
		return ErrClosed
	}
	if s.lc.started {
		return nil
	}
	if err := s.clog.Start(ctx); err != nil {
		return fmt.Errorf("store: start commit log: %w", err)
	}
	s.lc.started = true
	ctx = context.WithoutCancel(ctx)
	s.checkDisk()
	s.goFunc(ctx, &s.dispWG, "store-dispatcher", s.dispatchLoop)
	s.goFunc(ctx, &s.bgWG, "store-flusher", s.flushLoop)
	s.goFunc(ctx, &s.bgWG, "store-cleaner", s.cleanLoop)
	return nil
}

func (s *Store) goFunc(ctx context.Context, wg *sync.WaitGroup, name string, fn func()) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		pprof.Do(ctx, pprof.Labels("loop", name, "root", s.cfg.RootDir), func(context.Context) { fn() })
	}()
}

// Close shuts the store down in this order: reject new puts (ErrClosed) → wait
// for in-flight appends → stop the flusher and cleaner → write and fsync the
// commit log up to its end → let the dispatcher finish to the end → flush consume
// queues and index → write the checkpoint → close the commit log → remove the
// abort marker (only if every step succeeded) → release the directory lock. It
// returns the joined errors of the steps. Idempotent; safe before Start.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Store) close() error {
	s.lc.Lock()
	s.lc.closed = true
	started := s.lc.started
	s.lc.Unlock()

	s.closed.Store(true)
	s.putGate.Lock() // waits for appends in flight; later puts see closed
	s.putGate.Unlock()

	var errs []error
	if started {
		close(s.stopBg)
		s.bgWG.Wait()
		// Everything appended reaches the disk before it is dispatched for the
		// last time, so the final checkpoint covers durable data only.
		if err := s.clog.Sync(context.Background(), s.clog.NextOffset()); err != nil {
			errs = append(errs, fmt.Errorf("store: final commit-log sync: %w", err))
		}
		close(s.stopDispatch)
		s.dispWG.Wait()
	}
	s.cancel()
	if err := s.flushDerived(); err != nil {
		errs = append(errs, err)
	}
	for _, q := range s.queueList() {
		if err := q.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	s.idxMu.Lock()
	if s.idx != nil {
		if err := s.idx.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	s.idxMu.Unlock()
	if err := s.timer.Close(); err != nil {
		errs = append(errs, fmt.Errorf("store: close timer log: %w", err))
	}
	if err := s.clog.Close(); err != nil {
		errs = append(errs, err)
	}
	if s.disp.broken != nil {
		errs = append(errs, fmt.Errorf("store: dispatch stopped: %w", s.disp.broken))
	}
	for k, r := range s.disp.repairs {
		// Recovery after a clean stop trusts the consume queues' ends, so an
		// unfinished repair must leave the abort marker for a full recovery.
		errs = append(errs, fmt.Errorf("store: %s not repaired: %w", k, r.err))
	}
	if len(errs) == 0 {
		if err := checkpoint.RemoveAbort(s.fs, s.cfg.AbortPath); err != nil {
			errs = append(errs, err)
		}
	} else {
		s.log.Warn("store closed with errors; the abort marker stays so the next open recovers", "err", errors.Join(errs...))
	}
	if err := s.dirLock.Close(); err != nil {
		errs = append(errs, fmt.Errorf("store: unlock: %w", err))
	}
	s.log.Info("store closed", "max_offset", s.clog.MaxOffset(), "dispatched", s.dispatched.Load())
	return errors.Join(errs...)
}

// queueList returns every open consume queue.
func (s *Store) queueList() []*consumequeue.Queue {
	s.cq.RLock()
	defer s.cq.RUnlock()
	var out []*consumequeue.Queue
	for _, qs := range s.cq.m {
		for _, q := range qs {
			out = append(out, q)
		}
	}
	return out
}

// lookupQueue returns the consume queue of (topic, queueID), or nil.
func (s *Store) lookupQueue(topic string, queueID int32) *consumequeue.Queue {
	s.cq.RLock()
	defer s.cq.RUnlock()
	return s.cq.m[topic][queueID]
}

// queueFor returns the consume queue of (topic, queueID), opening (creating) it
// if needed.
func (s *Store) queueFor(topic string, queueID int32) (*consumequeue.Queue, error) {
	if q := s.lookupQueue(topic, queueID); q != nil {
		return q, nil
	}
	s.cq.Lock()
	defer s.cq.Unlock()
	if q := s.cq.m[topic][queueID]; q != nil {
		return q, nil
	}
	if !validTopicDir(topic) || queueID < 0 {
		return nil, fmt.Errorf("store: invalid queue %q/%d", topic, queueID)
	}
	q, err := consumequeue.Open(s.fs, s.fs.PathJoin(s.cfg.ConsumeQueueDir, topic, strconv.Itoa(int(queueID))), s.cqCfg)
	if err != nil {
		return nil, err
	}
	s.addQueueLocked(topic, queueID, q)
	return q, nil
}

func (s *Store) addQueueLocked(topic string, queueID int32, q *consumequeue.Queue) {
	m := s.cq.m[topic]
	if m == nil {
		m = make(map[int32]*consumequeue.Queue)
		s.cq.m[topic] = m
	}
	m[queueID] = q
}

func validTopicDir(topic string) bool {
	if topic == "" || topic == "." || topic == ".." {
		return false
	}
	for i := 0; i < len(topic); i++ {
		if c := topic[i]; c == '/' || c == '\\' || c == 0 {
			return false
		}
	}
	return true
}

// counter returns the topic-queue table entry of (topic, queueID), creating it
// at 0.
func (s *Store) counter(topic string, queueID int32) *atomic.Int64 {
	s.tq.RLock()
	c := s.tq.m[topic][queueID]
	s.tq.RUnlock()
	if c != nil {
		return c
	}
	s.tq.Lock()
	defer s.tq.Unlock()
	m := s.tq.m[topic]
	if m == nil {
		m = make(map[int32]*atomic.Int64)
		s.tq.m[topic] = m
	}
	if c = m[queueID]; c == nil {
		c = new(atomic.Int64)
		m[queueID] = c
	}
	return c
}

// AddDispatchQueue implements MessageStore. The dispatcher pushes to the
// queues in registration order; it never waits for them.
func (s *Store) AddDispatchQueue(q *DispatchQueue) {
	for {
		old := s.dqueues.Load()
		var next []*DispatchQueue
		if old != nil {
			next = append(next, *old...)
		}
		next = append(next, q)
		if s.dqueues.CompareAndSwap(old, &next) {
			return
		}
	}
}

// QueueIDs implements MessageStore: the ids of topic's consume queues, sorted.
func (s *Store) QueueIDs(topic string) []int32 {
	s.cq.RLock()
	ids := make([]int32, 0, len(s.cq.m[topic]))
	for id := range s.cq.m[topic] {
		ids = append(ids, id)
	}
	s.cq.RUnlock()
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// Topics returns the names of the topics that have consume queues, sorted.
func (s *Store) Topics() []string {
	s.cq.RLock()
	names := make([]string, 0, len(s.cq.m))
	for t := range s.cq.m {
		names = append(names, t)
	}
	s.cq.RUnlock()
	sort.Strings(names)
	return names
}

// DeleteTopic implements MessageStore: it closes and removes topic's consume
// queues and drops it from the topic-queue table, so a later message to the topic
// starts a fresh queue at offset 0. Its commit-log records stay until retention.
func (s *Store) DeleteTopic(topic string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if !validTopicDir(topic) {
		return fmt.Errorf("store: invalid topic %q", topic)
	}
	s.cq.Lock()
	defer s.cq.Unlock()
	s.tq.Lock()
	delete(s.tq.m, topic)
	s.tq.Unlock()
	var errs []error
	for _, q := range s.cq.m[topic] {
		if err := q.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	delete(s.cq.m, topic)
	dir := s.fs.PathJoin(s.cfg.ConsumeQueueDir, topic)
	if err := s.fs.RemoveAll(dir); err != nil {
		errs = append(errs, fmt.Errorf("store: remove %s: %w", dir, err))
	} else if err := vfs.SyncDir(s.fs, s.cfg.ConsumeQueueDir); err != nil {
		errs = append(errs, fmt.Errorf("store: %w", err))
	}
	s.log.Info("deleted topic's consume queues", "topic", topic)
	return errors.Join(errs...)
}

// Stats implements MessageStore.
func (s *Store) Stats() Stats {
	st := Stats{
		CommitLogMinOffset:        s.clog.MinOffset(),
		CommitLogMaxOffset:        s.clog.MaxOffset(),
		DiskUsedRatio:             math.Float64frombits(s.diskRatio.Load()),
		ConsumeQueueDiskUsedRatio: math.Float64frombits(s.cqDiskRatio.Load()),
		PutCount:                  s.putCount.Load(),
		GetCount:                  s.getCount.Load(),
		PutLatencyMaxMicros:       s.putLatMax.Load(),
		CommitLogSegments:         len(s.clog.Segments()),
		SegmentsDeletedUnexpired:  s.forcedDeletions.Load(),
		MessagesDeletedUnexpired:  s.forcedMessages.Load(),
		SegmentsDeletedExpired:    s.expiredDeletions.Load(),
		Problems:                  s.problems(),
	}
	st.DispatchBehindBytes = max(0, int64(st.CommitLogMaxOffset)-s.dispatched.Load())
	if ts, err := s.storeTimeAt(st.CommitLogMinOffset); err == nil {
		st.EarliestMessageMillis = ts
	}
	return st
}
