package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/petrelmq/petrel/internal/acl"
	"github.com/petrelmq/petrel/internal/lifecycle"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("controller: closed")

// Files under Config.StorePath. Part of the on-disk layout.
const (
	// raftDBFile is the bbolt database holding the Raft log and the Raft
	// stable store (term, vote).
	raftDBFile = "raft.db"
	// snapshotsRetained is how many state snapshots stay in snapshots/.
	snapshotsRetained = 2
)

// Server is one controller: a member of the Raft group and the remoting
// server the brokers and tools talk to, on the same address.
//
// Lifecycle: New (no I/O) → Start (opens the store, listens, joins the
// group) → Close. All methods are safe for concurrent use.
type Server struct {
	cfg  Config
	self Peer
	log  *slog.Logger
	clk  clock.Clock

	// mu guards core and conns. Nothing under it does I/O or waits for Raft.
	mu   sync.Mutex
	core *Core
	// conns is the connection each replica last registered or heartbeated
	// on; role-change notices go there.
	conns map[ReplicaKey]*remoting.Conn

	// ready is true while this controller is the Raft leader and has applied
	// every entry of earlier terms (it then serves requests).
	ready atomic.Bool

	rs       *remoting.Server
	acl      *acl.Guard // nil unless ACLEnable
	notifyCh chan bool
	run      lifecycle.Group

	// Set by Start; read-only after.
	raft  *raft.Raft
	store *raftboltdb.BoltStore
	trans *raft.NetworkTransport
	mux   *mux

	lc struct {
		sync.Mutex
		started, closed bool
	}
}

var _ remoting.ConnListener = (*Server)(nil)

// New validates cfg and builds a controller without touching the network or
// disk. log may be nil (discard); clk is usually clock.Real{}: it times the
// brokers' heartbeats and the scan.
func New(cfg Config, log *slog.Logger, clk clock.Clock) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if clk == nil {
		return nil, errors.New("controller: nil clock")
	}
	self, _ := cfg.Self()
	return &Server{
		cfg:      cfg,
		self:     self,
		log:      log.With("controller", self.ID),
		clk:      clk,
		core:     NewCore(Policy{AllowUnclean: cfg.ElectUncleanMaster}, cfg.HeartbeatTimeout, clk.Now()),
		conns:    map[ReplicaKey]*remoting.Conn{},
		notifyCh: make(chan bool, 16),
	}, nil
}

