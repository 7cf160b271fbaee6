package remoting

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/pkg/protocol"
)

var (
	// ErrClosed is returned by a Server or Client after Close.
	ErrClosed = errors.New("remoting: closed")
	// ErrConnClosed is returned for a request on a connection that has closed, or
	// that closed before its answer arrived.
	ErrConnClosed = errors.New("remoting: connection closed")
)

// connIDs numbers connections process-wide.
var connIDs atomic.Uint64

// Buffer sizes per connection. The writer buffer is made on the first write, so an
// idle or half-open connection costs only the read buffer and two goroutines.
const (
	readBufferSize  = 8 << 10
	writeBufferSize = 16 << 10
	writeQueueLen   = 256 // frames waiting for the writer goroutine
	// maxOverflowBytes bounds the answers queued beyond writeQueueLen for a peer
	// that does not read them fast enough; past it the connection is closed.
	maxOverflowBytes = 64 << 20
)

// Conn is one framed TCP connection, server side or client side. Requests and
// responses are multiplexed on it by opaque; requests from the peer go to the
// owner's processors.
//
// Each Conn has a reader and a writer goroutine, owned by the Server or Client that
// made it. Writes from any goroutine are queued to the writer, which writes whole
// frames in order and batches them into few syscalls; a write that stalls for
// longer than the owner's WriteTimeout closes the connection. All methods are safe
// for concurrent use.
type Conn struct {
	id     uint64
	remote string
	nc     net.Conn
	h      *host
	writeq chan []byte
	done   chan struct{} // closed once the connection is shut down

	inflight  atomic.Int32 // requests queued or running on a worker (server side)
	unwritten atomic.Int64 // frames queued for the writer and not yet flushed to the socket

	mu struct {
		sync.Mutex
		pending map[int32]*call
		closed  bool
	}

	// overflow holds answers that found writeq full: Reply never blocks, since
	// it runs on goroutines that serve everyone (the store's flusher completing
	// sends, the long-poll runners). The writer drains it after writeq.
	omu struct {
		sync.Mutex
		frames [][]byte
		bytes  int
	}
	kick chan struct{} // cap 1: overflow has frames
}

// call is one request waiting for its answer: either ch (Invoke) or cb (InvokeAsync)
// is set. Whoever removes it from the pending table delivers the result, once.
type call struct {
	ch   chan callResult
	cb   func(*protocol.Command, error)
	stop func() bool // stops the ctx watcher of an async call; set under Conn.mu
}

type callResult struct {
	resp *protocol.Command
	err  error
}

// ID is unique per process for the connection's lifetime.
func (c *Conn) ID() uint64 { return c.id }

// RemoteAddr is the peer's "ip:port".
func (c *Conn) RemoteAddr() string { return c.remote }

// String returns "conn <id> <peer>", for logs.
func (c *Conn) String() string { return fmt.Sprintf("conn %d %s", c.id, c.remote) }

// Reply writes a response built with protocol.NewResponse(req, ...). It is how a
// processor that returned (nil, nil) answers later. Reply sets the response flag
// and protocol.CurrentVersion on resp (so resp must not be shared), and writes in
// resp.Serialize, which NewResponse copies from the request. It returns once the
// frame is queued for writing (it blocks while the write queue is full), with
// ErrConnClosed if the connection has closed, or an encoding error
// (protocol.ErrFrameTooLarge, ...). Never call it for a oneway request.
func (c *Conn) Reply(resp *protocol.Command) error {
	resp.Flag |= protocol.FlagResponse
	resp.Version = protocol.CurrentVersion
	frame, err := c.encode(resp)
	if err != nil {
		return err
	}
	return c.sendNoWait(frame)
}

