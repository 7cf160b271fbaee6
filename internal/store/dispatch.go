package store

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/petrelmq/petrel/internal/store/commitlog"
	"github.com/petrelmq/petrel/internal/store/consumequeue"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
)

// errGap aborts a recovery re-dispatch that found a consume queue missing
// entries before the re-dispatch start (see recoverDerived).
var errGap = errors.New("store: consume queue gap during recovery")

// errNotDispatched: buildQueue left out a record that does not belong to its
// queue's sequence; dispatch goes on without it.
var errNotDispatched = errors.New("store: record not dispatched")

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
	// broken is set while the commit log cannot be read at the watermark;
	// dispatch is tried again at brokenNext (backoff).
	broken      error
	brokenSince time.Time
	brokenNext  time.Time
	brokenTries int
	// repairs: derived data (a consume queue, the index) that a write failed
	// for; records from repair.from on are added by the repair (repair.go),
	// not by normal dispatch, until it has caught up.
	repairs  map[repairKey]*repair
	recent   map[repairKey]recentRepair
	count    int64 // records dispatched (recovery statistics)
	gapQueue string
	gapKey   consumequeue.Key // the queue behind errGap or errRebuild
}

// dispatchLoop is the dispatcher goroutine, started by Start and stopped by Close
// (stopDispatch). It follows the commit log from the dispatch watermark to
// MaxOffset and then waits for the commit log's writer to publish more
// (dispatchWake, sent from commitlog.Config.OnWritten). Between dispatch runs
// it repairs derived data that a write failed for (repair.go), waking on a
// timer for the next retry. On stop it dispatches up to the end once more
// (Close has made the commit log final by then) and tries every pending
// repair once more.
func (s *Store) dispatchLoop() {
	d := &s.disp
	var t clock.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		// Each pass runs under the truncation lock (replica.go).
		s.repl.dispMu.Lock()
		d.run(false)
		wait := d.repairDue(false)
		s.repl.dispMu.Unlock()
		if d.broken != nil {
			if w := max(d.brokenNext.Sub(s.clk.Now()), time.Millisecond); wait < 0 || w < wait {
				wait = w
			}
		}
		var timerC <-chan time.Time
		if wait == 0 {
			// More repair work is ready: let dispatch run first, then go on.
			select {
			case <-s.stopDispatch:
				s.finishDispatch()
				return
			default:
				continue
			}
		}
		if wait > 0 {
			if t == nil {
				t = s.clk.NewTimer(wait)
			} else {
				t.Reset(wait)
			}
			timerC = t.C()
		}
		select {
		case <-s.dispatchWake:
		case <-timerC:
		case <-s.stopDispatch:
			s.finishDispatch()
			return
		}
	}
}

// finish is the dispatcher's last work at Close: dispatch to the end and one
// more attempt at every repair, whatever their backoff.
func (d *dispatcher) finish() {
	d.run(true)
	d.repairDue(true)
}

// run dispatches every readable record past the watermark. After a read error
// it waits for its backoff (unless force) before trying again.
func (d *dispatcher) run(force bool) {
	s := d.s
	if d.broken != nil && !force && s.clk.Now().Before(d.brokenNext) {
		return
	}
	for {
		from := message.PhysOffset(s.dispatched.Load())
		upTo := s.clog.MaxOffset()
		if lim := message.PhysOffset(s.dispatchLimit.Load()); lim >= 0 && lim < upTo {
			upTo = lim
		}
		if from >= upTo {
			d.readWorks()
			return
		}
		next, err := s.clog.ScanUpTo(&d.sb, from, upTo, d.fn)
		if int64(next) > s.dispatched.Load() {
			s.dispatched.Store(int64(next))
		}
		if err != nil {
			if min := s.clog.MinOffset(); errors.Is(err, commitlog.ErrOutOfRange) && from < min {
				s.log.Warn("dispatcher fell behind retention; skipping deleted records", "from", from, "to", min)
				s.dispatched.Store(int64(min))
				continue
			}
			d.readFailed(next, err)
			return
		}
		d.readWorks()
		if next == from {
			return
		}
	}
}

// readFailed records that the commit log could not be read at off: nothing
// past it is dispatched (consume queues stop growing) until a retry works.
func (d *dispatcher) readFailed(off message.PhysOffset, err error) {
	s := d.s
	now := s.clk.Now()
	if d.broken == nil {
		d.brokenSince = now
		s.log.Error("dispatcher cannot read the commit log; new messages are not readable until it can (retrying)",
			"offset", off, "err", err)
	}
	d.broken = err
	d.brokenTries++
	d.brokenNext = now.Add(backoff(d.brokenTries))
	s.health.set("dispatch", d.brokenSince, fmt.Errorf("reading the commit log at %d: %w; new messages are not readable", off, err))
}