// Start opens the Raft store under StorePath (bootstrapping the group from
// Peers on first start), listens, joins the group and starts serving. It
// returns once the controller listens; the group elects a leader when a
// majority of its members run. ctx bounds the start only. On failure nothing
// keeps running; the caller still calls Close.
func (s *Server) Start(ctx context.Context) (err error) {
	s.lc.Lock()
	defer s.lc.Unlock()
	switch {
	case s.lc.closed:
		return ErrClosed
	case s.lc.started:
		return errors.New("controller: already started")
	}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	if err := os.MkdirAll(s.cfg.StorePath, 0o755); err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	store, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(s.cfg.StorePath, raftDBFile),
		BoltOptions: &bbolt.Options{Timeout: time.Second},
	})
	if err != nil {
		return fmt.Errorf("controller: open %s (is another controller using %s?): %w",
			filepath.Join(s.cfg.StorePath, raftDBFile), s.cfg.StorePath, err)
	}
	undo = append(undo, func() { _ = store.Close() })
	rlog := newRaftLogger(s.log)
	snaps, err := raft.NewFileSnapshotStoreWithLogger(s.cfg.StorePath, snapshotsRetained, rlog)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}

	ln := s.cfg.Listener
	if ln == nil {
		var lc net.ListenConfig
		if ln, err = lc.Listen(ctx, "tcp", s.cfg.bindAddr()); err != nil {
			return fmt.Errorf("controller: listen %s: %w", s.cfg.bindAddr(), err)
		}
	}
	m := newMux(ln, s.cfg.Group, s.log)
	undo = append(undo, func() { _ = m.close() })
	if s.cfg.ACLEnable {
		g, err := acl.Open(acl.Config{Path: s.cfg.ACLPath(), AdminCodes: acl.ControllerAdminCodes, OnlyAdminCodes: true}, s.log)
		if err != nil {
			return fmt.Errorf("controller: aclEnable=true: %w", err)
		}
		if err := g.Start(ctx); err != nil {
			return fmt.Errorf("controller: %w", err)
		}
		undo = append(undo, func() { _ = g.Close() })
		s.acl = g
		m.auth = &raftAuth{creds: s.cfg.Credentials, check: g.Check}
	}
	sl, err := newStreamLayer(m.raft, s.self.Addr, s.cfg.Group)
	if err != nil {
		return err
	}
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: sl, MaxPool: 3, Timeout: 10 * time.Second, Logger: rlog,
	})
	undo = append(undo, func() { _ = trans.Close() })

	rc := s.raftConfig(rlog)
	existing, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	if !existing {
		var servers []raft.Server
		for _, p := range s.cfg.Peers {
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr)})
		}
		if err := raft.BootstrapCluster(rc, store, store, snaps, trans, raft.Configuration{Servers: servers}); err != nil {
			return fmt.Errorf("controller: bootstrap: %w", err)
		}
		s.log.Info("controller: bootstrapped a new Raft group", "group", s.cfg.Group, "peers", FormatPeers(s.cfg.Peers))
	}
	r, err := raft.NewRaft(rc, fsm{s}, store, store, snaps, trans)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	undo = append(undo, func() { _ = r.Shutdown().Error() })
	// Set before the remoting server starts: processors read them.
	s.raft, s.store, s.trans, s.mux = r, store, trans, m
	s.warnIfPeersDiffer(r)

	rcfg := s.cfg.Remoting
	rcfg.ListenAddr = s.cfg.bindAddr()
	rcfg.Listener = m.rpc
	rs, err := remoting.NewServer(rcfg, s.log)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	s.registerProcessors(rs)
	rs.AddConnListener(s)
	if s.acl != nil {
		rs.SetInterceptor(s.acl.Intercept)
	}
	if err := rs.Start(ctx); err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	undo = append(undo, func() { _ = rs.Close() })
	m.start()

	if err := s.run.Start(ctx, "controller"); err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	s.rs = rs
	s.lc.started = true
	s.run.Go("leader", s.leaderLoop)
	s.log.Info("controller: started", "addr", ln.Addr().String(), "advertise", s.self.Addr, "group", s.cfg.Group,
		"peers", FormatPeers(s.cfg.Peers), "storePath", s.cfg.StorePath, "electUncleanMaster", s.cfg.ElectUncleanMaster,
		"heartbeatTimeout", s.cfg.HeartbeatTimeout, "scanInterval", s.cfg.ScanInterval, "aclEnable", s.cfg.ACLEnable)
	return nil
}

func (s *Server) raftConfig(rlog *raftLogger) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(s.self.ID)
	rc.Logger = rlog
	rc.NotifyCh = s.notifyCh
	t := s.cfg.Raft
	set := func(dst *time.Duration, v time.Duration) {
		if v > 0 {
			*dst = v
		}
	}
	set(&rc.HeartbeatTimeout, t.HeartbeatTimeout)
	set(&rc.ElectionTimeout, t.ElectionTimeout)
	set(&rc.LeaderLeaseTimeout, t.LeaderLeaseTimeout)
	set(&rc.CommitTimeout, t.CommitTimeout)
	set(&rc.SnapshotInterval, t.SnapshotInterval)
	if t.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = t.SnapshotThreshold
	}
	if t.TrailingLogs > 0 {
		rc.TrailingLogs = t.TrailingLogs
	}
	// The lease cannot exceed the heartbeat timeout (raft.ValidateConfig).
	rc.LeaderLeaseTimeout = min(rc.LeaderLeaseTimeout, rc.HeartbeatTimeout)
	return rc
}

