package controller

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/petrelmq/petrel/internal/acl"
	"github.com/petrelmq/petrel/internal/properties"
	"github.com/petrelmq/petrel/pkg/auth"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// Peer is one controller of the Raft group: its id (controllerDLegerSelfId
// on that node) and its address, where it serves both Raft and the brokers.
type Peer struct {
	ID   string
	Addr string // host:port
}

// Config configures a controller. Build it with DefaultConfig and change
// fields; New validates it.
type Config struct {
	// Group is the Raft group's name (controllerDLegerGroup). Controllers
	// refuse Raft connections from another group. Required.
	Group string
	// Peers is every controller of the group, self included
	// (controllerDLegerPeers "n0-host:port;n1-host:port;n2-host:port"). The
	// same list on every controller; three or five for fault tolerance. Each
	// address serves Raft and the brokers' and tools' requests on one port,
	// so a broker's controllerAddr lists the same addresses. Required.
	Peers []Peer
	// SelfID is this controller's id in Peers (controllerDLegerSelfId).
	// Required.
	SelfID string
	// StorePath is the directory of the Raft log and snapshots
	// (controllerStorePath): raft.db and snapshots/. Default
	// "$HOME/PetrelController". Losing it loses this controller's vote and
	// copy of the state; keep it on a durable disk.
	StorePath string
	// ListenAddr is the address to bind (controllerListenAddr, Petrel's).
	// Default "": all interfaces on the port of this controller's address in
	// Peers, as RocketMQ binds its controllers.
	ListenAddr string
	// ElectUncleanMaster allows electing a replica outside the SyncStateSet
	// when no member of it is alive (enableElectUncleanMaster): the set gets a
	// master again, possibly without messages that were acknowledged. Default
	// false.
	ElectUncleanMaster bool
	// NotifyBrokerRoleChanged makes the leader send NOTIFY_BROKER_ROLE_CHANGED
	// to a set's brokers when its master changes (notifyBrokerRoleChanged).
	// Brokers also learn it from the answer to their next heartbeat. Default
	// true.
	NotifyBrokerRoleChanged bool
	// ScanInterval is how often the leader checks for masters that stopped
	// heartbeating (scanNotActiveBrokerInterval). Default 1 s (RocketMQ: 5 s); the failover
	// time is about the broker's heartbeat timeout plus up to one interval.
	ScanInterval time.Duration
	// HeartbeatTimeout is how long a broker may stay silent before it counts
	// as dead, for brokers that do not send their own timeout
	// (controllerHeartBeatTimeoutMills; RocketMQ's brokers send theirs, 10 s
	// by default). Default 10 s.
	HeartbeatTimeout time.Duration
	// RequestTimeout bounds how long a request waits for its Raft entry to
	// commit. Default 5 s.
	RequestTimeout time.Duration
	// Workers and QueueSize size the request pool
	// (controllerThreadPoolNums, controllerRequestThreadPoolQueueCapacity).
	// Default 16 and 50000, as RocketMQ.
	Workers, QueueSize int
	// ACLEnable is aclEnable (Petrel's, for the controller): the requests
	// that change a broker set (ControllerAdminCodes) need a request signed
	// by an admin account of ACLPath, as the name server's writes do.
	ACLEnable bool
	// ACLFilePath is aclFilePath; default plain_acl.yml in StorePath.
	ACLFilePath string
	// Credentials are accessKey and secretKey (Petrel's): with ACLEnable,
	// the admin account of the ACL file this controller signs its Raft
	// connections to the other controllers with. Required with ACLEnable.
	Credentials auth.Credentials
	// Raft tunes the Raft library. Defaults: RaftTiming's.
	Raft RaftTiming
	// Remoting configures the broker-facing server; its ListenAddr and
	// Listener are ignored. Default remoting.DefaultServerConfig().
	Remoting remoting.ServerConfig
	// Listener, if set, is served instead of binding (tests bind
	// 127.0.0.1:0 first to learn the ports the peers need). The controller
	// closes it.
	Listener net.Listener
}

// RaftTiming tunes hashicorp/raft. Zero fields take the defaults, which are
// the library's.
type RaftTiming struct {
	// HeartbeatTimeout is how long a follower waits for the leader before it
	// starts an election. Default 1 s.
	HeartbeatTimeout time.Duration
	// ElectionTimeout is how long a candidate waits for votes. Default 1 s.
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout is how long a leader stays leader without hearing
	// from a quorum. Default 500 ms.
	LeaderLeaseTimeout time.Duration
	// CommitTimeout bounds the wait before the leader sends an entry.
	// Default 50 ms.
	CommitTimeout time.Duration
	// SnapshotInterval and SnapshotThreshold: a snapshot is taken every
	// interval when at least threshold entries were appended since the last.
	// Defaults 120 s and 8192.
	SnapshotInterval  time.Duration
	SnapshotThreshold uint64
	// TrailingLogs is how many entries stay in the log after a snapshot.
	// Default 10240.
	TrailingLogs uint64
}

