// Package client is the broker's side of the controller protocol: register
// a replica with the controllers, heartbeat, alter the SyncStateSet as
// master, read the broker set's state, and hear at once when the set's
// master changes.
//
// A Client speaks for one broker (one replica of one broker set). It knows
// every controller address (the broker's controllerAddr) and follows the
// leader: a follower answers CONTROLLER_NOT_LEADER naming the leader, and
// the client goes there; an address that does not answer is skipped for the
// next. Each call retries until its context ends.
//
// Role changes reach the client two ways: the leader pushes
// NOTIFY_BROKER_ROLE_CHANGED on the connection the broker last heartbeated
// on, and every heartbeat's answer carries the set's state. Latest holds the
// newest view (the one with the higher epochs); Changes signals when it
// changes. A view's Confirmed time, with Config.HeartbeatTimeout, bounds how
// long the role it states can be relied on (Lease).
//
// # Example
//
//	c, err := client.New(client.Config{Addrs: addrs, Cluster: "DefaultCluster", BrokerName: "broker-a",
//		BrokerID: 0, BrokerAddr: "10.0.0.1:10911", HAAddr: "10.0.0.1:10912"}, log)
//	defer c.Close()
//	go c.Run(ctx, time.Second, func() client.Progress { return client.Progress{MaxOffset: store.MaxPhyOffset()} })
//	for range c.Changes() {
//		v, _ := c.Latest()
//		if v.IsMaster(0) { ... } else { ... follow v.MasterHAAddress ... }
//	}
//
// Imports: the standard library, pkg/clock, pkg/protocol (and body, header)
// and pkg/remoting; never the controller itself (internal/lint), so that the
// broker can import it.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// ErrClosed is returned by calls after Close.
var ErrClosed = errors.New("controller client: closed")

// Config configures a Client.
type Config struct {
	// Addrs are the controllers' addresses, host:port (the broker's
	// controllerAddr, split on ';'). Required.
	Addrs []string
	// Cluster and BrokerName name the broker set; BrokerID is this replica's
	// id in it; BrokerAddr the address clients dial; HAAddr the address
	// slaves replicate from. All but HAAddr required.
	Cluster, BrokerName string
	BrokerID            int64
	BrokerAddr          string
	HAAddr              string
	// Priority is brokerElectionPriority: between equally caught-up
	// candidates, the lower wins. Default 0.
	Priority int32
	// HeartbeatTimeout is sent to the controller: after this long without a
	// heartbeat it counts the broker dead (controllerHeartBeatTimeoutMills).
	// It also bounds Lease. Default 10 s.
	HeartbeatTimeout time.Duration
	// RequestTimeout bounds one attempt at one controller. Default 3 s.
	RequestTimeout time.Duration
	// Remoting configures the connections. Zero: remoting's defaults.
	Remoting remoting.ClientConfig
	// Clock times requests (Confirmed) and backoffs. Default clock.Real{}.
	Clock clock.Clock
}

func (c *Config) validate() error {
	switch {
	case len(c.Addrs) == 0:
		return errors.New("controller client: no controller address")
	case c.Cluster == "" || c.BrokerName == "":
		return errors.New("controller client: Cluster and BrokerName are required")
	case c.BrokerID < 0:
		return fmt.Errorf("controller client: BrokerID %d is negative", c.BrokerID)
	case c.BrokerAddr == "":
		return errors.New("controller client: BrokerAddr is required")
	case c.HeartbeatTimeout < 0 || c.RequestTimeout < 0:
		return errors.New("controller client: negative timeout")
	}
	return nil
}

// Progress is what a replica reports about its log with each registration
// and heartbeat.
type Progress struct {
	// Epoch is the last epoch in the replica's epoch file (0: none).
	Epoch int32
	// MaxOffset is its max commit-log offset; the controller elects the most
	// caught-up replica.
	MaxOffset int64
	// ConfirmOffset is the offset known replicated to the set.
	ConfirmOffset int64
}

