package namesrv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/pprof"
	"sync"

	"github.com/petrelmq/petrel/internal/acl"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("namesrv: closed")

// Worker pool of the request processors. Every name-server request is short and
// CPU-only (the KV writes aside), so one small pool serves all codes; RocketMQ's
// name server also defaults to 8 workers.
const (
	poolWorkers   = 8
	poolQueueSize = 1024
)

// Server is a running name server: the remoting server with a processor for every
// name-server request code, the liveness-scan goroutine, and the KV file.
//
// Lifecycle: New (no I/O) → Start (loads the KV file, listens, starts the scan) →
// Close. All methods are safe for concurrent use.
type Server struct {
	cfg Config
	log *slog.Logger
	clk clock.Clock
	svc *service
	rs  *remoting.Server
	acl *acl.Guard // nil unless aclEnable

	mu      sync.Mutex // guards started, closed, cancel
	started bool
	closed  bool
	cancel  context.CancelFunc
	// wg tracks the scan goroutine; it is only added to while started and not
	// closed, under mu.
	wg sync.WaitGroup
}

var _ remoting.ConnListener = (*Server)(nil)

// New validates cfg and builds a name server without touching the network or
// disk. log may be nil (discard); clk is usually clock.Real{}.
func New(cfg Config, log *slog.Logger, clk clock.Clock) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if clk == nil {
		return nil, errors.New("namesrv: nil clock")
	}
	rcfg := cfg.Remoting
	rcfg.ListenAddr = cfg.ListenAddr
	rs, err := remoting.NewServer(rcfg, log)
	if err != nil {
		return nil, fmt.Errorf("namesrv: %w", err)
	}
	s := &Server{
		cfg: cfg,
		log: log,
		clk: clk,
		svc: newService(cfg, newKVStore(cfg.FS, cfg.KVConfigPath), log, clk),
		rs:  rs,
	}
	pool := remoting.NewPool("namesrv", poolWorkers, poolQueueSize)
	p := remoting.ProcessorFunc(func(_ context.Context, c *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
		return s.svc.process(c.ID(), req), nil
	})
	for _, code := range handledCodes {
		rs.Register(code, p, pool)
	}
	rs.AddConnListener(s)
	return s, nil
}

// Start loads the KV file, starts listening and starts the liveness scan (first
// after ScanFirstDelay, then every ScanInterval). It returns once the server
// accepts connections. ctx bounds the start only; Close stops the server. On
// failure nothing keeps running; the caller still calls Close.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.started {
		return errors.New("namesrv: already started")
	}
	if err := s.svc.kv.load(); err != nil {
		return err
	}
	if s.cfg.TLS.ServerMode != "" {
		mode, tcfg, err := s.cfg.TLS.Server(func(err error) {
			s.log.Error("namesrv: TLS certificate reload failed; the previous certificate stays", "err", err)
		})
		if err == nil {
			err = s.rs.SetTLS(mode, tcfg)
		}
		if err != nil {
			return fmt.Errorf("namesrv: %w", err)
		}
	}
	if s.cfg.ACLEnable {
		g, err := acl.Open(acl.Config{Path: s.cfg.ACLPath(), AdminCodes: acl.NameServerAdminCodes, OnlyAdminCodes: true}, s.log)
		if err != nil {
			return fmt.Errorf("namesrv: aclEnable=true: %w", err)
		}
		if err := g.Start(ctx); err != nil {
			return fmt.Errorf("namesrv: %w", err)
		}
		s.acl = g
		s.rs.SetInterceptor(g.Intercept)
	}
	if err := s.rs.Start(ctx); err != nil {
		if s.acl != nil {
			_ = s.acl.Close()
		}
		return fmt.Errorf("namesrv: %w", err)
	}
	s.started = true
	lifetime, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		pprof.Do(lifetime, pprof.Labels("namesrv", "liveness-scan"), s.scanLoop)
	}()
	rc := s.svc.runtime()
	s.log.Info("namesrv: started", "addr", s.rs.Addr().String(), "kvConfigPath", s.cfg.KVConfigPath,
		"orderMessageEnable", rc.OrderMessageEnable, "brokerTimeout", rc.BrokerTimeout,
		"scanInterval", s.cfg.ScanInterval, "scanFirstDelay", s.cfg.ScanFirstDelay)
	return nil
}

// scanLoop is the liveness-scan goroutine. Start launches it; cancelling ctx
// (Close) stops it. It owns its timer and touches the route table only through
// service.scan.
func (s *Server) scanLoop(ctx context.Context) {
	t := s.clk.NewTimer(s.cfg.ScanFirstDelay)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			s.svc.scan()
			t.Reset(s.cfg.ScanInterval)
		}
	}
}

// Addr returns the listening address, or nil before Start.
func (s *Server) Addr() net.Addr { return s.rs.Addr() }

// Close stops listening, closes every connection, stops the scan and waits for
// every goroutine the server started. It is idempotent and safe before Start;
// later calls to Start return ErrClosed.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	started := s.started
	if s.cancel != nil {
		s.cancel()
	}
	s.mu.Unlock()

	err := s.rs.Close()
	s.wg.Wait()
	if s.acl != nil {
		err = errors.Join(err, s.acl.Close())
	}
	if started {
		s.log.Info("namesrv: closed")
	}
	return err
}

// OnConnect implements remoting.ConnListener; nothing happens until a broker
// registers.
func (s *Server) OnConnect(*remoting.Conn) {}

// OnClose implements remoting.ConnListener: the brokers registered on the closed
// connection are dropped at once instead of waiting for the scan.
func (s *Server) OnClose(c *remoting.Conn) { s.svc.connClosed(c.ID(), c.RemoteAddr()) }
