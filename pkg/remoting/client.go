package remoting

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/pkg/protocol"
)

// Dialer opens connections for a Client. It is the network seam: tests may dial an
// in-memory network instead of TCP.
type Dialer interface {
	// Dial connects to addr ("host:port"), giving up when ctx ends.
	Dial(ctx context.Context, addr string) (net.Conn, error)
}

// DialerFunc adapts a function to Dialer.
type DialerFunc func(ctx context.Context, addr string) (net.Conn, error)

// Dial calls f.
func (f DialerFunc) Dial(ctx context.Context, addr string) (net.Conn, error) { return f(ctx, addr) }

// ClientConfig configures a Client. Zero fields take their defaults.
type ClientConfig struct {
	// MaxFrameSize caps a frame's length field, in bytes, in both directions.
	// Default 16 MiB.
	MaxFrameSize int
	// DialTimeout bounds connecting to an address. Default 3s.
	DialTimeout time.Duration
	// FrameReadTimeout is how long a frame may take to arrive once its first byte
	// has. Default 30s.
	FrameReadTimeout time.Duration
	// IdleTimeout closes a connection that receives nothing for this long; the next
	// call redials. Default 0: never (TCP keep-alive still detects dead peers).
	IdleTimeout time.Duration
	// WriteTimeout closes a connection when writing stalls for this long. Default
	// 30s.
	WriteTimeout time.Duration
	// DrainTimeout bounds how long Close waits for requests already queued (a
	// oneway END_TRANSACTION, say) to be written. Default (and when zero) 1s.
	DrainTimeout time.Duration
	// MaxConcurrentRequests caps the requests from servers (for example
	// GET_CONSUMER_RUNNING_INFO) processed at once, each on its own goroutine.
	// Beyond it they are answered SYSTEM_BUSY, or dropped if oneway. Default 64.
	MaxConcurrentRequests int
	// MaxInflightPerConn caps the Invoke and InvokeAsync calls of one
	// connection that wait for their answers; beyond it a call waits (on its
	// ctx) for an answer to free a slot instead of being sent. Default
	// DefaultMaxInflightPerConn (4096), the default cap of Petrel's server
	// (serverMaxInflightPerConnection), so a client never has more requests
	// in flight than a broker with default settings accepts; set it no higher
	// than the servers' value. Oneway requests are not counted.
	MaxInflightPerConn int
	// Dialer opens connections. Default: TCP with DialTimeout and the standard
	// keep-alive.
	Dialer Dialer
	// TLS, if not nil, makes every connection a TLS client connection over
	// what Dialer returns, with this configuration (RocketMQ's tls.enable).
	// A ServerName left empty is taken from the address dialled. The
	// handshake is bounded by DialTimeout. Default nil: plain TCP.
	TLS *tls.Config
	// Sign, if not nil, is called with every request this client sends,
	// just before it is encoded (after the opaque is set), to add signature
	// fields (auth.Credentials.Sign). It must not block. Default nil.
	Sign func(req *protocol.Command)
}

// DefaultClientConfig returns the defaults described on ClientConfig.
func DefaultClientConfig() ClientConfig {
	return ClientConfig{
		MaxFrameSize:          protocol.DefaultMaxFrameSize,
		DialTimeout:           3 * time.Second,
		FrameReadTimeout:      30 * time.Second,
		WriteTimeout:          30 * time.Second,
		DrainTimeout:          time.Second,
		MaxConcurrentRequests: 64,
		MaxInflightPerConn:    DefaultMaxInflightPerConn,
	}
}

// Validate reports the first field that is out of range. Zero fields are valid
// (they take defaults).
func (c ClientConfig) Validate() error {
	switch {
	case c.MaxFrameSize != 0 && (c.MaxFrameSize < 1024 || c.MaxFrameSize > 1<<30):
		return fmt.Errorf("remoting: ClientConfig.MaxFrameSize %d is outside [1 KiB, 1 GiB]", c.MaxFrameSize)
	case c.DialTimeout < 0:
		return fmt.Errorf("remoting: ClientConfig.DialTimeout %s is negative", c.DialTimeout)
	case c.FrameReadTimeout < 0:
		return fmt.Errorf("remoting: ClientConfig.FrameReadTimeout %s is negative", c.FrameReadTimeout)
	case c.IdleTimeout < 0:
		return fmt.Errorf("remoting: ClientConfig.IdleTimeout %s is negative", c.IdleTimeout)
	case c.WriteTimeout < 0:
		return fmt.Errorf("remoting: ClientConfig.WriteTimeout %s is negative", c.WriteTimeout)
	case c.MaxConcurrentRequests < 0:
		return fmt.Errorf("remoting: ClientConfig.MaxConcurrentRequests %d is negative", c.MaxConcurrentRequests)
	case c.DrainTimeout < 0:
		return fmt.Errorf("remoting: ClientConfig.DrainTimeout %s is negative", c.DrainTimeout)
	case c.MaxInflightPerConn < 0:
		return fmt.Errorf("remoting: ClientConfig.MaxInflightPerConn %d is negative", c.MaxInflightPerConn)
	}
	return nil
}

