package consumer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/trace"
)

// DefaultPrefetchBatches bounds the pulled batches waiting for Poll, over all
// queues (each queue's puller may hold one more while it waits).
const DefaultPrefetchBatches = 16

// LitePullConsumer lets the application poll messages: either from the
// queues a clustering group allocates to it (Subscribe) or from queues it
// picks (Assign). A puller goroutine per queue prefetches into a bounded
// buffer; Poll hands the next batch over. Offsets of polled messages are
// committed every CommitInterval (AutoCommit, the default) or by CommitSync /
// CommitAsync.
//
// NewLitePull builds it without I/O, Start starts it, Close stops every
// goroutine and commits. Methods are safe for concurrent use.
type LitePullConsumer struct {
	b     *base
	ready chan pulledBatch

	mu struct {
		sync.Mutex
		mode      int                              // 0 none, 1 subscribe, 2 assign
		selectors map[string]body.SubscriptionData // assign mode, by wire topic
		assigned  map[message.MessageQueue]bool    // assign mode
		states    map[message.MessageQueue]*liteState
	}
}

// liteState is the application-side position of one held queue.
type liteState struct {
	epoch    uint64              // bumped by Seek; batches of older epochs are dropped
	consumed message.QueueOffset // offset after the last polled batch
	paused   bool
	resume   chan struct{} // capacity 1
}

type pulledBatch struct {
	mq    message.MessageQueue
	epoch uint64
	msgs  []*message.MessageExt
	next  message.QueueOffset
}

const (
	modeNone = iota
	modeSubscribe
	modeAssign
)

// NewLitePull validates the options and returns a lite pull consumer. Group
// is required (offsets are kept per group).
func NewLitePull(opts ...client.ConsumerOption) (*LitePullConsumer, error) {
	cfg, copts, err := splitOptions(opts)
	if err != nil {
		return nil, err
	}
	b, err := newBase(cfg, copts, body.ConsumeActively)
	if err != nil {
		return nil, err
	}
	l := &LitePullConsumer{b: b, ready: make(chan pulledBatch, DefaultPrefetchBatches)}
	l.mu.selectors = map[string]body.SubscriptionData{}
	l.mu.assigned = map[message.MessageQueue]bool{}
	l.mu.states = map[message.MessageQueue]*liteState{}
	b.runner = l.runQueue
	b.released = l.forget
	b.assigned = func(mq message.MessageQueue) bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.mu.assigned[mq]
	}
	return l, nil
}

// Client returns the consumer's SDK core.
func (l *LitePullConsumer) Client() *client.Client { return l.b.cli }

// Subscribe makes the group allocate topic's queues to its members (call
// before Start; not with Assign).
func (l *LitePullConsumer) Subscribe(topic string, sel Selector) error {
	l.mu.Lock()
	if l.mu.mode == modeAssign {
		l.mu.Unlock()
		return fmt.Errorf("%w: Subscribe after Assign", ErrBadSubscription)
	}
	l.mu.mode = modeSubscribe
	l.mu.Unlock()
	return l.b.subscribe(topic, sel, nil, false)
}

// Assign sets the queues to read, replacing any earlier assignment; queues
// keep their position if they stay assigned, and new ones start at the
// group's stored offset (or the consume-from policy). sel filters every topic
// of the assignment. Not with Subscribe. Queues' topics are as the
// application names them (without namespace).
func (l *LitePullConsumer) Assign(ctx context.Context, queues []message.MessageQueue, sel Selector) error {
	l.mu.Lock()
	if l.mu.mode == modeSubscribe {
		l.mu.Unlock()
		return fmt.Errorf("%w: Assign after Subscribe", ErrBadSubscription)
	}
	l.mu.mode = modeAssign
	l.b.manual = true
	wire := make([]message.MessageQueue, 0, len(queues))
	clear(l.mu.assigned)
	for _, q := range queues {
		q.Topic = l.b.cli.Wrap(q.Topic)
		sd, err := subscriptionData(q.Topic, sel, l.b.cfg.clk.Now().UnixNano())
		if err != nil {
			l.mu.Unlock()
			return err
		}
		l.mu.selectors[q.Topic] = sd
		l.mu.assigned[q] = true
		wire = append(wire, q)
	}
	l.mu.Unlock()
	if _, err := l.b.life(); err != nil {
		if errors.Is(err, ErrNotStarted) {
			return nil // applied by Start
		}
		return err
	}
	l.applyAssignment(ctx, wire)
	return nil
}

func (l *LitePullConsumer) applyAssignment(ctx context.Context, qs []message.MessageQueue) {
	b := l.b
	b.rb.Lock()
	defer b.rb.Unlock()
	add, remove := Diff(b.heldQueues(), qs)
	for _, mq := range remove {
		b.releaseLocked(ctx, mq)
	}
	for _, mq := range add {
		b.addLocked(ctx, mq)
	}
}

