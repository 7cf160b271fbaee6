package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/internal/store/commitlog"
	"github.com/petrelmq/petrel/internal/store/consumequeue"
	"github.com/petrelmq/petrel/pkg/message"
)

// Replication support (internal/broker/ha uses it; see
// docs/design/replication.md). A master's HA service reads its commit log as
// raw bytes and holds SYNC_MASTER puts through a Replicator; a slave appends
// the master's bytes at the same offsets, and cuts or empties its log when it
// finds it diverged. None of this is part of MessageStore: only the broker's
// HA wiring uses it, on a *Store.

// Replicator holds back the answer of a put until a slave has its bytes
// (SYNC_MASTER). The store calls WaitReplicated for every put whose WAIT
// property is not "false", once per put, right after the append (in parallel
// with the local flush; the put completes when both are done), with the end
// offset of its records and the put's ReplicaWait.
//
// WaitReplicated must not block. The replicator must call w.Done exactly once,
// from any goroutine: PutOK once a slave confirmed every byte below upTo,
// PutFlushSlaveTimeout when none did in time, PutSlaveNotAvailable when no
// slave can (none connected, or all too far behind). Done is a signal: it only
// pushes the put's completion to its Completions queue; it never blocks and
// runs no upper-layer code.
type Replicator interface {
	WaitReplicated(upTo message.PhysOffset, w *ReplicaWait)
}

// ReplicaWait is one put waiting for a Replicator. Only the store creates it.
type ReplicaWait struct {
	j *replJoin
}

// Done reports the replication outcome of the put. Calls after the first are
// ignored.
func (w *ReplicaWait) Done(st PutStatus) {
	if w == nil || w.j == nil || !w.j.replied.CompareAndSwap(false, true) {
		return
	}
	w.j.st = st
	w.j.finish()
}

// Errors of the replication API. They are the commit log's, so errors.Is works
// on anything these methods return.
var (
	// ErrBeforeMinOffset: ReadCommitLog at an offset that retention deleted.
	ErrBeforeMinOffset = commitlog.ErrBeforeMinOffset
	// ErrReplicaOffset: AppendReplicated bytes that do not continue the log.
	ErrReplicaOffset = commitlog.ErrRawOffset
	// ErrCommitLogRange: an offset outside the commit log.
	ErrCommitLogRange = commitlog.ErrOutOfRange
)

// replicaState is the Store's replication state.
type replicaState struct {
	rep atomic.Pointer[replicatorBox]
	// dispMu is held by the dispatcher goroutine while it dispatches, and by a
	// truncation while it cuts the commit log and the derived files, so the
	// dispatcher never dispatches a record that is being dropped.
	dispMu sync.Mutex
	// following: the store has taken replicated bytes, so the dispatcher keeps
	// the topic-queue table in step with the queue offsets it finds (they were
	// assigned by the master).
	following atomic.Bool
	// written is closed (and cleared) by the commit log's writer each time it
	// publishes data; see CommitLogWritten.
	written atomic.Pointer[chan struct{}]
}

type replicatorBox struct{ r Replicator }

// SetReplicator makes every later put (with WAIT not "false") wait for r as
// well as for the local flush; nil removes it. Safe at any time, also while
// puts run: a put uses the replicator set when it was appended.
func (s *Store) SetReplicator(r Replicator) {
	if r == nil {
		s.repl.rep.Store(nil)
		return
	}
	s.repl.rep.Store(&replicatorBox{r: r})
}

func (s *Store) replicator() Replicator {
	if b := s.repl.rep.Load(); b != nil {
		return b.r
	}
	return nil
}

// replJoin completes a put once its local durability (err) and its
// replication (st) are both known. Each side writes its field and then
// decrements left; the atomic orders the writes before the last reader.
type replJoin struct {
	s       *Store
	p       pending
	err     error
	st      PutStatus
	left    atomic.Int32
	replied atomic.Bool // ReplicaWait.Done ran
}

func (j *replJoin) finish() {
	if j.left.Add(-1) != 0 {
		return
	}
	// RocketMQ: the flush status first, a replica status other than OK
	// overrides it; a failed put stays an error.
	if j.st != PutOK && (j.err == nil || errors.Is(j.err, commitlog.ErrFlushTimeout)) {
		j.s.recordLatency(j.p.start)
		j.p.pr.Status = j.st
		j.p.q.push(Completion{Result: j.p.pr, Tag: j.p.tag})
		return
	}
	j.s.done(&j.p, j.err)
}

// completeReplicated finishes a put that a Replicator must confirm: the local
// part as complete does, the replication in parallel.
func (s *Store) completeReplicated(p pending, end message.PhysOffset, r Replicator) {
	j := &replJoin{s: s, p: p}
	j.left.Store(2)
	local := func(err error) {
		j.err = err
		j.finish()
	}
	if s.cfg.FlushDiskType == SyncFlush {
		s.clog.SyncAsync(end, local)
	} else {
		s.clog.WrittenAsync(end, local)
	}
	r.WaitReplicated(end, &ReplicaWait{j: j})
}