// DefaultConfig returns the defaults described on Config.
func DefaultConfig() Config {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		home = "."
	}
	return Config{
		StorePath:               filepath.Join(home, "PetrelController"),
		NotifyBrokerRoleChanged: true,
		ScanInterval:            time.Second,
		HeartbeatTimeout:        10 * time.Second,
		RequestTimeout:          5 * time.Second,
		Workers:                 16,
		QueueSize:               50000,
		Remoting:                remoting.DefaultServerConfig(),
	}
}

// Keys of controller.conf (and of namesrv.conf with enableControllerInNamesrv).
const (
	keyGroup            = "controllerDLegerGroup"
	keyPeers            = "controllerDLegerPeers"
	keySelfID           = "controllerDLegerSelfId"
	keyStorePath        = "controllerStorePath"
	keyListenAddr       = "controllerListenAddr"
	keyUnclean          = "enableElectUncleanMaster"
	keyNotify           = "notifyBrokerRoleChanged"
	keyScanInterval     = "scanNotActiveBrokerInterval"
	keyHeartbeatTimeout = "controllerHeartBeatTimeoutMills"
	keyRequestTimeout   = "controllerRequestTimeoutMillis"
	keyWorkers          = "controllerThreadPoolNums"
	keyQueueSize        = "controllerRequestThreadPoolQueueCapacity"
)

// Keys lists the keys BindKeys binds, sorted.
func Keys() []string {
	return []string{keyHeartbeatTimeout, keyGroup, keyPeers, keySelfID, keyListenAddr, keyRequestTimeout,
		keyQueueSize, keyStorePath, keyWorkers, keyUnclean, keyNotify, keyScanInterval}
}

// ParsePeers parses controllerDLegerPeers: "id-host:port" entries separated
// by ';' (blank entries are skipped). Ids and addresses must be unique.
func ParsePeers(s string) ([]Peer, error) {
	var out []Peer
	ids, addrs := map[string]bool{}, map[string]bool{}
	for _, e := range strings.Split(s, ";") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		id, addr, ok := strings.Cut(e, "-")
		if !ok || id == "" {
			return nil, fmt.Errorf("peer %q is not id-host:port", e)
		}
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" || port == "0" {
			return nil, fmt.Errorf("peer %q: %q is not host:port", e, addr)
		}
		if ids[id] || addrs[addr] {
			return nil, fmt.Errorf("peer %q: the id or address is listed twice", e)
		}
		ids[id], addrs[addr] = true, true
		out = append(out, Peer{ID: id, Addr: addr})
	}
	return out, nil
}

// FormatPeers writes peers as controllerDLegerPeers.
func FormatPeers(peers []Peer) string {
	parts := make([]string, len(peers))
	for i, p := range peers {
		parts[i] = p.ID + "-" + p.Addr
	}
	return strings.Join(parts, ";")
}

// Self returns this controller's peer.
func (c *Config) Self() (Peer, bool) {
	for _, p := range c.Peers {
		if p.ID == c.SelfID {
			return p, true
		}
	}
	return Peer{}, false
}

// bindAddr is the address to listen on.
func (c *Config) bindAddr() string {
	if c.ListenAddr != "" {
		return c.ListenAddr
	}
	self, _ := c.Self()
	_, port, _ := net.SplitHostPort(self.Addr)
	return net.JoinHostPort("0.0.0.0", port)
}

// Validate reports the first bad setting. An error about a setting a key
// configures wraps a *properties.KeyError naming the key, so that the command
// can point at the file and line.
func (c *Config) Validate() error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("controller: config: %w", err)
	}
	return nil
}

func (c *Config) validate() error {
	inv := properties.Invalid
	switch {
	case c.Group == "":
		return inv(keyGroup, "is empty: name the controllers' Raft group")
	case len(c.Peers) == 0:
		return inv(keyPeers, "is empty: list every controller as id-host:port;...")
	case c.SelfID == "":
		return inv(keySelfID, "is empty: give this controller's id in %s", keyPeers)
	case c.StorePath == "":
		return inv(keyStorePath, "is empty")
	case c.ScanInterval <= 0:
		return inv(keyScanInterval, "%v must be positive", c.ScanInterval)
	case c.HeartbeatTimeout <= 0:
		return inv(keyHeartbeatTimeout, "%v must be positive", c.HeartbeatTimeout)
	case c.RequestTimeout <= 0:
		return inv(keyRequestTimeout, "%v must be positive", c.RequestTimeout)
	case c.Workers < 1:
		return inv(keyWorkers, "%d must be at least 1", c.Workers)
	case c.QueueSize < 0:
		return inv(keyQueueSize, "%d must not be negative", c.QueueSize)
	case c.ACLEnable && (c.Credentials.AccessKey == "" || c.Credentials.SecretKey == ""):
		return inv("accessKey", "is needed with aclEnable=true: an admin account of the ACL file, which the controllers sign their Raft connections with (set secretKey too)")
	case len(c.Credentials.AccessKey) > 255:
		return inv("accessKey", "is longer than 255 bytes")
	}
	if _, ok := c.Self(); !ok {
		e := inv(keySelfID, "%q is not one of the ids in %s (%s)", c.SelfID, keyPeers, FormatPeers(c.Peers))
		e.Also = []string{keyPeers}
		return e
	}
	if c.ListenAddr != "" {
		if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
			return inv(keyListenAddr, "%q is not host:port", c.ListenAddr)
		}
	}
	r := c.Raft
	if r.HeartbeatTimeout < 0 || r.ElectionTimeout < 0 || r.LeaderLeaseTimeout < 0 || r.CommitTimeout < 0 || r.SnapshotInterval < 0 {
		return errors.New("Raft: negative duration")
	}
	rc := c.Remoting
	rc.ListenAddr = c.bindAddr()
	rc.Listener = nil
	if err := rc.Validate(); err != nil {
		return fmt.Errorf("Remoting: %w", err)
	}
	return nil
}

