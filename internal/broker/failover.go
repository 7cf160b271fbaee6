package broker

import (
	"math"
	"time"

	"github.com/petrelmq/petrel/internal/broker/ha"
	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/message"
)

// FailoverConfig holds the controller-mode keys of broker.conf
// (docs/design/failover.md, "Keys"). The broker itself only checks them;
// internal/failover acts on them.
type FailoverConfig struct {
	// Enable is enableControllerMode: the controller decides the role.
	Enable bool
	// ControllerAddrs is controllerAddr, "a:9878;b:9878;c:9878".
	ControllerAddrs []string
	// ElectionPriority is brokerElectionPriority: lower is preferred.
	ElectionPriority int32
	// HeartbeatTimeout is controllerHeartBeatTimeoutMills: the controller
	// counts this broker dead after it; also the master's lease. Default
	// 6 s (RocketMQ 10 s).
	HeartbeatTimeout time.Duration
	// HeartbeatInterval is brokerHeartbeatInterval. Default 1 s.
	HeartbeatInterval time.Duration
	// SyncMetadataPeriod is syncBrokerMetadataPeriod: how often a slave asks
	// the controller for its set's state. Default 5 s.
	SyncMetadataPeriod time.Duration
	// CheckSyncStateSetPeriod is checkSyncStateSetPeriod: how often a master
	// looks for members to drop. Default 5 s.
	CheckSyncStateSetPeriod time.Duration
	// MaxTimeNotCatchup is haMaxTimeSlaveNotCatchup: a member behind for
	// this long is dropped. Default 15 s.
	MaxTimeNotCatchup time.Duration
	// AllAck is allAckInSyncStateSet: a put waits for every member.
	AllAck bool
	// InSyncReplicas is inSyncReplicas: without AllAck, the copies a put
	// needs, counting the master. Default 1.
	InSyncReplicas int
	// MinInSyncReplicas is minInSyncReplicas: puts are refused while the
	// SyncStateSet is smaller. Default 1.
	MinInSyncReplicas int
	// EpochFile is storePathEpochFile; default <storePathRootDir>/epochFileCheckpoint.
	EpochFile string
}

// DefaultFailoverConfig returns the defaults of the controller-mode keys.
func DefaultFailoverConfig() FailoverConfig {
	return FailoverConfig{
		ElectionPriority:        math.MaxInt32,
		HeartbeatTimeout:        6 * time.Second,
		HeartbeatInterval:       time.Second,
		SyncMetadataPeriod:      5 * time.Second,
		CheckSyncStateSetPeriod: 5 * time.Second,
		MaxTimeNotCatchup:       15 * time.Second,
		InSyncReplicas:          1,
		MinInSyncReplicas:       1,
	}
}

// ControllerMode is how the failover supervisor starts one broker: as the
// master of an epoch (BrokerID 0 at the name servers) or as a slave following
// the master the controller named.
type ControllerMode struct {
	// ReplicaID is the broker's id in its set (brokerId of broker.conf).
	ReplicaID int64
	// Epochs is the broker's epoch file.
	Epochs *ha.EpochFile

	// Master: the epoch it is master of, its lease, and the members and need
	// its puts start with (SyncStateSet later).
	Epoch      int32
	LeaseValid func(now time.Time) bool
	Members    []int64
	Need       int
	// StartFenced: the store refuses puts from the moment it opens, until
	// the supervisor lifts the fence (after writing the epoch file).
	StartFenced bool

	// Slave: the master to follow (broker and HA addresses, epoch), asked
	// again before each HA session; "" / 0 while none is known.
	MasterAddr   func() string
	MasterHAAddr func() string
	MasterEpoch  func() int32
}

// Replication is what the failover supervisor reaches in a started broker:
// its store (fence, dispatch limit, offsets) and its HA server (master) or
// client (slave).
type Replication struct {
	Store  *store.Store
	Server *ha.Server
	Client *ha.Client
}

// Replication returns the started broker's replication parts (zero before
// Start).
func (b *Broker) Replication() Replication {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Replication{Store: b.store, Server: b.repl.server, Client: b.repl.client}
}

// RegisterSoon asks for a registration with the name servers now, without
// waiting for the period: a master registers as soon as it holds a lease
// (registrations are held without one). No-op before Start.
func (b *Broker) RegisterSoon() {
	if b.reg != nil {
		b.reg.Trigger()
	}
}

// dispatchLimit turns a confirm offset into the store's dispatch limit.
func dispatchLimit(st *store.Store) func(off message.PhysOffset) {
	return func(off message.PhysOffset) { st.SetDispatchLimit(off) }
}
