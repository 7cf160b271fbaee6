package remoting

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/pkg/protocol"
)

// ServerConfig configures a Server. The zero value of a field means its default
// only where the field says so; start from DefaultServerConfig.
type ServerConfig struct {
	// ListenAddr is the TCP address to bind, e.g. "0.0.0.0:9876" or "127.0.0.1:0".
	ListenAddr string
	// MaxFrameSize caps a frame's length field, in bytes, in both directions.
	// Default 16 MiB (protocol.DefaultMaxFrameSize). Larger frames close the
	// connection (incoming) or fail to send (outgoing).
	MaxFrameSize int
	// MaxInflightPerConn caps the requests of one connection that are queued,
	// waiting (see MemoryBudget) or running on a worker. Beyond it requests are
	// answered SYSTEM_BUSY "[OVERLOAD] too many requests in flight on this
	// connection" and a warning names the peer (at most one line per 10s).
	// Requests whose processor returned (nil, nil) no longer count. Default
	// 4096: above the 1,024 asynchronous sends Petrel's SDK keeps in flight per
	// broker (RocketMQ has no such cap); MemoryBudget bounds the memory whatever
	// the count. Broker and name server key: serverMaxInflightPerConnection.
	MaxInflightPerConn int
	// MemoryBudget caps, in bytes, the memory all connections of the server hold
	// for frames being read, requests queued or running, and answers waiting to
	// be written (see Budget for how). When it is used up, connections stop
	// being read until memory comes back; the server logs it (at most one line
	// per 10s). 0 means DefaultMemoryBudget(): a quarter of the memory
	// available, at most 1 GiB and at least 64 MiB. It must be at least twice
	// MaxFrameSize. Ignored when Budget is set. Broker and name server key:
	// serverMemoryBudgetBytes.
	MemoryBudget int64
	// Budget, if not nil, is the budget the server draws on instead of one of
	// MemoryBudget bytes of its own: servers given the same Budget (a broker's
	// client and VIP ports) share it. Default nil.
	Budget *Budget
	// WriteHighWater pauses a connection whose answers wait to be written: while
	// its write queue holds this many bytes, no more requests are read from it
	// and its requests already queued do not start, until the peer reads.
	// Default 4 MiB; 0 means the default. A Reply that would take a queue past
	// max(64 MiB, 16 × WriteHighWater, 2 × MaxFrameSize) closes the
	// connection instead (the peer is not reading at all).
	WriteHighWater int64
	// FrameReadTimeout is how long a frame may take to arrive once its first byte
	// has. Default 30s; 0 means no limit.
	FrameReadTimeout time.Duration
	// IdleTimeout closes a connection that sends nothing for this long. Default
	// 120s (RocketMQ's serverChannelMaxIdleTimeSeconds); 0 means never.
	IdleTimeout time.Duration
	// WriteTimeout closes a connection when writing queued frames stalls for this
	// long (a peer that does not read). Default 30s; 0 means no limit.
	WriteTimeout time.Duration
	// DrainTimeout bounds how long Close waits for answers already queued to be
	// written before it closes the connections. Default 3s; 0 closes at once.
	DrainTimeout time.Duration
	// Listener, if set, is served instead of binding ListenAddr (in-memory
	// networks, inherited sockets). The Server closes it on Close.
	Listener net.Listener
	// TLSMode is tls.server.mode: TLSDisabled (default), TLSPermissive (TLS
	// and plain on the port) or TLSEnforcing (TLS only). Any mode but
	// disabled needs TLS.
	TLSMode TLSMode
	// MaxConnsPerAddr caps the connections one remote IP address may hold
	// open; beyond it new ones are closed at once, with a warning (at most
	// one line per 10s). 0 (default) means no cap. Broker and name server
	// key: serverMaxConnectionsPerAddress. Clients behind one NAT address
	// share the cap.
	MaxConnsPerAddr int
	// MaxRequestsPerSecondPerAddr caps the requests per second of one remote
	// IP address (a token bucket holding one second's worth); beyond it
	// requests are answered SYSTEM_BUSY "[RATE_LIMIT] ...". 0 (default)
	// means no cap. Key: serverMaxRequestsPerSecondPerAddress.
	MaxRequestsPerSecondPerAddr int
	// TLS is the server's TLS configuration (see ServerTLSConfig, which
	// reloads changed certificate files). Default nil.
	TLS *tls.Config
}

