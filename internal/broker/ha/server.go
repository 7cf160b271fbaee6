package ha

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
)

// ErrClosed is returned by calls after Close.
var ErrClosed = errors.New("ha: closed")

// Server is a master's HA service: it accepts slaves on the HA port, streams
// the commit log to each (one reader and one writer goroutine per slave),
// tracks what each confirmed, and implements store.Replicator for
// SYNC_MASTER. Safe for concurrent use.
//
// Lock order: Server.mu is a leaf (the Tracker lives under it); it is never
// held across I/O or while a waiter's done runs.
type Server struct {
	cfg ServerConfig
	src LogSource
	log *slog.Logger
	clk clock.Clock

	mu struct {
		sync.Mutex
		tr      *Tracker
		conns   map[SlaveID]*slaveConn
		next    SlaveID
		timer   clock.Timer // expires waiters; armed for the oldest deadline
		timerAt time.Time
		started bool
		closed  bool
		q       quorum             // controller mode
		confirm message.PhysOffset // controller mode: last confirm offset (-1: none needed)
	}
	// confirmSig is closed (and replaced) when the confirm offset moves, so
	// writers send it to their slaves (controller mode).
	confirmSig atomic.Pointer[chan struct{}]
	notifyMu   sync.Mutex         // serialises publishConfirm
	published  message.PhysOffset // the confirm offset last published (under notifyMu)
	ln         net.Listener
	wg         sync.WaitGroup
	closeOnce  sync.Once
}

// slaveConn is one accepted HA connection. Its reader goroutine owns the
// read side and the tracker bookkeeping; its writer goroutine owns the write
// side. Either closes the connection (close), which stops the other.
type slaveConn struct {
	id        SlaveID
	brokerID  int64 // controller mode: the replica's id from its hello; -1 before
	nc        net.Conn
	addr      string
	start     chan message.PhysOffset // capacity 1: the first report's start, for the writer
	done      chan struct{}
	closeOnce sync.Once
}

func (c *slaveConn) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		_ = c.nc.Close()
	})
}

var _ store.Replicator = (*Server)(nil)

// NewServer builds a Server over a master's log. It does no I/O (Start binds).
// log may be nil (discard), clk nil (clock.Real).
func NewServer(cfg ServerConfig, src LogSource, log *slog.Logger, clk clock.Clock) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if src == nil {
		return nil, errors.New("ha: NewServer: nil LogSource")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if clk == nil {
		clk = clock.Real{}
	}
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg, src: src, log: log.With("component", "ha-master"), clk: clk}
	s.mu.tr = NewTracker(TrackerConfig{FallbehindMax: cfg.SlaveFallbehindMax, Timeout: cfg.SlaveTimeout,
		Quorum: cfg.Controller != nil})
	s.mu.conns = make(map[SlaveID]*slaveConn)
	s.mu.q = newQuorum(clk.Now())
	s.mu.confirm = -1
	s.published = -1
	sig := make(chan struct{})
	s.confirmSig.Store(&sig)
	return s, nil
}

// Start binds the HA address (unless a Listener was given) and accepts
// slaves until Close. ctx only supplies values (pprof labels).
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.mu.closed:
		return ErrClosed
	case s.mu.started:
		return nil
	}
	ln := s.cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.cfg.ListenAddr); err != nil {
			return fmt.Errorf("ha: listen %s: %w", s.cfg.ListenAddr, err)
		}
	}
	s.ln = ln
	s.mu.started = true
	s.goFunc(context.WithoutCancel(ctx), "ha-accept", s.acceptLoop)
	s.log.Info("HA service listening", "addr", ln.Addr().String(), "batch", s.cfg.TransferBatchSize,
		"fallbehind_max", s.cfg.SlaveFallbehindMax, "slave_timeout", s.cfg.SlaveTimeout)
	return nil
}

func (s *Server) goFunc(ctx context.Context, name string, fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		pprof.Do(ctx, pprof.Labels("loop", name), func(context.Context) { fn() })
	}()
}

// Addr is the bound HA address (nil before Start).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close stops accepting, closes every slave connection, waits for the
// goroutines, and completes every waiting put with PutFlushSlaveTimeout (the
// message is stored; no slave confirmed it). Idempotent; safe before Start.
// The broker stops puts first and may call WaitCaughtUp before.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.mu.closed = true
		conns := make([]*slaveConn, 0, len(s.mu.conns))
		for _, c := range s.mu.conns {
			conns = append(conns, c)
		}
		ln := s.ln
		s.mu.Unlock()
		if ln != nil {
			_ = ln.Close()
		}
		for _, c := range conns {
			c.close()
		}
		s.wg.Wait()
		s.mu.Lock()
		rel := s.mu.tr.Drain(store.PutFlushSlaveTimeout, nil)
		if s.mu.timer != nil {
			s.mu.timer.Stop()
		}
		s.mu.Unlock()
		s.release(rel)
	})
	return nil
}

func release(rel []Release) {
	for _, r := range rel {
		r.Done(r.Status)
	}
}

