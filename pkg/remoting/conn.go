package remoting

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
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
	// writeQueueLen is how many frames Invoke, InvokeOneway and the reader's own
	// answers may queue before they wait for the writer; Reply never waits.
	writeQueueLen = 256
	// minMaxQueuedBytes is the least hard cap on the bytes queued for one
	// connection's writer: a Reply beyond it closes the connection, as the peer
	// is not reading (see connConfig.maxQueued).
	minMaxQueuedBytes = 64 << 20
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
	ip     netip.Addr // remote IP, for per-address limits
	remote string
	nc     net.Conn
	h      *host
	done   chan struct{} // closed once the connection is shut down
	kick   chan struct{} // cap 1: the write queue has frames
	// wake (cap 1) tells a reader that waits for the write queue to drain, and
	// parked requests, that they may go on (server side).
	wake chan struct{}

	inflight atomic.Int32 // requests queued, parked or running on a worker (server side)
	// slots holds one token per call in the pending table (client side; nil
	// when uncapped): a call takes one before it is registered and gives it
	// back when it leaves the table, so at most cap(slots) requests of this
	// connection wait for answers and the server's per-connection cap is not
	// exceeded.
	slots chan struct{}

	// cbq holds answers of InvokeAsync calls waiting for their callbacks.
	// A runner (a goroutine of the owner) takes them one at a time, in
	// order, and exits when none is left, so a stream of answers costs no
	// goroutine each and the reader never runs a callback. A callback that
	// runs longer than slowCallback (it blocks, say on a send window that
	// other callbacks would free) makes the runner's watchdog start another
	// runner for the answers queued behind it.
	cbq struct {
		sync.Mutex
		items   []asyncDone // a FIFO: items[head:]
		head    int
		runners int
	}

	mu struct {
		sync.Mutex
		pending map[int32]*call
		closed  bool
	}

	// queued mirrors wq.bytes, for checks without the lock.
	queued atomic.Int64
	// unflushed is set while the writer holds frames it has taken but not
	// flushed (drain waits for it).
	unflushed atomic.Bool
	// wq is the write queue: whole encoded frames, in order, for the writer
	// goroutine. Every frame is counted in bytes (and charged to the server's
	// budget) from when it is queued until the writer has written its batch to
	// the socket, or the connection closes.
	wq struct {
		sync.Mutex
		frames [][]byte
		bytes  int64
		closed bool
		// space is closed when the writer takes frames; senders that found
		// writeQueueLen frames queued wait on it. nil when nobody waits.
		space chan struct{}
	}

	// Server side: the budget this connection draws on (nil on a client), and
	// the requests that wait on a worker's behalf for the write queue or the
	// budget's answers to drain (see park).
	budget *Budget
	// readerWaits is set (by the reader only) while the reader waits for the
	// write queue to drain; nparked mirrors len(pq.tasks). The writer calls
	// resume when either is set and the queue has drained.
	readerWaits atomic.Bool
	nparked     atomic.Int32
	pq          struct {
		sync.Mutex
		tasks  []*task
		closed bool
	}
}

// call is one request waiting for its answer: either ch (Invoke) or cb (InvokeAsync)
// is set. Whoever removes it from the pending table delivers the result, once.
type call struct {
	ch   chan callResult
	cb   func(*protocol.Command, error)
	stop func() bool // stops the ctx watcher of an async call; set under Conn.mu
	slot bool        // holds a token of Conn.slots, given back when it leaves the table
}