// Defaults of ServerConfig fields.
const (
	DefaultMaxInflightPerConn = 4096
	DefaultWriteHighWater     = 4 << 20
)

// DefaultServerConfig returns the defaults described on ServerConfig, listening on
// 0.0.0.0:9876.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{
		ListenAddr:         "0.0.0.0:9876",
		MaxFrameSize:       protocol.DefaultMaxFrameSize,
		MaxInflightPerConn: DefaultMaxInflightPerConn,
		MemoryBudget:       DefaultMemoryBudget(),
		WriteHighWater:     DefaultWriteHighWater,
		FrameReadTimeout:   30 * time.Second,
		IdleTimeout:        120 * time.Second,
		WriteTimeout:       30 * time.Second,
		DrainTimeout:       3 * time.Second,
	}
}

// Validate reports the first field that is out of range.
func (c ServerConfig) Validate() error {
	switch {
	case c.ListenAddr == "" && c.Listener == nil:
		return errors.New("remoting: ServerConfig.ListenAddr is empty")
	case c.MaxFrameSize < 1024 || c.MaxFrameSize > 1<<30:
		return fmt.Errorf("remoting: ServerConfig.MaxFrameSize %d is outside [1 KiB, 1 GiB]", c.MaxFrameSize)
	case c.MaxInflightPerConn < 1:
		return fmt.Errorf("remoting: ServerConfig.MaxInflightPerConn %d must be at least 1", c.MaxInflightPerConn)
	case c.FrameReadTimeout < 0:
		return fmt.Errorf("remoting: ServerConfig.FrameReadTimeout %s is negative", c.FrameReadTimeout)
	case c.IdleTimeout < 0:
		return fmt.Errorf("remoting: ServerConfig.IdleTimeout %s is negative", c.IdleTimeout)
	case c.WriteTimeout < 0:
		return fmt.Errorf("remoting: ServerConfig.WriteTimeout %s is negative", c.WriteTimeout)
	case c.DrainTimeout < 0:
		return fmt.Errorf("remoting: ServerConfig.DrainTimeout %s is negative", c.DrainTimeout)
	case c.MemoryBudget < 0:
		return fmt.Errorf("remoting: ServerConfig.MemoryBudget %d is negative", c.MemoryBudget)
	case c.WriteHighWater < 0:
		return fmt.Errorf("remoting: ServerConfig.WriteHighWater %d is negative", c.WriteHighWater)
	case c.MaxConnsPerAddr < 0:
		return fmt.Errorf("remoting: ServerConfig.MaxConnsPerAddr %d is negative", c.MaxConnsPerAddr)
	case c.MaxRequestsPerSecondPerAddr < 0:
		return fmt.Errorf("remoting: ServerConfig.MaxRequestsPerSecondPerAddr %d is negative", c.MaxRequestsPerSecondPerAddr)
	case c.TLSMode != TLSDisabled && c.TLS == nil:
		return fmt.Errorf("remoting: ServerConfig.TLSMode %s needs a TLS configuration (tls.server.certPath and tls.server.keyPath)", c.TLSMode)
	}
	if b := c.budgetLimit(); b < 2*int64(c.MaxFrameSize) {
		return fmt.Errorf("remoting: ServerConfig.MemoryBudget %d is less than twice MaxFrameSize (%d)", b, c.MaxFrameSize)
	}
	return nil
}

// budgetLimit returns the size of the budget the server will use.
func (c ServerConfig) budgetLimit() int64 {
	switch {
	case c.Budget != nil:
		return c.Budget.Limit()
	case c.MemoryBudget == 0:
		return DefaultMemoryBudget()
	}
	return c.MemoryBudget
}

