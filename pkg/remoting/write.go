package remoting

import (
	"bufio"
	"context"
	"time"
)

// maxSpareFrames caps the frame slice a writer keeps between batches.
const maxSpareFrames = 1024

// enqueue queues a frame for the writer goroutine. With a ctx it waits while
// writeQueueLen frames are queued (Invoke, InvokeOneway and the reader's own
// answers), until the writer takes them, the connection closes (ErrConnClosed) or
// ctx ends (its cause). With a nil ctx (Reply) it never waits; instead, if the
// queue already holds frames and this one would take it past the hard cap, the
// peer is not reading its answers and the connection is closed (ErrConnClosed).
func (c *Conn) enqueue(ctx context.Context, frame []byte) error {
	n := int64(len(frame))
	c.wq.Lock()
	for {
		if c.wq.closed {
			c.wq.Unlock()
			return ErrConnClosed
		}
		if ctx == nil || len(c.wq.frames) < writeQueueLen {
			break
		}
		if c.wq.space == nil {
			c.wq.space = make(chan struct{})
		}
		space := c.wq.space
		c.wq.Unlock()
		select {
		case <-space:
		case <-c.done:
			return ErrConnClosed
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		c.wq.Lock()
	}
	if ctx == nil && c.wq.bytes > 0 && c.wq.bytes+n > c.h.cfg.maxQueued {
		queued := c.wq.bytes
		c.wq.Unlock()
		c.h.log.Warn("remoting: closing connection: peer does not read its answers",
			"peer", c.remote, "conn", c.id, "queued_bytes", queued, "limit", c.h.cfg.maxQueued)
		c.shutdown()
		return ErrConnClosed
	}
	c.wq.frames = append(c.wq.frames, frame)
	c.wq.bytes += n
	c.queued.Store(c.wq.bytes)
	if c.budget != nil {
		c.budget.chargeAnswer(n)
	}
	c.wq.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return nil
}

// takeFrames hands the queued frames to the writer, giving the queue spare (an
// empty slice whose array the writer is done with) in exchange, and lets waiting
// senders go on.
func (c *Conn) takeFrames(spare [][]byte) [][]byte {
	c.wq.Lock()
	defer c.wq.Unlock()
	frames := c.wq.frames
	if len(frames) == 0 {
		return nil
	}
	// Set before these frames are uncounted, and cleared after the flush, so
	// drain never sees nothing queued while some of it is unflushed.
	c.unflushed.Store(true)
	c.wq.frames = spare
	if c.wq.space != nil {
		close(c.wq.space)
		c.wq.space = nil
	}
	return frames
}

// written uncounts n bytes the writer has written (or failed to write), then
// resumes the reader and parked requests if they waited for the queue to drain.
func (c *Conn) written(n int64) {
	if n == 0 {
		return
	}
	c.wq.Lock()
	if c.wq.closed { // closeWriteQueue released everything already
		c.wq.Unlock()
		return
	}
	c.wq.bytes -= n
	c.queued.Store(c.wq.bytes)
	c.wq.Unlock()
	if c.budget != nil {
		c.budget.releaseAnswer(n)
	}
	if (c.readerWaits.Load() || c.nparked.Load() > 0) && !c.backlogged() {
		c.resume()
	}
}

// closeWriteQueue drops the queued frames and releases their bytes; later
// enqueues fail with ErrConnClosed. Called once, by shutdown.
func (c *Conn) closeWriteQueue() {
	c.wq.Lock()
	c.wq.closed = true
	n := c.wq.bytes
	c.wq.bytes = 0
	c.wq.frames = nil
	c.queued.Store(0)
	c.wq.Unlock()
	if c.budget != nil {
		c.budget.releaseAnswer(n)
	}
}

// drain waits until every frame queued so far has been written to the socket, the
// connection has closed, or deadline passes. Close uses it so answers queued just
// before shutdown reach the peer.
func (c *Conn) drain(deadline time.Time) {
	for (c.queued.Load() > 0 || c.unflushed.Load()) && !c.isClosed() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// writeLoop is the connection's writer goroutine, started by host.startConn and
// stopped by shutdown or a write error (which shuts the connection down). It is the
// only writer of the socket: it takes all queued frames at once, writes them in
// order and takes again until the queue is empty, then flushes, so concurrent
// answers batch into few syscalls. Each batch is uncounted once written into the
// buffered writer.
func (c *Conn) writeLoop() {
	var bw *bufio.Writer
	var spare [][]byte
	for {
		select {
		case <-c.kick:
		case <-c.done:
			return
		}
		var err error
		wrote := false
		for err == nil {
			batch := c.takeFrames(spare)
			if batch == nil {
				break
			}
			wrote = true
			if bw == nil {
				bw = bufio.NewWriterSize(c.nc, writeBufferSize)
			}
			if wt := c.h.cfg.writeTimeout; wt > 0 {
				_ = c.nc.SetWriteDeadline(time.Now().Add(wt))
			}
			n := int64(0)
			for i, frame := range batch {
				if err == nil {
					_, err = bw.Write(frame)
				}
				n += int64(len(frame))
				batch[i] = nil // the frame is garbage once written
			}
			if cap(batch) <= maxSpareFrames {
				spare = batch[:0]
			} else {
				spare = nil
			}
			// Uncounted per batch, not at the flush: a writer kept busy by a
			// steady stream must not look like a peer that does not read. All
			// but the last bufio buffer of it is in the socket already.
			c.written(n)
		}
		if err == nil && wrote {
			err = bw.Flush()
		}
		c.unflushed.Store(false)
		if err != nil {
			if !c.isClosed() {
				c.h.log.Info("remoting: closing connection: write failed", "peer", c.remote, "conn", c.id, "err", err)
			}
			c.shutdown()
			return
		}
	}
}
