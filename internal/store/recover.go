package store

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/petrelmq/petrel/internal/store/checkpoint"
	"github.com/petrelmq/petrel/internal/store/commitlog"
	"github.com/petrelmq/petrel/internal/store/consumequeue"
	"github.com/petrelmq/petrel/internal/store/index"
	"github.com/petrelmq/petrel/internal/store/timer"
	"github.com/petrelmq/petrel/pkg/message"
)

// checkpointMargin is subtracted from the checkpoint's consume-queue time before
// it is used to pick a commit-log segment, as RocketMQ does (3 s): it absorbs
// equal timestamps across a segment boundary and small clock steps.
const checkpointMargin = 3000 // ms

// open recovers the store; see the package documentation, "Recovery".
func (s *Store) open() error {
	cfg := s.cfg
	s.disp.s = s
	crashed, err := checkpoint.AbortExists(s.fs, cfg.AbortPath)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	cp, err := checkpoint.Load(s.fs, cfg.CheckpointPath)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	s.cp = cp
	// The marker goes first: if this process dies while recovering, the next open
	// recovers again from scratch instead of trusting half-repaired files.
	if err := checkpoint.CreateAbort(s.fs, cfg.AbortPath); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if s.timer, err = timer.Open(s.fs, timer.Config{Dir: cfg.TimerDir, Precision: cfg.TimerPrecision}); err != nil {
		return fmt.Errorf("store: open timer log: %w", err)
	}
	rebuilt, err := s.openQueues()
	if err != nil {
		return err
	}
	if cfg.MessageIndexEnable {
		if s.idx, err = index.Open(s.fs, cfg.IndexDir, s.indexConfig(), s.clk); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		if crashed {
			// Index files written after the last completed index flush may be
			// partial (RocketMQ's load rule); they are rebuilt below.
			if _, err := s.idx.DropNewerThan(cp.IndexMsgTimestamp()); err != nil {
				return fmt.Errorf("store: %w", err)
			}
		}
	}

	// Where the commit log starts validating: roughly where re-dispatch will
	// start (records re-dispatched below it are validated by the dispatcher's
	// scan anyway; a torn tail can only be in the last segments).
	tsBound := message.PhysOffset(0)
	if crashed {
		tsBound = s.segmentBefore(cp.LogicsMsgTimestamp() - checkpointMargin)
	}
	idxStart := s.indexStart()
	from := min(tsBound, idxStart)
	if !crashed {
		from = min(s.queueEndMax(), idxStart)
	}

	s.clog, err = commitlog.Open(s.fs, s.commitLogConfig(), commitlog.RecoverOptions{From: from, Repair: cfg.Repair})
	if err != nil {
		return fmt.Errorf("store: open commit log: %w", err)
	}
	lo, end := s.clog.MinOffset(), s.clog.MaxOffset()

	// Drop derived entries past the recovered end, and below the retained start.
	dropped := 0
	for _, k := range s.queueKeys() {
		q := s.lookupQueue(k.Topic, k.QueueID)
		before := q.MaxOffset()
		if err := q.TruncateTo(end); err != nil {
			return fmt.Errorf("store: truncate consume queue %s/%d: %w", k.Topic, k.QueueID, err)
		}
		if after := q.MaxOffset(); after < before {
			dropped += int(before - after)
			s.log.Warn("dropped consume-queue entries past the commit log's end", "topic", k.Topic, "queue", k.QueueID,
				"from", after, "to", before, "commitlog_end", end)
		}
		if _, err := q.DeleteBelow(lo); err != nil {
			return fmt.Errorf("store: trim consume queue %s/%d: %w", k.Topic, k.QueueID, err)
		}
		if crashed {
			if err := s.checkLastEntry(k, q); err != nil {
				return err
			}
		}
		s.counter(k.Topic, k.QueueID).Store(int64(q.MaxOffset()))
	}
	cqStart, cqSafe := s.queueStart(crashed, tsBound)
	if s.idx != nil {
		before := s.idx.EndPhysOffset()
		if _, err := s.idx.TruncateTo(end); err != nil {
			return fmt.Errorf("store: truncate index: %w", err)
		}
		if _, err := s.idx.DeleteBelow(lo); err != nil {
			return fmt.Errorf("store: trim index: %w", err)
		}
		if after := s.idx.EndPhysOffset(); after != before {
			s.log.Warn("dropped index files past the commit log's end", "index_end_before", before, "index_end", after, "commitlog_end", end)
		}
		idxStart = s.indexStart()
	}

	clamp := func(o message.PhysOffset) message.PhysOffset { return min(max(o, lo), end) }
	s.disp.fn = s.disp.dispatch
	s.disp.recovering = true
	s.disp.cqSkipBelow = cqStart
	if len(rebuilt) > 0 {
		// A rebuilt queue needs every record still in the commit log; the
		// others only those from cqStart on.
		s.disp.rebuild, s.disp.rebuildBelow = rebuilt, cqStart
		s.disp.cqSkipBelow = lo
	}
	start := clamp(min(s.disp.cqSkipBelow, idxStart))
	err = s.redispatch(start, end)
	if errors.Is(err, errGap) && len(rebuilt) == 0 && start > clamp(min(cqSafe, idxStart)) {
		// The checkpoint's time pointed too late (the clock went back?): fall back
		// to the start that relies on nothing but the queues' own contents.
		s.log.Warn("consume queue missing entries before the checkpoint's position; re-dispatching from the queues' minimum",
			"queue", s.disp.gapQueue, "start", start, "fallback", clamp(min(cqSafe, idxStart)))
		start = clamp(min(cqSafe, idxStart))
		s.disp.cqSkipBelow = cqSafe
		s.indexStart() // records indexed by the aborted pass are not indexed again
		err = s.redispatch(start, end)
	}
	// A queue that misses entries the commit log still has (its first files
	// were lost, or a gap re-dispatch cannot fill) is derived data: rebuild it
	// from the commit log's minimum rather than serve it or refuse to open. Each
	// rebuild starts an empty queue, which cannot fail this way again.
	for tries := len(s.queueKeys()); (errors.Is(err, errGap) || errors.Is(err, errRebuild)) && tries >= 0; tries-- {
		k := s.disp.gapKey
		if err := s.rebuildQueue(k, err.Error()); err != nil {
			return err
		}
		rebuilt = append(rebuilt, k)
		s.disp.rebuild = rebuilt
		s.disp.rebuildBelow = max(s.disp.rebuildBelow, s.disp.cqSkipBelow)
		s.disp.cqSkipBelow = lo
		start = clamp(min(lo, idxStart))
		s.indexStart()
		err = s.redispatch(start, end)
	}
	s.disp.recovering = false
	s.disp.rebuild, s.disp.rebuildBelow = nil, 0
	if errors.Is(err, errGap) || errors.Is(err, errRebuild) {
		return fmt.Errorf("store: consume queue %s could not be rebuilt from the commit log: %w", s.disp.gapQueue, err)
	}
	if err != nil {
		return fmt.Errorf("store: re-dispatch [%d, %d): %w", start, end, err)
	}
	s.dispatched.Store(int64(end))
	s.log.Info("store recovered", "after_crash", crashed, "commitlog_min", lo, "commitlog_end", end,
		"redispatch_from", start, "records_redispatched", s.disp.count, "cq_entries_dropped", dropped,
		"cq_rebuilt", len(rebuilt))
	s.disp.count = 0
	// Make the recovered derived state durable and checkpoint it.
	return s.flushDerived()
}

