package consumer

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// processQueue is the local state of one assigned queue: the messages pulled
// and not yet acknowledged, in offset order, with the counts used for flow
// control, and (orderly) the broker-lock state. Safe for concurrent use.
//
// Invariant: order holds the offsets of msgs in ascending order, possibly
// preceded by offsets already removed; the head is trimmed lazily, so finding
// the commit offset is amortised O(1).
type processQueue struct {
	mq     message.MessageQueue
	ctx    context.Context // ends when the queue is dropped or the consumer closes
	cancel context.CancelFunc
	wg     sync.WaitGroup // the queue's goroutines (puller, orderly runner)
	wake   chan struct{}  // new messages (orderly runner), capacity 1

	mu struct {
		sync.Mutex
		msgs     map[message.QueueOffset]*message.MessageExt
		order    []message.QueueOffset
		bytes    int64
		next     message.QueueOffset // offset after the highest one put
		hasNext  bool
		dropped  bool
		locked   bool
		lockedAt time.Time
		calls    map[*consumeCall]struct{} // handler calls running, and expired ones not yet sent back
		pullFrom int64                     // broker id to pull from next (suggestWhichBrokerId)
	}
}

// consumeCall is one handler call on messages of a queue, tracked so that
// ConsumeTimeout can find calls that run too long (RocketMQ's
// CONSUME_START_TIME and cleanExpiredMsg).
type consumeCall struct {
	msgs   []*message.MessageExt
	start  time.Time
	cancel context.CancelFunc
	// timedOut is set (under the queue's lock) once the call is seen to run
	// past ConsumeTimeout, and its context is cancelled.
	timedOut bool
	// expired is set with timedOut for concurrent calls: from then on the
	// expiry, not the handler's result, decides what happens to msgs.
	expired bool
}

func newProcessQueue(parent context.Context, mq message.MessageQueue) *processQueue {
	pq := &processQueue{mq: mq, wake: make(chan struct{}, 1)}
	pq.ctx, pq.cancel = context.WithCancel(parent)
	pq.mu.msgs = map[message.QueueOffset]*message.MessageExt{}
	pq.mu.calls = map[*consumeCall]struct{}{}
	return pq
}

// begin records a handler call on msgs starting at now and returns it with
// the context to give the handler: the queue's, cancelled also when the call
// expires.
func (pq *processQueue) begin(msgs []*message.MessageExt, now time.Time) (*consumeCall, context.Context) {
	ctx, cancel := context.WithCancel(pq.ctx)
	c := &consumeCall{msgs: msgs, start: now, cancel: cancel}
	pq.mu.Lock()
	pq.mu.calls[c] = struct{}{}
	pq.mu.Unlock()
	return c, ctx
}

// end records that the handler of c returned. It reports whether c expired
// first, in which case its messages are the expiry's (do not act on the
// handler's result).
func (pq *processQueue) end(c *consumeCall) (expired bool) {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	c.cancel()
	if c.expired {
		return true
	}
	delete(pq.mu.calls, c)
	return false
}

// expire cancels the context of every call that started more than timeout
// before now and has not been seen to time out yet. With takeOver, such calls
// are also marked expired: their messages become the caller's, and they are
// returned again by later calls to expire until settled. It returns the calls
// newly timed out and, with takeOver, the expired ones still owned, oldest
// first.
func (pq *processQueue) expire(now time.Time, timeout time.Duration, takeOver bool) []*consumeCall {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	var out []*consumeCall
	for c := range pq.mu.calls {
		if !c.timedOut && now.Sub(c.start) > timeout {
			c.timedOut = true
			c.expired = takeOver
			c.cancel()
			out = append(out, c)
		} else if c.expired {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *consumeCall) int { return a.start.Compare(b.start) })
	return out
}

// settle records that the expired call c still owns only the messages left
// (those that could not be sent back); with none left, c is forgotten.
func (pq *processQueue) settle(c *consumeCall, left []*message.MessageExt) {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	c.msgs = left
	if len(left) == 0 {
		delete(pq.mu.calls, c)
	}
}

// pullBrokerID returns the broker id to pull from next: the master (0) until
// a pull answer suggests another.
func (pq *processQueue) pullBrokerID() int64 {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	return pq.mu.pullFrom
}

// setPullBrokerID records a pull answer's suggestWhichBrokerId.
func (pq *processQueue) setPullBrokerID(id int64) {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	pq.mu.pullFrom = id
}