// Role is a replica's role in its set as the controller sees it.
type Role int

const (
	// RoleNone: the set has no master (or the view is empty).
	RoleNone Role = iota
	// RoleMaster: the replica is the set's master.
	RoleMaster
	// RoleSlave: another replica is the master.
	RoleSlave
)

func (r Role) String() string {
	switch r {
	case RoleMaster:
		return "MASTER"
	case RoleSlave:
		return "SLAVE"
	}
	return "NONE"
}

// View is a broker set's state as a controller leader gave it.
type View struct {
	body.ReplicaInfo
	// Confirmed is when the request whose answer carried this view was sent,
	// on the client's clock; zero for a view pushed by a role-change notice,
	// until a heartbeat confirms it.
	Confirmed time.Time
}

// RoleOf returns id's role in the view.
func (v *View) RoleOf(id int64) Role {
	switch {
	case v.MasterBrokerID == body.NoMasterID:
		return RoleNone
	case v.MasterBrokerID == id:
		return RoleMaster
	}
	return RoleSlave
}

// IsMaster reports whether id is the master in the view.
func (v *View) IsMaster(id int64) bool { return v.RoleOf(id) == RoleMaster }

// Client talks to the controllers for one broker. Methods are safe for
// concurrent use. Its only goroutines are remoting's (connections, and the
// handler of pushed notices); Run runs on the caller's.
type Client struct {
	cfg Config
	log *slog.Logger
	rc  *remoting.Client

	changes chan struct{} // cap 1: Latest changed
	kick    chan struct{} // cap 1: Run should heartbeat now

	pausedUntil atomic.Int64 // Unix ns before which Run sends nothing; 0: not paused

	mu struct {
		sync.Mutex
		leader string
		latest *View
		closed bool
	}
}

// New returns a client; it connects on the first call. log may be nil.
func New(cfg Config, log *slog.Logger) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.HeartbeatTimeout == 0 {
		cfg.HeartbeatTimeout = 10 * time.Second
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 3 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	cfg.Addrs = slices.Clone(cfg.Addrs)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		cfg:     cfg,
		log:     log,
		rc:      remoting.NewClient(cfg.Remoting, log),
		changes: make(chan struct{}, 1),
		kick:    make(chan struct{}, 1),
	}
	c.rc.Register(protocol.NotifyBrokerRoleChanged, remoting.ProcessorFunc(c.onNotice))
	return c, nil
}

// Close closes every connection and waits for remoting's goroutines.
// Idempotent; later calls return ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	c.mu.closed = true
	c.mu.Unlock()
	return c.rc.Close()
}

// Changes is signalled (capacity 1, never closed) whenever Latest becomes a
// newer view: a new master or a new SyncStateSet.
func (c *Client) Changes() <-chan struct{} { return c.changes }

// Latest returns the newest view the client has seen, if any.
func (c *Client) Latest() (View, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.latest == nil {
		return View{}, false
	}
	v := *c.mu.latest
	v.SyncStateSet = slices.Clone(v.SyncStateSet)
	v.Replicas = slices.Clone(v.Replicas)
	return v, true
}

// Lease returns the newest view and until when its master is certain to be
// the set's only master: no other can be elected before Confirmed +
// HeartbeatTimeout (the controller waits that long after the last heartbeat
// it received, and a new controller leader waits that long after taking
// over). Zero when unconfirmed. A master should stop acknowledging writes a
// margin before it, for clock drift.
func (c *Client) Lease() (View, time.Time) {
	v, ok := c.Latest()
	if !ok || v.Confirmed.IsZero() {
		return v, time.Time{}
	}
	return v, v.Confirmed.Add(c.cfg.HeartbeatTimeout)
}

// Leader returns the address of the controller believed to lead, or "".
func (c *Client) Leader() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.leader
}

