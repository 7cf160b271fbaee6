package remoting

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/petrelmq/petrel/pkg/protocol"
)

// readLoop is the connection's reader goroutine, started by host.startConn and
// stopped by a read error or shutdown (which closes the socket). It owns the read
// side of the socket, dispatches every frame, and on exit shuts the connection
// down and tells the owner and the listeners.
func (c *Conn) readLoop() {
	for _, l := range c.h.listenerList() {
		l.OnConnect(c)
	}
	err := c.readFrames()
	closedByUs := c.isClosed()
	c.shutdown()
	if !closedByUs {
		c.logClose(err)
	}
	c.h.connClosed(c)
	for _, l := range c.h.listenerList() {
		l.OnClose(c)
	}
}

// frameTimeoutError marks a frame that started but did not complete in time;
// budget says the time ran out waiting for the memory budget.
type frameTimeoutError struct {
	err    error
	budget bool
}

func (e frameTimeoutError) Error() string { return "frame not completed in time: " + e.err.Error() }
func (e frameTimeoutError) Unwrap() error { return e.err }

type idleError struct{ d time.Duration }

func (e idleError) Error() string { return fmt.Sprintf("idle for %s", e.d) }

func readErr(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return frameTimeoutError{err: err}
	}
	return err
}

// readFrames reads and dispatches frames until an error. On a server connection
// it waits before each frame while the write queue is over its high-water mark,
// and reserves each frame's length from the memory budget after checking the
// frame's prefix and before reading its header and body (see Budget).
func (c *Conn) readFrames() error {
	cfg := &c.h.cfg
	br := bufio.NewReaderSize(c.nc, readBufferSize)
	fr := protocol.NewFrameReader(br, cfg.maxFrameSize)
	for {
		// Between frames the idle timeout applies; once a frame has started it
		// must complete within the frame timeout, waiting for the budget
		// included.
		if br.Buffered() == 0 {
			if cfg.idleTimeout > 0 {
				_ = c.nc.SetReadDeadline(time.Now().Add(cfg.idleTimeout))
			} else if cfg.frameReadTimeout > 0 {
				_ = c.nc.SetReadDeadline(time.Time{}) // clear the last frame's deadline
			}
			if _, err := br.Peek(1); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					return idleError{cfg.idleTimeout}
				}
				return err
			}
		}
		// A frame is there; it is not read while the peer leaves its answers
		// unread. (The frame timeout starts once reading may go on.)
		if !c.waitDrained() {
			return ErrConnClosed
		}
		var deadline time.Time
		if cfg.frameReadTimeout > 0 {
			deadline = time.Now().Add(cfg.frameReadTimeout)
			_ = c.nc.SetReadDeadline(deadline)
		} else if cfg.idleTimeout > 0 {
			_ = c.nc.SetReadDeadline(time.Time{})
		}
		p, err := fr.ReadPrefix()
		if err != nil {
			return readErr(err)
		}
		charge := int64(p.Length)
		if b := c.budget; b != nil {
			err := b.reserve(charge, deadline, c.done, func() {
				c.h.rlog.warn("remoting: memory budget exhausted; reading paused", "peer", c.remote, "conn", c.id,
					"frame_bytes", charge, "budget_bytes", b.Limit(), "used_bytes", b.Used(), "answer_bytes", b.Answers())
			})
			if errors.Is(err, errBudgetWait) {
				return frameTimeoutError{err: err, budget: true}
			} else if err != nil {
				return err
			}
		}
		cmd, err := fr.ReadHeader(p)
		if err == nil {
			err = fr.ReadBody(cmd, p.BodyLen())
		}
		if err != nil {
			c.release(charge)
			return readErr(err)
		}
		if cmd.IsResponse() {
			c.complete(cmd) // the caller owns the response now
			c.release(charge)
		} else {
			c.h.handle(c, cmd, charge)
		}
	}
}

// release returns a frame's reservation to the budget.
func (c *Conn) release(charge int64) {
	if c.budget != nil {
		c.budget.release(charge)
	}
}

// backlogged reports whether the write queue is at or over the high-water mark
// (never on a client connection).
func (c *Conn) backlogged() bool {
	hw := c.h.cfg.highWater
	return hw > 0 && c.queued.Load() >= hw
}