// put caches pulled messages (ascending offsets) and returns how many were new.
func (pq *processQueue) put(msgs []*message.MessageExt) int {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	n := 0
	for _, m := range msgs {
		if _, ok := pq.mu.msgs[m.QueueOffset]; ok || (pq.mu.hasNext && m.QueueOffset < pq.mu.next) {
			continue
		}
		pq.mu.msgs[m.QueueOffset] = m
		pq.mu.order = append(pq.mu.order, m.QueueOffset)
		pq.mu.bytes += int64(len(m.Body))
		pq.mu.next, pq.mu.hasNext = m.QueueOffset+1, true
		n++
	}
	if n > 0 {
		select {
		case pq.wake <- struct{}{}:
		default:
		}
	}
	return n
}

// setNext records the offset after the last pulled entry when a pull returned
// no message to cache (nothing matched, or everything was filtered out).
func (pq *processQueue) setNext(off message.QueueOffset) {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	if !pq.mu.hasNext || off > pq.mu.next {
		pq.mu.next, pq.mu.hasNext = off, true
	}
}

// remove drops acknowledged messages and returns the offset to commit: the
// smallest offset still cached, or the offset after the last pulled entry
// when nothing is left. ok is false when nothing was ever pulled.
func (pq *processQueue) remove(msgs []*message.MessageExt) (commit message.QueueOffset, ok bool) {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	for _, m := range msgs {
		if old, found := pq.mu.msgs[m.QueueOffset]; found {
			pq.mu.bytes -= int64(len(old.Body))
			delete(pq.mu.msgs, m.QueueOffset)
		}
	}
	return pq.commitOffsetLocked()
}

// commitOffset is remove without removing anything.
func (pq *processQueue) commitOffset() (message.QueueOffset, bool) {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	return pq.commitOffsetLocked()
}

func (pq *processQueue) commitOffsetLocked() (message.QueueOffset, bool) {
	i := 0
	for i < len(pq.mu.order) {
		if _, live := pq.mu.msgs[pq.mu.order[i]]; live {
			break
		}
		i++
	}
	pq.mu.order = pq.mu.order[i:]
	if len(pq.mu.order) > 0 {
		return pq.mu.order[0], true
	}
	return pq.mu.next, pq.mu.hasNext
}

// head returns up to n cached messages from the smallest offset on, in order
// (orderly consumption). The slice is new; the messages are shared.
func (pq *processQueue) head(n int) []*message.MessageExt {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	var out []*message.MessageExt
	for _, off := range pq.mu.order {
		if m, ok := pq.mu.msgs[off]; ok {
			out = append(out, m)
			if len(out) == n {
				break
			}
		}
	}
	return out
}

// size returns the cached message count and body bytes (flow control).
func (pq *processQueue) size() (int, int64) {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	return len(pq.mu.msgs), pq.mu.bytes
}

// drop marks the queue dropped and cancels its context.
func (pq *processQueue) drop() {
	pq.mu.Lock()
	pq.mu.dropped = true
	pq.mu.Unlock()
	pq.cancel()
}

func (pq *processQueue) dropped() bool {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	return pq.mu.dropped
}

// setLocked records the outcome of a lock (renewal) at now.
func (pq *processQueue) setLocked(ok bool, now time.Time) {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	pq.mu.locked = ok
	if ok {
		pq.mu.lockedAt = now
	}
}

// lockValid reports whether the broker lock is held and fresh at now.
func (pq *processQueue) lockValid(now time.Time) bool {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	return pq.mu.locked && now.Sub(pq.mu.lockedAt) < lockLifetime
}

// info is the queue's part of a GET_CONSUMER_RUNNING_INFO answer (the
// commit offset is the caller's).
func (pq *processQueue) info() body.ProcessQueueInfo {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	pi := body.ProcessQueueInfo{
		CachedMsgCount:     int32(len(pq.mu.msgs)),
		CachedMsgSizeInMiB: int32(pq.mu.bytes >> 20),
		Locked:             pq.mu.locked,
		Droped:             pq.mu.dropped,
	}
	if !pq.mu.lockedAt.IsZero() {
		pi.LastLockTimestamp = pq.mu.lockedAt.UnixMilli()
	}
	first := true
	for off := range pq.mu.msgs {
		if first || int64(off) < pi.CachedMsgMinOffset {
			pi.CachedMsgMinOffset = int64(off)
		}
		if first || int64(off) > pi.CachedMsgMaxOffset {
			pi.CachedMsgMaxOffset = int64(off)
		}
		first = false
	}
	return pi
}
