package remoting

import (
	"context"
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
	// MaxInflightPerConn caps the requests of one connection that are queued or
	// running on a worker. Beyond it requests are answered SYSTEM_BUSY. Requests
	// whose processor returned (nil, nil) no longer count. Default 256.
	MaxInflightPerConn int
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
}

// DefaultServerConfig returns the defaults described on ServerConfig, listening on
// 0.0.0.0:9876.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{
		ListenAddr:         "0.0.0.0:9876",
		MaxFrameSize:       protocol.DefaultMaxFrameSize,
		MaxInflightPerConn: 256,
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
	}
	return nil
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
	cfg ServerConfig
	h   host
	// regs is replaced whole (copy on write) by Register, so the per-request
	// lookup takes no lock.
	regs atomic.Pointer[regTable]
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
	s := &Server{cfg: cfg, pools: map[*Pool]bool{}}
	s.regs.Store(&regTable{byCode: map[protocol.RequestCode]registration{}})
	s.h.init(log, "server", connConfig{
		maxFrameSize:     cfg.MaxFrameSize,
		frameReadTimeout: cfg.FrameReadTimeout,
		idleTimeout:      cfg.IdleTimeout,
		writeTimeout:     cfg.WriteTimeout,
		drainTimeout:     cfg.DrainTimeout,
	})
	s.h.handle = s.handle
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

// Close stops accepting, closes every connection (pending server-to-client calls
// fail with ErrConnClosed), cancels the context processors run with, waits for
// every goroutine the server started, and stops the pools no other running server
// uses. It is idempotent and safe before Start.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	running := s.running
	ln := s.ln
	s.mu.Unlock()

	var err error
	if ln != nil {
		err = ln.Close()
	}
	s.h.stop()
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

// handle runs on a connection's reader goroutine for every request.
func (s *Server) handle(c *Conn, req *protocol.Command) {
	reg, ok := s.lookup(req.RequestCode())
	if !ok {
		// Answered even when oneway, as the Java server does.
		replyDirect(c, req, protocol.RequestCodeNotSupported, " request type "+strconv.Itoa(int(req.Code))+" not supported")
		return
	}
	if n := c.inflight.Add(1); int(n) > s.cfg.MaxInflightPerConn {
		c.inflight.Add(-1)
		s.busy(c, req, "[OVERLOAD] too many requests in flight on this connection (max "+strconv.Itoa(s.cfg.MaxInflightPerConn)+"), try again later")
		return
	}
	var queued time.Time
	if reg.pool.maxWait != nil {
		queued = time.Now()
	}
	ok = reg.pool.trySubmit(func() {
		defer c.inflight.Add(-1)
		if reg.pool.maxWait != nil {
			if waited := time.Since(queued); waited > reg.pool.maxWait() {
				s.busy(c, req, "[TIMEOUT_CLEAN_QUEUE]broker busy, start flow control for a while, period in queue: "+
					strconv.FormatInt(waited.Milliseconds(), 10)+"ms, size of queue: "+strconv.Itoa(reg.pool.Queued()))
				return
			}
		}
		s.h.process(reg.p, c, req)
	})
	if !ok {
		c.inflight.Add(-1)
		s.busy(c, req, "[OVERLOAD] request queue of pool "+reg.pool.name+" is full, try again later")
	}
}

func (s *Server) busy(c *Conn, req *protocol.Command, remark string) {
	if req.IsOneway() {
		s.h.log.Debug("remoting: dropped oneway request: busy", "peer", c.remote, "code", req.RequestCode())
		return
	}
	replyDirect(c, req, protocol.SystemBusy, remark)
}
