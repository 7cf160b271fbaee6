package client

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// Lifecycle errors.
var (
	// ErrClosed is returned by every call after Close.
	ErrClosed = errors.New("client: closed")
	// ErrNotStarted is returned by calls that need Start first.
	ErrNotStarted = errors.New("client: not started")
	// ErrAlreadyStarted is returned by a second Start.
	ErrAlreadyStarted = errors.New("client: already started")
)

type state int

const (
	stateNew state = iota
	stateStarted
	stateClosed
)

// Client is the shared SDK core under a producer, a consumer or the admin
// client: one remoting connection per broker and name server address, the
// client id, route discovery with a cache, heartbeats, hooks, and handlers for
// requests brokers send to the client.
//
// New builds it without I/O; Start launches its two loops (route refresh and
// heartbeat); Close stops them, closes every connection and waits for every
// goroutine. Calls such as Route and Invoke work between New and Close. All
// methods are safe for concurrent use.
type Client struct {
	cfg    config
	id     string
	ip     netip.Addr
	log    *slog.Logger
	rc     *remoting.Client
	src    RouteSource
	ns     *nameServers
	routes routeCache
	hb     heartbeats
	uniq   *message.UniqIDGenerator
	tr     *tracer // nil unless WithTrace

	wake chan struct{} // heartbeat wake-up, capacity 1
	wg   sync.WaitGroup

	mu struct {
		sync.Mutex
		state  state
		life   context.Context // lifetime of a started client
		cancel context.CancelFunc
	}
}

// New validates the options and returns a client. It does no I/O.
func New(opts ...Option) (*Client, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("client: nil option")
		}
		o.apply(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, log: cfg.log, wake: make(chan struct{}, 1)}
	c.ip = cfg.clientIP
	if !c.ip.IsValid() {
		c.ip = localIPv4()
	}
	c.id = c.ip.String() + "@" + defaultInstanceName()
	if cfg.instanceName != "" {
		c.id = c.ip.String() + "@" + cfg.instanceName
	}
	var salt [4]byte
	_, _ = rand.Read(salt[:])
	c.uniq = message.NewUniqIDGenerator(c.ip, os.Getpid(), int32(binary.BigEndian.Uint32(salt[:])), cfg.clk.Now)
	rcfg := remoting.ClientConfig{DialTimeout: cfg.dialTimeout, MaxInflightPerConn: cfg.maxInflightPerConn, TLS: cfg.tls}
	if !cfg.credentials.Empty() {
		rcfg.Sign = cfg.credentials.Sign
	}
	c.rc = remoting.NewClient(rcfg, cfg.log)
	c.ns = newNameServers(c, cfg.nameServers, cfg.randIntN)
	c.src = cfg.routeSource
	if c.src == nil {
		c.src = c.ns
	}
	c.routes.init(c)
	c.hb.init()
	if cfg.traceTopic != "" {
		c.tr = newTracer(c, cfg.traceTopic)
	}
	return c, nil
}

// instances numbers the clients of this process, so that each gets a client
// id of its own.
var instances atomic.Int64

// defaultInstanceName returns "<pid>#<n>", n counting the clients made in
// this process from 1. RocketMQ's clients use "<pid>#<nanotime>" for the
// same purpose: two consumers of one group in one process must not share a
// client id, or the rebalance gives each of them every queue.
func defaultInstanceName() string {
	return strconv.Itoa(os.Getpid()) + "#" + strconv.FormatInt(instances.Add(1), 10)
}

// ID returns the client id sent in heartbeats and used by brokers to find this
// client: "<ip>@<pid>#<n>" where n numbers the clients of the process (so
// two clients of one process never share an id), or "<ip>@<instance name>"
// with InstanceName. It is fixed when the client is made.
func (c *Client) ID() string { return c.id }

// IP returns the address used in the client id and message ids.
func (c *Client) IP() netip.Addr { return c.ip }

// Namespace returns the configured namespace, or "".
func (c *Client) Namespace() string { return c.cfg.namespace }

// Logger returns the configured logger.
func (c *Client) Logger() *slog.Logger { return c.log }

