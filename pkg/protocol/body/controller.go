package body

import (
	"encoding/json"
	"fmt"
	"slices"
)

// The JSON bodies of the controller's commands (RocketMQ 5.x's controller
// codes). Field names follow RocketMQ's where it has the field (SyncStateSet,
// GetMetaDataResponseHeader); the rest is Petrel's.

// NoMasterID is the masterBrokerId of a broker set that has no master: its
// master died and no replica could be elected, or none has registered yet.
const NoMasterID int64 = -1

// SyncStateSet is the body of CONTROLLER_ALTER_SYNC_STATE_SET (RocketMQ's
// SyncStateSet): the new set of replica ids in sync with the master, and the
// SyncStateSet epoch the master last saw, which must still be current.
type SyncStateSet struct {
	SyncStateSet      []int64 `json:"syncStateSet"`
	SyncStateSetEpoch int32   `json:"syncStateSetEpoch"`
}

// ReplicaInfo is a broker set as the controller leader sees it: the answer
// body of CONTROLLER_REGISTER_BROKER, BROKER_HEARTBEAT,
// CONTROLLER_ALTER_SYNC_STATE_SET, CONTROLLER_ELECT_MASTER and
// CONTROLLER_GET_REPLICA_INFO, and the body of NOTIFY_BROKER_ROLE_CHANGED.
//
// MasterEpoch grows by one on every master change (including to no master),
// SyncStateSetEpoch on every change of SyncStateSet; a view with higher
// epochs (NewerThan) replaces an older one.
type ReplicaInfo struct {
	ClusterName       string          `json:"clusterName"`
	BrokerName        string          `json:"brokerName"`
	MasterBrokerID    int64           `json:"masterBrokerId"` // NoMasterID: none
	MasterAddress     string          `json:"masterAddress"`
	MasterHAAddress   string          `json:"masterHaAddress"`
	MasterEpoch       int32           `json:"masterEpoch"`
	SyncStateSet      []int64         `json:"syncStateSet"` // sorted
	SyncStateSetEpoch int32           `json:"syncStateSetEpoch"`
	Replicas          []ReplicaMember `json:"replicas"` // by brokerId
}

// ReplicaMember is one registered replica of a broker set. Identity and
// priority are replicated through the controller's log; liveness and progress
// are what the current leader has heard since it became leader.
type ReplicaMember struct {
	BrokerID         int64  `json:"brokerId"`
	BrokerAddress    string `json:"brokerAddress"`
	HAServerAddr     string `json:"haServerAddr"`
	ElectionPriority int32  `json:"electionPriority"`
	InSyncStateSet   bool   `json:"inSyncStateSet"`
	Alive            bool   `json:"alive"`
	// Reported is true once the replica has registered or heartbeated with
	// the current leader; Epoch, MaxOffset and ConfirmOffset are its last
	// report, LastHeartbeatAgoMillis how long ago that was.
	Reported               bool  `json:"reported"`
	Epoch                  int32 `json:"epoch"`
	MaxOffset              int64 `json:"maxOffset"`
	ConfirmOffset          int64 `json:"confirmOffset"`
	LastHeartbeatAgoMillis int64 `json:"lastHeartbeatAgoMillis"`
}

// NewerThan reports whether r is a later state of the same broker set than o:
// a higher master epoch, or the same master epoch and a higher SyncStateSet
// epoch. Both epochs only grow, so of two views the newer is the true one.
func (r *ReplicaInfo) NewerThan(o *ReplicaInfo) bool {
	if r.MasterEpoch != o.MasterEpoch {
		return r.MasterEpoch > o.MasterEpoch
	}
	return r.SyncStateSetEpoch > o.SyncStateSetEpoch
}

// InSync reports whether id is in the SyncStateSet.
func (r *ReplicaInfo) InSync(id int64) bool { return slices.Contains(r.SyncStateSet, id) }

// Member returns the replica with the given id.
func (r *ReplicaInfo) Member(id int64) (ReplicaMember, bool) {
	for _, m := range r.Replicas {
		if m.BrokerID == id {
			return m, true
		}
	}
	return ReplicaMember{}, false
}

// SyncStateData is the answer body of CONTROLLER_GET_SYNC_STATE_DATA: every
// broker set the request matched, sorted by cluster and broker name.
type SyncStateData struct {
	BrokerSets []ReplicaInfo `json:"brokerSets"`
}

// ControllerMetadata is the answer body of CONTROLLER_GET_METADATA_INFO: the
// answering controller's view of its Raft group.
type ControllerMetadata struct {
	Group         string           `json:"group"`
	SelfID        string           `json:"selfId"`
	SelfAddress   string           `json:"selfAddress"`
	State         string           `json:"state"` // Leader, Follower, Candidate or Shutdown
	IsLeader      bool             `json:"isLeader"`
	LeaderID      string           `json:"controllerLeaderId"` // "": unknown
	LeaderAddress string           `json:"controllerLeaderAddress"`
	Term          uint64           `json:"term"`
	LastIndex     uint64           `json:"lastIndex"`
	AppliedIndex  uint64           `json:"appliedIndex"`
	Peers         []ControllerPeer `json:"peers"`
}

// ControllerPeer is one member of the controllers' Raft configuration.
type ControllerPeer struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Voter   bool   `json:"voter"`
}

// DecodeJSON unmarshals a controller body into v, naming the body in the
// error. An empty body is an error.
func DecodeJSON(what string, data []byte, v any) error {
	if len(data) == 0 {
		return fmt.Errorf("body: %s: empty body", what)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("body: %s: %w", what, err)
	}
	return nil
}