type registration struct {
	p    Processor
	pool *Pool
}

type regTable struct {
	byCode map[protocol.RequestCode]registration
	def    *registration
}

// Server accepts connections and dispatches their requests to the Processor
// registered for the request code, on that processor's Pool.
//
// Goroutines: one accept loop, a reader and a writer per connection (all tracked and
// waited for by Close), plus the workers of the registered pools (started by Start,
// stopped by Close). All methods are safe for concurrent use.
type Server struct {
	cfg    ServerConfig
	h      host
	budget *Budget
	// closing is set when Close begins: requests read or taken by a worker from
	// then on are answered SERVICE_NOT_AVAILABLE.
	closing atomic.Bool
	// accepted counts requests queued, parked or running on a worker, so Close
	// can wait for them to be answered.
	accepted atomic.Int64
	// regs is replaced whole (copy on write) by Register, so the per-request
	// lookup takes no lock.
	regs atomic.Pointer[regTable]
	// limits caps connections and requests per address; nil when off.
	limits *addrLimiter
	// icpt is the Interceptor set by SetInterceptor, or nil.
	icpt atomic.Pointer[Interceptor]
	mu   sync.Mutex // guards everything below
	ln   net.Listener
	// pools holds each distinct registered pool once; acquired while running.
	pools   map[*Pool]bool
	running bool
	closed  bool
}

// NewServer validates cfg and returns a server that is not yet listening. log may
// be nil (discard).
func NewServer(cfg ServerConfig, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.WriteHighWater == 0 {
		cfg.WriteHighWater = DefaultWriteHighWater
	}
	budget := cfg.Budget
	if budget == nil {
		budget = NewBudget(cfg.budgetLimit())
	}
	s := &Server{cfg: cfg, pools: map[*Pool]bool{}, budget: budget,
		limits: newAddrLimiter(cfg.MaxConnsPerAddr, cfg.MaxRequestsPerSecondPerAddr)}
	s.regs.Store(&regTable{byCode: map[protocol.RequestCode]registration{}})
	s.h.init(log, "server", connConfig{
		maxFrameSize:     cfg.MaxFrameSize,
		frameReadTimeout: cfg.FrameReadTimeout,
		idleTimeout:      cfg.IdleTimeout,
		writeTimeout:     cfg.WriteTimeout,
		drainTimeout:     cfg.DrainTimeout,
		budget:           budget,
		highWater:        cfg.WriteHighWater,
		maxQueued:        max(16*cfg.WriteHighWater, 2*int64(cfg.MaxFrameSize)),
	})
	s.h.handle = s.handle
	if s.limits != nil {
		s.h.onConnClosed = func(c *Conn) { s.limits.release(c.ip) }
	}
	return s, nil
}

// Register makes p handle requests with the given code on pool. A later Register
// for the same code replaces the earlier one. It may be called before or after
// Start.
func (s *Server) Register(code protocol.RequestCode, p Processor, pool *Pool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addPoolLocked(pool)
	old := s.regs.Load()
	t := &regTable{byCode: maps.Clone(old.byCode), def: old.def}
	t.byCode[code] = registration{p, pool}
	s.regs.Store(t)
}

// RegisterDefault makes p handle every request code that has no registration.
// Without it such requests are answered REQUEST_CODE_NOT_SUPPORTED.
func (s *Server) RegisterDefault(p Processor, pool *Pool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addPoolLocked(pool)
	old := s.regs.Load()
	s.regs.Store(&regTable{byCode: old.byCode, def: &registration{p, pool}})
}

func (s *Server) addPoolLocked(pool *Pool) {
	if pool == nil {
		panic("remoting: Register with a nil Pool")
	}
	if s.pools[pool] {
		return
	}
	s.pools[pool] = true
	if s.running {
		pool.acquire()
	}
}

// SetInterceptor makes i look at every request before its processor runs
// (see Interceptor); nil removes it. It may be called before or after Start
// and applies to requests that reach a worker from then on.
func (s *Server) SetInterceptor(i Interceptor) {
	if i == nil {
		s.icpt.Store(nil)
		return
	}
	s.icpt.Store(&i)
}