// NewUniqID returns a new message id for the UNIQ_KEY property.
func (c *Client) NewUniqID() string { return c.uniq.Next() }

// Now returns the client's clock reading.
func (c *Client) Now() time.Time { return c.cfg.clk.Now() }

// Clock returns the client's clock (the real one unless a test of this package
// replaced it), for the timers of the producers and consumers built on it.
func (c *Client) Clock() clock.Clock { return c.cfg.clk }

// CallTimeout returns the timeout applied to calls whose context has none.
func (c *Client) CallTimeout() time.Duration { return c.cfg.callTimeout }

// Start launches the route-refresh and heartbeat loops. ctx bounds only the
// start itself. It fails with ErrAlreadyStarted or ErrClosed.
func (c *Client) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.mu.state {
	case stateStarted:
		return ErrAlreadyStarted
	case stateClosed:
		return ErrClosed
	}
	c.mu.state = stateStarted
	life, cancel := context.WithCancel(context.Background())
	c.mu.life, c.mu.cancel = life, cancel
	c.goFuncLocked("route-refresh", func() { c.routes.refreshLoop(life) })
	c.goFuncLocked("heartbeat", func() { c.heartbeatLoop(life) })
	if c.tr != nil {
		c.tr.startLocked()
	}
	return nil
}

// Started reports whether Start succeeded and Close has not been called.
func (c *Client) Started() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.state == stateStarted
}

// Closed reports whether Close has been called.
func (c *Client) Closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.state == stateClosed
}

// Go runs f on a goroutine owned by the client, labelled for pprof; Close waits
// for it. f must return once ctx (the client's lifetime) ends. It returns
// false, without running f, when the client is not started.
func (c *Client) Go(name string, f func(ctx context.Context)) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.state != stateStarted {
		return false
	}
	life := c.mu.life
	c.goFuncLocked(name, func() { f(life) })
	return true
}

func (c *Client) goFuncLocked(name string, f func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		pprof.Do(context.Background(), pprof.Labels("petrel-client", name), func(context.Context) { f() })
	}()
}

// Close stops the loops, closes every connection (calls in flight fail),
// waits for every goroutine the client started and makes later calls fail with
// ErrClosed. With WithTrace it first sends the trace records still queued
// (within CallTimeout). It is idempotent and safe before Start.
func (c *Client) Close() error {
	if c.tr != nil {
		c.tr.shutdown()
	}
	c.mu.Lock()
	if c.mu.state == stateClosed {
		c.mu.Unlock()
		return nil
	}
	c.mu.state = stateClosed
	cancel := c.mu.cancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	err := c.rc.Close()
	c.wg.Wait()
	return err
}

func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.cfg.callTimeout)
}

func (c *Client) callDone(addr string, code protocol.RequestCode, start time.Time, resp *protocol.Command, err error) {
	if len(c.cfg.hooks) == 0 {
		return
	}
	ev := CallEvent{Addr: addr, Code: code, Latency: c.cfg.clk.Now().Sub(start), RespCode: -1, Err: err}
	if resp != nil {
		ev.RespCode = resp.ResponseCode()
	}
	EachHook(c, func(h HookCallDone) { h.OnCallDone(ev) })
}

func (c *Client) mapErr(err error) error {
	if errors.Is(err, remoting.ErrClosed) {
		return ErrClosed
	}
	return err
}

