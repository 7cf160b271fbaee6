package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Run runs cfg's scenario until its Count or Duration is reached or ctx ends,
// and returns the measured phase's summary. Failed sends are counted, not
// returned; an error means the run could not start (bad config, no route,
// a client that does not start) or ctx ended.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return Summary{}, err
	}
	var s Summary
	var err error
	switch cfg.Scenario {
	case ScenarioProducer, ScenarioTransaction:
		s, err = runProducer(ctx, cfg)
	case ScenarioConsumer:
		s, err = runConsumer(ctx, cfg)
	case ScenarioE2E:
		s, err = runE2E(ctx, cfg)
	}
	s.Scenario, s.Topic, s.Size = cfg.Scenario, cfg.Topic, cfg.Size
	if cfg.Scenario == ScenarioProducer {
		s.Mode = cfg.Mode
	}
	if cfg.Scenario != ScenarioConsumer {
		s.Threads = cfg.Threads
	}
	if err == nil {
		err = ctx.Err()
	}
	return s, err
}

// phases runs the warm-up and the measured phase of a run: it starts
// measuring after cfg.Warmup (or when begin is called, for a run that starts
// measuring on an event), reports progress every cfg.Interval, and decides
// when the run stops (claim).
type phases struct {
	cfg     Config
	rec     *recorder
	stopped atomic.Bool
	stop    chan struct{} // closed when the run ends
	once    sync.Once
	issued  atomic.Int64 // measured messages handed out by claim
	begun   chan struct{}
	bOnce   sync.Once
	wg      sync.WaitGroup
}

func newPhases(cfg Config) *phases {
	return &phases{cfg: cfg, rec: newRecorder(), stop: make(chan struct{}), begun: make(chan struct{})}
}

// start launches the progress ticker and, unless manual, the warm-up timer.
// The goroutines end when end is called or ctx ends; wait waits for them.
func (p *phases) start(ctx context.Context, manual bool) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(p.cfg.Interval)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-ctx.Done():
				p.end()
				return
			case <-p.stop:
				return
			case now := <-t.C:
				pr := p.rec.tick(now.Sub(last), now)
				last = now
				if p.cfg.Progress != nil {
					p.cfg.Progress(pr)
				}
			}
		}
	}()
	if !manual {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			if p.cfg.Warmup > 0 {
				t := time.NewTimer(p.cfg.Warmup)
				defer t.Stop()
				select {
				case <-t.C:
				case <-p.stop:
					return
				}
			}
			p.begin()
		}()
	}
}

// begin starts the measured phase (once) and, with a Duration, its end.
func (p *phases) begin() {
	p.bOnce.Do(func() {
		p.rec.beginMeasuring(time.Now())
		close(p.begun)
		if p.cfg.Duration > 0 {
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				t := time.NewTimer(p.cfg.Duration)
				defer t.Stop()
				select {
				case <-t.C:
					p.end()
				case <-p.stop:
				}
			}()
		}
	})
}

// end stops the run (once).
func (p *phases) end() {
	p.once.Do(func() {
		p.stopped.Store(true)
		close(p.stop)
	})
}

// claim reports whether a worker may send n more messages (ok): always while
// warming up, then while the Count is not used up and the run not ended;
// measured says whether they count (a send claimed while warming up does not,
// even if it completes later).
func (p *phases) claim(n int) (ok, measured bool) {
	if p.stopped.Load() {
		return false, false
	}
	if !p.rec.measuring.Load() {
		return true, false
	}
	if p.cfg.Count == 0 || p.issued.Add(int64(n))-int64(n) < p.cfg.Count {
		return true, true
	}
	return false, false
}

// counted records n measured messages received (consumer side) and ends the
// run once Count are in.
func (p *phases) counted(n int) {
	if p.cfg.Count > 0 && p.rec.measuring.Load() && p.issued.Add(int64(n)) >= p.cfg.Count {
		p.end()
	}
}

// wait ends the run and waits for the ticker and timers.
func (p *phases) wait() {
	p.end()
	p.wg.Wait()
}

// pacer spaces one thread's sends so that all threads together send at most
// rate messages per second.
type pacer struct {
	every time.Duration
	next  time.Time
}

func newPacer(rate, threads int) *pacer {
	if rate <= 0 {
		return nil
	}
	return &pacer{every: time.Duration(float64(time.Second) * float64(threads) / float64(rate)), next: time.Now()}
}

// wait sleeps until the next send is due, or stop closes.
func (pc *pacer) wait(stop <-chan struct{}) {
	if pc == nil {
		return
	}
	pc.next = pc.next.Add(pc.every)
	d := time.Until(pc.next)
	if d <= 0 {
		if d < -time.Second { // far behind (a stall): do not burst to catch up
			pc.next = time.Now()
		}
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-stop:
	}
}