func (c ClientConfig) withDefaults() ClientConfig {
	d := DefaultClientConfig()
	if c.MaxFrameSize <= 0 {
		c.MaxFrameSize = d.MaxFrameSize
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = d.DialTimeout
	}
	if c.FrameReadTimeout <= 0 {
		c.FrameReadTimeout = d.FrameReadTimeout
	}
	if c.IdleTimeout < 0 {
		c.IdleTimeout = 0
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.MaxConcurrentRequests <= 0 {
		c.MaxConcurrentRequests = d.MaxConcurrentRequests
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = d.DrainTimeout
	}
	if c.MaxInflightPerConn <= 0 {
		c.MaxInflightPerConn = d.MaxInflightPerConn
	}
	if c.Dialer == nil {
		nd := &net.Dialer{Timeout: c.DialTimeout}
		c.Dialer = DialerFunc(func(ctx context.Context, addr string) (net.Conn, error) {
			return nd.DialContext(ctx, "tcp", addr)
		})
	}
	if c.TLS != nil {
		c.Dialer = tlsDialer(c.Dialer, c.TLS, c.DialTimeout)
	}
	return c
}

// Client sends requests to servers over one multiplexed connection per address
// string, made on first use and made again on the next use after it breaks.
// Requests are matched to answers by opaque, from one counter per Client.
// Requests a server sends on such a connection go to the processors registered
// with Register.
//
// Goroutines: a reader and a writer per connection, one per dial in progress, one
// per server request being processed (bounded), and per connection a runner of
// async callbacks while answers wait for them (more when a callback runs longer
// than 10ms, see Conn.InvokeAsync); all tracked and waited for by Close. All methods are safe for concurrent use.
type Client struct {
	cfg   ClientConfig
	h     host
	procs atomic.Pointer[map[protocol.RequestCode]Processor] // copy on write
	sem   chan struct{}                                      // bounds server requests in progress

	mu struct {
		sync.Mutex
		conns  map[string]*dialEntry
		closed bool
	}
}

// dialEntry is one address's connection, or the dial that will make it: done is
// closed once conn or err is set.
type dialEntry struct {
	done chan struct{}
	conn *Conn
	err  error
}

// NewClient returns a client; it opens no connection until the first call. Zero or
// invalid config fields take their defaults (use ClientConfig.Validate to reject
// them instead). log may be nil (discard).
func NewClient(cfg ClientConfig, log *slog.Logger) *Client {
	cfg = cfg.withDefaults()
	cl := &Client{cfg: cfg, sem: make(chan struct{}, cfg.MaxConcurrentRequests)}
	cl.h.init(log, "client", connConfig{
		maxFrameSize:     cfg.MaxFrameSize,
		frameReadTimeout: cfg.FrameReadTimeout,
		idleTimeout:      cfg.IdleTimeout,
		writeTimeout:     cfg.WriteTimeout,
		drainTimeout:     cfg.DrainTimeout,
		sign:             cfg.Sign,
		maxPending:       cfg.MaxInflightPerConn,
	})
	cl.h.handle = cl.handle
	cl.h.onConnClosed = cl.connClosed
	cl.mu.conns = map[string]*dialEntry{}
	cl.procs.Store(&map[protocol.RequestCode]Processor{})
	return cl
}

// Register makes p handle requests with the given code that servers send on this
// client's connections. Requests with no processor are logged and not answered,
// as the official Go client does.
func (cl *Client) Register(code protocol.RequestCode, p Processor) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	m := maps.Clone(*cl.procs.Load())
	m[code] = p
	cl.procs.Store(&m)
}

// AddConnListener adds a listener for connections opening and closing.
func (cl *Client) AddConnListener(l ConnListener) { cl.h.addListener(l) }

// Conn returns the connection to addr, dialling it if there is none. It waits for
// the dial or ctx's end. Errors: ErrClosed, ctx's error, or the dial error.
func (cl *Client) Conn(ctx context.Context, addr string) (*Conn, error) {
	for {
		cl.mu.Lock()
		if cl.mu.closed {
			cl.mu.Unlock()
			return nil, ErrClosed
		}
		e := cl.mu.conns[addr]
		if e == nil {
			e = &dialEntry{done: make(chan struct{})}
			if !cl.h.goFunc("dial", func() { cl.dial(addr, e) }) {
				cl.mu.Unlock()
				return nil, ErrClosed
			}
			cl.mu.conns[addr] = e
		}
		cl.mu.Unlock()

		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("remoting: connect to %s: %w", addr, context.Cause(ctx))
		}
		if e.err != nil {
			return nil, e.err
		}
		if !e.conn.isClosed() {
			return e.conn, nil
		}
		// Closed, and its reader has not removed it yet: drop it and redial.
		cl.dropEntry(addr, e)
	}
}

