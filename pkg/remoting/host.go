package remoting

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/pkg/protocol"
)

// connConfig is what a connection needs from its owner's config.
type connConfig struct {
	maxFrameSize     int
	frameReadTimeout time.Duration
	idleTimeout      time.Duration
	writeTimeout     time.Duration
	drainTimeout     time.Duration
	// budget is the server's memory budget; nil on a client.
	budget *Budget
	// highWater pauses reading from a connection whose write queue holds this
	// many bytes; 0 (client) never pauses.
	highWater int64
	// maxQueued is the hard cap on a write queue's bytes: a Reply beyond it
	// closes the connection.
	maxQueued int64
	// sign signs outgoing requests (ClientConfig.Sign); nil on a server.
	sign func(*protocol.Command)
	// maxPending caps the Invoke and InvokeAsync calls of one connection that
	// wait for their answers; more wait for a slot (see Conn.acquire). 0: no
	// cap (server side).
	maxPending int
}

// host is the part Server and Client share: the connections they own, the
// goroutines they track, their opaque counter and their listeners.
//
// Every goroutine of a Server or Client starts through goFunc, which refuses once
// stop has begun, so wg.Wait in stop sees all of them.
type host struct {
	log  *slog.Logger
	kind string // "server" or "client", for pprof labels
	cfg  connConfig
	// handle takes a request from the peer, with the bytes reserved for it from
	// the budget (0 without one), which it must release; it runs on the
	// reader goroutine.
	handle       func(c *Conn, req *protocol.Command, charge int64)
	onConnClosed func(c *Conn) // optional owner hook, on the reader goroutine
	rlog         *rateLog      // rate-limited warnings

	ctx    context.Context // lifetime; cancelled by stop
	cancel context.CancelFunc
	opaque atomic.Int32
	wg     sync.WaitGroup

	mu struct {
		sync.Mutex
		stopping  bool
		conns     map[uint64]*Conn
		listeners []ConnListener
	}
}

func (h *host) init(log *slog.Logger, kind string, cfg connConfig) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h.log = log
	h.rlog = newRateLog(log)
	h.kind = kind
	h.cfg = cfg
	if h.cfg.maxQueued < minMaxQueuedBytes {
		h.cfg.maxQueued = minMaxQueuedBytes
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.mu.conns = map[uint64]*Conn{}
}

// nextOpaque returns the next request id. Ids start at 1 and wrap.
func (h *host) nextOpaque() int32 { return h.opaque.Add(1) }

// goFunc runs f on a tracked goroutine labelled for pprof. It returns false, and
// does not run f, once the host is stopping.
func (h *host) goFunc(name string, f func()) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mu.stopping {
		return false
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		pprof.Do(context.Background(), pprof.Labels("remoting", h.kind+"/"+name), func(context.Context) { f() })
	}()
	return true
}

// enter counts the calling goroutine, one the host did not start (a
// context.AfterFunc), as the host's, so stop waits for it. It returns false once
// the host is stopping; otherwise the caller must call h.wg.Done when finished.
func (h *host) enter() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mu.stopping {
		return false
	}
	h.wg.Add(1)
	return true
}

func (h *host) addListener(l ConnListener) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mu.listeners = append(h.mu.listeners, l)
}

func (h *host) listenerList() []ConnListener {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mu.listeners
}

// startConn wraps nc and starts its reader and writer goroutines. It closes nc and
// returns ErrClosed if the host is stopping.
func (h *host) startConn(nc net.Conn) (*Conn, error) {
	c := &Conn{
		id:     connIDs.Add(1),
		remote: nc.RemoteAddr().String(),
		ip:     peerIP(nc),
		nc:     nc,
		h:      h,
		kick:   make(chan struct{}, 1),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		budget: h.cfg.budget,
	}
	if h.cfg.maxPending > 0 {
		c.slots = make(chan struct{}, h.cfg.maxPending)
	}
	c.mu.pending = map[int32]*call{}

	h.mu.Lock()
	if h.mu.stopping {
		h.mu.Unlock()
		_ = nc.Close()
		return nil, ErrClosed
	}
	h.mu.conns[c.id] = c
	h.wg.Add(2)
	h.mu.Unlock()
	labels := pprof.Labels("remoting", h.kind+"/conn", "peer", c.remote)
	go func() {
		defer h.wg.Done()
		pprof.Do(context.Background(), labels, func(context.Context) { c.readLoop() })
	}()
	go func() {
		defer h.wg.Done()
		pprof.Do(context.Background(), labels, func(context.Context) { c.writeLoop() })
	}()
	return c, nil
}

