package store

import (
	"errors"
	"strconv"
	"strings"
	"unsafe"

	"github.com/petrelmq/petrel/internal/store/commitlog"
	"github.com/petrelmq/petrel/internal/store/consumequeue"
	"github.com/petrelmq/petrel/pkg/message"
)

// errGap aborts a recovery re-dispatch that found a consume queue missing
// entries before the re-dispatch start (see recoverDerived).
var errGap = errors.New("store: consume queue gap during recovery")

// errRebuild aborts a recovery re-dispatch that found a consume queue missing
// entries below its MinOffset for records still in the commit log (a crash lost
// its first files); Open rebuilds that queue from the commit log.
var errRebuild = errors.New("store: consume queue lost entries below its minimum")

// dispatcher builds consume-queue and index entries from commit-log records
// (RocketMQ's ReputMessageService). Its state is owned by Open's recovery, then by
// the dispatcher goroutine; nothing else touches it.
type dispatcher struct {
	s  *Store
	v  message.RecordView
	fn func(off message.PhysOffset, rec []byte) error // d.dispatch, bound once
	sb commitlog.ScanBuffer                           // Scan's read window, reused

	// recovering: Open is re-dispatching; a consume-queue gap aborts with errGap
	// and the topic-queue table is advanced past every record.
	recovering bool
	// idxSkipThrough: records at or below it are already indexed (the index's
	// last entry after recovery), so re-dispatch does not index them twice.
	idxSkipThrough message.PhysOffset
	// cqSkipBelow: during recovery, records below it have their consume-queue
	// entries already (the queues' recovered start), so only the index needs
	// them.
	cqSkipBelow message.PhysOffset
	// rebuildBelow, rebuild: during recovery, records below rebuildBelow (and at
	// or past cqSkipBelow) feed only the queues being rebuilt from the commit
	// log; the others have their entries already.
	rebuildBelow message.PhysOffset
	rebuild      []consumequeue.Key
	// broken is set when the dispatcher stopped on an unreadable commit log.
	broken error
	// failed remembers queues whose sticky write error was logged already.
	failed   map[*consumequeue.Queue]bool
	idxFail  bool
	count    int64 // records dispatched (recovery statistics)
	gapQueue string
	gapKey   consumequeue.Key // the queue behind errGap or errRebuild
}

// dispatchLoop is the dispatcher goroutine, started by Start and stopped by Close
// (stopDispatch). It follows the commit log from the dispatch watermark to
// MaxOffset and then waits for the commit log's writer to publish more
// (dispatchWake, sent from commitlog.Config.OnWritten). On stop it dispatches up
// to the end once more: Close has made the commit log final by then.
func (s *Store) dispatchLoop() {
	for {
		s.disp.run()
		select {
		case <-s.dispatchWake:
		case <-s.stopDispatch:
			s.disp.run()
			return
		}
	}
}

// run dispatches every readable record past the watermark.
func (d *dispatcher) run() {
	s := d.s
	if d.broken != nil {
		return
	}
	for {
		from := message.PhysOffset(s.dispatched.Load())
		if from >= s.clog.MaxOffset() {
			return
		}
		next, err := s.clog.ScanWith(&d.sb, from, d.fn)
		if int64(next) > s.dispatched.Load() {
			s.dispatched.Store(int64(next))
		}
		if err != nil {
			if min := s.clog.MinOffset(); errors.Is(err, commitlog.ErrOutOfRange) && from < min {
				s.log.Warn("dispatcher fell behind retention; skipping deleted records", "from", from, "to", min)
				s.dispatched.Store(int64(min))
				continue
			}
			d.broken = err
			s.log.Error("dispatcher stopped: commit log unreadable", "offset", next, "err", err)
			return
		}
		if next == from {
			return
		}
	}
}

// dispatch handles one record at off; it is the commitlog.Scan callback.
func (d *dispatcher) dispatch(off message.PhysOffset, rec []byte) error {
	s := d.s
	v := &d.v
	if err := message.ParseRecord(rec, v); err != nil {
		return err // Scan validated the record; this cannot happen
	}
	tran := v.SysFlag.TransactionType()
	var tagsCode int64
	cq := tran == message.SysFlagTransactionNotType || tran == message.SysFlagTransactionCommitType
	if cq && d.recovering && (off < d.cqSkipBelow || off < d.rebuildBelow && !d.rebuilding(v)) {
		cq = false
	}
	if cq {
		tagsCode = d.tagsCode(v)
		if err := d.buildQueue(off, v, tagsCode); err != nil {
			return err
		}
	}
	if s.idx != nil && tran != message.SysFlagTransactionRollbackType && off > d.idxSkipThrough {
		d.buildIndex(off, v)
	}
	d.count++
	s.dispatched.Store(int64(off) + int64(len(rec)))
	s.dispatchedTs.Store(v.StoreTimestamp)
	if qs := s.dqueues.Load(); cq && qs != nil && len(*qs) > 0 {
		ev := DispatchEvent{
			Topic:          string(v.Topic),
			QueueID:        v.QueueID,
			QueueOffset:    v.QueueOffset,
			TagsCode:       tagsCode,
			StoreTimestamp: v.StoreTimestamp,
			PhysOffset:     off,
		}
		for _, q := range *qs {
			q.push(ev)
		}
	}
	return nil
}

// rebuilding reports whether the record's queue is being rebuilt.
func (d *dispatcher) rebuilding(v *message.RecordView) bool {
	for _, k := range d.rebuild {
		if k.QueueID == v.QueueID && k.Topic == bytesString(v.Topic) {
			return true
		}
	}
	return false
}

