package failover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/broker/ha"
	"github.com/petrelmq/petrel/internal/controller/client"
	"github.com/petrelmq/petrel/internal/lifecycle"
	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// Role is what a Supervisor currently runs.
type Role int

const (
	// Standby: a slave with no master to follow (none elected yet, or the
	// controller recorded the master lost).
	Standby Role = iota
	// Slave: a slave following the master of Epoch.
	Slave
	// Master: the master of Epoch.
	Master
)

func (r Role) String() string {
	switch r {
	case Slave:
		return "SLAVE"
	case Master:
		return "MASTER"
	}
	return "STANDBY"
}

// Timing of the supervisor's loop.
const (
	// tick is how often the loop looks at the view, the lease and (as
	// master) its replicas.
	tick = 200 * time.Millisecond
	// joinWait bounds how long a master counts a joining replica before the
	// replica has everything the master had when it started counting it.
	joinWait = 2 * time.Second
	// recentCatchUp: a replica caught up this recently may try to join.
	recentCatchUp = time.Second
)

// Supervisor runs one broker in controller mode: it registers with the
// controllers, heartbeats, and starts the broker as master or slave as they
// decide, restarting it on each role change (docs/design/failover.md,
// "Broker side"). Safe for concurrent use.
//
// Goroutines: the heartbeat loop (client.Run) and the role loop; Close
// stops both, then the broker.
type Supervisor struct {
	cfg    broker.Config // as configured; BrokerID is the replica id
	id     int64
	log    *slog.Logger
	clk    clock.Clock
	epochs *ha.EpochFile
	margin time.Duration // stop acknowledging this long before the lease ends
	run    lifecycle.Group

	cc         *client.Client
	brokerAddr string
	haAddr     string

	// following is the master a slave follows (read by the HA client's
	// address functions from its goroutines).
	following atomic.Pointer[client.View]
	// mastering: the current broker is the master of masterEpoch and has
	// recorded it; leaseValid is false otherwise.
	mastering   atomic.Bool
	masterEpoch atomic.Int32
	progress    atomic.Pointer[client.Progress]

	mu struct {
		sync.Mutex
		b      *broker.Broker
		role   Role
		epoch  int32 // master: its epoch; slave: its master's
		closed bool
	}

	// Owned by the role loop.
	joining      map[int64]joinState
	counted      []int64 // members the HA server counts (confirmed ∪ in flight)
	lastShrink   time.Time
	fenced       error     // the fence the loop last set (nil: none)
	leaseEnd     time.Time // the latest lease end seen as master
	lastMetadata time.Time
}

type joinState struct {
	since  time.Time
	needed message.PhysOffset // the master's max when the replica started to count
}

// New checks cfg (enableControllerMode=true) and builds a supervisor. It
// does no I/O beyond reading the epoch file.
func New(cfg broker.Config, log *slog.Logger, clk clock.Clock) (*Supervisor, error) {
	if !cfg.Failover.Enable {
		return nil, errors.New("failover: enableControllerMode is false")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if clk == nil {
		clk = clock.Real{}
	}
	path := cfg.Failover.EpochFile
	if path == "" {
		path = filepath.Join(cfg.Store.RootDir, "epochFileCheckpoint")
	}
	if err := cfg.FS.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("failover: create %s: %w", filepath.Dir(path), err)
	}
	epochs, err := ha.OpenEpochFile(cfg.FS, path)
	if err != nil {
		return nil, err
	}
	s := &Supervisor{cfg: cfg, id: cfg.BrokerID, log: log.With("component", "failover", "brokerId", cfg.BrokerID),
		clk: clk, epochs: epochs, margin: cfg.Failover.HeartbeatTimeout / 10, joining: map[int64]joinState{}}
	if cfg.BrokerRole != broker.RoleAsyncMaster {
		s.log.Warn("failover: brokerRole has no effect in controller mode (the controller decides; allAckInSyncStateSet and inSyncReplicas say what a put waits for)",
			"brokerRole", cfg.BrokerRole)
	}
	return s, nil
}

