package longpoll

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/petrelmq/petrel/internal/lifecycle"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
)

// ErrClosed is returned by Hold after Close.
var ErrClosed = errors.New("longpoll: closed")

// runners is the number of goroutines that re-run ready pulls.
const runners = 2

// RunFunc re-runs a pull that a message, its deadline or Close released, and
// answers it. It runs on a runner goroutine (or Close's caller) without any
// Service lock.
type RunFunc func(ctx context.Context, p *Pull)

// Service is long polling for the broker: a Table behind a mutex, a sweeper
// goroutine that expires pulls at their deadline, and runner goroutines that
// re-run released pulls with run. A pull is in exactly one place (held,
// ready, or being run), so it is answered at most once. Lock order: mu is a
// leaf; run is called without it. Safe for concurrent use.
type Service struct {
	clk clock.Clock
	run RunFunc
	grp lifecycle.Group

	sweepWake chan struct{} // capacity 1: the earliest deadline may have changed
	readyWake chan struct{} // capacity 1: the ready list is not empty

	mu     sync.Mutex
	table  *Table
	ready  []*Pull
	scr    []*Pull // scratch for table calls, under mu
	closed bool
}

// NewService returns a stopped service holding at most max pulls.
func NewService(clk clock.Clock, max int, run RunFunc) *Service {
	return &Service{
		clk:       clk,
		run:       run,
		table:     NewTable(max),
		sweepWake: make(chan struct{}, 1),
		readyWake: make(chan struct{}, 1),
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Start launches the sweeper and the runners; Close stops them.
func (s *Service) Start(ctx context.Context) error {
	if err := s.grp.Start(ctx, "longpoll"); err != nil {
		return err
	}
	s.grp.Go("sweeper", s.sweeper)
	for i := range runners {
		s.grp.Go("runner-"+strconv.Itoa(i), s.runner)
	}
	return nil
}

// Hold parks p until a matching message, its deadline, or Close. It fails
// with ErrFull at the bound and ErrClosed after Close. connClosed is the
// requesting connection's done channel: a pull whose connection has already
// closed is dropped (nobody is left to answer) and Hold returns nil. The
// connection must call DropConn after closing connClosed, so that a pull held
// concurrently with the close is dropped by one or the other.
func (s *Service) Hold(p *Pull, connClosed <-chan struct{}) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	select {
	case <-connClosed:
		return nil
	default:
	}
	if err := s.table.Hold(p); err != nil {
		return err
	}
	if p.idx == 0 {
		signal(s.sweepWake)
	}
	return nil
}

// release moves pulls to the ready list and wakes a runner. Caller holds mu.
func (s *Service) releaseLocked(ps []*Pull) bool {
	if len(ps) == 0 {
		return false
	}
	s.ready = append(s.ready, ps...)
	clear(ps)
	return true
}

// OnDispatch releases the pulls a newly dispatched message satisfies. It
// never blocks on a pull being run.
func (s *Service) OnDispatch(key Key, offset message.QueueOffset, tagsCode int64) {
	s.mu.Lock()
	s.scr = s.table.OnDispatch(key, offset, tagsCode, s.scr[:0])
	woke := s.releaseLocked(s.scr)
	s.mu.Unlock()
	if woke {
		signal(s.readyWake)
	}
}

// WakeQueue releases the pulls on key whose offset is below maxOffset.
func (s *Service) WakeQueue(key Key, maxOffset message.QueueOffset) {
	s.mu.Lock()
	s.scr = s.table.WakeQueue(key, maxOffset, s.scr[:0])
	woke := s.releaseLocked(s.scr)
	s.mu.Unlock()
	if woke {
		signal(s.readyWake)
	}
}

// WakeAll releases every held pull (dispatch events were lost, so any queue
// may have new messages).
func (s *Service) WakeAll() {
	s.mu.Lock()
	s.scr = s.table.TakeAll(s.scr[:0])
	woke := s.releaseLocked(s.scr)
	s.mu.Unlock()
	if woke {
		signal(s.readyWake)
	}
}

// DropConn forgets the pulls held for connection id and returns how many.
func (s *Service) DropConn(id uint64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.table.DropConn(id)
}

// Held returns the number of held pulls.
func (s *Service) Held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.table.Len()
}

// sweeper is the goroutine that expires held pulls: started by Start,
// stopped by Close. It owns one timer, armed for the earliest deadline only
// while something is held.
func (s *Service) sweeper(ctx context.Context) {
	t := s.clk.NewTimer(time.Hour)
	t.Stop()
	for {
		s.mu.Lock()
		now := s.clk.Now()
		s.scr = s.table.Expire(now, s.scr[:0])
		expired := s.releaseLocked(s.scr)
		next, armed := s.table.NextDeadline()
		s.mu.Unlock()
		if expired {
			signal(s.readyWake)
		}
		if armed {
			t.Reset(next.Sub(now))
		}
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		case <-s.sweepWake:
			t.Stop()
		}
	}
}

// runner is one of the goroutines that re-run ready pulls: started by Start,
// stopped by Close.
func (s *Service) runner(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.readyWake:
		}
		for {
			s.mu.Lock()
			if len(s.ready) == 0 {
				s.ready = nil
				s.mu.Unlock()
				break
			}
			p := s.ready[0]
			s.ready[0] = nil
			s.ready = s.ready[1:]
			more := len(s.ready) > 0
			s.mu.Unlock()
			if more {
				signal(s.readyWake) // let another runner help
			}
			s.run(ctx, p)
		}
	}
}

// Close stops holding (later Holds fail with ErrClosed), stops the sweeper
// and the runners (waiting for pulls being run), then re-runs every held or
// ready pull on the caller's goroutine, so each is answered now. It returns
// how many it answered. Idempotent.
func (s *Service) Close() int {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.grp.Stop()
	s.mu.Lock()
	all := s.table.TakeAll(s.ready)
	s.ready = nil
	s.mu.Unlock()
	for _, p := range all {
		s.run(context.Background(), p)
	}
	return len(all)
}