// SetTLS sets the TLS mode and configuration (see ServerConfig.TLSMode) of
// a server not yet started, for owners that load certificates in their own
// Start. It fails once the server started, or if mode needs a configuration
// and cfg is nil.
func (s *Server) SetTLS(mode TLSMode, cfg *tls.Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running || s.closed {
		return errors.New("remoting: SetTLS after Start")
	}
	if mode != TLSDisabled && cfg == nil {
		return fmt.Errorf("remoting: TLS mode %s needs a TLS configuration", mode)
	}
	s.cfg.TLSMode, s.cfg.TLS = mode, cfg
	return nil
}

// AddConnListener adds a listener for connections opening and closing. Add
// listeners before Start to hear about every connection.
func (s *Server) AddConnListener(l ConnListener) { s.h.addListener(l) }

// Start binds ListenAddr (or takes cfg.Listener), starts the registered pools and
// the accept loop, and returns once the server is listening. ctx bounds the bind
// only; Close stops the server. It fails if the bind fails, if called twice, or
// after Close (ErrClosed).
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.running {
		return errors.New("remoting: server already started")
	}
	ln := s.cfg.Listener
	if ln == nil {
		var lc net.ListenConfig
		var err error
		if ln, err = lc.Listen(ctx, "tcp", s.cfg.ListenAddr); err != nil {
			return fmt.Errorf("remoting: listen %s: %w", s.cfg.ListenAddr, err)
		}
	}
	if s.cfg.TLSMode != TLSDisabled {
		ln = &sniffListener{Listener: ln, cfg: s.cfg.TLS, enforce: s.cfg.TLSMode == TLSEnforcing,
			refused: func(remote string) {
				s.h.rlog.warn("remoting: plain connection refused: tls.server.mode=enforcing", "peer", remote)
			}}
	}
	s.ln = ln
	s.running = true
	for pool := range s.pools {
		pool.acquire()
	}
	if !s.h.goFunc("accept", s.acceptLoop) {
		// Unreachable: Close marks the server closed under mu before stopping h.
		_ = ln.Close()
		return ErrClosed
	}
	s.h.log.Info("remoting: server listening", "addr", ln.Addr().String(),
		"max_frame_size", s.cfg.MaxFrameSize, "max_inflight_per_conn", s.cfg.MaxInflightPerConn,
		"tls_mode", s.cfg.TLSMode.String(), "memory_budget", s.budget.Limit(), "write_high_water", s.cfg.WriteHighWater,
		"frame_read_timeout", s.cfg.FrameReadTimeout, "idle_timeout", s.cfg.IdleTimeout, "write_timeout", s.cfg.WriteTimeout)
	return nil
}

// Addr returns the bound address, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// ConnCount returns the number of open connections.
func (s *Server) ConnCount() int { return s.h.connCount() }

// Budget returns the memory budget the server draws on.
func (s *Server) Budget() *Budget { return s.budget }