// Start starts the broker as a standby slave, then registers with the
// controllers and follows their decisions until Close. The first
// registration is not waited for: a controller group without a leader does
// not fail Start.
func (s *Supervisor) Start(ctx context.Context) error {
	b, err := s.startBroker(ctx, s.slaveConfig())
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.mu.b, s.mu.role = b, Standby
	s.mu.Unlock()
	s.updateProgress()

	// Fixed from now on: restarts bind the same ports.
	s.brokerAddr = b.Addr()
	if tcp, ok := b.ListenAddr().(*net.TCPAddr); ok {
		s.cfg.ListenPort = tcp.Port
		if h, _, err := net.SplitHostPort(s.cfg.ListenAddr); err == nil {
			s.cfg.ListenAddr = net.JoinHostPort(h, strconv.Itoa(tcp.Port))
		}
	}
	s.haAddr = s.haAddress()
	cc, err := client.New(client.Config{
		Addrs: s.cfg.Failover.ControllerAddrs, Cluster: s.cfg.ClusterName, BrokerName: s.cfg.BrokerName,
		BrokerID: s.id, BrokerAddr: s.brokerAddr, HAAddr: s.haAddr, Priority: s.cfg.Failover.ElectionPriority,
		HeartbeatTimeout: s.cfg.Failover.HeartbeatTimeout, Clock: s.clk,
		Remoting: s.cfg.PeerClient(), // signed (accessKey/secretKey) and TLS as the broker's other peer calls
	}, s.log)
	if err != nil {
		_ = b.Close()
		return fmt.Errorf("failover: %w", err)
	}
	s.cc = cc
	if err := s.run.Start(ctx, "failover"); err != nil {
		_ = b.Close()
		return err
	}
	s.run.Go("heartbeat", func(ctx context.Context) {
		_ = cc.Run(ctx, s.cfg.Failover.HeartbeatInterval, s.currentProgress)
	})
	s.run.Go("roles", s.loop)
	s.log.Info("failover: started in controller mode", "controllers", s.cfg.Failover.ControllerAddrs,
		"addr", s.brokerAddr, "ha", s.haAddr, "epochFile", s.epochs.Path())
	return nil
}

// haAddress is the HA address this broker will serve as master:
// brokerIP2 (default the advertised brokerIP1) and haListenPort (default
// listenPort+1).
func (s *Supervisor) haAddress() string {
	host, _, _ := net.SplitHostPort(s.brokerAddr)
	if s.cfg.BrokerIP2 != "" {
		host = s.cfg.BrokerIP2
	}
	port := s.cfg.HAListenPort
	if port == 0 {
		port = s.cfg.ListenPort + 1
		s.cfg.HAListenPort = port
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// Close stops following the controllers and closes the broker.
func (s *Supervisor) Close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.closed = true
	s.mu.Unlock()
	s.mastering.Store(false)
	s.run.Stop()
	var errs []error
	if s.cc != nil {
		errs = append(errs, s.cc.Close())
	}
	s.mu.Lock()
	b := s.mu.b
	s.mu.Unlock()
	if b != nil {
		errs = append(errs, b.Close())
	}
	return errors.Join(errs...)
}

// Broker returns the broker running now (it changes with the role).
func (s *Supervisor) Broker() *broker.Broker {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.b
}

// Role returns the current role and epoch (a slave's: its master's).
func (s *Supervisor) Role() (Role, int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.role, s.mu.epoch
}

// Addr is the broker's advertised address (fixed across restarts).
func (s *Supervisor) Addr() string { return s.brokerAddr }

// Epochs returns the epoch file's entries.
func (s *Supervisor) Epochs() []ha.EpochEntry { return s.epochs.Entries() }

// currentProgress is what heartbeats report.
func (s *Supervisor) currentProgress() client.Progress {
	if p := s.progress.Load(); p != nil {
		return *p
	}
	return client.Progress{}
}

// updateProgress samples the running broker's log for heartbeats.
func (s *Supervisor) updateProgress() {
	s.mu.Lock()
	b := s.mu.b
	role := s.mu.role
	s.mu.Unlock()
	if b == nil {
		return
	}
	r := b.Replication()
	if r.Store == nil {
		return
	}
	max := r.Store.CommitLogMaxOffset()
	p := client.Progress{Epoch: s.epochs.EpochAt(max), MaxOffset: int64(max)}
	switch {
	case role == Master && r.Server != nil:
		if c := r.Server.ConfirmOffset(); c >= 0 {
			p.ConfirmOffset = int64(c)
		} else {
			p.ConfirmOffset = int64(max)
		}
	case r.Client != nil:
		p.ConfirmOffset = int64(r.Client.Status().ConfirmOffset)
	}
	if p.Epoch == 0 {
		if e, ok := s.epochs.Last(); ok && role == Master {
			p.Epoch = e.Epoch
		}
	}
	s.progress.Store(&p)
}

// leaseValid is the master's lease (the HA server asks it for each answer).
func (s *Supervisor) leaseValid(now time.Time) bool {
	if !s.mastering.Load() {
		return false
	}
	v, end := s.cc.Lease()
	return v.IsMaster(s.id) && v.MasterEpoch == s.masterEpoch.Load() && now.Before(end.Add(-s.margin))
}

// loop is the role goroutine.
func (s *Supervisor) loop(ctx context.Context) {
	t := s.clk.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.cc.Changes():
		case <-t.C():
		}
		s.step(ctx)
	}
}