func (h *host) connClosed(c *Conn) {
	h.mu.Lock()
	delete(h.mu.conns, c.id)
	h.mu.Unlock()
	if h.onConnClosed != nil {
		h.onConnClosed(c)
	}
}

// stop refuses new goroutines and connections, cancels the lifetime context, lets
// settle (if not nil) wait until the given deadline for work in progress to be
// answered, writes what is queued within the same deadline, closes every
// connection and waits for every tracked goroutine.
func (h *host) stop(settle func(conns []*Conn, deadline time.Time)) {
	h.mu.Lock()
	h.mu.stopping = true
	conns := h.connListLocked()
	h.mu.Unlock()
	h.cancel()
	// Answers already queued (a send acknowledged, a held pull released just
	// before Close) are written before the sockets close, within one shared
	// deadline; a peer that does not read cannot hold Close longer than that.
	deadline := time.Now().Add(h.cfg.drainTimeout)
	if settle != nil {
		settle(conns, deadline)
	}
	for _, c := range conns {
		c.drain(deadline)
	}
	for _, c := range conns {
		c.shutdown()
	}
	h.wg.Wait()
}

func (h *host) connListLocked() []*Conn {
	conns := make([]*Conn, 0, len(h.mu.conns))
	for _, c := range h.mu.conns {
		conns = append(conns, c)
	}
	return conns
}

// connList returns the open connections.
func (h *host) connList() []*Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.connListLocked()
}

// connCount returns the number of open connections.
func (h *host) connCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.mu.conns)
}

// process runs p for req on the calling goroutine and answers unless req is oneway
// or p took ownership of the answer by returning (nil, nil). A panic in p is
// recovered, logged with its stack and answered as SYSTEM_ERROR.
func (h *host) process(p Processor, c *Conn, req *protocol.Command) {
	resp, err := h.callProcessor(p, c, req)
	if req.IsOneway() {
		if err != nil {
			h.log.Debug("remoting: oneway request failed", "peer", c.remote, "code", req.RequestCode(), "err", err)
		}
		return
	}
	if err != nil {
		if h.ctx.Err() != nil {
			// The owner is closing (processors see ctx cancelled): say so, with
			// a code clients retry elsewhere, rather than SYSTEM_ERROR.
			resp = protocol.NewResponse(req, protocol.ServiceNotAvailable, h.shutdownRemark()+": "+err.Error())
		} else {
			resp = protocol.NewResponse(req, protocol.SystemError, err.Error())
		}
	}
	if resp == nil {
		return
	}
	resp.Opaque = req.Opaque
	resp.Serialize = req.Serialize
	if err := c.Reply(resp); err != nil && !errors.Is(err, ErrConnClosed) {
		h.log.Error("remoting: cannot send response", "peer", c.remote, "code", req.RequestCode(), "resp_code", resp.ResponseCode(), "err", err)
		_ = c.Reply(protocol.NewResponse(req, protocol.SystemError, "response could not be encoded: "+err.Error()))
	}
}

func (h *host) callProcessor(p Processor, c *Conn, req *protocol.Command) (resp *protocol.Command, err error) {
	defer func() {
		if r := recover(); r != nil {
			h.log.Error("remoting: processor panicked", "peer", c.remote, "code", req.RequestCode(), "panic", r, "stack", string(debug.Stack()))
			resp, err = nil, fmt.Errorf("panic processing request code %d: %v", req.Code, r)
		}
	}()
	return p.Process(h.ctx, c, req)
}

// replyDirect answers req from the reader goroutine (unknown code, busy, shutting
// down). While writeQueueLen frames are queued it waits, so reading stops: that is
// back-pressure on a peer that does not read its answers, and the write timeout
// ends it.
func replyDirect(c *Conn, req *protocol.Command, code protocol.ResponseCode, remark string) {
	resp := protocol.NewResponse(req, code, remark)
	resp.Version = protocol.CurrentVersion
	frame, err := c.encode(resp)
	if err != nil {
		return
	}
	_ = c.enqueue(context.Background(), frame)
}

// shutdownRemark is the remark of answers given because the owner is closing.
func (h *host) shutdownRemark() string { return "[SHUTDOWN] " + h.kind + " is shutting down" }
