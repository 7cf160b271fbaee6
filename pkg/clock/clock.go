package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock tells time and makes timers.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that fires once after d.
	NewTimer(d time.Duration) Timer
	// NewTicker returns a ticker that fires every d (d > 0).
	NewTicker(d time.Duration) Ticker
	// AfterFunc calls f in its own goroutine after d.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a one-shot timer. C is nil for timers made by AfterFunc.
type Timer interface {
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it stopped it.
	Stop() bool
	// Reset re-arms the timer to fire after d.
	Reset(d time.Duration) bool
}

// Ticker fires repeatedly until stopped.
type Ticker interface {
	C() <-chan time.Time
	Stop()
	Reset(d time.Duration)
}

// Real is the wall clock.
type Real struct{}

var _ Clock = Real{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// NewTimer wraps time.NewTimer.
func (Real) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

// NewTicker wraps time.NewTicker.
func (Real) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

// AfterFunc wraps time.AfterFunc.
func (Real) AfterFunc(d time.Duration, f func()) Timer { return realTimer{time.AfterFunc(d, f)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time   { return r.t.C }
func (r realTicker) Stop()                 { r.t.Stop() }
func (r realTicker) Reset(d time.Duration) { r.t.Reset(d) }

// Manual is a clock that only moves when Advance or Set is called. Timers and tickers
// whose deadline passes fire during Advance, in deadline order; channel sends never
// block (a full channel drops the tick, as with time.Ticker).
type Manual struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*manualTimer
}

var _ Clock = (*Manual)(nil)

// NewManual returns a Manual clock reading t0.
func NewManual(t0 time.Time) *Manual { return &Manual{now: t0} }

// Now returns the clock's current reading.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// Advance moves the clock forward by d and fires what became due.
func (m *Manual) Advance(d time.Duration) { m.Set(m.Now().Add(d)) }

// Set moves the clock to t (never backwards) and fires what became due.
func (m *Manual) Set(t time.Time) {
	for {
		m.mu.Lock()
		if t.Before(m.now) {
			m.mu.Unlock()
			return
		}
		sort.Slice(m.waiters, func(i, j int) bool { return m.waiters[i].when.Before(m.waiters[j].when) })
		if len(m.waiters) == 0 || m.waiters[0].when.After(t) {
			m.now = t
			m.mu.Unlock()
			return
		}
		w := m.waiters[0]
		m.waiters = m.waiters[1:]
		if w.when.After(m.now) {
			m.now = w.when
		}
		now := m.now
		if w.period > 0 {
			w.when = now.Add(w.period)
			m.waiters = append(m.waiters, w)
		}
		m.mu.Unlock()
		w.fire(now)
	}
}

// Waiters returns how many timers and tickers are armed; tests use it to wait until
// a component has armed its timer before advancing.
func (m *Manual) Waiters() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.waiters)
}

func (m *Manual) add(w *manualTimer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w.when = m.now.Add(w.d)
	m.waiters = append(m.waiters, w)
}

func (m *Manual) remove(w *manualTimer) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, x := range m.waiters {
		if x == w {
			m.waiters = append(m.waiters[:i], m.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// NewTimer returns a timer that fires when the clock passes now+d.
func (m *Manual) NewTimer(d time.Duration) Timer {
	w := &manualTimer{m: m, d: d, c: make(chan time.Time, 1)}
	m.add(w)
	return w
}

// NewTicker returns a ticker with period d.
func (m *Manual) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive ticker period")
	}
	w := &manualTimer{m: m, d: d, period: d, c: make(chan time.Time, 1)}
	m.add(w)
	return manualTicker{w}
}

// AfterFunc calls f in a new goroutine when the clock passes now+d.
func (m *Manual) AfterFunc(d time.Duration, f func()) Timer {
	w := &manualTimer{m: m, d: d, f: f}
	m.add(w)
	return w
}

type manualTimer struct {
	m      *Manual
	d      time.Duration
	period time.Duration
	when   time.Time // guarded by m.mu
	c      chan time.Time
	f      func()
}

func (w *manualTimer) fire(now time.Time) {
	if w.f != nil {
		go w.f()
		return
	}
	select {
	case w.c <- now:
	default:
	}
}

func (w *manualTimer) C() <-chan time.Time { return w.c }

func (w *manualTimer) Stop() bool { return w.m.remove(w) }

func (w *manualTimer) Reset(d time.Duration) bool {
	active := w.m.remove(w)
	w.d = d
	if w.period > 0 {
		w.period = d
	}
	w.m.add(w)
	return active
}

// Ticker.Reset has no result; manualTimer satisfies both interfaces through this
// adapter.
type manualTicker struct{ *manualTimer }

func (t manualTicker) Stop()                 { t.manualTimer.Stop() }
func (t manualTicker) Reset(d time.Duration) { t.manualTimer.Reset(d) }