// readWorks clears a read failure.
func (d *dispatcher) readWorks() {
	if d.broken == nil {
		return
	}
	d.s.log.Info("dispatcher reads the commit log again", "since", d.brokenSince)
	d.broken, d.brokenTries = nil, 0
	d.s.health.clear("dispatch")
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
		if d.queueRepair(v) != nil {
			// The queue is being repaired: the repair adds this entry once
			// it has caught up with the watermark.
			cq = false
		} else if err := d.buildQueue(off, v, tagsCode); err != nil {
			var wf *writeFailure
			switch {
			case errors.As(err, &wf):
				d.queueFailed(off, v, wf.err)
			case !errors.Is(err, errNotDispatched):
				return err
			}
			cq = false
		}
		if !cq && d.recovering {
			d.advanceCounter(v, false) // queue offsets handed out later must follow this record
		}
	}
	if s.idx != nil && tran != message.SysFlagTransactionRollbackType && off > d.idxSkipThrough && d.repairs[indexRepair] == nil {
		if err := d.buildIndex(off, v); err != nil {
			d.fail(indexRepair, off, err)
		}
	}
	d.count++
	s.dispatched.Store(int64(off) + int64(len(rec)))
	s.dispatchedTs.Store(v.StoreTimestamp)
	if cq {
		d.notify(off, v, tagsCode)
	}
	return nil
}

// notify pushes a DispatchEvent to every dispatch queue for a record whose
// consume-queue entry is readable.
func (d *dispatcher) notify(off message.PhysOffset, v *message.RecordView, tagsCode int64) {
	if qs := d.s.dqueues.Load(); qs != nil && len(*qs) > 0 {
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

// writeFailure is a consume-queue write that failed (buildQueue): the queue
// is repaired (queueFailed), dispatch goes on.
type writeFailure struct{ err error }

func (w *writeFailure) Error() string { return w.err.Error() }

// buildQueue appends the record's consume-queue entry. It returns a
// *writeFailure when the queue could not be opened or written, errGap or
// errRebuild to abort a recovery re-dispatch, errNotDispatched for a record
// left out, and nil otherwise (also when the entry was there already).
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
				return &writeFailure{fmt.Errorf("store: open consume queue %s/%d: %w", v.Topic, v.QueueID, err)}
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
				return &writeFailure{terr}
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
		case errors.Is(err, consumequeue.ErrGap) && attempt == 0:
			// Records of the queue between its last entry and this one were
			// not dispatched. Dispatch follows the commit log, so they are
			// either gone (retention deleted them while the dispatcher, or a
			// repair, was behind) or never belonged to this queue's sequence
			// (a message of a deleted topic whose queue offset was taken
			// before DeleteTopic).
			lo, end := s.clog.MinOffset(), q.MaxPhysOffset()
			gap := int64(v.QueueOffset - q.MaxOffset())
			if end < lo && int64(end)+gap*message.RecordFixedSize <= int64(lo) {
				s.log.Warn("consume queue skips entries whose messages retention deleted before they were dispatched",
					"topic", string(v.Topic), "queue", v.QueueID, "from", q.MaxOffset(), "to", v.QueueOffset)
				if gerr := q.AppendGone(v.QueueOffset, end); gerr != nil {
					return &writeFailure{gerr}
				}
				continue
			}
			s.log.Warn("message's queue offset does not follow its consume queue (a deleted topic's message?); not dispatched",
				"topic", string(v.Topic), "queue", v.QueueID, "queue_offset", v.QueueOffset, "max_offset", q.MaxOffset(), "offset", off)
			return errNotDispatched
		default:
			return &writeFailure{err}
		}
		break
	}
	if d.recovering || s.repl.following.Load() {
		// Replicated records carry the master's queue offsets.
		d.advanceCounter(v, cut)
	}
	return nil
}

// advanceCounter moves the topic-queue table past the record during
// recovery (back to it + 1 if its queue was cut there).
func (d *dispatcher) advanceCounter(v *message.RecordView, cut bool) {
	c := d.s.counter(string(v.Topic), v.QueueID)
	if next := int64(v.QueueOffset) + 1; c.Load() < next || cut {
		c.Store(next)
	}
}

// buildIndex adds the record's UNIQ_KEY and KEYS to the index.
func (d *dispatcher) buildIndex(off message.PhysOffset, v *message.RecordView) error {
	uniq, _ := message.LookupProperty(v.Properties, message.PropertyUniqKey)
	keys, _ := message.LookupProperty(v.Properties, message.PropertyKeys)
	if len(uniq) == 0 && len(strings.TrimSpace(bytesString(keys))) == 0 {
		return nil
	}
	// PutMessage keeps none of its strings: views of the record do.
	return d.s.idx.PutMessage(bytesString(v.Topic), bytesString(uniq), bytesString(keys), off, v.StoreTimestamp)
}