// CommitLogMinOffset is the first offset of the commit log (the oldest
// segment's base).
func (s *Store) CommitLogMinOffset() message.PhysOffset { return s.clog.MinOffset() }

// CommitLogMaxOffset is where readable commit-log data ends.
func (s *Store) CommitLogMaxOffset() message.PhysOffset { return s.clog.MaxOffset() }

// CommitLogSegmentSize is the commit-log segment size in bytes
// (mapedFileSizeCommitLog); master and slave must use the same.
func (s *Store) CommitLogSegmentSize() int64 { return s.cfg.CommitLogSegmentSize }

// CommitLogEmpty reports whether the commit log has no segment (a new store,
// or one ResetCommitLog emptied).
func (s *Store) CommitLogEmpty() bool { return s.clog.Empty() }

// CommitLogWritten returns a channel that is closed the next time the commit
// log publishes new readable data. To wait for data past off without missing
// a wake-up: take the channel, then check CommitLogMaxOffset, then wait.
func (s *Store) CommitLogWritten() <-chan struct{} {
	for {
		if p := s.repl.written.Load(); p != nil {
			return *p
		}
		ch := make(chan struct{})
		if s.repl.written.CompareAndSwap(nil, &ch) {
			return ch
		}
	}
}

// signalWritten runs on the commit log's writer goroutine (OnWritten).
func (s *Store) signalWritten() {
	if p := s.repl.written.Swap(nil); p != nil {
		close(*p)
	}
}

// ReadCommitLog appends to dst the commit log's raw bytes from off, at most
// max, never past the end of readable data or of off's segment, and returns
// the extended slice (dst unchanged at the end of data). Below the minimum
// offset it fails with ErrBeforeMinOffset; past the end with ErrCommitLogRange.
func (s *Store) ReadCommitLog(off message.PhysOffset, max int, dst []byte) ([]byte, error) {
	if s.closed.Load() {
		return dst, ErrClosed
	}
	return s.clog.ReadRaw(off, max, dst)
}

// RecordSpan is where a commit-log record lies.
type RecordSpan struct {
	Offset message.PhysOffset
	Size   int32
}

// End is the offset after the record.
func (r RecordSpan) End() message.PhysOffset { return r.Offset + message.PhysOffset(r.Size) }

// CommitLogRecords appends to dst the spans of the complete records from off
// (a record start or a segment base) on, skipping blank records, stopping
// before the first record that starts at or past limit, at the end of readable
// data, or after max records. It returns the extended slice and where to
// continue (the start of the first record not returned, or where the scan
// ended).
func (s *Store) CommitLogRecords(off, limit message.PhysOffset, max int, dst []RecordSpan) ([]RecordSpan, message.PhysOffset, error) {
	if s.closed.Load() {
		return dst, off, ErrClosed
	}
	n := 0
	next, err := s.clog.Scan(off, func(o message.PhysOffset, rec []byte) error {
		if o >= limit || n >= max {
			return errStopScan
		}
		dst = append(dst, RecordSpan{Offset: o, Size: int32(len(rec))})
		n++
		return nil
	})
	if errors.Is(err, errStopScan) {
		err = nil
	}
	return dst, next, err
}

// errStopScan ends a scan early.
var errStopScan = errors.New("store: stop scan")

// LastCommitLogRecord returns the last complete record [start, end) of the
// commit log with end <= limit, or ErrNotFound. It starts from the newest
// consume-queue entry (usually the last record) and scans forward, so it is
// cheap when limit is at or past the dispatched end; otherwise it scans the
// segment holding limit (and earlier ones while they hold no record below
// limit).
func (s *Store) LastCommitLogRecord(limit message.PhysOffset) (start, end message.PhysOffset, err error) {
	lo := s.clog.MinOffset()
	limit = min(limit, s.clog.MaxOffset())
	if limit <= lo {
		return 0, 0, ErrNotFound
	}
	size := message.PhysOffset(s.cfg.CommitLogSegmentSize)
	hs, he := s.lastQueueEntry()
	for seg := (limit - 1) - (limit-1)%size; seg >= lo; seg -= size {
		from, found := seg, false
		if he > 0 && he <= limit && hs >= seg {
			start, end, found, from = hs, he, true, he
		}
		_, err := s.clog.Scan(from, func(off message.PhysOffset, rec []byte) error {
			e := off + message.PhysOffset(len(rec))
			if off >= seg+size || e > limit {
				return errStopScan
			}
			start, end, found = off, e, true
			return nil
		})
		if err != nil && !errors.Is(err, errStopScan) {
			return 0, 0, fmt.Errorf("store: scan commit log from %d: %w", from, err)
		}
		if found {
			return start, end, nil
		}
	}
	return 0, 0, ErrNotFound
}

