package controller

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// NoMaster is the master id of a broker set without a master.
const NoMaster = body.NoMasterID

// SetKey names a broker set: the replicas of one brokerName in one cluster.
type SetKey struct {
	Cluster string `json:"cluster"`
	Name    string `json:"name"`
}

func (k SetKey) String() string { return k.Cluster + "/" + k.Name }

func compareSetKeys(a, b SetKey) int {
	return cmp.Or(strings.Compare(a.Cluster, b.Cluster), strings.Compare(a.Name, b.Name))
}

// Replica is the replicated identity of one member of a broker set: what it
// registered with. Liveness and progress are not replicated (see Tracker).
type Replica struct {
	ID       int64  `json:"id"`
	Addr     string `json:"addr"`
	HAAddr   string `json:"haAddr,omitempty"`
	Priority int32  `json:"priority,omitempty"` // brokerElectionPriority: lower wins ties
}

// BrokerSet is the replicated state of one broker set.
//
// Invariants (checked by Check): Master is NoMaster or a registered replica
// that is in SyncStateSet; SyncStateSet is sorted, unique and holds only
// registered replicas; Epoch and SyncStateSetEpoch never decrease.
type BrokerSet struct {
	Key      SetKey
	Replicas map[int64]Replica
	// Master is the id of the master, or NoMaster.
	Master int64
	// Epoch is the master epoch: it grows by one on every master change,
	// including to NoMaster, so no two masters ever share one.
	Epoch int32
	// SyncStateSet holds the ids of the replicas in sync with the master,
	// sorted. It survives the master's loss, so that any of its members can
	// be elected when it comes back.
	SyncStateSet []int64
	// SyncStateSetEpoch grows by one on every change of SyncStateSet.
	SyncStateSetEpoch int32
}

// InSync reports whether id is in the SyncStateSet.
func (bs *BrokerSet) InSync(id int64) bool {
	_, ok := slices.BinarySearch(bs.SyncStateSet, id)
	return ok
}

func (bs *BrokerSet) clone() *BrokerSet {
	c := *bs
	c.Replicas = maps.Clone(bs.Replicas)
	c.SyncStateSet = slices.Clone(bs.SyncStateSet)
	return &c
}

// Check returns the first broken invariant of bs, or nil.
func (bs *BrokerSet) Check() error {
	if !slices.IsSorted(bs.SyncStateSet) || len(slices.Compact(slices.Clone(bs.SyncStateSet))) != len(bs.SyncStateSet) {
		return fmt.Errorf("%s: SyncStateSet %v is not sorted and unique", bs.Key, bs.SyncStateSet)
	}
	for _, id := range bs.SyncStateSet {
		if _, ok := bs.Replicas[id]; !ok {
			return fmt.Errorf("%s: SyncStateSet member %d is not registered", bs.Key, id)
		}
	}
	if bs.Master != NoMaster {
		if _, ok := bs.Replicas[bs.Master]; !ok {
			return fmt.Errorf("%s: master %d is not registered", bs.Key, bs.Master)
		}
		if !bs.InSync(bs.Master) {
			return fmt.Errorf("%s: master %d is not in its SyncStateSet %v", bs.Key, bs.Master, bs.SyncStateSet)
		}
	}
	if bs.Epoch < 0 || bs.SyncStateSetEpoch < 0 {
		return fmt.Errorf("%s: negative epoch", bs.Key)
	}
	return nil
}

// State is the controller's replicated state machine: every broker set. It
// changes only through Apply, with commands that went through the Raft log,
// and Apply is deterministic: the same commands in the same order give the
// same state on every controller. It has no goroutines, no I/O and no clock.
// State is not safe for concurrent use.
type State struct {
	sets map[SetKey]*BrokerSet
}

// NewState returns an empty state.
func NewState() *State { return &State{sets: map[SetKey]*BrokerSet{}} }

// Set returns a copy of a broker set.
func (s *State) Set(k SetKey) (*BrokerSet, bool) {
	bs, ok := s.sets[k]
	if !ok {
		return nil, false
	}
	return bs.clone(), true
}

// Keys returns every broker set's key, sorted.
func (s *State) Keys() []SetKey {
	return slices.SortedFunc(maps.Keys(s.sets), compareSetKeys)
}