// offer records a view if it is newer than the latest, or the same state
// confirmed later.
func (c *Client) offer(v View) {
	if v.ClusterName != c.cfg.Cluster || v.BrokerName != c.cfg.BrokerName {
		return
	}
	c.mu.Lock()
	cur := c.mu.latest
	changed := cur == nil || v.NewerThan(&cur.ReplicaInfo)
	switch {
	case changed:
		c.mu.latest = &v
	case !v.NewerThan(&cur.ReplicaInfo) && !cur.NewerThan(&v.ReplicaInfo) && v.Confirmed.After(cur.Confirmed):
		c.mu.latest = &v
	}
	c.mu.Unlock()
	if changed {
		select {
		case c.changes <- struct{}{}:
		default:
		}
	}
}

// onNotice handles NOTIFY_BROKER_ROLE_CHANGED: the view is taken (it may
// be newer) and Run is asked to heartbeat at once, to confirm it.
func (c *Client) onNotice(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	var info body.ReplicaInfo
	if err := body.DecodeJSON("ReplicaInfo", req.Body, &info); err != nil {
		c.log.Warn("controller client: bad role-change notice", "err", err)
		return nil, nil
	}
	c.log.Info("controller client: role-change notice", "set", info.ClusterName+"/"+info.BrokerName,
		"master", info.MasterBrokerID, "epoch", info.MasterEpoch)
	c.offer(View{ReplicaInfo: info})
	select {
	case c.kick <- struct{}{}:
	default:
	}
	if req.IsOneway() {
		return nil, nil
	}
	return protocol.NewResponse(req, protocol.Success, ""), nil
}

// order returns the addresses to try: the known leader first, then the
// configured ones.
func (c *Client) order() []string {
	c.mu.Lock()
	leader := c.mu.leader
	c.mu.Unlock()
	out := make([]string, 0, len(c.cfg.Addrs)+1)
	if leader != "" {
		out = append(out, leader)
	}
	for _, a := range c.cfg.Addrs {
		if a != leader {
			out = append(out, a)
		}
	}
	return out
}

func (c *Client) setLeader(addr string) {
	c.mu.Lock()
	c.mu.leader = addr
	c.mu.Unlock()
}

// call sends the request build makes to the leader, following
// CONTROLLER_NOT_LEADER hints that name a configured address and trying
// every address, until an answer
// other than NOT_LEADER or SYSTEM_BUSY arrives or ctx ends. It returns the
// answer (a non-success code as *protocol.Error) and when the answered
// attempt was sent.
func (c *Client) call(ctx context.Context, build func() *protocol.Command) (*protocol.Command, time.Time, error) {
	backoff := 20 * time.Millisecond
	var lastErr error
	for {
		c.mu.Lock()
		closed := c.mu.closed
		c.mu.Unlock()
		if closed {
			return nil, time.Time{}, ErrClosed
		}
		addrs := c.order()
		hops := 0
		for i := 0; i < len(addrs); i++ {
			addr := addrs[i]
			actx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
			sent := c.cfg.Clock.Now()
			resp, err := c.rc.Invoke(actx, addr, build())
			cancel()
			if err != nil {
				lastErr = fmt.Errorf("%s: %w", addr, err)
				if errors.Is(err, remoting.ErrClosed) {
					return nil, time.Time{}, ErrClosed
				}
				if ctx.Err() != nil {
					return nil, time.Time{}, fmt.Errorf("controller client: %w (last error: %v)", ctx.Err(), lastErr)
				}
				continue
			}
			switch resp.ResponseCode() {
			case protocol.ControllerNotLeader:
				lastErr = fmt.Errorf("%s: %w", addr, protocol.ResponseError(resp))
				var md header.ControllerMetadata
				hint := ""
				if md.Decode(resp) == nil {
					hint = md.ControllerLeaderAddress
				}
				// Follow the hint only to an address of controllerAddr: a
				// broker may reach the controllers through other addresses
				// than they name each other by (NAT, a proxy), and trying
				// every configured address finds the leader as well.
				if hint != "" && hint != addr && hops < len(c.cfg.Addrs)+1 && slices.Contains(c.cfg.Addrs, hint) {
					// Try the named leader next.
					hops++
					if j := slices.Index(addrs[i+1:], hint); j >= 0 {
						addrs = slices.Delete(addrs, i+1+j, i+2+j)
					}
					addrs = slices.Insert(addrs, i+1, hint)
				}
				continue
			case protocol.SystemBusy:
				lastErr = fmt.Errorf("%s: %w", addr, protocol.ResponseError(resp))
				continue
			}
			c.setLeader(addr)
			return resp, sent, protocol.ResponseError(resp)
		}
		// Nobody leads right now (an election is under way) or nobody
		// answers: wait and go round again.
		t := c.cfg.Clock.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, time.Time{}, fmt.Errorf("controller client: %w (last error: %v)", ctx.Err(), lastErr)
		case <-t.C():
		}
		backoff = min(2*backoff, time.Second)
	}
}

