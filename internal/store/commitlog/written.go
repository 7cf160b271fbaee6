package commitlog

import (
	"github.com/petrelmq/petrel/pkg/message"
)

// wwaiter is one request to be told when data up to upTo has been written.
type wwaiter struct {
	upTo message.PhysOffset
	done func(error)
}

// WrittenAsync calls done once everything below upTo has been handed to the OS
// (written with pwrite: it survives a crash of this process, not of the machine).
// That is the ASYNC_FLUSH acknowledgement point: an append sits in the Log's own
// write buffer until the writer goroutine writes it, and answering before then
// would let a kill -9 lose an acknowledged message.
//
// done is called exactly once: with nil, with the sticky error after an I/O
// failure, or with ErrClosed if the log closed before writing it. It runs on the
// caller's goroutine (already written, failed or closed) or on the writer
// goroutine; it must be quick and must not block. No goroutine is parked per
// request: each write completes every waiter it covers.
func (l *Log) WrittenAsync(upTo message.PhysOffset, done func(error)) {
	if message.PhysOffset(l.written.Load()) >= upTo {
		done(nil)
		return
	}
	l.wwmu.Lock()
	l.wwaiters = append(l.wwaiters, wwaiter{upTo: upTo, done: done})
	l.wwmu.Unlock()
	// Re-check after queueing: the writer may have written upTo, or the log may
	// have failed or closed, between the first check and the queueing.
	switch {
	case l.Err() != nil:
		l.completeWritten(l.Err())
	case l.writerGone.Load():
		l.completeWritten(ErrClosed)
	default:
		l.completeWritten(nil)
	}
}

// completeWritten completes the waiters whose data is written with nil; if rest
// is not nil it completes all the others with rest.
func (l *Log) completeWritten(rest error) {
	written := message.PhysOffset(l.written.Load())
	l.wwmu.Lock()
	if len(l.wwaiters) == 0 {
		l.wwmu.Unlock()
		return
	}
	ready := l.wwready[:0]
	keep := l.wwaiters[:0]
	for _, w := range l.wwaiters {
		if w.upTo <= written || rest != nil {
			ready = append(ready, w)
		} else {
			keep = append(keep, w)
		}
	}
	clear(l.wwaiters[len(keep):])
	l.wwaiters = keep
	// ready is handed out of the lock; a concurrent completeWritten must not
	// reuse its backing array, so take it and give it back afterwards.
	l.wwready = nil
	l.wwmu.Unlock()
	for _, w := range ready {
		if w.upTo <= written {
			w.done(nil)
		} else {
			w.done(rest)
		}
	}
	clear(ready)
	l.wwmu.Lock()
	if l.wwready == nil {
		l.wwready = ready[:0]
	}
	l.wwmu.Unlock()
}