// release completes waiters; in controller mode a put decided outside the
// lease answers PutFenced, whatever the replicas did.
func (s *Server) release(rel []Release) {
	if len(rel) == 0 {
		return
	}
	if cm := s.cfg.Controller; cm != nil && cm.LeaseValid != nil && !cm.LeaseValid(s.clk.Now()) {
		for i := range rel {
			rel[i].Status = store.PutFenced
		}
	}
	release(rel)
}

// acceptLoop is the accept goroutine, started by Start and stopped by Close
// (closing the listener). It owns nothing but the listener's accept side.
func (s *Server) acceptLoop() {
	ctx := context.Background()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.mu.closed
			s.mu.Unlock()
			if closed {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.log.Error("HA accept failed", "err", err)
			time.Sleep(100 * time.Millisecond) // back off from a failing listener
			continue
		}
		addr := nc.RemoteAddr().String()
		s.mu.Lock()
		if s.mu.closed || len(s.mu.conns) >= s.cfg.MaxSlaves {
			closed := s.mu.closed
			s.mu.Unlock()
			if !closed {
				s.log.Warn("refusing HA connection: too many slaves", "peer", addr, "max", s.cfg.MaxSlaves)
			}
			_ = nc.Close()
			continue
		}
		s.mu.next++
		c := &slaveConn{id: s.mu.next, brokerID: -1, nc: nc, addr: addr, start: make(chan message.PhysOffset, 1), done: make(chan struct{})}
		s.mu.conns[c.id] = c
		s.mu.tr.Connect(c.id, addr, s.clk.Now())
		s.mu.Unlock()
		s.log.Info("slave connected", "peer", addr, "id", c.id)
		s.goFunc(ctx, "ha-slave-reader", func() { s.readLoop(c) })
		s.goFunc(ctx, "ha-slave-writer", func() { s.writeLoop(c) })
	}
}

// readLoop is a slave connection's reader goroutine: it reads 8-byte offset
// reports until the connection fails, is idle for HousekeepingInterval, or a
// report is refused; then it closes the connection and forgets the slave.
func (s *Server) readLoop(c *slaveConn) {
	defer func() {
		c.close()
		s.mu.Lock()
		delete(s.mu.conns, c.id)
		s.mu.tr.Disconnect(c.id)
		if c.brokerID >= 0 {
			if s.mu.q.conns[c.brokerID]--; s.mu.q.conns[c.brokerID] <= 0 {
				delete(s.mu.q.conns, c.brokerID)
			}
		}
		s.mu.Unlock()
	}()
	if s.cfg.Controller != nil && !s.handshake(c) {
		return
	}
	var b [ReportSize]byte
	first := true
	var rel []Release
	for {
		_ = c.nc.SetReadDeadline(time.Now().Add(s.cfg.HousekeepingInterval))
		if _, err := io.ReadFull(c.nc, b[:]); err != nil {
			select {
			case <-c.done: // closed by the writer or by Close
			default:
				var ne net.Error
				switch {
				case errors.As(err, &ne) && ne.Timeout():
					s.log.Warn("closing HA connection: no report from the slave", "peer", c.addr, "for", s.cfg.HousekeepingInterval)
				case errors.Is(err, io.EOF):
					s.log.Info("slave disconnected", "peer", c.addr)
				case errors.Is(err, io.ErrUnexpectedEOF):
					s.log.Warn("closing HA connection: partial offset report", "peer", c.addr)
				default:
					s.log.Info("slave connection failed", "peer", c.addr, "err", err)
				}
			}
			return
		}
		report := ParseReport(b[:])
		now := s.clk.Now()
		var err error
		if first {
			bounds := Bounds{Min: s.src.CommitLogMinOffset(), Max: s.src.CommitLogMaxOffset()}
			var start message.PhysOffset
			s.mu.Lock()
			start, err = s.mu.tr.First(c.id, report, bounds, s.src.CommitLogSegmentSize(), now)
			s.mu.Unlock()
			if err == nil {
				first = false
				c.start <- start
				s.log.Info("slave requests offset", "peer", c.addr, "report", report, "start", start, "master_max", bounds.Max)
				if c.brokerID >= 0 {
					rel = s.acked(c.brokerID, report, bounds.Max, now, rel[:0])
					s.release(rel)
					clear(rel)
				}
			}
		} else {
			max := s.src.CommitLogMaxOffset()
			s.mu.Lock()
			rel, err = s.mu.tr.Report(c.id, report, max, now, rel[:0])
			s.mu.Unlock()
			if err == nil && c.brokerID >= 0 {
				rel = s.acked(c.brokerID, report, max, now, rel)
			}
			s.release(rel)
			clear(rel)
		}
		if err != nil {
			s.log.Warn("closing HA connection: refused offset report", "peer", c.addr, "err", err)
			return
		}
	}
}