// Resolve finds the set for a request that may leave the cluster out: with a
// cluster it is that set; without, the only set with that broker name.
func (s *State) Resolve(cluster, name string) (SetKey, error) {
	if cluster != "" {
		k := SetKey{cluster, name}
		if _, ok := s.sets[k]; !ok {
			return k, notExist(k)
		}
		return k, nil
	}
	var found []SetKey
	for k := range s.sets {
		if k.Name == name {
			found = append(found, k)
		}
	}
	switch len(found) {
	case 0:
		return SetKey{Name: name}, &protocol.Error{Code: protocol.ControllerBrokerMetadataNotExist,
			Remark: "no broker set named " + strconv.Quote(name)}
	case 1:
		return found[0], nil
	}
	slices.SortFunc(found, compareSetKeys)
	return SetKey{}, &protocol.Error{Code: protocol.ControllerInvalidRequest,
		Remark: fmt.Sprintf("broker name %q is in several clusters (%v): give the cluster", name, found)}
}

func notExist(k SetKey) error {
	return &protocol.Error{Code: protocol.ControllerBrokerMetadataNotExist, Remark: "no broker set " + k.String()}
}

// Op is the kind of a Command.
type Op string

// The commands of the Raft log. Part of the log's format: never rename.
const (
	OpRegister Op = "register"
	OpElect    Op = "elect"
	OpAlter    Op = "alterSyncStateSet"
	OpClean    Op = "clean"
)

// Command is one entry of the controller's Raft log. Exactly the field that
// matches Op is set. Commands that decide (Elect, Alter) carry the epochs the
// decision was based on, and Apply refuses them when those moved: a decision
// made on a stale view, or proposed twice, fails instead of acting twice.
type Command struct {
	Op       Op           `json:"op"`
	Set      SetKey       `json:"set"`
	Register *RegisterCmd `json:"register,omitempty"`
	Elect    *ElectCmd    `json:"elect,omitempty"`
	Alter    *AlterCmd    `json:"alter,omitempty"`
	Clean    *CleanCmd    `json:"clean,omitempty"`
}

// RegisterCmd adds a replica to its set, creating the set, or updates its
// addresses and priority.
type RegisterCmd struct {
	Replica Replica `json:"replica"`
}