// lastQueueEntry returns the record of the consume-queue entry that ends
// furthest in the commit log, or zeros.
func (s *Store) lastQueueEntry() (start, end message.PhysOffset) {
	var best *consumequeue.Queue
	for _, q := range s.queueList() {
		if e := q.MaxPhysOffset(); e > end {
			best, end = q, e
		}
	}
	if best == nil || best.MaxOffset() <= best.MinOffset() {
		return 0, 0
	}
	e, err := best.Get(best.MaxOffset() - 1)
	if err != nil || e.Phys+message.PhysOffset(e.Size) != end {
		return 0, 0
	}
	return e.Phys, end
}

// AppendReplicated appends data, a master's commit-log bytes starting at its
// offset off, at the same offset (see commitlog.Log.AppendRaw: off must be
// where the log ends, or any segment boundary when CommitLogEmpty), and waits
// until they are as durable as FlushDiskType requires: handed to the OS for
// ASYNC_FLUSH, fsynced for SYNC_FLUSH (so a SYNC_FLUSH slave acknowledges only
// what is on its disk). It returns the new end. The dispatcher builds consume
// queues and index from the bytes, waiting for the rest of a record cut by a
// frame. Errors: ErrReplicaOffset, ErrClosed, ErrNotWritable (sticky commit-log
// error), ctx's error; a flush timeout returns an error wrapping
// commitlog.ErrFlushTimeout.
func (s *Store) AppendReplicated(ctx context.Context, off message.PhysOffset, data []byte) (message.PhysOffset, error) {
	end, err := s.appendRaw(ctx, off, data)
	if err != nil {
		return end, err
	}
	ch := make(chan error, 1)
	if s.cfg.FlushDiskType == SyncFlush {
		s.clog.SyncAsync(end, func(err error) { ch <- err })
	} else {
		s.clog.WrittenAsync(end, func(err error) { ch <- err })
	}
	select {
	case err := <-ch:
		if err != nil && !errors.Is(err, commitlog.ErrFlushTimeout) {
			err = s.mapAppendErr(err)
		}
		return end, err
	case <-ctx.Done():
		return end, ctx.Err()
	}
}

func (s *Store) appendRaw(ctx context.Context, off message.PhysOffset, data []byte) (message.PhysOffset, error) {
	s.putGate.RLock()
	defer s.putGate.RUnlock()
	if s.closed.Load() {
		return off, ErrClosed
	}
	s.repl.following.Store(true)
	if s.clog.Empty() {
		// The log starts at off: the dispatcher starts there too (rather than
		// finding the old watermark below the log and warning about it).
		s.repl.dispMu.Lock()
		defer s.repl.dispMu.Unlock()
		end, err := s.clog.AppendRaw(s.ctxOr(ctx), off, data)
		if err == nil && s.dispatched.Load() < int64(off) {
			s.dispatched.Store(int64(off))
		}
		return end, s.mapRawErr(err)
	}
	end, err := s.clog.AppendRaw(s.ctxOr(ctx), off, data)
	return end, s.mapRawErr(err)
}

// ctxOr is ctx, also ended when the store closes.
func (s *Store) ctxOr(ctx context.Context) context.Context {
	if ctx.Done() == nil {
		return s.ctx
	}
	return ctx
}

func (s *Store) mapRawErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, commitlog.ErrRawOffset), errors.Is(err, commitlog.ErrTruncating):
		return err
	}
	return s.mapAppendErr(err)
}

// TruncateCommitLog makes to the end of the commit log, online: it drops the
// commit-log bytes at and after to (to must be the end of a record, in
// [CommitLogMinOffset, CommitLogMaxOffset]) and every consume-queue entry
// pointing at or past it, removes index files that reach past it and
// re-indexes what they held below to, resets the topic-queue table to the
// queues' new ends, and makes the cut durable, so the store is as if those
// records had never been written. Puts and AppendReplicated wait while it
// runs; the dispatcher is paused. A pull that read a consume-queue entry just
// before the cut may still fail to read its record; later pulls see the new
// queue ends. The checkpoint is lowered to 0 (a crash before the next
// checkpoint re-dispatches everything). For a slave that found its log ahead
// of or diverged from its master.
func (s *Store) TruncateCommitLog(ctx context.Context, to message.PhysOffset) error {
	return s.cutCommitLog(ctx, to, false)
}

