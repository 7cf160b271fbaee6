package ha

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/message"
)

// ErrBadReport marks a slave report that the master refuses: it closes that
// connection.
var ErrBadReport = errors.New("ha: bad offset report")

// SlaveID names one HA connection on a master.
type SlaveID uint64

// Bounds are a commit log's minimum and maximum offsets.
type Bounds struct {
	Min, Max message.PhysOffset
}

// TrackerConfig configures a Tracker.
type TrackerConfig struct {
	// FallbehindMax is haSlaveFallbehindMax: a slave whose confirmed offset is
	// this many bytes or more behind a put's end cannot confirm it in time, so
	// the put answers SLAVE_NOT_AVAILABLE at once. Bytes; default 256 MiB.
	FallbehindMax int64
	// Timeout is slaveTimeout: how long a SYNC_MASTER put waits for a slave
	// before it answers FLUSH_SLAVE_TIMEOUT. Default 3 s.
	Timeout time.Duration
	// Quorum is controller mode: reports do not release waiters (the Server
	// releases them by its confirm offset, ReleaseThrough), and a first
	// report of 0 (an empty slave) starts at the master's min offset, so a
	// replica that may be elected holds the master's whole log.
	Quorum bool
}

// Release is a replication waiter to complete, with its status. A Tracker
// returns them; its owner calls Done outside its lock.
type Release struct {
	Done   func(store.PutStatus)
	Status store.PutStatus
}

// Tracker is the master's replication state as a plain state machine: the
// connected slaves, what was sent to and confirmed by each, the in-sync set,
// and the puts waiting for a slave (SYNC_MASTER). It does no I/O and starts
// no goroutine; time comes in as now. Not safe for concurrent use: the
// Server guards it with its mutex.
//
// Rules (docs/design/replication.md):
//   - A slave's first report sets where streaming starts: 0 means the start
//     of the master's last segment (RocketMQ); otherwise the report itself,
//     which must lie in [min, max] of the master's log.
//   - Later reports must not go back and must not exceed what was sent on
//     this connection; the confirmed offset (ack) is the highest report.
//   - A put ending at upTo is confirmed by a slave whose connection started
//     below upTo and whose ack reached it: acks count only for bytes that
//     connection carried, so a report can never confirm data the slave was
//     not sent.
//   - A slave is in sync for a put when it has reported, its connection
//     started below upTo, and upTo - ack < FallbehindMax. A put with no slave in sync answers SLAVE_NOT_AVAILABLE
//     at once; otherwise it waits until confirmed (PUT_OK) or Timeout
//     (FLUSH_SLAVE_TIMEOUT). One report releases every waiter it covers.
type Tracker struct {
	cfg     TrackerConfig
	slaves  []*slaveState // by id
	waiters []waiter      // by upTo
}

type slaveState struct {
	id         SlaveID
	addr       string
	connected  time.Time
	reported   bool
	start      message.PhysOffset // where streaming started
	sent       message.PhysOffset // end of the bytes handed to the connection
	ack        message.PhysOffset // highest valid report (>= start)
	lastReport message.PhysOffset
	reportAt   time.Time
	caughtUp   time.Time // last time ack reached the master's max
}

type waiter struct {
	upTo     message.PhysOffset
	deadline time.Time
	done     func(store.PutStatus)
}

// Defaults of TrackerConfig (RocketMQ 4.9.3+).
const (
	DefaultSlaveFallbehindMax = 256 << 20
	DefaultSlaveTimeout       = 3 * time.Second
)

// NewTracker returns an empty tracker; zero fields of cfg take the defaults.
func NewTracker(cfg TrackerConfig) *Tracker {
	if cfg.FallbehindMax <= 0 {
		cfg.FallbehindMax = DefaultSlaveFallbehindMax
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultSlaveTimeout
	}
	return &Tracker{cfg: cfg}
}

func (t *Tracker) find(id SlaveID) *slaveState {
	i := sort.Search(len(t.slaves), func(i int) bool { return t.slaves[i].id >= id })
	if i < len(t.slaves) && t.slaves[i].id == id {
		return t.slaves[i]
	}
	return nil
}

// Connect adds a connection that has sent nothing yet: it is not in sync
// until its first report.
func (t *Tracker) Connect(id SlaveID, addr string, now time.Time) {
	if t.find(id) != nil {
		return
	}
	s := &slaveState{id: id, addr: addr, connected: now, caughtUp: now}
	i := sort.Search(len(t.slaves), func(i int) bool { return t.slaves[i].id > id })
	t.slaves = slices.Insert(t.slaves, i, s)
}