// step applies the latest view once.
func (s *Supervisor) step(ctx context.Context) {
	s.updateProgress()
	v, ok := s.cc.Latest()
	s.mu.Lock()
	role, epoch := s.mu.role, s.mu.epoch
	s.mu.Unlock()
	if !ok {
		return
	}
	switch v.RoleOf(s.id) {
	case client.RoleMaster:
		if role == Master && epoch == v.MasterEpoch {
			if _, end := s.cc.Lease(); end.After(s.leaseEnd) {
				s.leaseEnd = end // the latest confirmed lease (a notice's view has none)
			}
			if s.clk.Now().After(s.leaseEnd.Add(s.cfg.Failover.HeartbeatTimeout)) {
				// Cut off from the controllers for a whole timeout past the
				// lease: another master may serve this set by now. Step down,
				// so this broker stops registering as the set's master with
				// the name servers; the next confirmed view says what to be.
				s.stepDown(ctx, "the lease ran out a heartbeat timeout ago")
				return
			}
			s.keepMaster(ctx, v)
			return
		}
		_, end := s.cc.Lease()
		if now := s.clk.Now(); v.Confirmed.IsZero() || !now.Before(end.Add(-s.margin)) {
			return // a notice: wait for a heartbeat to confirm it
		}
		if s.cc.Paused() {
			return // gave this epoch up (abdicate); the controller elects again
		}
		s.promote(ctx, v)
	default:
		if role == Master {
			s.demote(ctx, v)
			return
		}
		s.follow(ctx, v)
	}
}

// follow points a slave (or standby) at the view's master.
func (s *Supervisor) follow(ctx context.Context, v client.View) {
	cur := s.following.Load()
	if v.RoleOf(s.id) == client.RoleNone {
		if cur != nil {
			s.following.Store(nil)
			s.setRole(Standby, 0)
			s.log.Warn("failover: the set has no master; not following anyone", "epoch", v.MasterEpoch)
			s.reconnect()
		}
		return
	}
	if cur == nil || cur.MasterEpoch != v.MasterEpoch || cur.MasterHAAddress != v.MasterHAAddress {
		vv := v
		s.following.Store(&vv)
		s.setRole(Slave, v.MasterEpoch)
		s.log.Info("failover: following master", "master", v.MasterBrokerID, "addr", v.MasterAddress,
			"ha", v.MasterHAAddress, "epoch", v.MasterEpoch)
		s.reconnect()
	}
	if now := s.clk.Now(); now.Sub(s.lastMetadata) >= s.cfg.Failover.SyncMetadataPeriod {
		s.lastMetadata = now
		gctx, cancel := context.WithTimeout(ctx, s.cfg.Failover.HeartbeatInterval)
		_, _ = s.cc.GetReplicaInfo(gctx) // offers a newer view, if any
		cancel()
	}
}

