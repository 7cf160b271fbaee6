package controller

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// ReplicaKey names one replica: its set and its broker id.
type ReplicaKey struct {
	Set SetKey
	ID  int64
}

func (k ReplicaKey) String() string { return fmt.Sprintf("%s#%d", k.Set, k.ID) }

// Report is what a replica says about itself when it registers or
// heartbeats.
type Report struct {
	Addr          string
	Epoch         int32 // last epoch of its epoch file
	MaxOffset     int64
	ConfirmOffset int64
	// Timeout is how long the controller waits for its next heartbeat; 0:
	// the controller's default.
	Timeout time.Duration
}

type liveEntry struct {
	last   time.Time
	report Report
}

// Tracker is the leader's soft state: when each replica was last heard from
// and what it reported. It is not replicated: a new leader starts empty
// (Reset), and counts every replica alive for one timeout from that moment,
// so that it never declares a master dead that may have heartbeated to the
// old leader a moment ago. Time enters as a now argument. Tracker is not safe
// for concurrent use.
type Tracker struct {
	defaultTimeout time.Duration
	since          time.Time // when this leader started listening
	m              map[ReplicaKey]*liveEntry
}

// NewTracker returns an empty tracker that started at since. defaultTimeout
// applies to replicas that report no timeout of their own.
func NewTracker(defaultTimeout time.Duration, since time.Time) *Tracker {
	return &Tracker{defaultTimeout: defaultTimeout, since: since, m: map[ReplicaKey]*liveEntry{}}
}

// Reset forgets everything and starts again at now (a new leadership).
func (t *Tracker) Reset(now time.Time) {
	t.since = now
	clear(t.m)
}

// Beat records a registration or heartbeat received at now. A report older
// than the last one (now before it) keeps the later time.
func (t *Tracker) Beat(k ReplicaKey, r Report, now time.Time) {
	e, ok := t.m[k]
	if !ok {
		e = &liveEntry{}
		t.m[k] = e
	}
	e.report = r
	if now.After(e.last) {
		e.last = now
	}
}

// Forget drops a replica (cleaned from its set).
func (t *Tracker) Forget(k ReplicaKey) { delete(t.m, k) }

func (t *Tracker) timeout(e *liveEntry) time.Duration {
	if e != nil && e.report.Timeout > 0 {
		return e.report.Timeout
	}
	return t.defaultTimeout
}

// lastHeard is when k was last heard from, or the tracker's start if later.
func (t *Tracker) lastHeard(k ReplicaKey) time.Time {
	if e, ok := t.m[k]; ok && e.last.After(t.since) {
		return e.last
	}
	return t.since
}

// Alive reports whether k has been heard from within its timeout at now,
// counting the tracker's start as a heartbeat.
func (t *Tracker) Alive(k ReplicaKey, now time.Time) bool {
	return now.Sub(t.lastHeard(k)) <= t.timeout(t.m[k])
}

// Reported returns k's last report, if it has reported since the start.
func (t *Tracker) Reported(k ReplicaKey) (Report, bool) {
	e, ok := t.m[k]
	if !ok {
		return Report{}, false
	}
	return e.report, true
}

// Policy is the election policy.
type Policy struct {
	// AllowUnclean allows electing a replica outside the SyncStateSet when no
	// member of it can be (enableElectUncleanMaster). Such a master may lack
	// acknowledged messages. Default false.
	AllowUnclean bool
}

// Core is the controller's protocol core, pure: the replicated State, the
// leader's Tracker and the election policy. The leader asks it for
// decisions (Decide*), which are Commands to put through the Raft log;
// Apply, on every controller, applies what the log committed. A decision
// carries the epochs it was made at, so that Apply refuses it if the state
// moved in between.
//
// Core has no goroutines, no I/O and no clock: time enters as now. It is not
// safe for concurrent use.
type Core struct {
	State  *State
	Live   *Tracker
	Policy Policy
}

// NewCore returns a core with an empty state.
func NewCore(p Policy, defaultTimeout time.Duration, now time.Time) *Core {
	return &Core{State: NewState(), Live: NewTracker(defaultTimeout, now), Policy: p}
}

// Apply applies a committed command. A clean forgets the cleaned replicas'
// liveness too.
func (c *Core) Apply(cmd Command) Result {
	r := c.State.Apply(cmd)
	if cmd.Op == OpClean && r.Err == nil && cmd.Clean != nil {
		for _, id := range cmd.Clean.IDs {
			c.Live.Forget(ReplicaKey{cmd.Set, id})
		}
	}
	return r
}

// Register records a registration received at now and returns the command
// that registers the replica, or nil when the state already holds it as
// given.
func (c *Core) Register(k SetKey, r Replica, rep Report, now time.Time) *Command {
	c.Live.Beat(ReplicaKey{k, r.ID}, rep, now)
	if bs, ok := c.State.sets[k]; ok {
		if old, ok := bs.Replicas[r.ID]; ok && old == r {
			return nil
		}
	}
	return &Command{Op: OpRegister, Set: k, Register: &RegisterCmd{Replica: r}}
}