// Close shuts the server down in this order, and is idempotent and safe before
// Start:
//
//  1. Stop accepting. Requests read from now on are answered
//     SERVICE_NOT_AVAILABLE (14) with the remark "[SHUTDOWN] server is shutting
//     down", and so are requests still queued for a worker or waiting for
//     memory when their turn comes (none is dropped unanswered).
//  2. Cancel the context processors run with; a processor that then fails is
//     answered 14 too, with its error in the remark.
//  3. Wait until every request accepted before Close has been answered, then
//     until every queued answer has been written, both within DrainTimeout.
//  4. Close every connection (pending server-to-client calls fail with
//     ErrConnClosed), wait for every goroutine the server started, and stop the
//     pools no other running server uses.
//
// Requests whose processor returned (nil, nil) are the processor's to answer
// (before Close, as the broker does for held pulls and sends).
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.closing.Store(true)
	running := s.running
	ln := s.ln
	s.mu.Unlock()

	var err error
	if ln != nil {
		err = ln.Close()
	}
	s.h.stop(s.settle)
	if running {
		s.mu.Lock()
		pools := make([]*Pool, 0, len(s.pools))
		for p := range s.pools {
			pools = append(pools, p)
		}
		s.running = false
		s.mu.Unlock()
		for _, p := range pools {
			p.release()
		}
		s.h.log.Info("remoting: server closed", "addr", ln.Addr().String())
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// acceptLoop is the accept goroutine, started by Start and stopped by Close
// closing the listener. Accept errors that are not the listener closing (for
// example running out of file descriptors) are retried with a backoff of up to 1s.
func (s *Server) acceptLoop() {
	var backoff time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.h.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.h.log.Warn("remoting: accept failed", "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.h.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		if s.limits != nil && !s.limits.admit(peerIP(nc)) {
			s.h.rlog.warn("remoting: connection refused: too many connections from one address",
				"peer", nc.RemoteAddr().String(), "max", s.cfg.MaxConnsPerAddr)
			_ = nc.Close()
			continue
		}
		if _, err := s.h.startConn(nc); err != nil {
			return
		}
	}
}

func (s *Server) lookup(code protocol.RequestCode) (registration, bool) {
	t := s.regs.Load()
	if r, ok := t.byCode[code]; ok {
		return r, true
	}
	if t.def != nil {
		return *t.def, true
	}
	return registration{}, false
}