func (s *Supervisor) setRole(r Role, epoch int32) {
	s.mu.Lock()
	s.mu.role, s.mu.epoch = r, epoch
	s.mu.Unlock()
}

// reconnect makes the slave's HA client start a session with the master it
// follows now.
func (s *Supervisor) reconnect() {
	if b := s.Broker(); b != nil {
		if c := b.Replication().Client; c != nil {
			c.Reconnect()
		}
	}
}

// slaveConfig is the broker config of a slave (or standby) replica.
func (s *Supervisor) slaveConfig() broker.Config {
	c := s.cfg
	c.BrokerRole = broker.RoleSlave
	c.BrokerID = s.id
	c.HAMasterAddress = ""
	c.Controller = &broker.ControllerMode{
		ReplicaID: s.id, Epochs: s.epochs,
		MasterAddr: func() string {
			if v := s.following.Load(); v != nil {
				return v.MasterAddress
			}
			return ""
		},
		MasterHAAddr: func() string {
			if v := s.following.Load(); v != nil {
				return v.MasterHAAddress
			}
			return ""
		},
		MasterEpoch: func() int32 {
			if v := s.following.Load(); v != nil {
				return v.MasterEpoch
			}
			return 0
		},
	}
	return c
}

// masterConfig is the broker config of the master of v's epoch.
func (s *Supervisor) masterConfig(v client.View) broker.Config {
	c := s.cfg
	c.BrokerRole = broker.RoleAsyncMaster
	c.BrokerID = body.MasterID
	c.HAMasterAddress = ""
	members := s.others(v.SyncStateSet)
	c.Controller = &broker.ControllerMode{
		ReplicaID: s.id, Epochs: s.epochs, Epoch: v.MasterEpoch, LeaseValid: s.leaseValid,
		Members: members, Need: s.need(members), StartFenced: true,
	}
	return c
}

// others is a SyncStateSet without this replica.
func (s *Supervisor) others(sss []int64) []int64 {
	out := make([]int64, 0, len(sss))
	for _, id := range sss {
		if id != s.id {
			out = append(out, id)
		}
	}
	return out
}

// need is how many of members a put waits for.
func (s *Supervisor) need(members []int64) int {
	if s.cfg.Failover.AllAck {
		return len(members)
	}
	return min(s.cfg.Failover.InSyncReplicas-1, len(members))
}

func (s *Supervisor) startBroker(ctx context.Context, cfg broker.Config) (*broker.Broker, error) {
	b, err := broker.New(cfg, s.log, s.clk)
	if err != nil {
		return nil, err
	}
	if err := b.Start(ctx); err != nil {
		_ = b.Close()
		return nil, err
	}
	return b, nil
}