// view decodes an answer's ReplicaInfo, records it and returns it.
func (c *Client) view(resp *protocol.Command, sent time.Time) (View, error) {
	var info body.ReplicaInfo
	if err := body.DecodeJSON("ReplicaInfo", resp.Body, &info); err != nil {
		return View{}, fmt.Errorf("controller client: %w", err)
	}
	v := View{ReplicaInfo: info, Confirmed: sent}
	c.offer(v)
	return v, nil
}

// Register registers this replica with the controllers (or refreshes its
// registration) and returns the set's state. The first replica to register
// in a new set becomes its master; a set without master gets this replica
// if it may be elected. It also counts as a heartbeat.
func (c *Client) Register(ctx context.Context, p Progress) (View, error) {
	resp, sent, err := c.call(ctx, func() *protocol.Command {
		return header.NewRequest(protocol.ControllerRegisterBroker, &header.ControllerRegisterBroker{
			ClusterName: c.cfg.Cluster, BrokerName: c.cfg.BrokerName, BrokerAddress: c.cfg.BrokerAddr,
			BrokerID: c.cfg.BrokerID, HAServerAddr: c.cfg.HAAddr, Epoch: p.Epoch, MaxOffset: p.MaxOffset,
			ConfirmOffset: p.ConfirmOffset, HeartbeatTimeoutMillis: c.cfg.HeartbeatTimeout.Milliseconds(),
			ElectionPriority: c.cfg.Priority,
		})
	})
	if err != nil {
		return View{}, fmt.Errorf("controller client: register: %w", err)
	}
	return c.view(resp, sent)
}

// Heartbeat tells the leader this replica is alive and how far its log
// goes, and returns the set's state. A leader that does not know the
// replica (CONTROLLER_BROKER_NEED_TO_BE_REGISTERED) gets a registration
// instead.
func (c *Client) Heartbeat(ctx context.Context, p Progress) (View, error) {
	resp, sent, err := c.call(ctx, func() *protocol.Command {
		return header.NewRequest(protocol.BrokerHeartbeat, &header.BrokerHeartbeat{
			ClusterName: c.cfg.Cluster, BrokerAddr: c.cfg.BrokerAddr, BrokerName: c.cfg.BrokerName,
			BrokerID: c.cfg.BrokerID, Epoch: p.Epoch, MaxOffset: p.MaxOffset, ConfirmOffset: p.ConfirmOffset,
			HeartbeatTimeoutMills: c.cfg.HeartbeatTimeout.Milliseconds(), ElectionPriority: c.cfg.Priority,
		})
	})
	if errors.Is(err, protocol.ErrControllerBrokerNeedToBeRegistered) {
		return c.Register(ctx, p)
	}
	if err != nil {
		return View{}, fmt.Errorf("controller client: heartbeat: %w", err)
	}
	return c.view(resp, sent)
}