// sendNoWait queues a frame without blocking: into writeq when it has room, else
// into the overflow list. A peer whose unread answers pass maxOverflowBytes is
// not reading; its connection is closed rather than letting it hold memory.
func (c *Conn) sendNoWait(frame []byte) error {
	if c.isClosed() {
		return ErrConnClosed
	}
	c.unwritten.Add(1)
	select {
	case c.writeq <- frame:
		return nil
	default:
	}
	c.omu.Lock()
	if c.omu.bytes+len(frame) > maxOverflowBytes {
		c.omu.Unlock()
		c.unwritten.Add(-1)
		c.h.log.Warn("remoting: closing connection: peer does not read its answers",
			"peer", c.remote, "conn", c.id, "queued_bytes", maxOverflowBytes)
		c.shutdown()
		return ErrConnClosed
	}
	c.omu.frames = append(c.omu.frames, frame)
	c.omu.bytes += len(frame)
	c.omu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return nil
}

// takeOverflow returns and clears the overflow list.
func (c *Conn) takeOverflow() [][]byte {
	c.omu.Lock()
	defer c.omu.Unlock()
	f := c.omu.frames
	c.omu.frames, c.omu.bytes = nil, 0
	return f
}

// Invoke sends a request to the peer on this connection and waits for its answer or
// ctx's end (server-to-client requests such as GET_CONSUMER_RUNNING_INFO). It sets
// req.Opaque from the owner's counter and clears the response and oneway bits, so
// req must not be shared. A non-success response code is not an error here; use
// protocol.ResponseError. Errors: ErrConnClosed, ctx's error (wrapped), or an
// encoding error.
func (c *Conn) Invoke(ctx context.Context, req *protocol.Command) (*protocol.Command, error) {
	cl := &call{ch: make(chan callResult, 1)}
	req.Flag &^= protocol.FlagResponse | protocol.FlagOneway
	opaque, frame, err := c.register(req, cl, nil)
	if err != nil {
		return nil, err
	}
	if err := c.send(ctx, frame); err != nil {
		c.take(opaque, cl)
		return nil, err
	}
	select {
	case r := <-cl.ch:
		return r.resp, r.err
	case <-ctx.Done():
		if !c.take(opaque, cl) {
			// The answer or the close raced with ctx; it is in the channel.
			r := <-cl.ch
			return r.resp, r.err
		}
		return nil, fmt.Errorf("remoting: request code %d to %s: %w", req.Code, c.remote, context.Cause(ctx))
	}
}

// InvokeAsync sends a request and returns once it is queued for writing; cb gets
// the answer, ErrConnClosed, or ctx's error when ctx ends first. If InvokeAsync
// returns an error, cb is never called; otherwise it is called exactly once, on a
// goroutine the owner tracks (Close waits for it), and must not block for long.
// It sets req.Opaque, so req must not be shared.
func (c *Conn) InvokeAsync(ctx context.Context, req *protocol.Command, cb func(*protocol.Command, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cl := &call{cb: cb}
	req.Flag &^= protocol.FlagResponse | protocol.FlagOneway
	opaque, frame, err := c.register(req, cl, ctx)
	if err != nil {
		return err
	}
	if err := c.send(ctx, frame); err != nil {
		if c.take(opaque, cl) {
			cl.stop()
			return err
		}
		return nil // a close or ctx end got there first and delivers to cb
	}
	return nil
}

// InvokeOneway sends a request with the oneway bit set and does not wait for any
// answer. It sets req.Opaque and req.Flag, so req must not be shared. It returns
// once the frame is queued for writing, with ErrConnClosed, ctx's error or an
// encoding error otherwise.
func (c *Conn) InvokeOneway(ctx context.Context, req *protocol.Command) error {
	req.Opaque = c.h.nextOpaque()
	req.Flag = req.Flag&^protocol.FlagResponse | protocol.FlagOneway
	frame, err := c.encode(req)
	if err != nil {
		return err
	}
	return c.send(ctx, frame)
}

// Close closes the connection; pending invocations fail with ErrConnClosed and
// queued writes are dropped. It is idempotent and returns nil.
func (c *Conn) Close() error {
	c.shutdown()
	return nil
}

// Closed returns a channel that is closed once the connection has shut down.
func (c *Conn) Closed() <-chan struct{} { return c.done }

// pendingCount returns the number of calls waiting for an answer.
func (c *Conn) pendingCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.mu.pending)
}

