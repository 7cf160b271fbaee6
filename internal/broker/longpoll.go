package broker

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// Hold errors.
var (
	errHoldsFull   = errors.New("broker: too many held pulls")
	errHoldsClosed = errors.New("broker: long polling stopped")
)

// holdKey identifies a consume queue.
type holdKey struct {
	topic   string
	queueID int32
}

// heldPull is a pull request parked until a matching message arrives or its
// deadline passes.
type heldPull struct {
	conn     *remoting.Conn
	req      *protocol.Command
	key      holdKey
	offset   message.QueueOffset // the request's offset: messages at or after it wake it
	filter   *tagFilter
	deadline time.Time
	idx      int // position in holdService.byDeadline; -1 once removed
}

// deadlineHeap orders held pulls by deadline.
type deadlineHeap []*heldPull

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h deadlineHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *deadlineHeap) Push(x any) {
	p := x.(*heldPull)
	p.idx = len(*h)
	*h = append(*h, p)
}
func (h *deadlineHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	p.idx = -1
	return p
}

// holdService is long polling (RocketMQ's PullRequestHoldService). Held pulls
// sit in a per-queue set and in one deadline heap; nothing runs per held
// request while it waits:
//
//   - the store's dispatcher calls onDispatch for every new consume-queue entry;
//     it moves the held pulls of that queue whose offset the entry reaches and
//     whose filter accepts its tags code to the ready list;
//   - the sweeper goroutine sleeps until the earliest deadline (not at all when
//     nothing is held) and moves expired pulls to the ready list;
//   - runner goroutines re-run ready pulls and answer them with conn.Reply.
//
// A pull is in exactly one of: the held sets (and heap), the ready list, or a
// runner's hands, so the number of pulls the service owns is bounded by max
// plus those being re-run. Lock order: mu is a leaf; run is called without it.
type holdService struct {
	clk clock.Clock
	max int
	run func(context.Context, *heldPull)

	sweepWake chan struct{} // capacity 1: the earliest deadline may have changed
	readyWake chan struct{} // capacity 1: the ready list is not empty

	mu         sync.Mutex
	byKey      map[holdKey]map[*heldPull]struct{}
	byConn     map[uint64]map[*heldPull]struct{} // connection id -> its held pulls
	byDeadline deadlineHeap
	ready      []*heldPull
	closed     bool
}