// writeLoop is a slave connection's writer goroutine: once the first report
// set the start, it streams the log from there in frames of at most
// TransferBatchSize bytes within one segment, and a heartbeat frame after
// HeartbeatInterval without a write. It wakes on new data (the store's
// written signal). It stops when the connection closes, or closes it on a
// write error or when the slave needs bytes retention deleted.
func (s *Server) writeLoop(c *slaveConn) {
	defer c.close()
	var next message.PhysOffset
	select {
	case next = <-c.start:
	case <-c.done:
		return
	}
	buf := make([]byte, HeaderSize, HeaderSize+s.cfg.TransferBatchSize)
	lastWrite := s.clk.Now()
	var timer clock.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	write := func(frame []byte) bool {
		_ = c.nc.SetWriteDeadline(time.Now().Add(s.cfg.HousekeepingInterval))
		if _, err := c.nc.Write(frame); err != nil {
			select {
			case <-c.done:
			default:
				s.log.Info("HA write to slave failed", "peer", c.addr, "err", err)
			}
			return false
		}
		lastWrite = s.clk.Now()
		return true
	}
	lastConfirm := message.PhysOffset(-2) // controller mode: the confirm offset last sent
	var confirmed <-chan struct{}
	for {
		written := s.src.CommitLogWritten() // before the max: no lost wake-up
		if s.cfg.Controller != nil {
			var cm message.PhysOffset
			cm, confirmed = s.confirmOffset()
			if cm != lastConfirm {
				PutHeader(buf, cm, ConfirmFrameSize)
				if !write(buf[:HeaderSize]) {
					return
				}
				lastConfirm = cm
			}
		}
		if next < s.src.CommitLogMaxOffset() {
			frame, err := s.src.ReadCommitLog(next, s.cfg.TransferBatchSize, buf[:HeaderSize])
			if err != nil {
				if errors.Is(err, store.ErrBeforeMinOffset) {
					s.log.Warn("closing HA connection: the slave needs data that retention deleted", "peer", c.addr,
						"offset", next, "master_min", s.src.CommitLogMinOffset())
				} else {
					s.log.Error("closing HA connection: reading the commit log failed", "peer", c.addr, "offset", next, "err", err)
				}
				return
			}
			n := len(frame) - HeaderSize
			if n > 0 {
				PutHeader(frame, next, int32(n))
				s.mu.Lock()
				s.mu.tr.Sent(c.id, next+message.PhysOffset(n))
				s.mu.Unlock()
				if !write(frame) {
					return
				}
				next += message.PhysOffset(n)
				buf = frame[:HeaderSize]
				continue
			}
		}
		idle := s.clk.Now().Sub(lastWrite)
		if idle >= s.cfg.HeartbeatInterval {
			PutHeader(buf, next, 0)
			if !write(buf[:HeaderSize]) {
				return
			}
			continue
		}
		if timer == nil {
			timer = s.clk.NewTimer(s.cfg.HeartbeatInterval - idle)
		} else {
			timer.Reset(s.cfg.HeartbeatInterval - idle)
		}
		select {
		case <-written:
			if !timer.Stop() {
				select {
				case <-timer.C():
				default:
				}
			}
		case <-confirmed: // nil outside controller mode
			if !timer.Stop() {
				select {
				case <-timer.C():
				default:
				}
			}
		case <-timer.C():
		case <-c.done:
			return
		}
	}
}

// WaitReplicated implements store.Replicator: w gets PutOK once a slave
// confirmed every byte below upTo, PutFlushSlaveTimeout after SlaveTimeout,
// or PutSlaveNotAvailable at once when no slave is in sync (or the server is
// not running). It never blocks; w.Done runs on the caller's goroutine
// (decided at once), a reader goroutine (confirmed) or the timer's.
func (s *Server) WaitReplicated(upTo message.PhysOffset, w *store.ReplicaWait) {
	s.wait(upTo, w.Done)
}

// wait is WaitReplicated with a plain completion function.
func (s *Server) wait(upTo message.PhysOffset, done func(store.PutStatus)) {
	now := s.clk.Now()
	if s.cfg.Controller != nil {
		s.waitQuorum(upTo, now, done)
		return
	}
	s.mu.Lock()
	if s.mu.closed || !s.mu.started {
		s.mu.Unlock()
		done(store.PutSlaveNotAvailable)
		return
	}
	st, queued := s.mu.tr.Wait(upTo, now, done)
	if queued {
		s.armLocked(now)
	}
	s.mu.Unlock()
	if !queued {
		done(st)
	}
}

// armLocked makes sure the timer fires by the oldest waiter's deadline.
func (s *Server) armLocked(now time.Time) {
	at, ok := s.mu.tr.NextDeadline()
	if !ok || (!s.mu.timerAt.IsZero() && !at.Before(s.mu.timerAt)) {
		return
	}
	s.mu.timerAt = at
	if s.mu.timer == nil {
		s.mu.timer = s.clk.AfterFunc(at.Sub(now), s.expire)
		return
	}
	s.mu.timer.Reset(at.Sub(now))
}

// expire runs on the timer: it times out the waiters whose deadline passed
// and re-arms for the next.
func (s *Server) expire() {
	now := s.clk.Now()
	s.mu.Lock()
	s.mu.timerAt = time.Time{}
	rel := s.mu.tr.Expire(now, nil)
	if !s.mu.closed {
		s.armLocked(now)
	}
	s.mu.Unlock()
	s.release(rel)
}
