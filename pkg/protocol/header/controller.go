package header

// Headers of the requests a controller serves (RocketMQ 5.x's controller
// codes, which 4.9.8 lacks) and of the role-change notice it sends brokers.
// Field names follow RocketMQ 5.x's header classes where they have the field
// (RegisterBrokerToControllerRequestHeader, BrokerHeartbeatRequestHeader,
// AlterSyncStateSetRequestHeader, ElectMasterRequestHeader,
// GetReplicaInfoRequestHeader, GetMetaDataResponseHeader,
// NotifyBrokerRoleChangedRequestHeader); Petrel adds what its brokers need
// (brokerId and haServerAddr on registration, clusterName everywhere, since a
// broker set is a cluster name and a broker name). The bodies are JSON
// (package body: ReplicaInfo, SyncStateSet, SyncStateData,
// ControllerMetadata).

// ControllerRegisterBroker is the header of CONTROLLER_REGISTER_BROKER (1003):
// a replica joins (or rejoins) its broker set. It also counts as a heartbeat.
type ControllerRegisterBroker struct {
	ClusterName   string `header:"clusterName,required"`
	BrokerName    string `header:"brokerName,required"`
	BrokerAddress string `header:"brokerAddress,required"` // ip:port clients dial
	BrokerID      int64  `header:"brokerId,required"`      // the replica's id in its set, fixed by its configuration
	HAServerAddr  string `header:"haServerAddr"`           // ip:haPort slaves replicate from
	// Epoch is the last epoch in the replica's epoch file (0: none).
	Epoch int32 `header:"epoch"`
	// MaxOffset is the replica's max commit-log offset, ConfirmOffset the
	// offset known replicated to the set.
	MaxOffset     int64 `header:"maxOffset"`
	ConfirmOffset int64 `header:"confirmOffset"`
	// HeartbeatTimeoutMillis is how long the controller waits for the next
	// heartbeat before it counts the replica dead (the broker's
	// controllerHeartBeatTimeoutMills); 0 or absent: the controller's default.
	HeartbeatTimeoutMillis int64 `header:"heartbeatTimeoutMillis"`
	// ElectionPriority is the broker's brokerElectionPriority: lower wins a
	// tie between equally caught-up candidates.
	ElectionPriority int32 `header:"electionPriority"`
}

// BrokerHeartbeat is the header of BROKER_HEARTBEAT (904) sent to a
// controller (RocketMQ 5.x's BrokerHeartbeatRequestHeader). Petrel's
// controller answers it (Java brokers send it oneway) with the broker set's
// state, so that a broker learns of a role change within one heartbeat.
type BrokerHeartbeat struct {
	ClusterName           string `header:"clusterName,required"`
	BrokerAddr            string `header:"brokerAddr,required"`
	BrokerName            string `header:"brokerName,required"`
	BrokerID              int64  `header:"brokerId,required"`
	Epoch                 int32  `header:"epoch"`
	MaxOffset             int64  `header:"maxOffset"`
	ConfirmOffset         int64  `header:"confirmOffset"`
	HeartbeatTimeoutMills int64  `header:"heartbeatTimeoutMills"` // RocketMQ's spelling
	ElectionPriority      int32  `header:"electionPriority"`
}

// BrokerSetState is the response header of CONTROLLER_REGISTER_BROKER,
// BROKER_HEARTBEAT, CONTROLLER_ALTER_SYNC_STATE_SET, CONTROLLER_ELECT_MASTER
// and CONTROLLER_GET_REPLICA_INFO, and the request header of
// NOTIFY_BROKER_ROLE_CHANGED (1008): a broker set's master and epochs. The
// body (body.ReplicaInfo) has the same and the SyncStateSet and replicas.
type BrokerSetState struct {
	MasterBrokerID    int64  `header:"masterBrokerId"` // -1: the set has no master
	MasterAddress     string `header:"masterAddress"`
	MasterHAAddress   string `header:"masterHaAddress"`
	MasterEpoch       int32  `header:"masterEpoch"`
	SyncStateSetEpoch int32  `header:"syncStateSetEpoch"`
}

// ControllerAlterSyncStateSet is the header of CONTROLLER_ALTER_SYNC_STATE_SET
// (1001): the master of a set replaces its SyncStateSet (body
// body.SyncStateSet, whose epoch must be the current one). Refused unless
// MasterBrokerID is the master and MasterEpoch the current epoch.
type ControllerAlterSyncStateSet struct {
	ClusterName    string `header:"clusterName,required"`
	BrokerName     string `header:"brokerName,required"`
	MasterAddress  string `header:"masterAddress"`
	MasterBrokerID int64  `header:"masterBrokerId,required"`
	MasterEpoch    int32  `header:"masterEpoch,required"`
}

// ControllerElectMaster is the header of CONTROLLER_ELECT_MASTER (1002): elect
// BrokerID master of the set (mqadmin electMaster), or, when BrokerID is
// absent, re-run the automatic election (which keeps a live master).
type ControllerElectMaster struct {
	ClusterName    string     `header:"clusterName"` // "": the only set with this broker name
	BrokerName     string     `header:"brokerName,required"`
	BrokerID       Opt[int64] `header:"brokerId"`
	DesignateElect bool       `header:"designateElect"` // RocketMQ 5.1 sets it for an admin's choice
}

// ControllerGetReplicaInfo is the header of CONTROLLER_GET_REPLICA_INFO
// (1004).
type ControllerGetReplicaInfo struct {
	ClusterName string `header:"clusterName"` // "": the only set with this broker name
	BrokerName  string `header:"brokerName,required"`
}

// ControllerGetSyncStateData is the header of CONTROLLER_GET_SYNC_STATE_DATA
// (1006). Empty fields match everything: no field lists every broker set.
type ControllerGetSyncStateData struct {
	ClusterName string `header:"clusterName"`
	BrokerName  string `header:"brokerName"`
}

// ControllerMetadata is the response header of CONTROLLER_GET_METADATA_INFO
// (1005, RocketMQ's GetMetaDataResponseHeader), and of CONTROLLER_NOT_LEADER
// answers, where it names the leader to retry with ("" when unknown). Peers
// is RocketMQ's form: "id:host:port;" per controller.
type ControllerMetadata struct {
	Group                   string `header:"group"`
	ControllerLeaderID      string `header:"controllerLeaderId"`
	ControllerLeaderAddress string `header:"controllerLeaderAddress"`
	IsLeader                bool   `header:"isLeader"`
	Peers                   string `header:"peers"`
}

// CleanBrokerData is the header of CLEAN_BROKER_DATA (1011,
// RocketMQ's CleanControllerBrokerDataRequestHeader): forget replicas of a
// set. BrokerIDsToClean is "1;2"; the master is never forgotten, and a live
// replica only with CleanLivingBroker.
type CleanBrokerData struct {
	ClusterName       string `header:"clusterName"`
	BrokerName        string `header:"brokerName,required"`
	BrokerIDsToClean  string `header:"brokerControllerIdsToClean,required"`
	CleanLivingBroker bool   `header:"isCleanLivingBroker"`
}