// warnIfPeersDiffer logs when the group's membership, fixed at the first
// start, differs from controllerDLegerPeers: changing the key later has no
// effect.
func (s *Server) warnIfPeersDiffer(r *raft.Raft) {
	f := r.GetConfiguration()
	if f.Error() != nil {
		return
	}
	have := map[string]string{}
	for _, sv := range f.Configuration().Servers {
		have[string(sv.ID)] = string(sv.Address)
	}
	same := len(have) == len(s.cfg.Peers)
	for _, p := range s.cfg.Peers {
		same = same && have[p.ID] == p.Addr
	}
	if !same {
		s.log.Warn("controller: controllerDLegerPeers differs from the group's membership recorded in the store; the recorded membership is used",
			"configured", FormatPeers(s.cfg.Peers), "recorded", have)
	}
}

// Addr returns the listening address, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.lc.Lock()
	defer s.lc.Unlock()
	if s.mux == nil {
		return nil
	}
	return s.mux.ln.Addr()
}

// ID returns this controller's id.
func (s *Server) ID() string { return s.self.ID }

// IsLeader reports whether this controller is the leader and serving.
func (s *Server) IsLeader() bool { return s.ready.Load() }

// BrokerSet returns this controller's copy of a broker set, as far as it has
// applied the log (followers may lag).
func (s *Server) BrokerSet(k SetKey) (*BrokerSet, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.core.State.Set(k)
}

// AppliedIndex returns the index of the last log entry applied here.
func (s *Server) AppliedIndex() uint64 {
	if r := s.raftOrNil(); r != nil {
		return r.AppliedIndex()
	}
	return 0
}

// Snapshot takes a snapshot of the state now (tests and operators; Raft
// also takes them by itself).
func (s *Server) Snapshot() error {
	r := s.raftOrNil()
	if r == nil {
		return ErrClosed
	}
	return r.Snapshot().Error()
}

func (s *Server) raftOrNil() *raft.Raft {
	s.lc.Lock()
	defer s.lc.Unlock()
	return s.raft
}

// Close leaves the group, closes every connection, waits for every goroutine
// and closes the store. A leader first hands its leadership to an up-to-date
// follower (bounded by Raft's election timeout), so that a planned stop does
// not leave the group without a leader for a heartbeat timeout. It is
// idempotent and safe before Start; later Starts return ErrClosed.
func (s *Server) Close() error { return s.close(true) }

// close is Close; transfer false stops as a crash would (tests).
func (s *Server) close(transfer bool) error {
	s.lc.Lock()
	if s.lc.closed {
		s.lc.Unlock()
		return nil
	}
	s.lc.closed = true
	started := s.lc.started
	s.lc.Unlock()
	if !started {
		return nil
	}
	s.ready.Store(false)
	if transfer && s.raft.State() == raft.Leader {
		if err := s.raft.LeadershipTransfer().Error(); err != nil {
			s.log.Warn("controller: leadership transfer failed; the others elect a leader after their heartbeat timeout", "err", err)
		} else {
			s.log.Info("controller: leadership handed over")
		}
	}
	var errs []error
	// Raft first: it fails the requests waiting for a commit, so that the
	// remoting server's workers finish. The leader loop keeps reading the
	// notify channel until then.
	if err := s.raft.Shutdown().Error(); err != nil {
		errs = append(errs, fmt.Errorf("raft shutdown: %w", err))
	}
	s.run.Stop()
	if err := s.rs.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := s.trans.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := s.mux.close(); err != nil {
		errs = append(errs, err)
	}
	if err := s.store.Close(); err != nil {
		errs = append(errs, err)
	}
	if s.acl != nil {
		errs = append(errs, s.acl.Close())
	}
	s.log.Info("controller: closed")
	return errors.Join(errs...)
}