// redispatch dispatches every record in [start, end).
func (s *Store) redispatch(start, end message.PhysOffset) error {
	s.dispatched.Store(int64(start))
	for off := start; off < end; {
		next, err := s.clog.ScanWith(&s.disp.sb, off, s.disp.fn)
		if err != nil {
			return err
		}
		if next <= off {
			break
		}
		off = next
	}
	return nil
}

// queueEndMax is the largest end (phys+size) of any queue's last entry.
func (s *Store) queueEndMax() message.PhysOffset {
	var m message.PhysOffset
	for _, q := range s.queueList() {
		m = max(m, q.MaxPhysOffset())
	}
	return m
}

// queueStart returns where consume-queue re-dispatch must start, and a fallback
// that depends only on the queues' contents.
//
// After a clean stop every record was dispatched and flushed: the largest end
// of any queue's last entry (RocketMQ's rule; records after it have no entry).
//
// After a crash the start is the checkpoint's position (tsBound): every record
// stored before the checkpoint's consume-queue time had its entry flushed (and its
// file's directory entry synced) before the checkpoint was written, and the newest
// segment whose first record is older than that time minus a margin starts below
// those records if store times do not go backwards. Every entry that may have been
// lost or torn belongs to a record at or past it, so re-dispatch from there
// compares each of them with its record: a queue whose first files were lost is
// caught (errRebuild) and one whose older file lost pages is cut there. Starting
// later, at the smallest end over all queues, would skip the records of a queue
// that lost files below its surviving end. That smallest end is the fallback
// when re-dispatch from the checkpoint finds a gap (the clock went back): each
// queue's surviving tail is a prefix of its entries (consume-queue recovery ends
// a queue at the first invalid or non-monotonic entry, and checkLastEntry verified
// the last one against the commit log).
func (s *Store) queueStart(crashed bool, tsBound message.PhysOffset) (start, safe message.PhysOffset) {
	qs := s.queueList()
	if len(qs) == 0 {
		return 0, 0
	}
	if !crashed {
		start = s.queueEndMax()
		return start, start
	}
	safe = math.MaxInt64
	for _, q := range qs {
		safe = min(safe, q.MaxPhysOffset())
	}
	return tsBound, safe
}