// Disconnect forgets a connection. Waiters stay: another slave may confirm
// them, or they time out.
func (t *Tracker) Disconnect(id SlaveID) {
	t.slaves = slices.DeleteFunc(t.slaves, func(s *slaveState) bool { return s.id == id })
}

// First handles a connection's first report and returns where to start
// streaming. b is the master's log and segSize its segment size. An error
// (ErrBadReport) means the connection must be closed.
func (t *Tracker) First(id SlaveID, report message.PhysOffset, b Bounds, segSize int64, now time.Time) (message.PhysOffset, error) {
	s := t.find(id)
	switch {
	case s == nil:
		return 0, fmt.Errorf("%w: unknown connection %d", ErrBadReport, id)
	case s.reported:
		return 0, fmt.Errorf("%w: second first report", ErrBadReport)
	case report < 0:
		return 0, fmt.Errorf("%w: negative offset %d", ErrBadReport, report)
	}
	start := report
	switch {
	case report == 0 && t.cfg.Quorum:
		start = b.Min
	case report == 0:
		// A new slave: from the start of the segment holding the end, as
		// RocketMQ does (not the whole history).
		start = b.Max - b.Max%message.PhysOffset(segSize)
	case report > b.Max:
		return 0, fmt.Errorf("%w: slave at %d is ahead of the master's log end %d", ErrBadReport, report, b.Max)
	case report < b.Min:
		return 0, fmt.Errorf("%w: slave at %d is behind the master's min offset %d (deleted by retention)", ErrBadReport, report, b.Min)
	}
	s.reported = true
	s.start, s.sent, s.ack, s.lastReport = start, start, start, report
	s.reportAt = now
	if start >= b.Max {
		s.caughtUp = now
	}
	return start, nil
}

// Sent records that the connection's bytes up to end are being written to
// it (the master calls it before the write, so a fast slave's report never
// overtakes it).
func (t *Tracker) Sent(id SlaveID, end message.PhysOffset) {
	if s := t.find(id); s != nil && end > s.sent {
		s.sent = end
	}
}

// Report handles a later report of a connection, given the master's current
// max, and appends the waiters it confirms to rel. An error (ErrBadReport)
// means the connection must be closed; its ack is unchanged then.
func (t *Tracker) Report(id SlaveID, report, masterMax message.PhysOffset, now time.Time, rel []Release) ([]Release, error) {
	s := t.find(id)
	switch {
	case s == nil || !s.reported:
		return rel, fmt.Errorf("%w: report before the first one", ErrBadReport)
	case report < s.lastReport:
		return rel, fmt.Errorf("%w: offset went back from %d to %d", ErrBadReport, s.lastReport, report)
	case report > s.sent:
		return rel, fmt.Errorf("%w: slave reports %d but was sent bytes up to %d only (master max %d)", ErrBadReport, report, s.sent, masterMax)
	}
	s.lastReport = report
	s.reportAt = now
	if report > s.ack {
		s.ack = report
	}
	if s.ack >= masterMax {
		s.caughtUp = now
	}
	if t.cfg.Quorum {
		return rel, nil
	}
	return t.releaseBy(s, rel), nil
}

// releaseBy removes the waiters s confirms, (s.start, s.ack], and appends
// them to rel as PutOK.
func (t *Tracker) releaseBy(s *slaveState, rel []Release) []Release {
	if s.ack <= s.start || len(t.waiters) == 0 {
		return rel
	}
	lo := sort.Search(len(t.waiters), func(i int) bool { return t.waiters[i].upTo > s.start })
	hi := sort.Search(len(t.waiters), func(i int) bool { return t.waiters[i].upTo > s.ack })
	if lo >= hi {
		return rel
	}
	for _, w := range t.waiters[lo:hi] {
		rel = append(rel, Release{Done: w.done, Status: store.PutOK})
	}
	if lo == 0 {
		clear(t.waiters[:hi])
		t.waiters = t.waiters[hi:]
	} else {
		t.waiters = slices.Delete(t.waiters, lo, hi)
	}
	return rel
}

// Wait asks for a put ending at upTo to be confirmed. If it can be decided
// now it returns the status and false: PutOK when a slave already confirmed
// it, PutSlaveNotAvailable when no slave is in sync for it. Otherwise it
// queues done with a deadline of now + Timeout and returns true.
func (t *Tracker) Wait(upTo message.PhysOffset, now time.Time, done func(store.PutStatus)) (store.PutStatus, bool) {
	inSync := false
	for _, s := range t.slaves {
		if !s.reported || s.start >= upTo {
			continue // it can never confirm bytes sent before it connected
		}
		if upTo <= s.ack {
			return store.PutOK, false
		}
		if int64(upTo-s.ack) < t.cfg.FallbehindMax {
			inSync = true
		}
	}
	if !inSync {
		return store.PutSlaveNotAvailable, false
	}
	t.Enqueue(upTo, now, done)
	return store.PutOK, true
}