// waitDrained waits, before the next frame is read, while the write queue is
// over the high-water mark: a peer that does not read its answers gets no more
// requests read. It returns false if the connection closes first.
func (c *Conn) waitDrained() bool {
	if !c.backlogged() {
		return true
	}
	c.h.rlog.warn("remoting: connection paused: peer does not read its answers", "peer", c.remote, "conn", c.id,
		"queued_bytes", c.queued.Load(), "high_water_bytes", c.h.cfg.highWater)
	for {
		// Set before checking again: the writer drains, then looks at it.
		c.readerWaits.Store(true)
		if !c.backlogged() {
			c.readerWaits.Store(false)
			return true
		}
		select {
		case <-c.wake:
		case <-c.done:
			c.readerWaits.Store(false)
			return false
		}
	}
}

// runnable reports whether a request of this connection may start on a worker:
// its write queue is under the high-water mark and answers do not fill half the
// budget.
func (c *Conn) runnable() bool {
	return !c.backlogged() && (c.budget == nil || !c.budget.answersFull())
}

// park keeps t, a request a worker has just taken, from running while the
// connection is not runnable, and reports whether it did; the worker is then free.
// resume submits it again once the write queue or the budget's answers drain. A
// request of a closed connection is finished instead, one of a closing server
// answered SERVICE_NOT_AVAILABLE.
func (c *Conn) park(t *task) bool {
	if c.runnable() {
		return false
	}
	c.pq.Lock()
	if c.pq.closed {
		c.pq.Unlock()
		t.finish()
		return true
	}
	if t.s.closing.Load() {
		// Checked under the lock Close takes the parked requests with, so a
		// request parked now is not missed by it.
		c.pq.Unlock()
		t.answerShutdown()
		return true
	}
	c.pq.tasks = append(c.pq.tasks, t)
	c.nparked.Store(int32(len(c.pq.tasks)))
	full := c.budget != nil && c.budget.answersFull()
	if full {
		c.budget.addParked(c)
	}
	c.pq.Unlock()
	if full {
		b := c.budget
		c.h.rlog.warn("remoting: memory budget: unwritten answers fill half of it; requests wait", "peer", c.remote,
			"conn", c.id, "budget_bytes", b.Limit(), "answer_bytes", b.Answers())
	}
	// Published before checking again: whoever drains next sees nparked.
	if c.runnable() {
		c.resume()
	}
	return true
}

// resume wakes the reader and submits the parked requests again, if the
// connection is runnable. The writer calls it after draining the write queue and
// the budget after answers drop below half of it.
func (c *Conn) resume() {
	if c.backlogged() {
		return
	}
	if c.readerWaits.Load() {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	if c.nparked.Load() == 0 {
		return
	}
	c.pq.Lock()
	if b := c.budget; b != nil && b.answersFull() {
		b.addParked(c) // the budget resumes us once answers drain
		if b.answersFull() {
			c.pq.Unlock()
			return
		}
	}
	tasks := c.takeParkedLocked()
	c.pq.Unlock()
	for _, t := range tasks {
		t.resubmit()
	}
}

// takeParkedLocked removes and returns the parked requests. c.pq must be held.
func (c *Conn) takeParkedLocked() []*task {
	tasks := c.pq.tasks
	c.pq.tasks = nil
	c.nparked.Store(0)
	if c.budget != nil {
		c.budget.removeParked(c)
	}
	return tasks
}

// takeParked removes and returns the parked requests; if closing, later parks
// finish their request at once.
func (c *Conn) takeParked(closing bool) []*task {
	c.pq.Lock()
	defer c.pq.Unlock()
	if closing {
		c.pq.closed = true
	}
	return c.takeParkedLocked()
}

// dropParked finishes the parked requests of a connection that has closed.
func (c *Conn) dropParked() {
	for _, t := range c.takeParked(true) {
		t.finish()
	}
}

// logClose writes the one log line for a connection the peer or the input ended.
func (c *Conn) logClose(err error) {
	log := c.h.log
	var idle idleError
	var ft frameTimeoutError
	switch {
	case errors.Is(err, protocol.ErrMalformed):
		log.Warn("remoting: closing connection: malformed frame", "peer", c.remote, "conn", c.id, "err", err)
	case errors.As(err, &ft):
		log.Warn("remoting: closing connection: frame read timeout", "peer", c.remote, "conn", c.id,
			"timeout", c.h.cfg.frameReadTimeout, "waiting_for_memory_budget", ft.budget)
	case errors.As(err, &idle):
		log.Info("remoting: closing idle connection", "peer", c.remote, "conn", c.id, "idle", idle.d)
	case errors.Is(err, io.EOF):
		log.Debug("remoting: connection closed by peer", "peer", c.remote, "conn", c.id)
	default:
		log.Info("remoting: connection lost", "peer", c.remote, "conn", c.id, "err", err)
	}
}