// asyncDone is an answer (or error) for an InvokeAsync callback.
type asyncDone struct {
	cb   func(*protocol.Command, error)
	resp *protocol.Command
	err  error
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
// resp.Serialize, which NewResponse copies from the request. It never blocks: it
// returns once the frame is queued for writing, with ErrConnClosed if the
// connection has closed, or an encoding error (protocol.ErrFrameTooLarge, ...).
// A peer whose unwritten answers pass the connection's hard cap (at least
// 64 MiB) is not reading them: its connection is closed and Reply returns
// ErrConnClosed. Never call it for a oneway request.
func (c *Conn) Reply(resp *protocol.Command) error {
	resp.Flag |= protocol.FlagResponse
	resp.Version = protocol.CurrentVersion
	frame, err := c.encode(resp)
	if err != nil {
		return err
	}
	return c.enqueue(nil, frame)
}

// Invoke sends a request to the peer on this connection and waits for its answer or
// ctx's end (server-to-client requests such as GET_CONSUMER_RUNNING_INFO). It sets
// req.Opaque from the owner's counter and clears the response and oneway bits, so
// req must not be shared. A non-success response code is not an error here; use
// protocol.ResponseError. Errors: ErrConnClosed, ctx's error (wrapped), or an
// encoding error.
func (c *Conn) Invoke(ctx context.Context, req *protocol.Command) (*protocol.Command, error) {
	cl := &call{ch: make(chan callResult, 1)}
	if err := c.acquire(ctx, cl); err != nil {
		return nil, err
	}
	req.Flag &^= protocol.FlagResponse | protocol.FlagOneway
	opaque, frame, err := c.register(req, cl, nil)
	if err != nil {
		return nil, err
	}
	if err := c.enqueue(ctx, frame); err != nil {
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
// goroutine the owner tracks (Close waits for it), and must not block for long:
// the callbacks of one connection's answers run one after another, in the order
// the answers arrived, on one goroutine; only when a callback has run for 10ms
// do the answers queued behind it get a goroutine of their own (so a callback
// that waits for another one is slow, not stuck).
// It sets req.Opaque, so req must not be shared.
func (c *Conn) InvokeAsync(ctx context.Context, req *protocol.Command, cb func(*protocol.Command, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cl := &call{cb: cb}
	if err := c.acquire(ctx, cl); err != nil {
		return err
	}
	req.Flag &^= protocol.FlagResponse | protocol.FlagOneway
	opaque, frame, err := c.register(req, cl, ctx)
	if err != nil {
		return err
	}
	if err := c.enqueue(ctx, frame); err != nil {
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
	return c.enqueue(ctx, frame)
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
		c.releaseSlot(cl)
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
	if c.h.cfg.sign != nil {
		c.h.cfg.sign(req)
	}
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
	c.releaseSlot(cl)
	return true
}

// acquire takes a slot for cl when the connection caps its pending calls,
// waiting while all are taken, until ctx ends (its error, wrapped) or the
// connection closes (ErrConnClosed).
func (c *Conn) acquire(ctx context.Context, cl *call) error {
	if c.slots == nil {
		return nil
	}
	select {
	case c.slots <- struct{}{}:
		cl.slot = true
		return nil
	default:
	}
	select {
	case c.slots <- struct{}{}:
		cl.slot = true
		return nil
	case <-ctx.Done():
		return fmt.Errorf("remoting: waiting for one of %d request slots to %s: %w", cap(c.slots), c.remote, context.Cause(ctx))
	case <-c.done:
		return ErrConnClosed
	}
}

// releaseSlot gives cl's slot back, once.
func (c *Conn) releaseSlot(cl *call) {
	if cl.slot {
		cl.slot = false
		<-c.slots
	}
}

// complete hands a response to its waiting call. Responses nobody waits for (the
// caller gave up, or the request was oneway) are dropped.
func (c *Conn) complete(resp *protocol.Command) {
	c.mu.Lock()
	cl := c.mu.pending[resp.Opaque]
	delete(c.mu.pending, resp.Opaque)
	if cl != nil {
		c.releaseSlot(cl)
	}
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
	c.queueCallback(asyncDone{cl.cb, resp, err})
}

// slowCallback is how long a callback may run before the answers queued
// behind it get a runner of their own.
const slowCallback = 10 * time.Millisecond

// queueCallback queues d and starts a runner if none is running; when the
// owner is closing, the caller runs the queue instead.
func (c *Conn) queueCallback(d asyncDone) {
	c.cbq.Lock()
	c.cbq.items = append(c.cbq.items, d)
	spawn := c.cbq.runners == 0
	if spawn {
		c.cbq.runners++
	}
	c.cbq.Unlock()
	if spawn && !c.h.goFunc("callbacks", c.runCallbacks) {
		c.runCallbacks() // the owner is closing: deliver inline
	}
}

// runCallbacks is a runner: it runs queued callbacks one at a time until the
// queue is empty. Its watchdog fires when one callback has run for
// slowCallback and starts another runner if answers are waiting.
func (c *Conn) runCallbacks() {
	var cur, armed atomic.Uint64 // callback running (0: none); the one the watchdog is armed for
	watch := time.AfterFunc(time.Hour, func() {
		if n := cur.Load(); n == 0 || n != armed.Load() {
			return
		}
		c.cbq.Lock()
		spawn := c.cbq.head < len(c.cbq.items)
		if spawn {
			c.cbq.runners++
		}
		c.cbq.Unlock()
		if spawn && !c.h.goFunc("callbacks", c.runCallbacks) {
			c.cbq.Lock()
			c.cbq.runners-- // closing: this runner runs them once its callback returns
			c.cbq.Unlock()
		}
	})
	watch.Stop()
	var n uint64
	c.cbq.Lock()
	for c.cbq.head < len(c.cbq.items) {
		d := c.cbq.items[c.cbq.head]
		c.cbq.items[c.cbq.head] = asyncDone{}
		c.cbq.head++
		if c.cbq.head == len(c.cbq.items) {
			c.cbq.items, c.cbq.head = c.cbq.items[:0], 0
		}
		c.cbq.Unlock()
		n++
		armed.Store(n)
		cur.Store(n)
		watch.Reset(slowCallback)
		d.cb(d.resp, d.err)
		cur.Store(0)
		watch.Stop()
		c.cbq.Lock()
	}
	c.cbq.runners--
	c.cbq.Unlock()
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
	for _, cl := range pending {
		c.releaseSlot(cl)
	}
	close(c.done)
	c.mu.Unlock()

	_ = c.nc.Close()
	c.closeWriteQueue()
	c.dropParked()
	for _, cl := range pending {
		c.deliver(cl, nil, ErrConnClosed)
	}
}