// leaderLoop is the goroutine that follows leadership, started by Start and
// stopped by Close. On becoming leader it waits until every earlier entry is
// applied (a barrier), restarts the liveness tracker and starts serving;
// while leader it runs the scan every ScanInterval.
func (s *Server) leaderLoop(ctx context.Context) {
	var tick clock.Ticker
	var tickC <-chan time.Time
	stop := func() {
		s.ready.Store(false)
		if tick != nil {
			tick.Stop()
			tick, tickC = nil, nil
		}
	}
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case leader := <-s.notifyCh:
			stop()
			if !leader {
				s.log.Info("controller: no longer the leader")
				continue
			}
			if err := s.raft.Barrier(s.cfg.RequestTimeout).Error(); err != nil {
				s.log.Warn("controller: became leader but could not apply the log; waiting for the next election", "err", err)
				continue
			}
			s.mu.Lock()
			s.core.Live.Reset(s.clk.Now())
			s.mu.Unlock()
			s.ready.Store(true)
			tick = s.clk.NewTicker(s.cfg.ScanInterval)
			tickC = tick.C()
			s.log.Info("controller: leader; serving", "graceUntil", s.clk.Now().Add(s.cfg.HeartbeatTimeout))
		case <-tickC:
			s.scan()
		}
	}
}

// scan runs the automatic elections the leader's view calls for.
func (s *Server) scan() {
	if !s.ready.Load() {
		return
	}
	s.mu.Lock()
	cmds := s.core.Scan(s.clk.Now())
	s.mu.Unlock()
	for _, cmd := range cmds {
		r, err := s.propose(cmd)
		switch {
		case err != nil:
			s.log.Warn("controller: election not committed", "set", cmd.Set.String(), "err", err)
			return
		case r.Err != nil:
			s.log.Info("controller: election refused", "set", cmd.Set.String(), "err", r.Err)
		case r.MasterChanged:
			s.log.Info("controller: elected", "set", cmd.Set.String(), "master", cmd.Elect.NewMaster,
				"epoch", r.Set.Epoch, "reason", cmd.Elect.Reason, "unclean", cmd.Elect.Unclean)
			s.notifyRoleChanged(cmd.Set)
		}
	}
}

// propose puts cmd through the Raft log and returns what Apply returned.
// An error means it may or may not commit later (the commands are safe
// either way: they carry the epochs they were decided at).
func (s *Server) propose(cmd Command) (Result, error) {
	f := s.raft.Apply(EncodeCommand(cmd), s.cfg.RequestTimeout)
	if err := f.Error(); err != nil {
		return Result{}, err
	}
	r, ok := f.Response().(Result)
	if !ok {
		return Result{}, fmt.Errorf("controller: unexpected apply response %T", f.Response())
	}
	return r, nil
}

// OnConnect implements remoting.ConnListener.
func (s *Server) OnConnect(*remoting.Conn) {}

// OnClose implements remoting.ConnListener: notices no longer go to a closed
// connection.
func (s *Server) OnClose(c *remoting.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, kc := range s.conns {
		if kc == c {
			delete(s.conns, k)
		}
	}
}

// notifyRoleChanged sends NOTIFY_BROKER_ROLE_CHANGED to every replica of the
// set with a connection to this leader, oneway, on that connection.
func (s *Server) notifyRoleChanged(k SetKey) {
	if !s.cfg.NotifyBrokerRoleChanged {
		return
	}
	s.mu.Lock()
	info, err := s.core.Info(k, s.clk.Now())
	var conns []*remoting.Conn
	for rk, c := range s.conns {
		if rk.Set == k {
			conns = append(conns, c)
		}
	}
	s.mu.Unlock()
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, c := range conns {
		if err := c.InvokeOneway(ctx, roleChangedRequest(info)); err != nil {
			s.log.Debug("controller: role-change notice not sent", "set", k.String(), "peer", c.RemoteAddr(), "err", err)
		}
	}
}

// isRaftLeadershipError reports errors that mean "ask the leader".
func isRaftLeadershipError(err error) bool {
	return errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) ||
		errors.Is(err, raft.ErrRaftShutdown) || errors.Is(err, raft.ErrLeadershipTransferInProgress)
}

// raftErrorResponse answers a request whose Raft step failed.
func (s *Server) raftErrorResponse(req *protocol.Command, err error) *protocol.Command {
	if isRaftLeadershipError(err) {
		return s.notLeader(req)
	}
	return protocol.NewResponse(req, protocol.SystemBusy, "controller: "+err.Error())
}