// Invoke sends req to addr and waits for the answer. A non-success response
// code is not an error here (see Call). If ctx has no deadline, CallTimeout
// applies. req must not be reused. Errors: ErrClosed, connection errors, ctx's
// error.
func (c *Client) Invoke(ctx context.Context, addr string, req *protocol.Command) (*protocol.Command, error) {
	if c.Closed() {
		return nil, ErrClosed
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	start := c.cfg.clk.Now()
	resp, err := c.rc.Invoke(ctx, addr, req)
	c.callDone(addr, req.RequestCode(), start, resp, err)
	return resp, c.mapErr(err)
}

// Call is Invoke that also turns a non-success response into a
// *protocol.Error (match it with errors.Is(err, protocol.ErrXxx)).
func (c *Client) Call(ctx context.Context, addr string, req *protocol.Command) (*protocol.Command, error) {
	resp, err := c.Invoke(ctx, addr, req)
	if err != nil {
		return nil, err
	}
	if err := protocol.ResponseError(resp); err != nil {
		return resp, err
	}
	return resp, nil
}

// InvokeAsync sends req and returns once it is queued; cb then gets the answer
// or the error, exactly once, on a goroutine the client owns (Close waits for
// it). If InvokeAsync returns an error, cb is never called. The caller bounds
// the call with ctx.
func (c *Client) InvokeAsync(ctx context.Context, addr string, req *protocol.Command, cb func(*protocol.Command, error)) error {
	if c.Closed() {
		return ErrClosed
	}
	start := c.cfg.clk.Now()
	code := req.RequestCode()
	err := c.rc.InvokeAsync(ctx, addr, req, func(resp *protocol.Command, err error) {
		c.callDone(addr, code, start, resp, err)
		cb(resp, c.mapErr(err))
	})
	if err != nil {
		c.callDone(addr, code, start, nil, err)
	}
	return c.mapErr(err)
}

// InvokeOneway sends req with the oneway bit set and does not wait for an
// answer; it returns once the frame is queued.
func (c *Client) InvokeOneway(ctx context.Context, addr string, req *protocol.Command) error {
	if c.Closed() {
		return ErrClosed
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	start := c.cfg.clk.Now()
	err := c.rc.InvokeOneway(ctx, addr, req)
	c.callDone(addr, req.RequestCode(), start, nil, err)
	return c.mapErr(err)
}

// InvokeNameServer sends a request to the name servers, sticking to the one
// that last answered and moving to the next on transport errors. mk builds a
// fresh request per attempt.
func (c *Client) InvokeNameServer(ctx context.Context, mk func() *protocol.Command) (*protocol.Command, error) {
	return c.ns.invoke(ctx, mk)
}

// NameServers returns the configured name-server addresses. Do not modify.
func (c *Client) NameServers() []string { return c.ns.addrs }

// ServerRequest is a request a broker sent to this client on the connection
// the client opened (CHECK_TRANSACTION_STATE, PUSH_REPLY_MESSAGE_TO_CLIENT,
// NOTIFY_CONSUMER_IDS_CHANGED, ...).
type ServerRequest struct {
	Cmd  *protocol.Command
	conn *remoting.Conn
}

// Addr is the broker's address as seen on the connection.
func (r *ServerRequest) Addr() string { return r.conn.RemoteAddr() }

// SendOneway sends a oneway request back on the same connection (for example
// END_TRANSACTION after a check).
func (r *ServerRequest) SendOneway(ctx context.Context, cmd *protocol.Command) error {
	return r.conn.InvokeOneway(ctx, cmd)
}

// RequestHandler handles a request a broker sends. It returns the response, or
// nil to send none (oneway requests are never answered whatever it returns).
// It runs on its own goroutine, bounded by the client; ctx ends at Close.
type RequestHandler func(ctx context.Context, req *ServerRequest) *protocol.Command

// Handle registers h for requests with the given code from brokers, replacing
// any earlier handler. Requests without a handler are not answered.
func (c *Client) Handle(code protocol.RequestCode, h RequestHandler) {
	c.rc.Register(code, remoting.ProcessorFunc(func(ctx context.Context, conn *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
		return h(ctx, &ServerRequest{Cmd: req, conn: conn}), nil
	}))
}

// localIPv4 returns the first up, non-loopback IPv4 address, else 127.0.0.1.
func localIPv4() netip.Addr {
	ifs, err := net.Interfaces()
	if err == nil {
		for _, ifc := range ifs {
			if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
				continue
			}
			addrs, err := ifc.Addrs()
			if err != nil {
				continue
			}
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok {
					if ip, ok := netip.AddrFromSlice(n.IP); ok {
						ip = ip.Unmap()
						if ip.Is4() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() {
							return ip
						}
					}
				}
			}
		}
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

// String returns "client <id>", for logs.
func (c *Client) String() string { return fmt.Sprintf("client %s", c.id) }