// swap closes the running broker and starts one with cfg, retrying the
// start (a port still held, a store still locked) until it works, ctx ends,
// or, with giveUp > 0, starts have failed for giveUp (the last error is
// returned).
func (s *Supervisor) swap(ctx context.Context, cfg broker.Config, role Role, epoch int32, giveUp time.Duration) (*broker.Broker, error) {
	s.mu.Lock()
	old := s.mu.b
	s.mu.b = nil
	s.mu.Unlock()
	if old != nil {
		if err := old.Close(); err != nil {
			s.log.Warn("failover: closing the broker for a role change", "err", err)
		}
	}
	wait := 50 * time.Millisecond
	first := s.clk.Now()
	for {
		b, err := s.startBroker(ctx, cfg)
		if err == nil {
			s.mu.Lock()
			s.mu.b, s.mu.role, s.mu.epoch = b, role, epoch
			s.mu.Unlock()
			return b, nil
		}
		if giveUp > 0 && s.clk.Now().Sub(first) >= giveUp {
			return nil, err
		}
		s.log.Error("failover: starting the broker as "+role.String()+" failed; retrying", "err", err)
		t := s.clk.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C():
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// promote restarts the broker as master of v's epoch: fenced until the
// epoch file records where the epoch starts.
func (s *Supervisor) promote(ctx context.Context, v client.View) {
	start := s.clk.Now()
	s.log.Info("failover: elected master; restarting as master", "epoch", v.MasterEpoch, "syncStateSet", v.SyncStateSet)
	s.following.Store(nil)
	s.mastering.Store(false)
	cfg := s.masterConfig(v)
	b, err := s.swap(ctx, cfg, Master, v.MasterEpoch, s.cfg.Failover.HeartbeatTimeout)
	if err != nil {
		if ctx.Err() == nil {
			s.abdicate(ctx, v, err)
		}
		return
	}
	st := b.Replication().Store
	max := st.CommitLogMaxOffset()
	if err := s.epochs.Begin(v.MasterEpoch, max); err != nil {
		s.log.Error("failover: cannot record the epoch; staying fenced", "err", err)
		return
	}
	s.masterEpoch.Store(v.MasterEpoch)
	_, s.leaseEnd = s.cc.Lease()
	s.counted = cfg.Controller.Members
	s.joining = map[int64]joinState{}
	s.lastShrink = s.clk.Now()
	s.mastering.Store(true)
	s.fenced = errors.New("starting")
	s.applyFence(st, len(cfg.Controller.Members)+1)
	b.RegisterSoon() // held until the lease was in hand
	s.log.Info("failover: serving as master", "epoch", v.MasterEpoch, "from", max,
		"took", s.clk.Now().Sub(start).Round(time.Millisecond))
}

// abdicate gives up the mastership of v's epoch after the broker could not
// start as master for a heartbeat timeout (its HA port taken, say). It
// restarts as a standby, hands the SyncStateSet to the live replicas whose
// log holds all of its own (it accepted nothing in this epoch, so they hold
// everything acknowledged), and stops heartbeating for one and a half
// timeouts, so the controller counts it dead and elects one of them.
// Without another candidate the controller elects this one again once it
// heartbeats, and it tries again.
func (s *Supervisor) abdicate(ctx context.Context, v client.View, err error) {
	pause := s.cfg.Failover.HeartbeatTimeout * 3 / 2
	s.log.Error("failover: cannot start as master; giving the mastership up",
		"epoch", v.MasterEpoch, "tried", s.cfg.Failover.HeartbeatTimeout, "err", err)
	s.following.Store(nil)
	b, _ := s.swap(ctx, s.slaveConfig(), Standby, 0, 0)
	if b != nil {
		s.handOver(ctx, b.Replication().Store.CommitLogMaxOffset())
	}
	s.cc.Pause(pause)
	s.log.Warn("failover: silent to the controllers so that another replica is elected", "for", pause)
}

// handOver asks the controller to put into the SyncStateSet of this
// replica's epoch the live replicas of the same last epoch whose max offset
// is at least max, this replica's (a standby, following no one, so nothing
// is appended to it).
func (s *Supervisor) handOver(ctx context.Context, max message.PhysOffset) {
	v, ok := s.cc.Latest()
	if !ok || !v.IsMaster(s.id) {
		return
	}
	last := s.epochs.EpochAt(max)
	ids := []int64{s.id}
	for _, r := range v.Replicas {
		if r.BrokerID != s.id && r.Alive && r.Reported && r.Epoch == last && r.MaxOffset >= int64(max) {
			ids = append(ids, r.BrokerID)
		}
	}
	if len(ids) == 1 {
		return
	}
	slices.Sort(ids)
	actx, cancel := context.WithTimeout(ctx, s.cfg.Failover.HeartbeatTimeout)
	defer cancel()
	if _, err := s.cc.AlterSyncStateSet(actx, v.MasterEpoch, v.SyncStateSetEpoch, ids); err != nil {
		s.log.Warn("failover: handing the SyncStateSet over failed", "to", ids, "err", err)
		return
	}
	s.log.Info("failover: SyncStateSet handed over", "to", ids, "maxOffset", max, "epoch", last)
}

// demote stops acknowledging at once, then restarts the broker as a slave of
// v's master (or as standby).
func (s *Supervisor) demote(ctx context.Context, v client.View) {
	s.mastering.Store(false)
	if b := s.Broker(); b != nil {
		if st := b.Replication().Store; st != nil {
			st.SetWriteFence(fmt.Errorf("%w: epoch %d has another master", store.ErrFenced, v.MasterEpoch))
		}
	}
	s.log.Warn("failover: no longer master; restarting as slave", "epoch", s.masterEpoch.Load(),
		"newEpoch", v.MasterEpoch, "newMaster", v.MasterBrokerID)
	role, epoch := Standby, int32(0)
	if v.RoleOf(s.id) == client.RoleSlave {
		vv := v
		s.following.Store(&vv)
		role, epoch = Slave, v.MasterEpoch
	} else {
		s.following.Store(nil)
	}
	_, _ = s.swap(ctx, s.slaveConfig(), role, epoch, 0)
}

// stepDown restarts a master as standby without a new view.
func (s *Supervisor) stepDown(ctx context.Context, why string) {
	s.mastering.Store(false)
	if b := s.Broker(); b != nil {
		if st := b.Replication().Store; st != nil {
			st.SetWriteFence(fmt.Errorf("%w: %s", store.ErrFenced, why))
		}
	}
	s.log.Warn("failover: stepping down to standby", "why", why, "epoch", s.masterEpoch.Load())
	s.following.Store(nil)
	_, _ = s.swap(ctx, s.slaveConfig(), Standby, 0, 0)
}

// keepMaster is a master's upkeep: the lease fence, the SyncStateSet.
func (s *Supervisor) keepMaster(ctx context.Context, v client.View) {
	b := s.Broker()
	if b == nil {
		return
	}
	r := b.Replication()
	if r.Server == nil || r.Store == nil {
		return
	}
	confirmed := s.others(v.SyncStateSet)
	s.applyFence(r.Store, len(confirmed)+1)
	if !s.leaseValid(s.clk.Now()) {
		return // fenced; nothing to change until the lease is back
	}
	now := s.clk.Now()
	max := r.Store.CommitLogMaxOffset()
	reps := r.Server.Replicas()
	want := slices.Clone(confirmed)

	// Shrink: members not caught up for haMaxTimeSlaveNotCatchup.
	if now.Sub(s.lastShrink) >= s.cfg.Failover.CheckSyncStateSetPeriod {
		s.lastShrink = now
		for _, rep := range reps {
			if !slices.Contains(want, rep.BrokerID) {
				continue
			}
			caught := rep.CaughtUp
			if caught.IsZero() {
				caught = r.Server.Since()
			}
			if now.Sub(caught) > s.cfg.Failover.MaxTimeNotCatchup {
				s.log.Warn("failover: dropping a replica from the SyncStateSet: not caught up", "replica", rep.BrokerID,
					"behindFor", now.Sub(caught).Round(time.Millisecond), "ack", rep.AckOffset, "max", max)
				want = slices.DeleteFunc(want, func(id int64) bool { return id == rep.BrokerID })
			}
		}
		// Members the master never heard from in this epoch.
		for _, id := range slices.Clone(want) {
			if !slices.ContainsFunc(reps, func(r ha.Replica) bool { return r.BrokerID == id && (r.Connected || !r.CaughtUp.IsZero()) }) &&
				now.Sub(r.Server.Since()) > s.cfg.Failover.MaxTimeNotCatchup {
				s.log.Warn("failover: dropping a replica from the SyncStateSet: never connected in this epoch", "replica", id)
				want = slices.DeleteFunc(want, func(x int64) bool { return x == id })
			}
		}
	}

	// Grow: a connected replica recently caught up starts to count; it joins
	// once it has everything the master had when it started counting.
	for _, rep := range reps {
		if slices.Contains(confirmed, rep.BrokerID) || !rep.Connected {
			delete(s.joining, rep.BrokerID)
			continue
		}
		j, ok := s.joining[rep.BrokerID]
		switch {
		case !ok && (rep.AckOffset >= max || (!rep.CaughtUp.IsZero() && now.Sub(rep.CaughtUp) < recentCatchUp)):
			s.joining[rep.BrokerID] = joinState{since: now, needed: max}
		case ok && rep.AckOffset >= j.needed:
			want = append(want, rep.BrokerID)
			delete(s.joining, rep.BrokerID)
		case ok && now.Sub(j.since) > joinWait:
			delete(s.joining, rep.BrokerID) // not caught up in time; try again later
		}
	}
	for id := range s.joining {
		if !slices.ContainsFunc(reps, func(r ha.Replica) bool { return r.BrokerID == id }) {
			delete(s.joining, id)
		}
	}

	// Count the union of the confirmed set, the wanted one and the joining.
	counted := slices.Clone(confirmed)
	for _, id := range want {
		if !slices.Contains(counted, id) {
			counted = append(counted, id)
		}
	}
	for id := range s.joining {
		if !slices.Contains(counted, id) {
			counted = append(counted, id)
		}
	}
	slices.Sort(counted)
	s.counted = counted
	r.Server.SetSyncStateSet(counted, s.need(counted))

	slices.Sort(want)
	if slices.Equal(want, confirmed) {
		return
	}
	ids := append(slices.Clone(want), s.id)
	slices.Sort(ids)
	actx, cancel := context.WithTimeout(ctx, s.cfg.Failover.HeartbeatTimeout)
	nv, err := s.cc.AlterSyncStateSet(actx, v.MasterEpoch, v.SyncStateSetEpoch, ids)
	cancel()
	if err != nil {
		s.log.Warn("failover: altering the SyncStateSet failed", "want", ids, "err", err)
		return
	}
	s.log.Info("failover: SyncStateSet changed", "from", v.SyncStateSet, "to", nv.SyncStateSet,
		"epoch", nv.SyncStateSetEpoch)
	members := s.others(nv.SyncStateSet)
	for id := range s.joining {
		if !slices.Contains(members, id) {
			members = append(members, id)
		}
	}
	r.Server.SetSyncStateSet(members, s.need(members))
	s.applyFence(r.Store, len(s.others(nv.SyncStateSet))+1)
}

// applyFence fences the master's store while it may not acknowledge: its
// lease ended, or the SyncStateSet (size copies, with the master) is smaller
// than minInSyncReplicas.
func (s *Supervisor) applyFence(st *store.Store, size int) {
	var want error
	switch {
	case !s.leaseValid(s.clk.Now()):
		want = fmt.Errorf("%w: the lease from the controller ran out (epoch %d)", store.ErrFenced, s.masterEpoch.Load())
	case size < s.cfg.Failover.MinInSyncReplicas:
		want = fmt.Errorf("%w: the SyncStateSet has %d replicas, minInSyncReplicas is %d", store.ErrInSyncReplicas,
			size, s.cfg.Failover.MinInSyncReplicas)
	}
	if (want == nil) == (s.fenced == nil) && (want == nil || want.Error() == s.fenced.Error()) {
		return
	}
	st.SetWriteFence(want)
	if want != nil {
		s.log.Warn("failover: refusing writes", "why", want)
	} else {
		s.log.Info("failover: accepting writes", "epoch", s.masterEpoch.Load())
	}
	if errors.Is(s.fenced, store.ErrFenced) && !errors.Is(want, store.ErrFenced) {
		if b := s.Broker(); b != nil {
			b.RegisterSoon() // registrations were held while the lease was out
		}
	}
	s.fenced = want
}