// Heartbeat records a heartbeat received at now. A replica the state does not
// hold under that address must register first
// (CONTROLLER_BROKER_NEED_TO_BE_REGISTERED).
func (c *Core) Heartbeat(k ReplicaKey, rep Report, now time.Time) error {
	bs, ok := c.State.sets[k.Set]
	if !ok {
		return &protocol.Error{Code: protocol.ControllerBrokerNeedToBeRegistered, Remark: "no broker set " + k.Set.String()}
	}
	if r, ok := bs.Replicas[k.ID]; !ok || r.Addr != rep.Addr {
		return &protocol.Error{Code: protocol.ControllerBrokerNeedToBeRegistered,
			Remark: fmt.Sprintf("%s: broker %d at %s is not registered", k.Set, k.ID, rep.Addr)}
	}
	c.Live.Beat(k, rep, now)
	return nil
}

// candidates returns the replicas of bs that may become master at now, best
// first: alive, reported to this leader, not the current master, and, unless
// unclean, electable (BrokerSet.Electable). Best is the highest epoch, then the highest max offset (the most
// caught up), then the lowest election priority, then the lowest id.
func (c *Core) candidates(bs *BrokerSet, now time.Time, unclean bool) []int64 {
	type cand struct {
		id  int64
		rep Report
	}
	var cs []cand
	for _, id := range slices.Sorted(maps.Keys(bs.Replicas)) {
		k := ReplicaKey{bs.Key, id}
		rep, reported := c.Live.Reported(k)
		if id == bs.Master || !reported || !c.Live.Alive(k, now) || (!unclean && !bs.Electable(id)) {
			continue
		}
		cs = append(cs, cand{id, rep})
	}
	slices.SortStableFunc(cs, func(a, b cand) int {
		return cmp.Or(
			cmp.Compare(b.rep.Epoch, a.rep.Epoch),
			cmp.Compare(b.rep.MaxOffset, a.rep.MaxOffset),
			cmp.Compare(bs.Replicas[a.id].Priority, bs.Replicas[b.id].Priority),
			cmp.Compare(a.id, b.id))
	})
	ids := make([]int64, len(cs))
	for i, x := range cs {
		ids[i] = x.id
	}
	return ids
}

// DecideElection decides the automatic election of set k at now: nil while
// the master is alive or when a set without master has no candidate. When
// the master is dead it elects the best candidate of the SyncStateSet (or,
// with AllowUnclean and none alive there, of all replicas), and otherwise
// records the master's loss (NoMaster), which fences it with a new epoch.
func (c *Core) DecideElection(k SetKey, now time.Time) *Command {
	bs, ok := c.State.sets[k]
	if !ok {
		return nil
	}
	if bs.Master != NoMaster && c.Live.Alive(ReplicaKey{k, bs.Master}, now) {
		return nil
	}
	cands := c.candidates(bs, now, false)
	if len(cands) == 0 && c.Policy.AllowUnclean {
		cands = c.candidates(bs, now, true)
	}
	var reason string
	switch {
	case bs.Master != NoMaster:
		reason = fmt.Sprintf("master %d missed its heartbeats", bs.Master)
	case bs.Epoch == 0:
		reason = "first election"
	default:
		reason = "the set has no master"
	}
	if len(cands) == 0 {
		if bs.Master == NoMaster {
			return nil
		}
		return &Command{Op: OpElect, Set: k, Elect: &ElectCmd{ExpectEpoch: bs.Epoch, NewMaster: NoMaster,
			Reason: reason + "; no electable replica is alive"}}
	}
	return &Command{Op: OpElect, Set: k, Elect: &ElectCmd{ExpectEpoch: bs.Epoch, NewMaster: cands[0],
		Unclean: !bs.Electable(cands[0]), Reason: reason}}
}

// Scan decides the automatic elections of every set at now, in key order.
func (c *Core) Scan(now time.Time) []Command {
	var out []Command
	for _, k := range c.State.Keys() {
		if cmd := c.DecideElection(k, now); cmd != nil {
			out = append(out, *cmd)
		}
	}
	return out
}

// DecideElect decides an operator's election of target (mqadmin electMaster)
// at now: nil if target already is the master. target must be registered,
// alive and reported to this leader, and in the SyncStateSet unless
// AllowUnclean.
func (c *Core) DecideElect(k SetKey, target int64, now time.Time) (*Command, error) {
	bs, ok := c.State.sets[k]
	if !ok {
		return nil, notExist(k)
	}
	if target == bs.Master {
		return nil, nil
	}
	if _, ok := bs.Replicas[target]; !ok {
		return nil, invalid(protocol.ControllerBrokerMetadataNotExist, "%s: broker %d is not registered", k, target)
	}
	rk := ReplicaKey{k, target}
	if _, reported := c.Live.Reported(rk); !reported || !c.Live.Alive(rk, now) {
		return nil, invalid(protocol.ControllerBrokerNotAlive, "%s: broker %d is not alive", k, target)
	}
	if !bs.Electable(target) && !c.Policy.AllowUnclean {
		return nil, invalid(protocol.ControllerElectMasterFailed,
			"%s: broker %d is not in the SyncStateSet %v and enableElectUncleanMaster is false", k, target, bs.SyncStateSet)
	}
	return &Command{Op: OpElect, Set: k, Elect: &ElectCmd{ExpectEpoch: bs.Epoch, NewMaster: target,
		Unclean: !bs.Electable(target), Reason: "elected by an operator"}}, nil
}

