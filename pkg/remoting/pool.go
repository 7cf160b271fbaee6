package remoting

import (
	"context"
	"runtime/pprof"
	"sync"
	"time"
)

// Pool is a bounded worker pool for request processing: a fixed number of worker
// goroutines taking tasks from a queue of fixed capacity. Several request codes,
// and several servers, may share one pool. When the queue is full the server
// answers SYSTEM_BUSY at once instead of queueing more.
//
// A Pool runs while at least one started Server it is registered with is running:
// the first Server.Start starts its workers, the last Server.Close stops them and
// waits for them. Tasks still queued then are dropped (their connections are
// closed by then). Pool is safe for concurrent use.
type Pool struct {
	name      string
	workers   int
	tasks     chan *task
	mu        sync.Mutex // guards refs, quit
	refs      int
	quit      chan struct{}
	wg        sync.WaitGroup
	queueSize int
	maxWait   func() time.Duration // nil: no limit on queue time

	// qmu guards waits: the queue times of the tasks in tasks, oldest
	// first, for HeadWait. A task is pushed under qmu together with its
	// channel send, and popped after a worker (or release) takes one, so
	// the oldest entry is the head's time.
	qmu   sync.Mutex
	waits []time.Time
}

// HeadWait returns how long the task at the head of the queue has waited
// (RocketMQ's sendThreadPoolQueueHeadWaitTimeMills): 0 when none waits.
func (p *Pool) HeadWait(now time.Time) time.Duration {
	p.qmu.Lock()
	defer p.qmu.Unlock()
	if len(p.waits) == 0 {
		return 0
	}
	return max(now.Sub(p.waits[0]), 0)
}

// popWait forgets the oldest queue time, after a task left the queue.
func (p *Pool) popWait() {
	p.qmu.Lock()
	defer p.qmu.Unlock()
	if len(p.waits) > 0 {
		p.waits[0] = time.Time{}
		p.waits = p.waits[1:]
	}
}

// SetMaxQueueWait makes requests that waited longer than maxWait() in the
// queue be answered SYSTEM_BUSY "[TIMEOUT_CLEAN_QUEUE]..." instead of run
// (RocketMQ's waitTimeMillsInSendQueue flow control). maxWait is called per
// request, so it may change at runtime. Call before the pool is used.
func (p *Pool) SetMaxQueueWait(maxWait func() time.Duration) { p.maxWait = maxWait }

// NewPool returns a pool of workers goroutines (at least 1) with a queue of
// queueSize tasks (at least 0; 0 means a task is accepted only if a worker is
// idle). name appears in busy remarks and pprof labels. No goroutine starts until a
// Server using the pool starts.
func NewPool(name string, workers, queueSize int) *Pool {
	workers = max(workers, 1)
	queueSize = max(queueSize, 0)
	return &Pool{name: name, workers: workers, queueSize: queueSize, tasks: make(chan *task, queueSize)}
}

// Name returns the pool's name.
func (p *Pool) Name() string { return p.name }

// Queued returns the number of tasks waiting for a worker.
func (p *Pool) Queued() int { return len(p.tasks) }

// trySubmit queues t without blocking and reports whether it was queued.
func (p *Pool) trySubmit(t *task) bool {
	at := t.queued
	if at.IsZero() {
		at = time.Now()
	}
	p.qmu.Lock()
	defer p.qmu.Unlock()
	select {
	case p.tasks <- t:
		p.waits = append(p.waits, at)
		return true
	default:
		return false
	}
}

// acquire starts the workers if this is the first user.
func (p *Pool) acquire() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refs++
	if p.refs > 1 {
		return
	}
	p.quit = make(chan struct{})
	p.wg.Add(p.workers)
	for range p.workers {
		go func(quit <-chan struct{}) {
			defer p.wg.Done()
			pprof.Do(context.Background(), pprof.Labels("remoting", "pool/"+p.name), func(context.Context) { p.work(quit) })
		}(p.quit)
	}
}

// release stops the workers if this was the last user, waits for them and drops
// the tasks still queued (their connections are closed by then), giving back
// what they hold.
func (p *Pool) release() {
	p.mu.Lock()
	p.refs--
	if p.refs > 0 {
		p.mu.Unlock()
		return
	}
	close(p.quit)
	p.wg.Wait() // under mu: a concurrent acquire waits until the old workers are gone
	for {
		select {
		case t := <-p.tasks:
			p.popWait()
			t.finish()
		default:
			p.mu.Unlock()
			return
		}
	}
}

// work is one worker goroutine: started by acquire, stopped by release (quit).
func (p *Pool) work(quit <-chan struct{}) {
	for {
		select {
		case t := <-p.tasks:
			p.popWait()
			t.run()
		case <-quit:
			return
		}
	}
}
