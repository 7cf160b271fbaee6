package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/petrelmq/petrel/internal/store/index"
	"github.com/petrelmq/petrel/pkg/message"
)

// Online repair of derived data.
//
// A consume queue or the index whose write fails (no file descriptor, no
// space, an I/O error, a failed fsync) is not left behind until a restart.
// The dispatcher records a repair for it with the commit-log offset from
// which its entries are missing, and normal dispatch skips it from then on.
// The repair is retried with exponential backoff (repairMinBackoff doubling
// to repairMaxBackoff): it makes the queue usable again (opens it if it could
// not be opened, Resync after a failed fsync) or, for the index, opens it
// again from its files and drops the files the checkpoint does not cover;
// then it scans the commit log from the repair's offset and adds the missing
// entries, at most repairScanBudget bytes per pass so that normal dispatch
// keeps running. Once it reaches the dispatch watermark the repair is done:
// normal dispatch takes the queue (or index) again. All of it runs on the
// dispatcher goroutine, so the two never race. Until then the store reports
// the problem in Stats and logs it at ERROR; consumers of the queue see its
// messages once the repair has added them (long polls are woken then).

const (
	repairMinBackoff = 100 * time.Millisecond
	repairMaxBackoff = 30 * time.Second
	// repairScanBudget is how many commit-log bytes one repair pass scans
	// before normal dispatch runs again.
	repairScanBudget = 64 << 20
)

// backoff is the wait before attempt n+1 after n failures.
func backoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	d := repairMinBackoff << min(n-1, 20)
	return min(d, repairMaxBackoff)
}

// repairKey names derived data under repair: a consume queue, or the index.
type repairKey struct {
	topic   string
	queueID int32
	index   bool
}

// indexRepair is the key of the index.
var indexRepair = repairKey{index: true}

func (k repairKey) String() string {
	if k.index {
		return "index"
	}
	return "consumequeue " + k.topic + "/" + strconv.Itoa(int(k.queueID))
}

// repair is derived data under repair: records at or past from have no entry
// in it yet (or, for the index, are not known to be indexed).
type repair struct {
	key      repairKey
	from     message.PhysOffset
	since    time.Time
	err      error
	attempts int
	next     time.Time // no attempt before
	ready    bool      // prepared (reopened, resynced) and catching up
	restored int64     // entries added by the catch-up
	// recurrent: the same data failed again soon after a repair; logged
	// quietly.
	recurrent bool
}

// recentRepair remembers a finished repair for repairMaxBackoff, so a
// failure soon after continues its backoff instead of starting over.
type recentRepair struct {
	attempts  int
	since, at time.Time
}

// queueRepair returns the repair of the record's queue, or nil.
func (d *dispatcher) queueRepair(v *message.RecordView) *repair {
	if len(d.repairs) == 0 {
		return nil
	}
	return d.repairs[repairKey{topic: bytesString(v.Topic), queueID: v.QueueID}]
}

// queueFailed starts (or sets back) the repair of the record's queue after a
// write for the record at off failed. Entries are missing from the record on,
// and possibly from the end of the queue's last entry (never later than off).
func (d *dispatcher) queueFailed(off message.PhysOffset, v *message.RecordView, err error) {
	k := repairKey{topic: string(v.Topic), queueID: v.QueueID}
	if q := d.s.lookupQueue(k.topic, k.queueID); q != nil && q.MaxOffset() > q.MinOffset() {
		off = min(off, q.MaxPhysOffset())
	}
	d.fail(k, off, err)
}

// fail records a failed write (or repair attempt) of k at from and schedules
// the next attempt.
func (d *dispatcher) fail(k repairKey, from message.PhysOffset, err error) {
	s := d.s
	now := s.clk.Now()
	r := d.repairs[k]
	if r == nil {
		if d.repairs == nil {
			d.repairs = make(map[repairKey]*repair)
		}
		r = &repair{key: k, from: from, since: now}
		d.repairs[k] = r
		if rr, ok := d.recent[k]; ok && now.Sub(rr.at) < repairMaxBackoff {
			// Repaired a moment ago and failing again (an fsync that keeps
			// failing): go on with the backoff, and do not log it as new.
			r.attempts, r.since, r.recurrent = rr.attempts, rr.since, true
			s.log.Warn("derived data failed again after its repair; retrying", "what", k.String(), "offset", from,
				"since", r.since, "err", err)
		} else if k.index {
			s.log.Error("index write failed; message keys from this offset are not queryable until the index is repaired (retrying)",
				"offset", from, "err", err)
		} else {
			s.log.Error("consume queue write failed; its new messages are not readable until it is repaired (retrying)",
				"topic", k.topic, "queue", k.queueID, "offset", from, "err", err)
		}
	} else {
		s.log.Warn("repair of derived data failed; retrying", "what", k.String(), "offset", from,
			"attempt", r.attempts+1, "err", err)
	}
	r.from = min(r.from, from)
	r.err = err
	r.ready = false
	r.attempts++
	r.next = now.Add(backoff(r.attempts))
	what := "new messages are not readable until it is repaired"
	if k.index {
		what = "new message keys are not queryable until it is repaired"
	}
	s.health.set(k.String(), r.since, fmt.Errorf("%w; %s", err, what))
}