// DecideAlter checks a master's request to replace its SyncStateSet at now
// and returns the command, or nil when the set would not change. Replicas it
// adds must be alive.
func (c *Core) DecideAlter(k SetKey, a AlterCmd, now time.Time) (*Command, error) {
	bs, ok := c.State.sets[k]
	if !ok {
		return nil, notExist(k)
	}
	set, err := checkAlter(bs, &a)
	if err != nil {
		return nil, err
	}
	for _, id := range set {
		rk := ReplicaKey{k, id}
		if _, reported := c.Live.Reported(rk); !bs.InSync(id) && (!reported || !c.Live.Alive(rk, now)) {
			return nil, invalid(protocol.ControllerBrokerNotAlive, "%s: broker %d is not alive", k, id)
		}
	}
	if slices.Equal(set, bs.SyncStateSet) {
		return nil, nil
	}
	a.NewSyncStateSet = set
	return &Command{Op: OpAlter, Set: k, Alter: &a}, nil
}

// DecideClean checks an operator's request to forget replicas at now. The
// master is never forgotten, nor a live replica unless cleanLiving.
func (c *Core) DecideClean(k SetKey, ids []int64, cleanLiving bool, now time.Time) (*Command, error) {
	bs, ok := c.State.sets[k]
	if !ok {
		return nil, notExist(k)
	}
	if len(ids) == 0 {
		return nil, invalid(protocol.ControllerInvalidCleanBrokerMetadata, "%s: no broker id to clean", k)
	}
	for _, id := range ids {
		if _, ok := bs.Replicas[id]; !ok {
			return nil, invalid(protocol.ControllerInvalidCleanBrokerMetadata, "%s: broker %d is not registered", k, id)
		}
		if id == bs.Master {
			return nil, invalid(protocol.ControllerInvalidCleanBrokerMetadata, "%s: broker %d is the master", k, id)
		}
		if !cleanLiving && c.Live.Alive(ReplicaKey{k, id}, now) {
			return nil, invalid(protocol.ControllerInvalidCleanBrokerMetadata,
				"%s: broker %d is alive (set isCleanLivingBroker to forget it anyway)", k, id)
		}
	}
	return &Command{Op: OpClean, Set: k, Clean: &CleanCmd{IDs: slices.Clone(ids)}}, nil
}

// Info describes set k at now for the wire.
func (c *Core) Info(k SetKey, now time.Time) (body.ReplicaInfo, error) {
	bs, ok := c.State.sets[k]
	if !ok {
		return body.ReplicaInfo{}, notExist(k)
	}
	return c.describe(bs, now), nil
}

func (c *Core) describe(bs *BrokerSet, now time.Time) body.ReplicaInfo {
	ri := body.ReplicaInfo{
		ClusterName:       bs.Key.Cluster,
		BrokerName:        bs.Key.Name,
		MasterBrokerID:    bs.Master,
		MasterEpoch:       bs.Epoch,
		SyncStateSet:      slices.Clone(bs.SyncStateSet),
		SyncStateSetEpoch: bs.SyncStateSetEpoch,
		Replicas:          []body.ReplicaMember{},
	}
	if ri.SyncStateSet == nil {
		ri.SyncStateSet = []int64{}
	}
	if m, ok := bs.Replicas[bs.Master]; ok {
		ri.MasterAddress, ri.MasterHAAddress = m.Addr, m.HAAddr
	}
	for _, id := range slices.Sorted(maps.Keys(bs.Replicas)) {
		r := bs.Replicas[id]
		k := ReplicaKey{bs.Key, id}
		m := body.ReplicaMember{
			BrokerID: id, BrokerAddress: r.Addr, HAServerAddr: r.HAAddr, ElectionPriority: r.Priority,
			InSyncStateSet: bs.InSync(id), Alive: c.Live.Alive(k, now), LastHeartbeatAgoMillis: -1,
		}
		if rep, ok := c.Live.Reported(k); ok {
			m.Reported = true
			m.Epoch, m.MaxOffset, m.ConfirmOffset = rep.Epoch, rep.MaxOffset, rep.ConfirmOffset
			m.LastHeartbeatAgoMillis = now.Sub(c.Live.lastHeard(k)).Milliseconds()
		}
		ri.Replicas = append(ri.Replicas, m)
	}
	return ri
}

// Describe lists the sets matching cluster and name ("" matches any) at now,
// in key order.
func (c *Core) Describe(cluster, name string, now time.Time) []body.ReplicaInfo {
	out := []body.ReplicaInfo{}
	for _, k := range c.State.Keys() {
		if (cluster == "" || k.Cluster == cluster) && (name == "" || k.Name == name) {
			out = append(out, c.describe(c.State.sets[k], now))
		}
	}
	return out
}