// ElectCmd makes NewMaster the master of the set (NoMaster: the master is
// lost and none could be elected), if the epoch is still ExpectEpoch.
// Unclean allows a master outside the SyncStateSet (enableElectUncleanMaster).
type ElectCmd struct {
	ExpectEpoch int32  `json:"expectEpoch"`
	NewMaster   int64  `json:"newMaster"`
	Unclean     bool   `json:"unclean,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// AlterCmd replaces the SyncStateSet, on behalf of Master, if Master is still
// the master at MasterEpoch and the SyncStateSet epoch is still
// SyncStateSetEpoch.
type AlterCmd struct {
	Master            int64   `json:"master"`
	MasterEpoch       int32   `json:"masterEpoch"`
	SyncStateSetEpoch int32   `json:"syncStateSetEpoch"`
	NewSyncStateSet   []int64 `json:"newSyncStateSet"`
}

// CleanCmd forgets replicas of a set (never its master). The set itself is
// kept, even with no replica left, so that its epochs never go back.
type CleanCmd struct {
	IDs []int64 `json:"ids"`
}

// Result is what Apply did.
type Result struct {
	// Err is nil or a *protocol.Error with a controller response code; the
	// state is then unchanged.
	Err error
	// Changed reports whether the state changed.
	Changed bool
	// MasterChanged reports a new master (or the loss of the master).
	MasterChanged bool
	// Set is the set after the command, a copy; nil if it does not exist.
	Set *BrokerSet
}

// EncodeCommand returns the log entry of c.
func EncodeCommand(c Command) []byte {
	b, err := json.Marshal(c)
	if err != nil {
		panic("controller: encode command: " + err.Error()) // plain data; cannot fail
	}
	return b
}

// DecodeCommand reads a log entry.
func DecodeCommand(b []byte) (Command, error) {
	var c Command
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("controller: decode command: %w", err)
	}
	return c, nil
}

func invalid(code protocol.ResponseCode, format string, args ...any) error {
	return &protocol.Error{Code: code, Remark: fmt.Sprintf(format, args...)}
}

// Apply applies one command of the log. It never fails on a command it can
// read: a command whose preconditions do not hold is refused (Result.Err)
// and leaves the state unchanged, identically on every controller.
func (s *State) Apply(c Command) Result {
	var r Result
	switch c.Op {
	case OpRegister:
		r = s.applyRegister(c.Set, c.Register)
	case OpElect:
		r = s.applyElect(c.Set, c.Elect)
	case OpAlter:
		r = s.applyAlter(c.Set, c.Alter)
	case OpClean:
		r = s.applyClean(c.Set, c.Clean)
	default:
		r.Err = invalid(protocol.ControllerInvalidRequest, "unknown command %q", c.Op)
	}
	if bs, ok := s.sets[c.Set]; ok {
		r.Set = bs.clone()
	}
	return r
}

func (s *State) applyRegister(k SetKey, c *RegisterCmd) Result {
	if c == nil || k.Cluster == "" || k.Name == "" || c.Replica.ID < 0 || c.Replica.Addr == "" {
		return Result{Err: invalid(protocol.ControllerInvalidRequest, "register: incomplete command")}
	}
	bs, ok := s.sets[k]
	if !ok {
		bs = &BrokerSet{Key: k, Replicas: map[int64]Replica{}, Master: NoMaster}
		s.sets[k] = bs
	}
	if old, ok := bs.Replicas[c.Replica.ID]; ok && old == c.Replica {
		return Result{}
	}
	bs.Replicas[c.Replica.ID] = c.Replica
	return Result{Changed: true}
}

// Electable reports whether id may become master of bs without an unclean
// election: it is in the SyncStateSet, or the SyncStateSet is empty, when any
// registered replica may. The SyncStateSet is empty only before the set's
// first master, or after an operator cleaned every member of it (declaring
// their data gone): then no replica holds data another lacks.
func (bs *BrokerSet) Electable(id int64) bool {
	return bs.InSync(id) || len(bs.SyncStateSet) == 0
}

func (s *State) applyElect(k SetKey, c *ElectCmd) Result {
	bs, ok := s.sets[k]
	switch {
	case c == nil:
		return Result{Err: invalid(protocol.ControllerInvalidRequest, "elect: incomplete command")}
	case !ok:
		return Result{Err: notExist(k)}
	case bs.Epoch != c.ExpectEpoch:
		return Result{Err: invalid(protocol.ControllerFencedMasterEpoch,
			"%s: election decided at epoch %d, the epoch is now %d", k, c.ExpectEpoch, bs.Epoch)}
	case c.NewMaster == bs.Master:
		return Result{}
	case c.NewMaster == NoMaster:
		// The master is lost and nobody can take over. The new epoch fences
		// the old master; the SyncStateSet stays, so that whichever of its
		// members returns first can be elected.
		bs.Master = NoMaster
		bs.Epoch++
		return Result{Changed: true, MasterChanged: true}
	}
	if _, ok := bs.Replicas[c.NewMaster]; !ok {
		return Result{Err: invalid(protocol.ControllerBrokerMetadataNotExist, "%s: broker %d is not registered", k, c.NewMaster)}
	}
	if !c.Unclean && !bs.Electable(c.NewMaster) {
		return Result{Err: invalid(protocol.ControllerElectMasterFailed,
			"%s: broker %d is not in the SyncStateSet %v and unclean election is not allowed", k, c.NewMaster, bs.SyncStateSet)}
	}
	bs.Master = c.NewMaster
	bs.Epoch++
	bs.SyncStateSet = []int64{c.NewMaster}
	bs.SyncStateSetEpoch++
	return Result{Changed: true, MasterChanged: true}
}

// normalizeSet sorts ids and reports whether they were unique.
func normalizeSet(ids []int64) ([]int64, bool) {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out, len(slices.Compact(slices.Clone(out))) == len(out)
}

// checkAlter is the precondition of an alteration, shared by the leader's
// decision and Apply.
func checkAlter(bs *BrokerSet, c *AlterCmd) ([]int64, error) {
	k := bs.Key
	switch {
	case bs.Master == NoMaster || c.Master != bs.Master:
		return nil, invalid(protocol.ControllerInvalidMaster, "%s: broker %d is not the master (master is %d)", k, c.Master, bs.Master)
	case c.MasterEpoch != bs.Epoch:
		return nil, invalid(protocol.ControllerFencedMasterEpoch, "%s: master epoch %d is not the current %d", k, c.MasterEpoch, bs.Epoch)
	case c.SyncStateSetEpoch != bs.SyncStateSetEpoch:
		return nil, invalid(protocol.ControllerFencedSyncStateSetEpoch,
			"%s: SyncStateSet epoch %d is not the current %d", k, c.SyncStateSetEpoch, bs.SyncStateSetEpoch)
	}
	set, unique := normalizeSet(c.NewSyncStateSet)
	if !unique {
		return nil, invalid(protocol.ControllerInvalidReplicas, "%s: SyncStateSet %v has duplicates", k, c.NewSyncStateSet)
	}
	if _, ok := slices.BinarySearch(set, bs.Master); !ok {
		return nil, invalid(protocol.ControllerInvalidReplicas, "%s: SyncStateSet %v leaves out the master %d", k, set, bs.Master)
	}
	for _, id := range set {
		if _, ok := bs.Replicas[id]; !ok {
			return nil, invalid(protocol.ControllerInvalidReplicas, "%s: broker %d is not registered", k, id)
		}
	}
	return set, nil
}

func (s *State) applyAlter(k SetKey, c *AlterCmd) Result {
	bs, ok := s.sets[k]
	switch {
	case c == nil:
		return Result{Err: invalid(protocol.ControllerInvalidRequest, "alter: incomplete command")}
	case !ok:
		return Result{Err: notExist(k)}
	}
	set, err := checkAlter(bs, c)
	if err != nil {
		return Result{Err: err}
	}
	if slices.Equal(set, bs.SyncStateSet) {
		return Result{}
	}
	bs.SyncStateSet = set
	bs.SyncStateSetEpoch++
	return Result{Changed: true}
}

func (s *State) applyClean(k SetKey, c *CleanCmd) Result {
	bs, ok := s.sets[k]
	switch {
	case c == nil:
		return Result{Err: invalid(protocol.ControllerInvalidRequest, "clean: incomplete command")}
	case !ok:
		return Result{Err: notExist(k)}
	}
	for _, id := range c.IDs {
		if id == bs.Master {
			return Result{Err: invalid(protocol.ControllerInvalidCleanBrokerMetadata, "%s: broker %d is the master", k, id)}
		}
	}
	changed := false
	for _, id := range c.IDs {
		if _, ok := bs.Replicas[id]; ok {
			delete(bs.Replicas, id)
			changed = true
		}
	}
	if kept := slices.DeleteFunc(slices.Clone(bs.SyncStateSet), func(id int64) bool { return slices.Contains(c.IDs, id) }); len(kept) != len(bs.SyncStateSet) {
		bs.SyncStateSet = kept
		bs.SyncStateSetEpoch++
	}
	return Result{Changed: changed}
}

// snapshot is the serialized form of State (Raft snapshots). Part of the
// snapshot format: add fields, never rename.
type snapshot struct {
	Version int           `json:"version"`
	Sets    []snapshotSet `json:"sets"`
}

type snapshotSet struct {
	Key               SetKey    `json:"key"`
	Replicas          []Replica `json:"replicas"`
	Master            int64     `json:"master"`
	Epoch             int32     `json:"epoch"`
	SyncStateSet      []int64   `json:"syncStateSet"`
	SyncStateSetEpoch int32     `json:"syncStateSetEpoch"`
}

const snapshotVersion = 1

// MarshalJSON writes the state deterministically (sets and replicas sorted).
func (s *State) MarshalJSON() ([]byte, error) {
	snap := snapshot{Version: snapshotVersion, Sets: []snapshotSet{}}
	for _, k := range s.Keys() {
		bs := s.sets[k]
		ss := snapshotSet{Key: k, Master: bs.Master, Epoch: bs.Epoch,
			SyncStateSet: slices.Clone(bs.SyncStateSet), SyncStateSetEpoch: bs.SyncStateSetEpoch}
		if ss.SyncStateSet == nil {
			ss.SyncStateSet = []int64{}
		}
		for _, id := range slices.Sorted(maps.Keys(bs.Replicas)) {
			ss.Replicas = append(ss.Replicas, bs.Replicas[id])
		}
		snap.Sets = append(snap.Sets, ss)
	}
	return json.Marshal(snap)
}

// UnmarshalJSON replaces the state with a snapshot, checking every invariant.
func (s *State) UnmarshalJSON(b []byte) error {
	var snap snapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		return fmt.Errorf("controller: decode snapshot: %w", err)
	}
	if snap.Version != snapshotVersion {
		return fmt.Errorf("controller: snapshot version %d; this controller reads version %d", snap.Version, snapshotVersion)
	}
	sets := map[SetKey]*BrokerSet{}
	for _, ss := range snap.Sets {
		bs := &BrokerSet{Key: ss.Key, Replicas: map[int64]Replica{}, Master: ss.Master, Epoch: ss.Epoch,
			SyncStateSet: ss.SyncStateSet, SyncStateSetEpoch: ss.SyncStateSetEpoch}
		for _, r := range ss.Replicas {
			bs.Replicas[r.ID] = r
		}
		if err := bs.Check(); err != nil {
			return fmt.Errorf("controller: snapshot: %w", err)
		}
		sets[ss.Key] = bs
	}
	s.sets = sets
	return nil
}
