package dedup

import (
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/protocol"
)

// DefaultMaxEntries is duplicateMaxEntries' default.
const DefaultMaxEntries = 1_000_000

// warnEvery rate-limits the log line about entries evicted at the cap.
const warnEvery = time.Minute

// Key names one send: the topic the producer sent to, its producer group and
// the message's de-dup key (PETREL_DEDUP_KEY, else UNIQ_KEY). A Key with an
// empty ID is never de-duplicated.
type Key struct {
	Topic, Group, ID string
}

// Result is the answer a send got: replayed to its duplicates.
type Result struct {
	Code        protocol.ResponseCode
	Remark      string
	MsgID       string // offset message id
	QueueID     int32
	QueueOffset int64
}

// Slot is one message of a send in a Claim: Key is the caller's, Found is
// set by Claim when the key is a duplicate (the first copy's answer).
type Slot struct {
	Key   Key
	Found *Result
	// claimed: this send owns the key's in-flight entry and must Resolve or
	// Abort it.
	claimed bool
}

// Claimed reports whether the send owns the slot's in-flight entry.
func (s *Slot) Claimed() bool { return s.claimed }

// Stats are the table's counters.
type Stats struct {
	Entries int   // stored entries now
	Dropped int64 // duplicates answered from a first copy, since start
	Evicted int64 // stored entries forgotten at MaxEntries before they expired
	ByTopic map[string]int64
}

// Table is the de-duplication window of one broker.
type Table struct {
	clk clock.Clock
	log *slog.Logger
	max int

	mu       sync.Mutex
	entries  map[Key]*entry
	fifos    map[time.Duration]*fifo // stored entries by window, each in expiry order
	stored   int
	dropped  int64
	byTopic  map[string]int64
	evicted  int64
	lastWarn time.Time
}

type entry struct {
	key     Key
	stored  bool
	res     Result
	expires time.Time
	waiters []*waiter // sends parked while the entry is in flight
}

// waiter is a parked send: resumed once left reaches 0.
type waiter struct {
	left int
	run  Parked
}

// Parked is a send parked by Claim; Resume runs it again.
type Parked interface{ Resume() }

// New returns an empty table that keeps at most maxEntries stored entries
// (DefaultMaxEntries when maxEntries <= 0).
func New(maxEntries int, clk clock.Clock, log *slog.Logger) *Table {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Table{clk: clk, log: log, max: maxEntries, entries: map[Key]*entry{},
		fifos: map[time.Duration]*fifo{}, byTopic: map[string]int64{}}
}

// Claim looks up the keys of one send (one slot per message; a slot with an
// empty Key.ID is left alone). A key stored and not expired is a duplicate:
// its slot's Found is set and counted as dropped. If any key is in flight
// (another send of it has not completed), Claim claims nothing, parks run on
// those entries and returns true: run is called once, after each of them is
// resolved or aborted, on the goroutine that resolves the last one (run then
// calls Claim again). run is an interface, not a func, so a send that is not
// parked costs no allocation. Otherwise every other key is claimed: the caller must
// Resolve or Abort the slots once its put completes.
func (t *Table) Claim(slots []Slot, run Parked) (parked bool) {
	now := t.clk.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expireLocked(now)
	var w *waiter
	for i := range slots {
		sl := &slots[i]
		sl.Found, sl.claimed = nil, false
		if sl.Key.ID == "" {
			continue
		}
		e, ok := t.entries[sl.Key]
		if !ok || e.stored {
			continue
		}
		if w == nil {
			w = &waiter{run: run}
		}
		if len(e.waiters) == 0 || e.waiters[len(e.waiters)-1] != w {
			e.waiters = append(e.waiters, w)
			w.left++
		}
	}
	if w != nil {
		return true
	}
	for i := range slots {
		sl := &slots[i]
		if sl.Key.ID == "" {
			continue
		}
		e, ok := t.entries[sl.Key]
		switch {
		case !ok:
			t.entries[sl.Key] = &entry{key: sl.Key}
			sl.claimed = true
		case e.stored:
			r := e.res
			sl.Found = &r
			t.dropped++
			t.byTopic[sl.Key.Topic]++
		default:
			// The same key earlier in this batch: this send claimed it, so
			// the message is stored with it (the batch itself repeats it).
		}
	}
	return false
}

// Resolve records the claimed slots as stored with their answers (res[i]
// for slots[i]) for window from now, and runs the sends parked on them.
func (t *Table) Resolve(slots []Slot, res []Result, window time.Duration) {
	now := t.clk.Now()
	var ready []Parked
	t.mu.Lock()
	for i := range slots {
		sl := &slots[i]
		if !sl.claimed {
			continue
		}
		sl.claimed = false
		e := t.entries[sl.Key]
		if e == nil || e.stored {
			panic("dedup: resolving a key that is not in flight")
		}
		e.stored, e.res, e.expires = true, res[i], now.Add(window)
		ready = wake(e, ready)
		t.pushLocked(e, window)
	}
	t.capLocked(now)
	t.mu.Unlock()
	for _, run := range ready {
		run.Resume()
	}
}