// dial is the goroutine that connects one dialEntry, started by Conn. It is bounded
// by DialTimeout and by Close.
func (cl *Client) dial(addr string, e *dialEntry) {
	ctx, cancel := context.WithTimeout(cl.h.ctx, cl.cfg.DialTimeout)
	nc, err := cl.cfg.Dialer.Dial(ctx, addr)
	cancel()
	var c *Conn
	if err == nil {
		c, err = cl.h.startConn(nc)
	}
	var orphan *Conn
	cl.mu.Lock()
	switch {
	case err != nil:
		e.err = fmt.Errorf("remoting: connect to %s: %w", addr, err)
		if cl.mu.conns[addr] == e {
			delete(cl.mu.conns, addr)
		}
	case cl.mu.conns[addr] != e: // CloseConn while dialling
		e.err = ErrConnClosed
		orphan = c
	default:
		e.conn = c
	}
	close(e.done)
	cl.mu.Unlock()
	if orphan != nil {
		orphan.shutdown()
	}
}

func (cl *Client) dropEntry(addr string, e *dialEntry) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.mu.conns[addr] == e {
		delete(cl.mu.conns, addr)
	}
}

// connClosed runs on a closing connection's reader goroutine.
func (cl *Client) connClosed(c *Conn) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for addr, e := range cl.mu.conns {
		if e.conn == c {
			delete(cl.mu.conns, addr)
			return
		}
	}
}

// Invoke sends req to addr and waits for the answer or ctx's end. It sets
// req.Opaque, so req must not be shared. A non-success response code is not an
// error here; use protocol.ResponseError. Errors: ErrClosed, connection errors,
// ErrConnClosed if the connection broke before the answer (the next call redials),
// ctx's error, or an encoding error.
func (cl *Client) Invoke(ctx context.Context, addr string, req *protocol.Command) (*protocol.Command, error) {
	c, err := cl.Conn(ctx, addr)
	if err != nil {
		return nil, err
	}
	return c.Invoke(ctx, req)
}

// InvokeAsync sends req to addr and returns once it is queued for writing (it may
// wait for the connection to be made); cb then gets the answer or the error
// (ErrConnClosed, ctx's error when ctx ends first). If InvokeAsync returns an
// error cb is never called; otherwise exactly once, on a goroutine of its own.
func (cl *Client) InvokeAsync(ctx context.Context, addr string, req *protocol.Command, cb func(*protocol.Command, error)) error {
	c, err := cl.Conn(ctx, addr)
	if err != nil {
		return err
	}
	return c.InvokeAsync(ctx, req, cb)
}

// InvokeOneway sends req to addr with the oneway bit set and does not wait for an
// answer; it returns once the frame is queued for writing.
func (cl *Client) InvokeOneway(ctx context.Context, addr string, req *protocol.Command) error {
	c, err := cl.Conn(ctx, addr)
	if err != nil {
		return err
	}
	return c.InvokeOneway(ctx, req)
}

// CloseConn closes the connection to addr, if any (pending calls on it fail with
// ErrConnClosed); the next call redials.
func (cl *Client) CloseConn(addr string) {
	cl.mu.Lock()
	e := cl.mu.conns[addr]
	delete(cl.mu.conns, addr)
	cl.mu.Unlock()
	if e == nil {
		return
	}
	select {
	case <-e.done:
		if e.conn != nil {
			e.conn.shutdown()
		}
	default: // still dialling: dial sees the entry gone and closes the conn
	}
}

// Close closes every connection (pending calls fail with ErrConnClosed), cancels
// dials in progress and the context processors run with, and waits for every
// goroutine the client started. Later calls return ErrClosed. It is idempotent.
func (cl *Client) Close() error {
	cl.mu.Lock()
	if cl.mu.closed {
		cl.mu.Unlock()
		return nil
	}
	cl.mu.closed = true
	cl.mu.Unlock()
	cl.h.stop(nil)
	return nil
}

// handle runs on a connection's reader goroutine for each request a server sends.
func (cl *Client) handle(c *Conn, req *protocol.Command, _ int64) {
	p := (*cl.procs.Load())[req.RequestCode()]
	if p == nil {
		cl.h.log.Warn("remoting: no processor for request from server; not answered", "peer", c.remote, "code", req.RequestCode())
		return
	}
	select {
	case cl.sem <- struct{}{}:
	default:
		if !req.IsOneway() {
			replyDirect(c, req, protocol.SystemBusy, "[OVERLOAD] client is processing too many server requests, try again later")
		}
		return
	}
	if !cl.h.goFunc("request", func() {
		defer func() { <-cl.sem }()
		cl.h.process(p, c, req)
	}) {
		<-cl.sem
	}
}