// Start starts prefetching. Errors: ErrAlreadyStarted, ErrClosed, no
// Subscribe or Assign.
func (l *LitePullConsumer) Start(ctx context.Context) error {
	l.mu.Lock()
	mode := l.mu.mode
	assigned := slices.Collect(maps.Keys(l.mu.assigned))
	l.mu.Unlock()
	if mode == modeNone {
		return errors.New("consumer: Start without Subscribe or Assign")
	}
	if err := l.b.start(ctx); err != nil {
		return err
	}
	if mode == modeAssign {
		l.applyAssignment(ctx, assigned)
	}
	return nil
}

// Close stops prefetching, commits (AutoCommit: polled offsets; otherwise the
// last committed ones) and closes the client. Idempotent; safe before Start.
func (l *LitePullConsumer) Close() error {
	if l.b.cfg.autoCommit {
		l.syncConsumed()
	}
	return l.b.close()
}

// Assignment returns the queues held now (wire topic names), sorted.
func (l *LitePullConsumer) Assignment() []message.MessageQueue { return l.b.heldQueues() }

func (l *LitePullConsumer) forget(mq message.MessageQueue) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.mu.states, mq)
}

// runQueue is base's runner: it (re)creates the queue's state and starts its
// puller.
func (l *LitePullConsumer) runQueue(pq *processQueue, from message.QueueOffset) {
	l.mu.Lock()
	st := l.mu.states[pq.mq]
	if st == nil {
		st = &liteState{resume: make(chan struct{}, 1)}
		l.mu.states[pq.mq] = st
	}
	st.epoch++
	st.consumed = from
	epoch := st.epoch
	l.mu.Unlock()
	l.b.goQueue(pq, "prefetch "+pq.mq.String(), func() { l.prefetch(pq, st, epoch, from) })
}

// prefetch is a queue's puller, started by runQueue and stopped when the
// queue is released, sought or the consumer closes (pq.ctx). It long-polls
// and hands batches to Poll through the bounded ready channel.
func (l *LitePullConsumer) prefetch(pq *processQueue, st *liteState, epoch uint64, next message.QueueOffset) {
	b := l.b
	ctx := pq.ctx
	sd, ok := l.selector(pq.mq.Topic)
	for ctx.Err() == nil {
		if !l.waitUnpaused(ctx, st) {
			return
		}
		id := pq.pullBrokerID()
		addr, _, err := b.ops.readAddr(ctx, pq.mq, id, false)
		var res *client.PullResult
		if err == nil {
			req := client.PullRequest{Queue: pq.mq, Group: b.group, Offset: next, MaxMessages: int32(b.cfg.pullBatchSize), Suspend: b.cfg.suspendTimeout}
			if ok {
				req.Expression, req.ExpressionType, req.SubVersion = sd.SubString, sd.ExpressionType, sd.SubVersion
			}
			pctx, cancel := context.WithTimeout(ctx, b.cfg.pullTimeout)
			res, err = b.cli.Pull(pctx, addr, req)
			cancel()
			followSuggestion(pq, id, res, err)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			b.log.Debug("consumer: prefetch failed", "queue", pq.mq, "offset", next, "peer", addr, "err", err)
			if !b.pullFailed(ctx, pq, addr, err) {
				b.sleep(ctx, b.cfg.pullRetryDelay)
			}
			continue
		}
		next = res.NextBeginOffset
		if res.Status != client.PullFound {
			continue
		}
		var msgs []*message.MessageExt
		for _, m := range res.Messages {
			if ok && !matchTags(sd, m) {
				continue
			}
			m.Topic = b.cli.Unwrap(m.Topic)
			msgs = append(msgs, m)
		}
		// As RocketMQ's lite pull consumer, trace a pulled batch as consumed
		// at once (SubBefore and a successful SubAfter).
		b.traceAfter(b.traceBefore(msgs), trace.ConsumeSuccess)
		// A pull already in flight when the queue was paused (a long poll
		// held at the broker) must not deliver past the pause: hold its batch
		// until Resume.
		if !l.waitUnpaused(ctx, st) {
			return
		}
		select {
		case l.ready <- pulledBatch{mq: pq.mq, epoch: epoch, msgs: msgs, next: next}:
		case <-ctx.Done():
			return
		}
	}
}

// waitUnpaused returns once st is not paused (true) or ctx ends (false).
func (l *LitePullConsumer) waitUnpaused(ctx context.Context, st *liteState) bool {
	for {
		l.mu.Lock()
		paused := st.paused
		l.mu.Unlock()
		if !paused {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-st.resume:
		}
	}
}

func (l *LitePullConsumer) selector(topic string) (body.SubscriptionData, bool) {
	l.mu.Lock()
	sd, ok := l.mu.selectors[topic]
	l.mu.Unlock()
	if ok {
		return sd, true
	}
	if s, ok := l.b.subscriptionOf(topic); ok {
		return s.data, true
	}
	return body.SubscriptionData{}, false
}