// AlterSyncStateSet replaces the set's SyncStateSet; only the master may,
// at its current masterEpoch and the current syncStateSetEpoch (both from
// its latest view), and the new set must include the master and only
// registered replicas, any it adds alive. Refusals are *protocol.Error:
// ErrControllerFencedMasterEpoch (a newer master exists: step down),
// ErrControllerFencedSyncStateSetEpoch (the set changed: refresh and retry),
// ErrControllerInvalidMaster, ErrControllerInvalidReplicas,
// ErrControllerBrokerNotAlive. After a timeout the change may have been
// applied: GetReplicaInfo tells.
func (c *Client) AlterSyncStateSet(ctx context.Context, masterEpoch, syncStateSetEpoch int32, ids []int64) (View, error) {
	b, err := jsonBody(body.SyncStateSet{SyncStateSet: ids, SyncStateSetEpoch: syncStateSetEpoch})
	if err != nil {
		return View{}, err
	}
	resp, sent, err := c.call(ctx, func() *protocol.Command {
		req := header.NewRequest(protocol.ControllerAlterSyncStateSet, &header.ControllerAlterSyncStateSet{
			ClusterName: c.cfg.Cluster, BrokerName: c.cfg.BrokerName, MasterAddress: c.cfg.BrokerAddr,
			MasterBrokerID: c.cfg.BrokerID, MasterEpoch: masterEpoch,
		})
		req.Body = b
		return req
	})
	if err != nil {
		return View{}, fmt.Errorf("controller client: alter SyncStateSet: %w", err)
	}
	return c.view(resp, sent)
}

// GetReplicaInfo reads the set's state from the leader.
func (c *Client) GetReplicaInfo(ctx context.Context) (View, error) {
	resp, sent, err := c.call(ctx, func() *protocol.Command {
		return header.NewRequest(protocol.ControllerGetReplicaInfo, &header.ControllerGetReplicaInfo{
			ClusterName: c.cfg.Cluster, BrokerName: c.cfg.BrokerName,
		})
	})
	if err != nil {
		return View{}, fmt.Errorf("controller client: get replica info: %w", err)
	}
	return c.view(resp, sent)
}

func jsonBody(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("controller client: %w", err)
	}
	return b, nil
}

// Pause makes Run send nothing for d from now, so the controller counts
// this replica dead after its heartbeat timeout (a master that cannot serve
// gives the set up). A later Pause replaces the earlier one.
func (c *Client) Pause(d time.Duration) {
	c.pausedUntil.Store(c.cfg.Clock.Now().Add(d).UnixNano())
}

// Paused reports whether Run is paused now.
func (c *Client) Paused() bool {
	until := c.pausedUntil.Load()
	return until != 0 && c.cfg.Clock.Now().UnixNano() < until
}

// Run registers (retrying until it succeeds) and then heartbeats every
// interval, and at once after a role-change notice, reporting progress()
// each time, until ctx ends; it returns ctx's error. It sends nothing
// while paused (Pause). Failed calls are
// logged and retried at the next beat. It runs on the caller's goroutine.
func (c *Client) Run(ctx context.Context, interval time.Duration, progress func() Progress) error {
	if interval <= 0 {
		return errors.New("controller client: Run: interval must be positive")
	}
	registered := false
	failing := false
	t := c.cfg.Clock.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C():
		case <-c.kick:
		}
		if c.Paused() {
			t.Reset(interval)
			continue
		}
		actx, cancel := context.WithTimeout(ctx, max(interval, c.cfg.RequestTimeout))
		p := progress()
		var err error
		if !registered {
			_, err = c.Register(actx, p)
			registered = err == nil
		} else {
			_, err = c.Heartbeat(actx, p)
		}
		cancel()
		switch {
		case errors.Is(err, ErrClosed):
			return err
		case err != nil && ctx.Err() == nil && !failing:
			c.log.Warn("controller client: cannot reach the controller leader", "err", err)
			failing = true
		case err == nil && failing:
			c.log.Info("controller client: controller leader reachable again", "leader", c.Leader())
			failing = false
		}
		t.Reset(interval)
	}
}