func (c *Conn) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// register assigns an opaque, encodes req and adds cl to the pending table. For an
// async call it also arms the ctx watcher, under the lock, so that whoever takes cl
// later sees cl.stop.
func (c *Conn) register(req *protocol.Command, cl *call, ctx context.Context) (int32, []byte, error) {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return 0, nil, ErrConnClosed
	}
	opaque := c.h.nextOpaque()
	for c.mu.pending[opaque] != nil { // the counter wrapped onto a live request
		opaque = c.h.nextOpaque()
	}
	c.mu.pending[opaque] = cl
	if ctx != nil {
		cl.stop = context.AfterFunc(ctx, func() {
			// This runs on the AfterFunc's own goroutine; make it the host's so
			// Close waits for the callback. A stopping host shuts every
			// connection down, which fails the call with ErrConnClosed instead.
			if !c.h.enter() {
				return
			}
			defer c.h.wg.Done()
			if c.take(opaque, cl) {
				cl.cb(nil, fmt.Errorf("remoting: request code %d to %s: %w", req.Code, c.remote, context.Cause(ctx)))
			}
		})
	}
	c.mu.Unlock()

	// Encoding reads req; opaque is set before anyone else can see the frame.
	req.Opaque = opaque
	frame, err := c.encode(req)
	if err != nil {
		if c.take(opaque, cl) && cl.stop != nil {
			cl.stop()
		}
		return 0, nil, err
	}
	return opaque, frame, nil
}

// take removes cl from the pending table if it is still there and reports whether
// it did; the caller then owns delivering its result.
func (c *Conn) take(opaque int32, cl *call) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.pending[opaque] != cl {
		return false
	}
	delete(c.mu.pending, opaque)
	return true
}

// complete hands a response to its waiting call. Responses nobody waits for (the
// caller gave up, or the request was oneway) are dropped.
func (c *Conn) complete(resp *protocol.Command) {
	c.mu.Lock()
	cl := c.mu.pending[resp.Opaque]
	delete(c.mu.pending, resp.Opaque)
	c.mu.Unlock()
	if cl == nil {
		c.h.log.Debug("remoting: dropped response nobody waits for", "peer", c.remote, "opaque", resp.Opaque, "code", resp.Code)
		return
	}
	c.deliver(cl, resp, nil)
}

func (c *Conn) deliver(cl *call, resp *protocol.Command, err error) {
	if cl.cb == nil {
		cl.ch <- callResult{resp, err}
		return
	}
	cl.stop()
	if !c.h.goFunc("callback", func() { cl.cb(resp, err) }) {
		cl.cb(resp, err) // the owner is closing: deliver inline
	}
}

func (c *Conn) encode(cmd *protocol.Command) ([]byte, error) {
	frame, err := protocol.AppendFrame(make([]byte, 0, 256+len(cmd.Body)), cmd)
	if err != nil {
		return nil, fmt.Errorf("remoting: encode code %d: %w", cmd.Code, err)
	}
	if len(frame)-4 > c.h.cfg.maxFrameSize {
		return nil, fmt.Errorf("remoting: encode code %d: %w: %d bytes, limit %d",
			cmd.Code, protocol.ErrFrameTooLarge, len(frame)-4, c.h.cfg.maxFrameSize)
	}
	return frame, nil
}

// send queues a frame for the writer goroutine.
func (c *Conn) send(ctx context.Context, frame []byte) error {
	if c.isClosed() {
		return ErrConnClosed
	}
	c.unwritten.Add(1)
	select {
	case c.writeq <- frame:
		return nil
	case <-c.done:
		c.unwritten.Add(-1)
		return ErrConnClosed
	case <-ctx.Done():
		c.unwritten.Add(-1)
		return context.Cause(ctx)
	}
}