// requestRepair is how other goroutines (the flusher, after a failed fsync
// left a queue or the index with a sticky error) hand a repair to the
// dispatcher.
func (s *Store) requestRepair(k repairKey, err error) {
	s.repairMu.Lock()
	if s.repairReq == nil {
		s.repairReq = make(map[repairKey]error)
	}
	s.repairReq[k] = err
	s.repairMu.Unlock()
	s.wakeDispatcher()
}

// takeRequests turns requested repairs into repairs. Nothing is missing from
// such a queue below the watermark, but its entries since its last good flush
// are not known durable (Resync writes them again); the index is opened again
// and rebuilt from what the checkpoint covers.
func (d *dispatcher) takeRequests() {
	s := d.s
	s.repairMu.Lock()
	req := s.repairReq
	s.repairReq = nil
	s.repairMu.Unlock()
	for k, err := range req {
		if r := d.repairs[k]; r != nil {
			r.ready = false // prepare again (Resync, reopen)
			continue
		}
		d.fail(k, message.PhysOffset(s.dispatched.Load()), err)
		d.repairs[k].next = time.Time{} // try at once
	}
}

// repairDue runs the repairs whose backoff has passed (all of them if force):
// it prepares each, then catches them up together in one scan of the commit
// log from the smallest offset, up to the dispatch watermark (at most
// repairScanBudget bytes unless force). It returns 0 if more catch-up work is
// ready now, the time until the next attempt is due, or -1 if there is
// nothing to repair.
func (d *dispatcher) repairDue(force bool) time.Duration {
	s := d.s
	d.takeRequests()
	if len(d.repairs) == 0 {
		return -1
	}
	now := s.clk.Now()
	due := make(map[repairKey]*repair)
	for k, r := range d.repairs {
		if !force && now.Before(r.next) {
			continue
		}
		if !r.ready {
			if err := d.prepare(r); err != nil {
				d.fail(k, r.from, err)
				continue
			}
			r.ready = true
		}
		due[k] = r
	}
	if len(due) > 0 {
		d.catchUp(due, force)
	}
	if len(d.repairs) == 0 {
		return -1
	}
	wait := time.Duration(-1)
	now = s.clk.Now()
	for _, r := range d.repairs {
		w := max(r.next.Sub(now), 0)
		if r.ready {
			w = 0 // caught up part of the way: go on after normal dispatch
		}
		if wait < 0 || w < wait {
			wait = w
		}
	}
	if wait == 0 && force {
		return -1
	}
	return wait
}

// prepare makes r's target writable again: a queue is opened (if it could
// not be) and resynced after a failed fsync; the index is opened again from
// its files, dropping those the checkpoint does not cover, and r.from moves
// back to where its rebuild starts.
func (d *dispatcher) prepare(r *repair) error {
	s := d.s
	if r.key.index {
		from, err := s.reopenIndex()
		if err != nil {
			return err
		}
		r.from = min(r.from, from)
		d.idxSkipThrough = -1
		if ts, _ := s.idx.LastUpdate(); ts > 0 {
			d.idxSkipThrough = s.idx.EndPhysOffset() // the record at the end is indexed
		}
		return nil
	}
	q, err := s.queueFor(r.key.topic, r.key.queueID)
	if err != nil {
		return fmt.Errorf("store: open consume queue %s/%d: %w", r.key.topic, r.key.queueID, err)
	}
	return q.Resync()
}