// ResetCommitLog empties the store's commit log, consume queues and index for a
// slave that is behind its master's minimum offset: the commit log has no
// segment afterwards and continues at base (a multiple of the segment size;
// CommitLogMinOffset == CommitLogMaxOffset == base), so the next
// AppendReplicated may start at any segment boundary. Queues keep their
// offsets' positions (empty, MinOffset == MaxOffset) and start wherever the
// master's next entries are. Same rules as TruncateCommitLog otherwise.
func (s *Store) ResetCommitLog(ctx context.Context, base message.PhysOffset) error {
	return s.cutCommitLog(ctx, base, true)
}

func (s *Store) cutCommitLog(ctx context.Context, to message.PhysOffset, reset bool) error {
	s.putGate.Lock()
	defer s.putGate.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	s.repl.dispMu.Lock()
	defer s.repl.dispMu.Unlock()
	before := s.clog.MaxOffset()
	var err error
	if reset {
		err = s.clog.Reset(ctx, to)
	} else {
		err = s.clog.Truncate(ctx, to)
	}
	if err != nil {
		if errors.Is(err, commitlog.ErrOutOfRange) {
			return fmt.Errorf("store: cut commit log at %d: %w", to, err)
		}
		return s.mapAppendErr(err)
	}
	cq := to
	if reset {
		cq = 0
	}
	var errs []error
	dropped := 0
	for _, k := range s.queueKeys() {
		q := s.lookupQueue(k.Topic, k.QueueID)
		if q == nil {
			continue
		}
		was := q.MaxOffset()
		if err := q.TruncateTo(cq); err != nil && !errors.Is(err, consumequeue.ErrClosed) {
			errs = append(errs, fmt.Errorf("store: truncate consume queue %s/%d: %w", k.Topic, k.QueueID, err))
			continue
		}
		dropped += int(was - q.MaxOffset())
		s.counter(k.Topic, k.QueueID).Store(int64(q.MaxOffset()))
		if err := q.Flush(); err != nil && !errors.Is(err, consumequeue.ErrClosed) {
			errs = append(errs, err)
		}
	}
	s.idxMu.RLock() // only the dispatcher (paused) replaces the index
	if s.idx != nil {
		if _, err := s.idx.TruncateTo(cq); err != nil {
			errs = append(errs, fmt.Errorf("store: truncate index: %w", err))
		} else if err := s.idx.Flush(); err != nil {
			errs = append(errs, err)
		}
	}
	s.idxMu.RUnlock()
	// Re-dispatch from the index's end (the index lost whole files) or the old
	// watermark, whichever is first: consume-queue entries that exist are
	// no-ops, the index gets back what its removed files held below to.
	start := min(message.PhysOffset(s.dispatched.Load()), to, s.indexStart())
	start = max(start, s.clog.MinOffset())
	if reset {
		start = to
	}
	s.dispatched.Store(int64(start))
	s.dispatchedTs.Store(0)
	// A read failure may have been at bytes that are gone now: retry at once.
	s.disp.brokenNext = time.Time{}
	// Repairs catch up from where their entries are missing; the cut dropped
	// entries from start on too.
	for _, r := range s.disp.repairs {
		r.from = min(r.from, start)
	}
	s.cp.SetLogicsMsgTimestamp(0)
	s.cp.SetPhysicMsgTimestamp(0)
	s.cp.SetIndexMsgTimestamp(0)
	if err := s.cp.Flush(); err != nil {
		s.cpUnsaved.Store(true)
		errs = append(errs, err)
	}
	s.wakeDispatcher()
	s.log.Warn("cut the commit log for replication", "reset", reset, "to", to, "was", before,
		"cq_entries_dropped", dropped, "redispatch_from", start)
	return errors.Join(errs...)
}

// finishDispatch is the dispatcher's last pass at Close, under dispMu (see
// replicaState).
func (s *Store) finishDispatch() {
	s.repl.dispMu.Lock()
	defer s.repl.dispMu.Unlock()
	s.disp.finish()
}

// SetWriteFence makes every new put fail with err (wrapping ErrFenced or
// ErrInSyncReplicas) until it is called with nil. Puts already appended are
// not affected; a broker in controller mode fences its store when it stops
// being a master, before it knows whether anything is still in flight.
func (s *Store) SetWriteFence(err error) {
	if err == nil {
		s.fence.Store(nil)
		return
	}
	s.fence.Store(&err)
}

// SetDispatchLimit makes the dispatcher stop before the first record that
// does not end at or below off, so only records below off become readable
// through consume queues (a controller-mode master's confirm offset: what
// every replica it needs has). A negative off removes the limit. Recovery at
// Open is not limited. Raising the limit wakes the dispatcher.
func (s *Store) SetDispatchLimit(off message.PhysOffset) {
	if off < 0 {
		off = -1
	}
	if old := s.dispatchLimit.Swap(int64(off)); old != int64(off) {
		s.wakeDispatcher()
	}
}