// Enqueue queues done for a put ending at upTo with a deadline of now +
// Timeout, without looking at the slaves (controller mode: the Server decides
// by its confirm offset).
func (t *Tracker) Enqueue(upTo message.PhysOffset, now time.Time, done func(store.PutStatus)) {
	w := waiter{upTo: upTo, deadline: now.Add(t.cfg.Timeout), done: done}
	i := len(t.waiters)
	if i > 0 && t.waiters[i-1].upTo > upTo {
		i = sort.Search(len(t.waiters), func(i int) bool { return t.waiters[i].upTo > upTo })
	}
	t.waiters = slices.Insert(t.waiters, i, w)
}

// ReleaseThrough removes the waiters whose upTo is at or below off and
// appends them to rel as PutOK.
func (t *Tracker) ReleaseThrough(off message.PhysOffset, rel []Release) []Release {
	hi := sort.Search(len(t.waiters), func(i int) bool { return t.waiters[i].upTo > off })
	for _, w := range t.waiters[:hi] {
		rel = append(rel, Release{Done: w.done, Status: store.PutOK})
	}
	clear(t.waiters[:hi])
	t.waiters = t.waiters[hi:]
	return rel
}

// Expire completes the waiters at the front of the queue whose deadline has
// passed with PutFlushSlaveTimeout, appending them to rel. Waiters arrive in
// about the order of their offsets, so expiring from the front is at most
// a few puts late for one that arrived out of order, and costs only what it
// releases.
func (t *Tracker) Expire(now time.Time, rel []Release) []Release {
	n := 0
	for n < len(t.waiters) && !t.waiters[n].deadline.After(now) {
		rel = append(rel, Release{Done: t.waiters[n].done, Status: store.PutFlushSlaveTimeout})
		n++
	}
	if n > 0 {
		clear(t.waiters[:n])
		t.waiters = t.waiters[n:]
	}
	return rel
}

// NextDeadline returns the deadline Expire should run at next.
func (t *Tracker) NextDeadline() (time.Time, bool) {
	if len(t.waiters) == 0 {
		return time.Time{}, false
	}
	return t.waiters[0].deadline, true
}

// Drain completes every waiter with st (shutdown), appending them to rel.
func (t *Tracker) Drain(st store.PutStatus, rel []Release) []Release {
	for _, w := range t.waiters {
		rel = append(rel, Release{Done: w.done, Status: st})
	}
	t.waiters = nil
	return rel
}

// Waiting is the number of queued waiters.
func (t *Tracker) Waiting() int { return len(t.waiters) }

// SlaveStatus is one HA connection as a master sees it.
type SlaveStatus struct {
	ID          SlaveID
	Addr        string
	ConnectedAt time.Time
	// Reported: the slave sent its first report (streaming started).
	Reported bool
	// StartOffset is where this connection's streaming started.
	StartOffset message.PhysOffset
	// SentOffset is the end of the bytes handed to the connection.
	SentOffset message.PhysOffset
	// AckOffset is the slave's confirmed offset: everything below it is on
	// the slave (as durable as its flush mode makes it).
	AckOffset message.PhysOffset
	// LagBytes is the master's max minus AckOffset.
	LagBytes int64
	// LagTime is how long since the slave was last caught up (0 when it is).
	LagTime time.Duration
	// LastReport is when the slave last reported.
	LastReport time.Time
	// InSync: it reported and LagBytes < FallbehindMax, so it can confirm
	// SYNC_MASTER puts.
	InSync bool
}

// Status describes every connection, by id, for the master's max and now.
func (t *Tracker) Status(masterMax message.PhysOffset, now time.Time) []SlaveStatus {
	out := make([]SlaveStatus, 0, len(t.slaves))
	for _, s := range t.slaves {
		st := SlaveStatus{ID: s.id, Addr: s.addr, ConnectedAt: s.connected, Reported: s.reported,
			StartOffset: s.start, SentOffset: s.sent, AckOffset: s.ack, LastReport: s.reportAt}
		if s.reported {
			st.LagBytes = max(0, int64(masterMax-s.ack))
			st.InSync = st.LagBytes < t.cfg.FallbehindMax
		} else {
			st.LagBytes = int64(masterMax)
		}
		if st.LagBytes > 0 {
			st.LagTime = now.Sub(s.caughtUp)
		}
		out = append(out, st)
	}
	return out
}