// Poll returns the next prefetched messages, waiting until some arrive, ctx
// ends (its error is returned) or the consumer closes (ErrClosed). Messages
// of one queue come in order. The slice belongs to the caller.
func (l *LitePullConsumer) Poll(ctx context.Context) ([]*message.MessageExt, error) {
	life, err := l.b.life()
	if err != nil {
		return nil, err
	}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-life.Done():
			return nil, ErrClosed
		case p := <-l.ready:
			l.mu.Lock()
			st := l.mu.states[p.mq]
			if st == nil || st.epoch != p.epoch {
				l.mu.Unlock()
				continue // released or sought since it was pulled
			}
			st.consumed = p.next
			l.mu.Unlock()
			if l.b.cfg.autoCommit {
				l.b.offsets.update(p.mq, p.next, false)
			}
			if len(p.msgs) == 0 {
				continue
			}
			return p.msgs, nil
		}
	}
}

// syncConsumed copies the polled positions into the offset table.
func (l *LitePullConsumer) syncConsumed() {
	held := l.b.heldQueues()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, mq := range held {
		if st := l.mu.states[mq]; st != nil {
			l.b.offsets.update(mq, st.consumed, false)
		}
	}
}

// CommitSync commits the offsets of everything polled so far and waits for
// the broker (or the offset file).
func (l *LitePullConsumer) CommitSync(ctx context.Context) error {
	if _, err := l.b.life(); err != nil {
		return err
	}
	l.syncConsumed()
	return l.b.commitHeld(ctx)
}

// CommitAsync commits like CommitSync in the background (the commit loop);
// errors are logged.
func (l *LitePullConsumer) CommitAsync() {
	l.syncConsumed()
	wake(l.b.commitWake)
}

// Seek makes the next Poll of mq start at offset; batches already prefetched
// are discarded. mq must be held (topic as the application names it).
// Errors: ErrNotAssigned, ErrNotStarted, ErrClosed.
func (l *LitePullConsumer) Seek(mq message.MessageQueue, offset message.QueueOffset) error {
	if _, err := l.b.life(); err != nil {
		return err
	}
	mq.Topic = l.b.cli.Wrap(mq.Topic)
	b := l.b
	b.rb.Lock()
	defer b.rb.Unlock()
	pq, ok := b.queue(mq)
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotAssigned, mq)
	}
	pq.drop()
	pq.wg.Wait()
	life, err := b.life()
	if err != nil {
		return err
	}
	npq := newProcessQueue(life, mq)
	b.qs.Lock()
	b.qs.m[mq] = npq
	b.qs.Unlock()
	if b.cfg.autoCommit {
		b.offsets.update(mq, offset, false)
	}
	l.runQueue(npq, offset)
	return nil
}

// SeekToBeginning seeks mq to its smallest stored offset.
func (l *LitePullConsumer) SeekToBeginning(ctx context.Context, mq message.MessageQueue) error {
	w := mq
	w.Topic = l.b.cli.Wrap(mq.Topic)
	off, err := l.b.ops.minOffset(ctx, w)
	if err != nil {
		return err
	}
	return l.Seek(mq, off)
}

// SeekToEnd seeks mq past its last message: only new messages are polled.
func (l *LitePullConsumer) SeekToEnd(ctx context.Context, mq message.MessageQueue) error {
	w := mq
	w.Topic = l.b.cli.Wrap(mq.Topic)
	off, err := l.b.ops.maxOffset(ctx, w)
	if err != nil {
		return err
	}
	return l.Seek(mq, off)
}

// Pause stops prefetching the given held queues until Resume: a batch that a
// pull in flight brings back after Pause is held until Resume. Batches already
// handed to Poll's buffer before Pause are still returned.
func (l *LitePullConsumer) Pause(queues ...message.MessageQueue) {
	l.setPaused(queues, true)
}

// Resume restarts prefetching paused queues.
func (l *LitePullConsumer) Resume(queues ...message.MessageQueue) {
	l.setPaused(queues, false)
}

func (l *LitePullConsumer) setPaused(queues []message.MessageQueue, paused bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, q := range queues {
		q.Topic = l.b.cli.Wrap(q.Topic)
		if st := l.mu.states[q]; st != nil {
			st.paused = paused
			if !paused {
				wake(st.resume)
			}
		}
	}
}

// Committed returns the offset the group has committed for mq (from the
// broker, or the offset file in broadcasting); found is false when there is
// none.
func (l *LitePullConsumer) Committed(ctx context.Context, mq message.MessageQueue) (off message.QueueOffset, found bool, err error) {
	mq.Topic = l.b.cli.Wrap(mq.Topic)
	return l.b.backend.fetch(ctx, mq)
}