// Abort forgets the claimed slots (their put failed: nothing was stored) and
// runs the sends parked on them, which then claim the keys themselves.
func (t *Table) Abort(slots []Slot) {
	var ready []Parked
	t.mu.Lock()
	for i := range slots {
		sl := &slots[i]
		if !sl.claimed {
			continue
		}
		sl.claimed = false
		e := t.entries[sl.Key]
		if e == nil || e.stored {
			panic("dedup: aborting a key that is not in flight")
		}
		delete(t.entries, sl.Key)
		ready = wake(e, ready)
	}
	t.mu.Unlock()
	for _, run := range ready {
		run.Resume()
	}
}

// wake takes e's waiters and appends the runs of those with nothing left to
// wait for.
func wake(e *entry, ready []Parked) []Parked {
	for _, w := range e.waiters {
		if w.left--; w.left == 0 {
			ready = append(ready, w.run)
		}
	}
	e.waiters = nil
	return ready
}

// Add records a stored send found in the commit log (Rebuild): its answer
// and when it expires. An existing entry wins (the first copy). It reports
// whether the entry was added.
func (t *Table) Add(k Key, res Result, window time.Duration, expires time.Time) bool {
	now := t.clk.Now()
	if k.ID == "" || !expires.After(now) {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.entries[k]; ok {
		return false
	}
	e := &entry{key: k, stored: true, res: res, expires: expires}
	t.entries[k] = e
	t.pushLocked(e, window)
	t.capLocked(now)
	return true
}

// Stats returns the counters.
func (t *Table) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expireLocked(t.clk.Now())
	return Stats{Entries: t.stored, Dropped: t.dropped, Evicted: t.evicted, ByTopic: maps.Clone(t.byTopic)}
}

func (t *Table) pushLocked(e *entry, window time.Duration) {
	f := t.fifos[window]
	if f == nil {
		f = &fifo{}
		t.fifos[window] = f
	}
	f.push(e)
	t.stored++
}

// expireLocked forgets every stored entry whose window has passed.
func (t *Table) expireLocked(now time.Time) {
	for w, f := range t.fifos {
		for {
			n, ok := f.front()
			if !ok || n.expires.After(now) {
				break
			}
			f.pop()
			t.forgetLocked(n)
		}
		if f.empty() {
			delete(t.fifos, w)
		}
	}
}

func (t *Table) forgetLocked(e *entry) {
	if t.entries[e.key] == e {
		delete(t.entries, e.key)
	}
	t.stored--
}

// capLocked evicts the stored entries that expire first while there are
// more than max, counting them and logging at most once a minute.
func (t *Table) capLocked(now time.Time) {
	if t.stored <= t.max {
		return
	}
	n := 0
	for t.stored > t.max {
		var oldest *fifo
		var at time.Time
		for _, f := range t.fifos {
			if fn, ok := f.front(); ok && (oldest == nil || fn.expires.Before(at)) {
				oldest, at = f, fn.expires
			}
		}
		if oldest == nil {
			break
		}
		fn, _ := oldest.front()
		oldest.pop()
		t.forgetLocked(fn)
		n++
	}
	t.evicted += int64(n)
	if t.lastWarn.IsZero() || now.Sub(t.lastWarn) >= warnEvery {
		t.lastWarn = now
		t.log.Warn("dedup: duplicateMaxEntries reached: the oldest sends are forgotten before their window ends, "+
			"so a late retry of one of them would be stored again (raise duplicateMaxEntries or shorten duplicateWindowSeconds)",
			"duplicateMaxEntries", t.max, "evictedTotal", t.evicted)
	}
}

// fifo is a queue of stored entries in a slice; popped slots are reclaimed
// when the head passes half the slice.
type fifo struct {
	q    []*entry
	head int
}

func (f *fifo) push(e *entry) { f.q = append(f.q, e) }

func (f *fifo) empty() bool { return f.head == len(f.q) }

func (f *fifo) front() (*entry, bool) {
	if f.empty() {
		return nil, false
	}
	return f.q[f.head], true
}

func (f *fifo) pop() {
	f.q[f.head] = nil
	f.head++
	if f.head == len(f.q) {
		f.q, f.head = f.q[:0], 0
	} else if f.head > 1024 && f.head*2 > len(f.q) {
		n := copy(f.q, f.q[f.head:])
		clear(f.q[n:])
		f.q, f.head = f.q[:n], 0
	}
}