// checkLastEntry compares a queue's last entry with the record it points at and
// drops it while it does not match. After a crash the last entry can be torn in
// its size or tags code (the page holding them was lost) and still look valid;
// earlier entries were checked by the queue's own recovery.
func (s *Store) checkLastEntry(k consumequeue.Key, q *consumequeue.Queue) error {
	var buf []byte
	for q.MaxOffset() > q.MinOffset() {
		last := q.MaxOffset() - 1
		e, err := q.Get(last)
		if err != nil {
			return fmt.Errorf("store: consume queue %s/%d: %w", k.Topic, k.QueueID, err)
		}
		buf, err = s.clog.ReadRecord(buf[:0], e.Phys)
		var v message.RecordView
		if err == nil && message.ParseRecord(buf, &v) == nil && v.TotalSize == e.Size && v.QueueOffset == last &&
			v.QueueID == k.QueueID && string(v.Topic) == k.Topic && s.disp.tagsCode(&v) == e.TagsCode {
			return nil
		}
		s.log.Warn("dropping a torn consume-queue entry", "topic", k.Topic, "queue", k.QueueID, "queue_offset", last, "phys", e.Phys)
		if err := q.TruncateTo(e.Phys); err != nil {
			return fmt.Errorf("store: truncate consume queue %s/%d: %w", k.Topic, k.QueueID, err)
		}
	}
	return nil
}

// indexStart returns where index re-dispatch must start (MaxInt64 without an
// index) and sets the dispatcher's skip point so the last indexed record is not
// indexed twice.
func (s *Store) indexStart() message.PhysOffset {
	if s.idx == nil {
		s.disp.idxSkipThrough = -1
		return math.MaxInt64
	}
	end := s.idx.EndPhysOffset()
	s.disp.idxSkipThrough = -1
	if ts, _ := s.idx.LastUpdate(); ts > 0 {
		s.disp.idxSkipThrough = end // the record at end is indexed
	}
	return end
}

// segmentBefore returns the base of the newest commit-log segment whose first
// record was stored before millis, or 0. It reads the segment files directly,
// since it runs before the commit log is opened.
func (s *Store) segmentBefore(millis int64) message.PhysOffset {
	if millis <= 0 {
		return 0
	}
	names, err := s.fs.List(s.cfg.CommitLogDir)
	if err != nil {
		return 0
	}
	for i := len(names) - 1; i >= 0; i-- {
		base, err := strconv.ParseInt(names[i], 10, 64)
		if err != nil || len(names[i]) != 20 {
			continue
		}
		ts, ok := s.firstStoreTime(s.fs.PathJoin(s.cfg.CommitLogDir, names[i]))
		if ok && ts < millis {
			return message.PhysOffset(base)
		}
	}
	return 0
}

// firstStoreTime reads the store time of the first record of a segment file.
func (s *Store) firstStoreTime(path string) (int64, bool) {
	f, err := s.fs.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	var b [message.PosBornHost + 20 + 8]byte
	if n, _ := f.ReadAt(b[:], 0); n < len(b) {
		return 0, false
	}
	return recordStoreTime(b[:])
}

// recordStoreTime decodes STORETIMESTAMP from a record prefix of at least 76
// bytes.
func recordStoreTime(b []byte) (int64, bool) {
	total, magic, ok := message.PeekHeader(b)
	if !ok || magic != message.MagicV1 || total < message.RecordFixedSize {
		return 0, false
	}
	f := message.SysFlag(int32(uint32(b[message.PosSysFlag])<<24 | uint32(b[message.PosSysFlag+1])<<16 |
		uint32(b[message.PosSysFlag+2])<<8 | uint32(b[message.PosSysFlag+3])))
	p := message.PosStoreTimestamp(f)
	if p+8 > len(b) {
		return 0, false
	}
	var ts int64
	for _, c := range b[p : p+8] {
		ts = ts<<8 | int64(c)
	}
	return ts, true
}

