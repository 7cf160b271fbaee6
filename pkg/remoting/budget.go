package remoting

import (
	"errors"
	"math"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Budget is a server-wide memory budget, in bytes, for what connections hold:
// frames being read, requests queued for or running on a worker, and answers
// waiting to be written. One or more Servers draw on it (ServerConfig.Budget);
// Client connections do not.
//
// How it is used (see the package doc, "Limits and back-pressure"):
//   - Before a frame's header is read, the connection reserves the frame's
//     announced length. A frame of up to 64 KiB waits while the reservation would
//     take the budget over its limit; a larger one waits while it would take it
//     over three quarters of the limit, so that large frames, or a peer that
//     announces them and sends nothing, always leave room for small requests. A
//     connection waiting for the budget reads nothing more. The reservation is
//     held until the request has run (or the response has been handed to its
//     caller).
//   - An answer is charged when it is queued for writing and released once
//     written. Answers never wait: a Reply must not block the goroutine that
//     answers (a store flusher, a long-poll runner). Instead, while answers alone
//     fill half the limit, queued requests do not start on a worker (they wait,
//     holding no worker, and start once answers are written).
//
// Memory held by connections so stays near the limit: at worst requests use the
// limit and answers another half, plus the answers of requests already running.
//
// Budget is safe for concurrent use.
type Budget struct {
	limit   int64
	used    atomic.Int64 // everything charged: reservations and answers
	answers atomic.Int64 // the answers part of used

	// waiters counts readers waiting for a reservation; a release while it is
	// non-zero wakes them (closes and replaces ch).
	waiters atomic.Int32
	// parkedN is the size of mu.parked, read without the lock on the release path.
	parkedN atomic.Int32

	mu struct {
		sync.Mutex
		ch chan struct{}
		// parked holds the connections with requests waiting for answers to
		// drop below half the limit; releasing answers resumes them.
		parked map[*Conn]struct{}
	}
}

// NewBudget returns a budget of limit bytes (at least 1).
func NewBudget(limit int64) *Budget {
	b := &Budget{limit: max(limit, 1)}
	b.mu.ch = make(chan struct{})
	b.mu.parked = map[*Conn]struct{}{}
	return b
}

// Limit returns the budget's size in bytes.
func (b *Budget) Limit() int64 { return b.limit }

// Used returns the bytes charged now: frames being read, requests queued or
// running, and answers waiting to be written.
func (b *Budget) Used() int64 { return b.used.Load() }

// Answers returns the part of Used that is answers waiting to be written.
func (b *Budget) Answers() int64 { return b.answers.Load() }

// smallFrame is the largest frame that may use the whole budget; larger ones use
// at most three quarters of it.
const smallFrame = 64 << 10

// ceiling returns what used may reach after reserving n bytes.
func (b *Budget) ceiling(n int64) int64 {
	if n > smallFrame {
		return b.limit - b.limit/4
	}
	return b.limit
}

// tryReserve reserves n bytes if they fit under the ceiling for n, or if nothing
// at all is charged (so that any frame the server accepts can be read).
func (b *Budget) tryReserve(n int64) bool {
	ceil := b.ceiling(n)
	for {
		u := b.used.Load()
		if u > 0 && u+n > ceil {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// errBudgetWait is returned by reserve when the deadline passes first.
var errBudgetWait = errors.New("remoting: timed out waiting for the memory budget")

// reserve reserves n bytes, waiting while they do not fit, until deadline (zero:
// no deadline) or until done is closed (ErrConnClosed). onWait, if not nil, is
// called once if the reservation has to wait.
func (b *Budget) reserve(n int64, deadline time.Time, done <-chan struct{}, onWait func()) error {
	if b.tryReserve(n) {
		return nil
	}
	if onWait != nil {
		onWait()
	}
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	for {
		// Register before checking again: a release after the check sees the
		// waiter and closes the channel taken here.
		b.mu.Lock()
		b.waiters.Add(1)
		ch := b.mu.ch
		b.mu.Unlock()
		if b.tryReserve(n) {
			b.waiters.Add(-1)
			return nil
		}
		var err error
		select {
		case <-ch:
		case <-done:
			err = ErrConnClosed
		case <-timeout:
			err = errBudgetWait
		}
		b.waiters.Add(-1)
		if err != nil {
			return err
		}
	}
}

// release returns n reserved bytes.
func (b *Budget) release(n int64) {
	if n == 0 {
		return
	}
	u := b.used.Add(-n)
	if b.waiters.Load() > 0 && u < b.limit {
		b.wake()
	}
}

// chargeAnswer charges an answer of n bytes queued for writing; it never waits.
func (b *Budget) chargeAnswer(n int64) {
	b.used.Add(n)
	b.answers.Add(n)
}

// releaseAnswer returns the bytes of written (or dropped) answers, and resumes
// the requests that waited for answers to drop below half the limit.
func (b *Budget) releaseAnswer(n int64) {
	if n == 0 {
		return
	}
	a := b.answers.Add(-n)
	b.release(n)
	if b.parkedN.Load() > 0 && a < b.limit/2 {
		b.resumeParked()
	}
}

// answersFull reports whether queued answers fill half the budget, so requests
// must not start.
func (b *Budget) answersFull() bool { return b.answers.Load() >= b.limit/2 }

func (b *Budget) wake() {
	b.mu.Lock()
	close(b.mu.ch)
	b.mu.ch = make(chan struct{})
	b.mu.Unlock()
}

// addParked registers c as holding requests that wait for answersFull to end.
// The caller re-checks answersFull afterwards, so a release in between is not
// missed.
func (b *Budget) addParked(c *Conn) {
	b.mu.Lock()
	if _, ok := b.mu.parked[c]; !ok {
		b.mu.parked[c] = struct{}{}
		b.parkedN.Add(1)
	}
	b.mu.Unlock()
}

// removeParked forgets c (it has no parked request left, or it closed).
func (b *Budget) removeParked(c *Conn) {
	b.mu.Lock()
	if _, ok := b.mu.parked[c]; ok {
		delete(b.mu.parked, c)
		b.parkedN.Add(-1)
	}
	b.mu.Unlock()
}

func (b *Budget) resumeParked() {
	b.mu.Lock()
	conns := make([]*Conn, 0, len(b.mu.parked))
	for c := range b.mu.parked {
		conns = append(conns, c)
	}
	b.mu.Unlock()
	for _, c := range conns {
		c.resume()
	}
}

// minDefaultBudget is the smallest budget DefaultMemoryBudget returns.
const minDefaultBudget = 64 << 20

var defaultBudget = sync.OnceValue(func() int64 {
	return defaultBudgetFor(availableMemory())
})

// DefaultMemoryBudget returns the default ServerConfig.MemoryBudget: a quarter of
// the memory available to the process, at most 1 GiB and at least 64 MiB. The
// memory available is the smallest of physical memory, the cgroup memory limit
// (Linux, v1 or v2) and the Go runtime's memory limit (GOMEMLIMIT) when they are
// set; when none is known the budget is 1 GiB. It is computed once per process.
func DefaultMemoryBudget() int64 { return defaultBudget() }

func defaultBudgetFor(avail int64) int64 {
	const ceiling = 1 << 30
	if avail <= 0 {
		return ceiling
	}
	return min(max(avail/4, minDefaultBudget), ceiling)
}

// availableMemory returns the smallest known memory limit of the process, or 0.
func availableMemory() int64 {
	avail := int64(0)
	consider := func(n int64) {
		if n > 0 && (avail == 0 || n < avail) {
			avail = n
		}
	}
	consider(physicalMemory())
	consider(cgroupMemoryLimit())
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		consider(l)
	}
	return avail
}