// bytesString views b as a string without copying; the result is valid only
// while b is unchanged and must not be retained.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// tagsCode is the consume-queue tags code: the Java hash of TAGS, or for a
// delayed message in SCHEDULE_TOPIC_XXXX its delivery time (store time + the
// delay of its level; levels above the last are clamped to it).
func (d *dispatcher) tagsCode(v *message.RecordView) int64 {
	tags, _ := message.LookupProperty(v.Properties, message.PropertyTags)
	code := message.TagsHashCode(bytesString(tags))
	if bytesString(v.Topic) == ScheduleTopic {
		if lv, ok := message.LookupProperty(v.Properties, message.PropertyDelayTimeLevel); ok {
			if level, err := strconv.Atoi(string(lv)); err == nil && level > 0 {
				level = min(level, len(d.s.delays))
				code = v.StoreTimestamp + d.s.delays[level-1].Milliseconds()
			}
		}
	}
	return code
}

// buildQueue appends the record's consume-queue entry.
func (d *dispatcher) buildQueue(off message.PhysOffset, v *message.RecordView, tagsCode int64) error {
	s := d.s
	s.cq.RLock()
	q := s.cq.m[string(v.Topic)][v.QueueID]
	s.cq.RUnlock()
	cut := false // the queue was cut at this record: its offsets follow the commit log from here
	for attempt := 0; ; attempt++ {
		if q == nil {
			var err error
			if q, err = s.queueFor(string(v.Topic), v.QueueID); err != nil {
				s.log.Error("cannot open consume queue; message not dispatched", "topic", string(v.Topic), "queue", v.QueueID, "offset", off, "err", err)
				return nil
			}
		}
		if d.recovering && v.QueueOffset < q.MinOffset() {
			k := consumequeue.Key{Topic: string(v.Topic), QueueID: v.QueueID}
			if d.rebuilding(v) && attempt == 0 {
				// A queue rebuilt from the commit log whose offsets start over:
				// its topic was deleted and created again. The later records
				// win, as they did before the crash.
				if err := s.rebuildQueue(k, "queue offsets start over in the commit log"); err != nil {
					return err
				}
				q, cut = nil, true
				continue
			}
			// Re-dispatch only sees records at or past the commit log's minimum,
			// and trimming the queue to that minimum kept every entry for them:
			// the queue lost its first files in a crash.
			d.gapQueue = k.Topic + "/" + strconv.Itoa(int(k.QueueID))
			d.gapKey = k
			return errRebuild
		}
		err := q.Append(v.QueueOffset, off, v.TotalSize, tagsCode)
		switch {
		case err == nil:
		case errors.Is(err, consumequeue.ErrConflict) && attempt == 0:
			// A different entry at this queue offset: a torn entry left by a
			// crash (an entry can straddle a page that reached the disk only
			// partly), or a lost page of an older file. The commit log is the
			// truth; cut the queue at this offset (not by phys: the entries
			// after a lost page need not be monotonic).
			s.log.Warn("consume queue entry differs from the commit log; truncating the queue", "topic", string(v.Topic),
				"queue", v.QueueID, "queue_offset", v.QueueOffset, "offset", off, "err", err)
			if terr := q.TruncateAt(v.QueueOffset); terr != nil {
				d.queueFailed(q, v, terr)
				return nil
			}
			cut = true
			continue
		case errors.Is(err, consumequeue.ErrClosed) && attempt == 0:
			q = nil // the topic was deleted meanwhile; start a new queue
			continue
		case errors.Is(err, consumequeue.ErrGap) && d.recovering:
			d.gapQueue = string(v.Topic) + "/" + strconv.Itoa(int(v.QueueID))
			d.gapKey = consumequeue.Key{Topic: string(v.Topic), QueueID: v.QueueID}
			return errGap
		default:
			d.queueFailed(q, v, err)
			return nil
		}
		break
	}
	if d.recovering {
		c := s.counter(string(v.Topic), v.QueueID)
		if next := int64(v.QueueOffset) + 1; c.Load() < next || cut {
			c.Store(next)
		}
	}
	return nil
}

// queueFailed logs a consume-queue failure once per queue; the queue's error is
// sticky, so its later entries are lost until a restart rebuilds them.
func (d *dispatcher) queueFailed(q *consumequeue.Queue, v *message.RecordView, err error) {
	if d.failed == nil {
		d.failed = make(map[*consumequeue.Queue]bool)
	}
	if d.failed[q] {
		return
	}
	d.failed[q] = true
	d.s.log.Error("consume queue append failed; entries are rebuilt at the next open", "topic", string(v.Topic),
		"queue", v.QueueID, "queue_offset", v.QueueOffset, "err", err)
}

// buildIndex adds the record's UNIQ_KEY and KEYS to the index.
func (d *dispatcher) buildIndex(off message.PhysOffset, v *message.RecordView) {
	uniq, _ := message.LookupProperty(v.Properties, message.PropertyUniqKey)
	keys, _ := message.LookupProperty(v.Properties, message.PropertyKeys)
	if len(uniq) == 0 && len(strings.TrimSpace(bytesString(keys))) == 0 {
		return
	}
	err := d.s.idx.PutMessage(string(v.Topic), string(uniq), string(keys), off, v.StoreTimestamp)
	if err != nil && !d.idxFail {
		d.idxFail = true
		d.s.log.Error("index put failed; the index is rebuilt at the next open", "offset", off, "err", err)
	}
}