// drain waits until every frame queued so far has been written to the socket, the
// connection has closed, or deadline passes. Close uses it so answers queued just
// before shutdown reach the peer.
func (c *Conn) drain(deadline time.Time) {
	for c.unwritten.Load() > 0 && !c.isClosed() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// shutdown closes the socket and fails every pending call, once.
func (c *Conn) shutdown() {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return
	}
	c.mu.closed = true
	pending := c.mu.pending
	c.mu.pending = nil
	close(c.done)
	c.mu.Unlock()

	_ = c.nc.Close()
	for _, cl := range pending {
		c.deliver(cl, nil, ErrConnClosed)
	}
}

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

// frameTimeoutError marks a frame that started but did not complete in time.
type frameTimeoutError struct{ err error }

func (e frameTimeoutError) Error() string { return "frame not completed in time: " + e.err.Error() }
func (e frameTimeoutError) Unwrap() error { return e.err }

type idleError struct{ d time.Duration }

func (e idleError) Error() string { return fmt.Sprintf("idle for %s", e.d) }

func (c *Conn) readFrames() error {
	cfg := &c.h.cfg
	br := bufio.NewReaderSize(c.nc, readBufferSize)
	fr := protocol.NewFrameReader(br, cfg.maxFrameSize)
	for {
		// Between frames the idle timeout applies; once a frame has started it
		// must complete within the frame timeout.
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
		if cfg.frameReadTimeout > 0 {
			_ = c.nc.SetReadDeadline(time.Now().Add(cfg.frameReadTimeout))
		} else if cfg.idleTimeout > 0 {
			_ = c.nc.SetReadDeadline(time.Time{})
		}
		cmd, err := fr.Read()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return frameTimeoutError{err}
			}
			return err
		}
		if cmd.IsResponse() {
			c.complete(cmd)
		} else {
			c.h.handle(c, cmd)
		}
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
		log.Warn("remoting: closing connection: frame read timeout", "peer", c.remote, "conn", c.id, "timeout", c.h.cfg.frameReadTimeout)
	case errors.As(err, &idle):
		log.Info("remoting: closing idle connection", "peer", c.remote, "conn", c.id, "idle", idle.d)
	case errors.Is(err, io.EOF):
		log.Debug("remoting: connection closed by peer", "peer", c.remote, "conn", c.id)
	default:
		log.Info("remoting: connection lost", "peer", c.remote, "conn", c.id, "err", err)
	}
}

// writeLoop is the connection's writer goroutine, started by host.startConn and
// stopped by shutdown or a write error (which shuts the connection down). It is the
// only writer of the socket: it takes whole frames from writeq in order and
// flushes when the queue is empty, so concurrent replies batch into few syscalls.
func (c *Conn) writeLoop() {
	var bw *bufio.Writer
	for {
		var first []byte
		select {
		case first = <-c.writeq:
		case <-c.kick:
		case <-c.done:
			return
		}
		if bw == nil {
			bw = bufio.NewWriterSize(c.nc, writeBufferSize)
		}
		if wt := c.h.cfg.writeTimeout; wt > 0 {
			_ = c.nc.SetWriteDeadline(time.Now().Add(wt))
		}
		var err error
		n := int64(0)
		if first != nil {
			_, err = bw.Write(first)
			n++
		}
	batch:
		for err == nil {
			select {
			case frame := <-c.writeq:
				_, err = bw.Write(frame)
				n++
			default:
				// writeq is empty: answers that overflowed it go next.
				over := c.takeOverflow()
				if len(over) == 0 {
					break batch
				}
				for _, frame := range over {
					if err == nil {
						_, err = bw.Write(frame)
					}
					n++
				}
			}
		}
		if err == nil {
			err = bw.Flush()
		}
		c.unwritten.Add(-n)
		if err != nil {
			if !c.isClosed() {
				c.h.log.Info("remoting: closing connection: write failed", "peer", c.remote, "conn", c.id, "err", err)
			}
			c.shutdown()
			return
		}
	}
}