func newHoldService(clk clock.Clock, max int, run func(context.Context, *heldPull)) *holdService {
	return &holdService{
		clk:       clk,
		max:       max,
		run:       run,
		sweepWake: make(chan struct{}, 1),
		readyWake: make(chan struct{}, 1),
		byKey:     map[holdKey]map[*heldPull]struct{}{},
		byConn:    map[uint64]map[*heldPull]struct{}{},
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// hold parks a pull until a message at or after offset that filter accepts
// arrives on (topic, queueID), or until deadline. It fails with errHoldsFull
// at the bound and errHoldsClosed after close. A pull whose connection has
// already closed is dropped at once (nobody is left to answer).
func (s *holdService) hold(conn *remoting.Conn, req *protocol.Command, topic string, queueID int32,
	offset message.QueueOffset, filter *tagFilter, deadline time.Time) error {
	p := &heldPull{conn: conn, req: req, key: holdKey{topic, queueID}, offset: offset, filter: filter, deadline: deadline}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errHoldsClosed
	}
	if len(s.byDeadline) >= s.max {
		return errHoldsFull
	}
	if conn != nil {
		// The connection closes its done channel before it calls OnClose,
		// so either dropConn runs after this insertion and finds the pull,
		// or the channel is already closed here.
		select {
		case <-conn.Closed():
			return nil
		default:
		}
		addTo(s.byConn, conn.ID(), p)
	}
	addTo(s.byKey, p.key, p)
	heap.Push(&s.byDeadline, p)
	if p.idx == 0 {
		signal(s.sweepWake)
	}
	return nil
}

// addTo adds p to the set m[k], making the set if needed.
func addTo[K comparable](m map[K]map[*heldPull]struct{}, k K, p *heldPull) {
	set := m[k]
	if set == nil {
		set = map[*heldPull]struct{}{}
		m[k] = set
	}
	set[p] = struct{}{}
}

// removeFrom deletes p from the set m[k], and the set once empty.
func removeFrom[K comparable](m map[K]map[*heldPull]struct{}, k K, p *heldPull) {
	if set := m[k]; set != nil {
		delete(set, p)
		if len(set) == 0 {
			delete(m, k)
		}
	}
}

// removeLocked takes p out of the held sets and the heap.
func (s *holdService) removeLocked(p *heldPull) {
	removeFrom(s.byKey, p.key, p)
	if p.conn != nil {
		removeFrom(s.byConn, p.conn.ID(), p)
	}
	if p.idx >= 0 {
		heap.Remove(&s.byDeadline, p.idx)
	}
}

// OnConnect implements remoting.ConnListener.
func (s *holdService) OnConnect(*remoting.Conn) {}

// OnClose implements remoting.ConnListener: the pulls a closed connection
// left held are dropped, since their answers could not be delivered.
func (s *holdService) OnClose(c *remoting.Conn) { s.dropConn(c.ID()) }

// dropConn forgets the pulls held for connection id and returns how many.
func (s *holdService) dropConn(id uint64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.byConn[id]
	n := len(set)
	for p := range set {
		s.removeLocked(p) // deletes from set, which range allows
	}
	return n
}

// onDispatch is the store's dispatch listener. It never blocks: it only moves
// matching pulls to the ready list. A queue without held pulls costs one map
// lookup.
func (s *holdService) onDispatch(ev store.DispatchEvent) {
	s.mu.Lock()
	set := s.byKey[holdKey{ev.Topic, ev.QueueID}]
	woke := false
	for p := range set {
		if ev.QueueOffset >= p.offset && p.filter.MatchTagsCode(ev.TagsCode) {
			s.removeLocked(p)
			s.ready = append(s.ready, p)
			woke = true
		}
	}
	s.mu.Unlock()
	if woke {
		signal(s.readyWake)
	}
}

// wakeQueue re-runs the pulls held on (topic, queueID) whose offset is below
// maxOffset, whatever their filter: used when a message may have been
// dispatched while a pull was being parked.
func (s *holdService) wakeQueue(topic string, queueID int32, maxOffset message.QueueOffset) {
	s.mu.Lock()
	woke := false
	for p := range s.byKey[holdKey{topic, queueID}] {
		if p.offset < maxOffset {
			s.removeLocked(p)
			s.ready = append(s.ready, p)
			woke = true
		}
	}
	s.mu.Unlock()
	if woke {
		signal(s.readyWake)
	}
}

// wakeAll re-runs every held pull (dispatch events were lost, so any queue
// may have new messages).
func (s *holdService) wakeAll() {
	s.mu.Lock()
	woke := len(s.byDeadline) > 0
	for _, p := range s.byDeadline {
		p.idx = -1
		removeFrom(s.byKey, p.key, p)
		if p.conn != nil {
			removeFrom(s.byConn, p.conn.ID(), p)
		}
		s.ready = append(s.ready, p)
	}
	s.byDeadline = s.byDeadline[:0]
	s.mu.Unlock()
	if woke {
		signal(s.readyWake)
	}
}

// held returns the number of held pulls.
func (s *holdService) held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byDeadline)
}

// sweeper is the goroutine that expires held pulls: started by the broker's
// Start, stopped by its ctx. It owns one timer, armed for the earliest deadline
// only while something is held.
func (s *holdService) sweeper(ctx context.Context) {
	t := s.clk.NewTimer(time.Hour)
	t.Stop()
	for {
		s.mu.Lock()
		now := s.clk.Now()
		expired := false
		for len(s.byDeadline) > 0 && !s.byDeadline[0].deadline.After(now) {
			p := s.byDeadline[0]
			s.removeLocked(p)
			s.ready = append(s.ready, p)
			expired = true
		}
		var next time.Duration = -1
		if len(s.byDeadline) > 0 {
			next = s.byDeadline[0].deadline.Sub(now)
		}
		s.mu.Unlock()
		if expired {
			signal(s.readyWake)
		}
		if next >= 0 {
			t.Reset(next)
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

// runner is one of the goroutines that re-run ready pulls: started by the
// broker's Start, stopped by its ctx.
func (s *holdService) runner(ctx context.Context) {
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

// close stops holding: later holds fail with errHoldsClosed, and every held or
// ready pull is re-run and answered now, on the caller's goroutine. It returns
// how many it answered.
func (s *holdService) close() int {
	s.mu.Lock()
	s.closed = true
	all := s.ready
	for _, p := range s.byDeadline {
		p.idx = -1
		all = append(all, p)
	}
	s.byDeadline = nil
	s.byKey = map[holdKey]map[*heldPull]struct{}{}
	s.byConn = map[uint64]map[*heldPull]struct{}{}
	s.ready = nil
	s.mu.Unlock()
	for _, p := range all {
		s.run(context.Background(), p)
	}
	return len(all)
}