// BindProperties binds the keys of a controller.conf file to c (BindKeys)
// and accepts RocketMQ's NettyServerConfig and NettyClientConfig keys with no
// effect.
func (c *Config) BindProperties(b *properties.Binder) {
	b.AcceptRocketMQ(properties.Controller, properties.NettyServerConfig, properties.NettyClientConfig)
	c.BindKeys(b)
	b.Bool("aclEnable", &c.ACLEnable) // namesrv.conf binds its own for an embedded controller
	b.String("aclFilePath", &c.ACLFilePath)
	b.Ignore("the controller serves brokers on its own address in controllerDLegerPeers, as RocketMQ's does",
		"listenPort")
}

// ACLPath is the ACL file read with ACLEnable.
func (c *Config) ACLPath() string {
	if c.ACLFilePath != "" {
		return c.ACLFilePath
	}
	return acl.DefaultPath(c.StorePath)
}

// BindKeys binds the controller's keys to c, and declares the RocketMQ 5.x
// ControllerConfig keys Petrel accepts without effect: RocketMQ's
// controllerDLegerGroup, controllerDLegerPeers, controllerDLegerSelfId,
// controllerStorePath, enableElectUncleanMaster, notifyBrokerRoleChanged,
// scanNotActiveBrokerInterval, controllerThreadPoolNums and
// controllerRequestThreadPoolQueueCapacity; controllerHeartBeatTimeoutMills
// (a RocketMQ broker key, here the default for brokers that send no timeout);
// Petrel's controllerListenAddr and controllerRequestTimeoutMillis. The name
// server command binds them too, for enableControllerInNamesrv.
func (c *Config) BindKeys(b *properties.Binder) {
	b.String(keyGroup, &c.Group)
	b.String("accessKey", &c.Credentials.AccessKey)
	b.Func("secretKey", func(v string) error { c.Credentials.SecretKey = v; return nil })
	b.Getter("secretKey", func() string {
		if c.Credentials.SecretKey == "" {
			return ""
		}
		return "******"
	})
	b.Func(keyPeers, func(v string) error {
		peers, err := ParsePeers(v)
		if err != nil {
			return err
		}
		c.Peers = peers
		return nil
	})
	b.Getter(keyPeers, func() string { return FormatPeers(c.Peers) })
	b.String(keySelfID, &c.SelfID)
	b.String(keyStorePath, &c.StorePath)
	b.String(keyListenAddr, &c.ListenAddr)
	b.Bool(keyUnclean, &c.ElectUncleanMaster)
	b.Bool(keyNotify, &c.NotifyBrokerRoleChanged)
	b.Millis(keyScanInterval, &c.ScanInterval)
	b.Millis(keyHeartbeatTimeout, &c.HeartbeatTimeout)
	b.Millis(keyRequestTimeout, &c.RequestTimeout)
	b.Int(keyWorkers, &c.Workers)
	b.Int(keyQueueSize, &c.QueueSize)
	b.Ignore("Petrel's one scan (scanNotActiveBrokerInterval) also finds inactive masters", "scanInactiveMasterInterval")
	b.Ignore("Petrel's controller is Raft (hashicorp/raft), with its own log files", "controllerType", "mappedFileSize",
		"jraftConfig", "jRaftGroupId", "jRaftServerId", "jRaftInitConf", "jRaftControllerRPCAddr",
		"jRaftElectionTimeoutMs", "jRaftSnapshotIntervalSecs")
	b.Ignore("a failed election is retried at the next scan", "electMasterMaxRetryCount")
	b.Ignore("reads are served by the leader from its applied state", "isProcessReadEvent", "processReadEvent")
	b.Ignore("JVM-only setting", "rocketmqHome", "configStorePath", "configBlackList")
	b.Ignore("metrics exporters are not implemented", "metricsExporterType", "metricsGrpcExporterTarget",
		"metricsGrpcExporterHeader", "metricGrpcExporterTimeOutInMills", "metricGrpcExporterIntervalInMills",
		"metricLoggingExporterIntervalInMills", "metricsPromExporterPort", "metricsPromExporterHost",
		"metricsLabel", "metricsInDelta")
}