// reopenIndex replaces the index, which has a sticky error, by a fresh
// Service on the same files, as recovery after a crash opens it: files whose
// end time is after the checkpoint's index time may be partial and are
// dropped. It returns where the rebuild must start. The swap holds idxMu, so
// queries and flushes never use a closed index.
func (s *Store) reopenIndex() (message.PhysOffset, error) {
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	idx, err := index.Open(s.fs, s.cfg.IndexDir, s.indexConfig(), s.clk)
	if err != nil {
		return 0, fmt.Errorf("store: reopen index: %w", err)
	}
	from, err := idx.DropNewerThan(s.cp.IndexMsgTimestamp())
	if err != nil {
		_ = idx.Close()
		return 0, fmt.Errorf("store: reopen index: %w", err)
	}
	if old := s.idx; old != nil {
		_ = old.Close() // failed already: it writes nothing more
	}
	s.idx = idx
	return from, nil
}

// errRepairPass ends a repair scan at its budget.
var errRepairPass = errors.New("store: repair pass budget")

// catchUp adds the entries missing from the due repairs: one scan from the
// smallest repair offset to the dispatch watermark (or the budget). A repair
// that fails again leaves due and is rescheduled; one that reaches the
// watermark is done.
func (d *dispatcher) catchUp(due map[repairKey]*repair, force bool) {
	s := d.s
	end := message.PhysOffset(s.dispatched.Load())
	from := end
	for _, r := range due {
		from = min(from, r.from)
	}
	from = max(from, s.clog.MinOffset()) // older records are gone
	limit := end
	if !force {
		limit = min(end, from+repairScanBudget)
	}
	pos := from
	if from < end {
		_, err := s.clog.ScanWith(&d.sb, from, func(off message.PhysOffset, rec []byte) error {
			if off >= limit {
				return errRepairPass
			}
			d.restore(due, off, rec)
			pos = off + message.PhysOffset(len(rec))
			return nil
		})
		if err != nil && !errors.Is(err, errRepairPass) {
			for k := range due {
				d.fail(k, pos, fmt.Errorf("store: read the commit log at %d: %w", pos, err))
			}
			return
		}
		if pos < limit && err == nil {
			pos = limit // only blank records (segment ends) were left
		}
	}
	for k, r := range due {
		r.from = max(r.from, pos)
		if r.from < end {
			continue
		}
		delete(d.repairs, k)
		s.health.clear(k.String())
		now := s.clk.Now()
		if d.recent == nil {
			d.recent = make(map[repairKey]recentRepair)
		}
		for rk, rr := range d.recent {
			if now.Sub(rr.at) >= repairMaxBackoff {
				delete(d.recent, rk)
			}
		}
		d.recent[k] = recentRepair{attempts: r.attempts, since: r.since, at: now}
		level := slog.LevelInfo
		if r.recurrent {
			level = slog.LevelDebug
		}
		s.log.Log(context.Background(), level, "derived data repaired from the commit log", "what", k.String(),
			"entries_restored", r.restored, "since", r.since, "attempts", r.attempts)
	}
}

// restore adds the record at off to the due repairs it belongs to.
func (d *dispatcher) restore(due map[repairKey]*repair, off message.PhysOffset, rec []byte) {
	s := d.s
	v := &d.v
	if message.ParseRecord(rec, v) != nil {
		return // Scan validated the record; this cannot happen
	}
	tran := v.SysFlag.TransactionType()
	if r := due[indexRepair]; r != nil && off >= r.from && off > d.idxSkipThrough &&
		tran != message.SysFlagTransactionRollbackType {
		if err := d.buildIndex(off, v); err != nil {
			delete(due, indexRepair)
			d.fail(indexRepair, off, err)
		} else {
			r.restored++
		}
	}
	if tran != message.SysFlagTransactionNotType && tran != message.SysFlagTransactionCommitType {
		return
	}
	k := repairKey{topic: bytesString(v.Topic), queueID: v.QueueID}
	r := due[k]
	if r == nil || off < r.from {
		return
	}
	k = r.key // a key that owns its topic string
	tagsCode := d.tagsCode(v)
	var before message.QueueOffset
	if q := s.lookupQueue(k.topic, k.queueID); q != nil {
		before = q.MaxOffset()
	}
	if err := d.buildQueue(off, v, tagsCode); err != nil {
		if errors.Is(err, errNotDispatched) {
			return
		}
		delete(due, k)
		var wf *writeFailure
		if errors.As(err, &wf) {
			err = wf.err
		}
		d.fail(k, off, err)
		return
	}
	if v.QueueOffset >= before {
		r.restored++
		d.notify(off, v, tagsCode) // wake long polls: the message is readable now
	}
}

// indexConfig is the index configuration derived from the store's.
func (s *Store) indexConfig() index.Config {
	return index.Config{HashSlots: s.cfg.MaxHashSlotNum, MaxEntries: s.cfg.MaxIndexNum, WriteBufferEntries: 1024}
}
