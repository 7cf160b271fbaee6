package store

import (
	"context"
	"sync"

	"github.com/petrelmq/petrel/pkg/message"
)

// The store reports to upper layers only through the two queues below: it
// pushes, never blocks on and never calls into its consumer, so nothing above
// the store runs on the store's writer, flusher or dispatcher goroutines and a
// slow reply encoder cannot slow the fsync cadence (STYLE §2). The consumer
// owns a goroutine that waits on Ready and drains.

// Completion is the outcome of one Put: the result once the records are as
// durable as configured, or the error that kept them from being stored. Tag is
// the caller's value, returned untouched.
type Completion struct {
	Result PutResult
	Err    error
	Tag    any
}

// Completions is a queue of finished puts. The store appends to it from its
// own goroutines without blocking; the owner drains it from its own
// goroutine. It is unbounded by itself: its length is bounded by the puts the
// owner has in flight, which the owner bounds (the broker admits sends through
// bounded pools and per-connection limits). Safe for concurrent use.
type Completions struct {
	mu    sync.Mutex
	items []Completion
	ready chan struct{} // capacity 1
}

// NewCompletions returns an empty queue.
func NewCompletions() *Completions {
	return &Completions{ready: make(chan struct{}, 1)}
}

// push appends c and signals Ready. It never blocks.
func (q *Completions) push(c Completion) {
	q.mu.Lock()
	q.items = append(q.items, c)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// Ready is signalled (capacity 1, so signals coalesce) after completions are
// added. A receiver must Drain until it returns nothing new before waiting
// again, since one signal may stand for many completions.
func (q *Completions) Ready() <-chan struct{} { return q.ready }

// Drain appends every waiting completion to dst, in completion order, removes
// them from the queue, and returns dst.
func (q *Completions) Drain(dst []Completion) []Completion {
	q.mu.Lock()
	dst = append(dst, q.items...)
	clear(q.items)
	q.items = q.items[:0]
	q.mu.Unlock()
	return dst
}

// Next waits for one completion and removes it, or returns ctx's error.
// Meant for a queue used by one waiter at a time (PutWait).
func (q *Completions) Next(ctx context.Context) (Completion, error) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			c := q.items[0]
			q.items[0] = Completion{}
			q.items = q.items[1:]
			q.mu.Unlock()
			return c, nil
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-ctx.Done():
			return Completion{}, ctx.Err()
		}
	}
}

// Putter is the put half of MessageStore, for callers that only store.
type Putter interface {
	Put(msgs []*message.MessageExt, q *Completions, tag any)
}

// PutWait stores msgs (one message, or a batch of one topic and queue) and
// waits for the outcome: the put's result, its error, or ctx's error when ctx
// ends first (the put may still complete then). For callers that are not on a
// latency-sensitive path (transactions, the delay scheduler, tests).
func PutWait(ctx context.Context, s Putter, msgs ...*message.MessageExt) (PutResult, error) {
	q := NewCompletions()
	s.Put(msgs, q, nil)
	c, err := q.Next(ctx)
	if err != nil {
		return PutResult{}, err
	}
	return c.Result, c.Err
}

// DispatchQueue is a bounded queue of dispatch events, filled by the store's
// dispatcher without blocking and drained by its owner. When it is full, new
// events are dropped and the queue remembers that it lost some: the owner
// then treats every queue as possibly changed (long polling re-checks every
// held pull), so a slow owner costs extra work, never a lost wake-up or a
// blocked dispatcher. Safe for concurrent use.
type DispatchQueue struct {
	max   int
	ready chan struct{} // capacity 1

	mu    sync.Mutex
	items []DispatchEvent
	lost  bool
}

// DefaultDispatchQueueSize is a DispatchQueue capacity that holds about a
// second of dispatch at a high message rate.
const DefaultDispatchQueueSize = 1 << 16

// NewDispatchQueue returns a queue holding at most capacity events (at least 1).
func NewDispatchQueue(capacity int) *DispatchQueue {
	return &DispatchQueue{max: max(capacity, 1), ready: make(chan struct{}, 1)}
}

// push appends ev, or records the loss when the queue is full, and signals
// Ready. It never blocks.
func (q *DispatchQueue) push(ev DispatchEvent) {
	q.mu.Lock()
	if len(q.items) < q.max {
		q.items = append(q.items, ev)
	} else {
		q.lost = true
	}
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// Ready is signalled after events are added (signals coalesce; see
// Completions.Ready).
func (q *DispatchQueue) Ready() <-chan struct{} { return q.ready }

// Drain appends the waiting events to dst in dispatch order, removes them and
// returns dst, and reports (then clears) whether events were dropped since the
// last Drain because the queue was full.
func (q *DispatchQueue) Drain(dst []DispatchEvent) ([]DispatchEvent, bool) {
	q.mu.Lock()
	dst = append(dst, q.items...)
	clear(q.items)
	q.items = q.items[:0]
	lost := q.lost
	q.lost = false
	q.mu.Unlock()
	return dst, lost
}