// openQueues opens every consume queue under ConsumeQueueDir. Entries that are
// not <topic>/<decimal queue id> directories are skipped with a warning. A queue
// that cannot be opened because its files are corrupt is removed and started
// empty; it is returned, to be rebuilt from the commit log.
func (s *Store) openQueues() ([]consumequeue.Key, error) {
	root := s.cfg.ConsumeQueueDir
	if err := s.fs.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("store: create %s: %w", root, err)
	}
	topics, err := s.fs.List(root)
	if err != nil {
		return nil, fmt.Errorf("store: list %s: %w", root, err)
	}
	var corrupt []consumequeue.Key
	for _, topic := range topics {
		tdir := s.fs.PathJoin(root, topic)
		st, err := s.fs.Stat(tdir)
		if err != nil {
			return nil, fmt.Errorf("store: stat %s: %w", tdir, err)
		}
		if !st.IsDir() || !validTopicDir(topic) {
			s.log.Warn("ignoring unexpected entry in the consume-queue directory", "path", tdir)
			continue
		}
		ids, err := s.fs.List(tdir)
		if err != nil {
			return nil, fmt.Errorf("store: list %s: %w", tdir, err)
		}
		for _, name := range ids {
			id, err := strconv.ParseInt(name, 10, 32)
			if err != nil || id < 0 || strconv.FormatInt(id, 10) != name {
				s.log.Warn("ignoring unexpected entry in a topic's consume-queue directory", "path", s.fs.PathJoin(tdir, name))
				continue
			}
			q, err := consumequeue.Open(s.fs, s.fs.PathJoin(tdir, name), s.cqCfg)
			if errors.Is(err, consumequeue.ErrCorrupt) {
				corrupt = append(corrupt, consumequeue.Key{Topic: topic, QueueID: int32(id)})
				if err := s.rebuildQueue(corrupt[len(corrupt)-1], err.Error()); err != nil {
					return nil, err
				}
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("store: open consume queue %s/%s: %w", topic, name, err)
			}
			s.cq.Lock()
			s.addQueueLocked(topic, int32(id), q)
			s.cq.Unlock()
		}
	}
	return corrupt, nil
}

// rebuildQueue removes a damaged consume queue and starts it empty; recovery then
// re-dispatches it from the commit log's minimum (an empty queue starts at the
// first record it is given). Derived data is never a reason to refuse to open.
func (s *Store) rebuildQueue(k consumequeue.Key, reason string) error {
	dir := s.fs.PathJoin(s.cfg.ConsumeQueueDir, k.Topic, strconv.Itoa(int(k.QueueID)))
	s.log.Warn("rebuilding consume queue from the commit log", "topic", k.Topic, "queue", k.QueueID, "reason", reason)
	s.counter(k.Topic, k.QueueID).Store(0)
	s.cq.Lock()
	defer s.cq.Unlock()
	if old := s.cq.m[k.Topic][k.QueueID]; old != nil {
		// Its contents are being thrown away: a failed flush of them does not
		// matter.
		_ = old.Close()
		delete(s.cq.m[k.Topic], k.QueueID)
	}
	if err := s.fs.RemoveAll(dir); err != nil {
		return fmt.Errorf("store: remove consume queue %s/%d: %w", k.Topic, k.QueueID, err)
	}
	// Open creates the directory and syncs it and its parents, which also makes
	// the removal durable.
	q, err := consumequeue.Open(s.fs, dir, s.cqCfg)
	if err != nil {
		return fmt.Errorf("store: rebuild consume queue %s/%d: %w", k.Topic, k.QueueID, err)
	}
	s.addQueueLocked(k.Topic, k.QueueID, q)
	return nil
}

// queueKeys lists the open queues.
func (s *Store) queueKeys() []consumequeue.Key {
	s.cq.RLock()
	defer s.cq.RUnlock()
	var keys []consumequeue.Key
	for t, m := range s.cq.m {
		for id := range m {
			keys = append(keys, consumequeue.Key{Topic: t, QueueID: id})
		}
	}
	return keys
}