// settle runs in Close after the processors' context is cancelled: it answers
// the parked requests and waits until every accepted request has been answered,
// or deadline.
func (s *Server) settle(conns []*Conn, deadline time.Time) {
	for _, c := range conns {
		for _, t := range c.takeParked(false) {
			t.answerShutdown()
		}
	}
	for s.accepted.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// handle runs on a connection's reader goroutine for every request, with the
// bytes reserved for it from the budget.
func (s *Server) handle(c *Conn, req *protocol.Command, charge int64) {
	// Counted before closing is checked: Close sets closing, then waits for
	// accepted to reach 0, so it either waits for this request or this request
	// sees closing.
	s.accepted.Add(1)
	refuse := func(code protocol.ResponseCode, remark string) {
		s.accepted.Add(-1)
		c.release(charge)
		if code == protocol.SystemBusy {
			s.busy(c, req, remark)
		} else if code == protocol.RequestCodeNotSupported || !req.IsOneway() {
			// Unsupported codes are answered even when oneway, as the Java
			// server does.
			replyDirect(c, req, code, remark)
		}
	}
	if s.closing.Load() {
		refuse(protocol.ServiceNotAvailable, s.h.shutdownRemark())
		return
	}
	if s.limits != nil && !s.limits.allow(c.ip, time.Now()) {
		s.h.rlog.warn("remoting: request refused: request rate of one address over its cap",
			"peer", c.remote, "code", req.RequestCode(), "max_per_second", s.cfg.MaxRequestsPerSecondPerAddr)
		refuse(protocol.SystemBusy, "[RATE_LIMIT] more than "+strconv.Itoa(s.cfg.MaxRequestsPerSecondPerAddr)+
			" requests per second from this address, try again later")
		return
	}
	reg, ok := s.lookup(req.RequestCode())
	if !ok {
		refuse(protocol.RequestCodeNotSupported, " request type "+strconv.Itoa(int(req.Code))+" not supported")
		return
	}
	if n := c.inflight.Add(1); int(n) > s.cfg.MaxInflightPerConn {
		c.inflight.Add(-1)
		s.h.rlog.warn("remoting: request refused: too many requests in flight on one connection",
			"peer", c.remote, "conn", c.id, "code", req.RequestCode(), "max", s.cfg.MaxInflightPerConn)
		refuse(protocol.SystemBusy, "[OVERLOAD] too many requests in flight on this connection (max "+
			strconv.Itoa(s.cfg.MaxInflightPerConn)+"), try again later")
		return
	}
	t := &task{s: s, c: c, req: req, reg: reg, charge: charge}
	if reg.pool.maxWait != nil {
		t.queued = time.Now()
	}
	if !reg.pool.trySubmit(t) {
		t.finish()
		s.poolFull(c, req, reg.pool, replyDirect)
	}
}

func (s *Server) busy(c *Conn, req *protocol.Command, remark string) {
	if req.IsOneway() {
		s.h.log.Debug("remoting: dropped oneway request: busy", "peer", c.remote, "code", req.RequestCode())
		return
	}
	replyDirect(c, req, protocol.SystemBusy, remark)
}

// poolFull refuses req because its pool's queue is full, answering with reply.
func (s *Server) poolFull(c *Conn, req *protocol.Command, p *Pool, reply func(*Conn, *protocol.Command, protocol.ResponseCode, string)) {
	s.h.rlog.warn("remoting: request refused: pool queue full", "peer", c.remote, "conn", c.id,
		"code", req.RequestCode(), "pool", p.name, "queue", p.queueSize)
	if req.IsOneway() {
		return
	}
	reply(c, req, protocol.SystemBusy, "[OVERLOAD] request queue of pool "+p.name+" is full, try again later")
}

// task is one accepted request: queued on its pool, parked on its connection, or
// running. It holds one in-flight slot of its connection, its frame's budget
// reservation and one count of Server.accepted, all given back by finish.
type task struct {
	s      *Server
	c      *Conn
	req    *protocol.Command
	reg    registration
	charge int64
	queued time.Time // when it was first queued, for Pool.SetMaxQueueWait
}

// run is what a pool worker does with the task.
func (t *task) run() {
	switch {
	case t.c.isClosed():
		t.finish()
	case t.s.closing.Load():
		t.answerShutdown()
	case t.expired():
		t.finish()
	case t.c.park(t):
		// resume submits it again, or Close answers it
	default:
		p := t.reg.p
		if i := t.s.icpt.Load(); i != nil {
			p = intercepted{*i, p}
		}
		t.s.h.process(p, t.c, t.req)
		t.finish()
	}
}

// expired answers SYSTEM_BUSY "[TIMEOUT_CLEAN_QUEUE]" when the task waited
// longer than its pool's max queue wait (RocketMQ's send-queue cleaning) and
// reports whether it did; the caller then finishes the task.
func (t *task) expired() bool {
	p := t.reg.pool
	if p.maxWait == nil {
		return false
	}
	waited := time.Since(t.queued)
	if waited <= p.maxWait() {
		return false
	}
	t.s.h.rlog.warn("remoting: request refused: it waited too long in its pool's queue", "peer", t.c.remote,
		"code", t.req.RequestCode(), "pool", p.name, "waited", waited)
	if !t.req.IsOneway() {
		replyNoWait(t.c, t.req, protocol.SystemBusy, "[TIMEOUT_CLEAN_QUEUE]broker busy, start flow control for a while, period in queue: "+
			strconv.FormatInt(waited.Milliseconds(), 10)+"ms, size of queue: "+strconv.Itoa(p.Queued()))
	}
	return true
}

// resubmit queues a parked task again, without blocking (it runs on writer and
// budget-release paths).
func (t *task) resubmit() {
	if t.s.closing.Load() {
		t.answerShutdown()
		return
	}
	if !t.reg.pool.trySubmit(t) {
		t.finish()
		t.s.poolFull(t.c, t.req, t.reg.pool, replyNoWait)
	}
}

// answerShutdown answers SERVICE_NOT_AVAILABLE (unless oneway) and finishes.
func (t *task) answerShutdown() {
	if !t.req.IsOneway() {
		replyNoWait(t.c, t.req, protocol.ServiceNotAvailable, t.s.h.shutdownRemark())
	}
	t.finish()
}

func (t *task) finish() {
	t.c.inflight.Add(-1)
	t.c.release(t.charge)
	t.s.accepted.Add(-1)
}

// replyNoWait answers req with Reply, which never blocks.
func replyNoWait(c *Conn, req *protocol.Command, code protocol.ResponseCode, remark string) {
	_ = c.Reply(protocol.NewResponse(req, code, remark))
}
