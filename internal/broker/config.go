package broker

import (
	"crypto/tls"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/petrelmq/petrel/internal/acl"
	"github.com/petrelmq/petrel/internal/broker/clients"
	"github.com/petrelmq/petrel/internal/broker/ha"
	"github.com/petrelmq/petrel/internal/broker/meta"
	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/auth"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// Broker roles (brokerRole).
const (
	RoleAsyncMaster = "ASYNC_MASTER"
	RoleSyncMaster  = "SYNC_MASTER"
	RoleSlave       = "SLAVE"
)

// Config configures a Broker. Start from DefaultConfig and change fields; New
// validates it. Each field names its broker.conf key (bound by BindProperties),
// unit and default.
type Config struct {
	// ClusterName is brokerClusterName. Default "DefaultCluster".
	ClusterName string
	// BrokerName is brokerName. Default "broker-a" (RocketMQ defaults to the host
	// name; Petrel picks a fixed name so that a restart on another host, or in a
	// container with a random host name, keeps the same routes).
	BrokerName string
	// BrokerID is brokerId: 0 for a master, above 0 for a slave. Default 0.
	BrokerID int64
	// NameServers is namesrvAddr, "a:9876;b:9876" in broker.conf. Empty means
	// the broker registers nowhere (clients cannot find it). Default empty.
	NameServers []string
	// ListenPort is listenPort, the client port. Default 10911. The HA port
	// advertised to the name server is ListenPort+1.
	ListenPort int
	// ListenAddr, if set, is the exact address to bind ("127.0.0.1:0" in tests)
	// and overrides ListenPort. Petrel only; default "" (bind
	// 0.0.0.0:ListenPort).
	ListenAddr string
	// FastListenPort is fastListenPort, the VIP channel: the same service on
	// a second port, which Java clients with vipChannelEnabled use for sends
	// and most other requests (they dial the broker's port - 2). 0 (default)
	// means the bound client port - 2 on the same host; when that port cannot
	// be bound the broker logs a warning and serves without a VIP channel. A
	// port set explicitly must bind. -1 turns the channel off.
	FastListenPort int
	// BrokerIP1 is brokerIP1, the IP address advertised to name servers and
	// clients, and written as the store host into every message (it is part of
	// each offset message id). Default "" (unset): the host of ListenAddr when
	// it names one address, else, as RocketMQ does, the first IPv4 address of
	// an up, non-loopback interface (in a container, its address on its
	// network), else 127.0.0.1; Start logs the choice. Set it when clients
	// reach the broker through another address (NAT, published ports).
	BrokerIP1 string
	// BrokerIP2 is brokerIP2, the IP address advertised to slaves for
	// replication (the HA address, BrokerIP2:haListenPort). Default "": the
	// advertised BrokerIP1.
	BrokerIP2 string
	// BrokerRole is brokerRole: ASYNC_MASTER (default), SYNC_MASTER (a send
	// is answered once a slave has it) or SLAVE (with BrokerID > 0).
	BrokerRole string
	// AutoCreateTopicEnable is autoCreateTopicEnable: register TBW102 and let a
	// send create an unknown topic from it. Default true. Runtime-changeable.
	AutoCreateTopicEnable bool
	// AutoCreateSubscriptionGroup is autoCreateSubscriptionGroup: create a
	// consumer group's config on first use. Default true. Runtime-changeable.
	AutoCreateSubscriptionGroup bool
	// DefaultTopicQueueNums is defaultTopicQueueNums: the queue count of TBW102
	// and so the upper bound for auto-created topics. Default 8.
	DefaultTopicQueueNums int
	// BrokerPermission is brokerPermission: PermRead|PermWrite (6) by default;
	// 4 refuses sends, 2 refuses pulls. Runtime-changeable.
	BrokerPermission int
	// RegisterNameServerPeriod is registerNameServerPeriod, ms: how often the
	// broker registers with every name server. Default 30 s, bounded to
	// [10 s, 60 s] as in RocketMQ.
	RegisterNameServerPeriod time.Duration
	// RegisterTimeout is registerBrokerTimeoutMills, ms: the time limit of one
	// REGISTER_BROKER or UNREGISTER_BROKER call. Default 6 s.
	RegisterTimeout time.Duration
	// WaitTimeInSendQueue is waitTimeMillsInSendQueue, ms: a send that waited
	// longer than this for a worker is answered SYSTEM_BUSY
	// "[TIMEOUT_CLEAN_QUEUE]". Default 200 ms. Runtime-changeable.
	WaitTimeInSendQueue time.Duration
	// SendWorkers is sendMessageThreadPoolNums: goroutines that check and
	// append sends (the store answers asynchronously, so few are needed).
	// Default 4.
	SendWorkers int
	// SendQueueCapacity is sendThreadPoolQueueCapacity: sends waiting for a
	// worker; more are answered SYSTEM_BUSY at once. Default 10000.
	SendQueueCapacity int
	// PullWorkers is pullMessageThreadPoolNums. Default 16.
	PullWorkers int
	// PullQueueCapacity is pullThreadPoolQueueCapacity. Default 100000.
	PullQueueCapacity int
	// AdminWorkers is adminBrokerThreadPoolNums: workers for admin, offset and
	// other light requests. Default 8.
	AdminWorkers int
	// HeartbeatWorkers is heartbeatThreadPoolNums. Default 4.
	HeartbeatWorkers int
	// FlushConsumerOffsetInterval is flushConsumerOffsetInterval, ms: how often
	// changed consumer offsets are written to config/consumerOffset.json.
	// Default 5 s.
	FlushConsumerOffsetInterval time.Duration
	// LongPollingEnable is longPollingEnable: hold a pull that finds nothing for
	// the client's suspendTimeoutMillis. Default true. Runtime-changeable.
	LongPollingEnable bool
	// ShortPollingTime is shortPollingTimeMills, ms: the hold time when
	// LongPollingEnable is false. Default 1 s. Runtime-changeable.
	ShortPollingTime time.Duration
	// MaxHeldPulls bounds the pulls held at once; beyond it a pull that would
	// be held is answered SYSTEM_BUSY. Petrel only (maxHeldPulls); default
	// 100000.
	MaxHeldPulls int
	// DuplicateWindow is duplicateWindowSeconds: the de-duplication window of
	// every ordinary topic without its own duplicateWindowSeconds attribute
	// (docs/design/dedup.md). Petrel only; default 0, off.
	DuplicateWindow time.Duration
	// DuplicateMaxEntries is duplicateMaxEntries: the most sends the window
	// remembers; beyond it the oldest are forgotten (counted and logged).
	// Petrel only; default 1000000.
	DuplicateMaxEntries int
	// ShutdownTimeout bounds how long Close waits for in-flight sends.
	// Petrel only (shutdownTimeoutMillis); default 5 s.
	ShutdownTimeout time.Duration
	// RegionID is regionId, returned as MSG_REGION in send answers. Default
	// "DefaultRegion".
	RegionID string
	// TraceOn is traceOn, returned as TRACE_ON in send answers. Default true.
	TraceOn bool
	// FlushDelayOffsetInterval is flushDelayOffsetInterval, ms: how often the
	// delay-level progress (config/delayOffset.json) and the timer checkpoint
	// are persisted. Default 10 s.
	FlushDelayOffsetInterval time.Duration
	// TimerMaxDelay is timerMaxDelaySec, seconds: the longest delay a timer
	// message may ask for; longer ones are refused with MESSAGE_ILLEGAL.
	// Default 3 days.
	TimerMaxDelay time.Duration
	// TimerPrecision is timerPrecisionMs, ms: the time-bucket width of the
	// timer wheel (delivery itself is to the millisecond). Default 1 s.
	TimerPrecision time.Duration
	// EnablePropertyFilter is enablePropertyFilter: serve SQL92 subscriptions
	// (evaluated on message properties at pull time). Default true in Petrel
	// (false in RocketMQ, where it costs a per-message property decode; Petrel
	// evaluates the stored property string without decoding it). When false,
	// SQL92 heartbeats and pulls are answered SYSTEM_ERROR.
	EnablePropertyFilter bool
	// TransactionTimeOut is transactionTimeOut, ms: a half message is checked
	// back once it is this old without a commit or rollback. Default 6 s.
	TransactionTimeOut time.Duration
	// TransactionCheckMax is transactionCheckMax: check-backs per transaction
	// before it is discarded (to TRANS_CHECK_MAX_TIME_TOPIC). Default 15.
	TransactionCheckMax int
	// TransactionCheckInterval is transactionCheckInterval, ms: how often the
	// checker runs. Default 60 s.
	TransactionCheckInterval time.Duration
	// RejectTransactionMessage is rejectTransactionMessage: refuse half
	// messages with NO_PERMISSION. Default false.
	RejectTransactionMessage bool
	// StoreReplyMessageEnable is storeReplyMessageEnable: also store reply
	// messages (SEND_REPLY_MESSAGE) in <cluster>_REPLY_TOPIC. Default true.
	StoreReplyMessageEnable bool
	// ClusterTopicEnable is clusterTopicEnable: the topic named after the
	// cluster is readable and writable (mqadmin clusterRT sends to it).
	// Default true.
	ClusterTopicEnable bool
	// BrokerTopicEnable is brokerTopicEnable: the topic named after the
	// broker is readable and writable. Default true.
	BrokerTopicEnable bool
	// TraceTopicEnable is traceTopicEnable: create the message-trace topic
	// (MsgTraceTopicName) at start with one queue. Default false.
	TraceTopicEnable bool
	// MsgTraceTopicName is msgTraceTopicName. Default "RMQ_SYS_TRACE_TOPIC".
	MsgTraceTopicName string

	// Metrics configures the Prometheus endpoint (internal/metrics).
	Metrics MetricsConfig

	// HAListenPort is haListenPort: the replication port a master serves
	// slaves on. 0 (default) means the bound client port + 1, as RocketMQ
	// 4.9 always uses (it ignores the key).
	HAListenPort int
	// HAMasterAddress is haMasterAddress: a slave's fixed master HA address
	// "ip:port"; empty (default) means the one the name servers answer.
	HAMasterAddress string
	// HASendHeartbeatInterval is haSendHeartbeatInterval, ms. Default 5 s.
	HASendHeartbeatInterval time.Duration
	// HAHousekeepingInterval is haHousekeepingInterval, ms: an HA connection
	// with nothing received for this long is closed. Default 20 s.
	HAHousekeepingInterval time.Duration
	// HATransferBatchSize is haTransferBatchSize, bytes per frame. Default
	// 32 KiB.
	HATransferBatchSize int
	// HASlaveFallbehindMax is haSlaveFallbehindMax, bytes: a slave further
	// behind does not count for SYNC_MASTER. Default 256 MiB.
	HASlaveFallbehindMax int64
	// SlaveTimeout is slaveTimeout, ms: how long a SYNC_MASTER send waits for
	// a slave before FLUSH_SLAVE_TIMEOUT. Default 3 s (RocketMQ 4.9.3+).
	SlaveTimeout time.Duration
	// SlaveReadEnable is slaveReadEnable: a master suggests a slave to
	// consumers whose data is no longer in memory. Default false.
	SlaveReadEnable bool
	// HAMaxTruncateBytes bounds how much a slave drops on its own to follow a
	// master whose log is shorter or diverged (a master restarted from an
	// older or empty store would otherwise take the slave's copy with it);
	// above it the slave keeps its data, logs an ERROR and retries until an
	// operator acts. Petrel only (haMaxTruncateBytes); default 0: no limit.
	HAMaxTruncateBytes int64

	// Failover is controller mode (enableControllerMode and its keys; see
	// docs/design/failover.md). The supervisor in internal/failover reads it.
	Failover FailoverConfig
	// Controller is set by that supervisor for each broker it starts; nil
	// outside controller mode.
	Controller *ControllerMode

	// ACLEnable is aclEnable: check every request against plain_acl.yml
	// (RocketMQ ACL 1.0, see docs/security.md). Default false.
	ACLEnable bool
	// ACLFilePath is aclFilePath (Petrel only): the plain_acl.yml file.
	// Default "": plain_acl.yml in the store's config directory
	// (<storePathRootDir>/config/plain_acl.yml). It must exist when
	// ACLEnable is true.
	ACLFilePath string
	// Credentials are accessKey and secretKey (Petrel only): the account the
	// broker signs its own requests with (registration with the name
	// servers, a slave's calls to its master). Needed when the name servers
	// or the master run with ACL on. Default none. The secret key is never
	// logged nor shown by GET_BROKER_CONFIG.
	Credentials auth.Credentials
	// TLS is the tls.* keys: the client and VIP ports' tls.server.mode and
	// certificate files, and tls.enable for the broker's own connections.
	// Default: TLS off.
	TLS remoting.TLSSettings
	// ClientTLS, if not nil, makes the broker's own connections (to name
	// servers and to its master's client port) use TLS. Start sets it from
	// TLS when tls.enable is true and it is nil.
	ClientTLS *tls.Config

	// Store configures the message store; Store.StoreHost is set by Start from
	// BrokerIP1 and the listening port. FlushDiskType, maxMessageSize and the
	// store paths are bound here too.
	Store store.Config
	// Remoting configures the TCP server; ListenAddr is replaced by the
	// broker's listen address.
	Remoting remoting.ServerConfig
	// Clients configures client and consumer-group management.
	Clients clients.Config
	// FS is the filesystem of the store. Default vfs.OS.
	FS vfs.FS
}

// DefaultConfig returns the RocketMQ 4.9 defaults, with the Petrel choices the
// field comments describe.
func DefaultConfig() Config {
	return Config{
		ClusterName:                 "DefaultCluster",
		BrokerName:                  "broker-a",
		BrokerID:                    body.MasterID,
		ListenPort:                  10911,
		BrokerRole:                  RoleAsyncMaster,
		AutoCreateTopicEnable:       true,
		AutoCreateSubscriptionGroup: true,
		DefaultTopicQueueNums:       8,
		BrokerPermission:            body.PermRead | body.PermWrite,
		RegisterNameServerPeriod:    30 * time.Second,
		RegisterTimeout:             6 * time.Second,
		WaitTimeInSendQueue:         200 * time.Millisecond,
		SendWorkers:                 4,
		SendQueueCapacity:           10000,
		PullWorkers:                 16,
		PullQueueCapacity:           100000,
		AdminWorkers:                8,
		HeartbeatWorkers:            4,
		FlushConsumerOffsetInterval: 5 * time.Second,
		LongPollingEnable:           true,
		ShortPollingTime:            time.Second,
		MaxHeldPulls:                100000,
		DuplicateMaxEntries:         1_000_000,
		ShutdownTimeout:             5 * time.Second,
		RegionID:                    "DefaultRegion",
		TraceOn:                     true,
		FlushDelayOffsetInterval:    10 * time.Second,
		TimerMaxDelay:               72 * time.Hour,
		TimerPrecision:              time.Second,
		EnablePropertyFilter:        true,
		TransactionTimeOut:          6 * time.Second,
		TransactionCheckMax:         15,
		TransactionCheckInterval:    60 * time.Second,
		StoreReplyMessageEnable:     true,
		HASendHeartbeatInterval:     ha.DefaultHeartbeatInterval,
		HAHousekeepingInterval:      ha.DefaultHousekeepingInterval,
		HATransferBatchSize:         ha.DefaultTransferBatchSize,
		HASlaveFallbehindMax:        ha.DefaultSlaveFallbehindMax,
		SlaveTimeout:                ha.DefaultSlaveTimeout,
		Failover:                    DefaultFailoverConfig(),
		ClusterTopicEnable:          true,
		BrokerTopicEnable:           true,
		MsgTraceTopicName:           meta.TopicTrace,
		Metrics:                     DefaultMetricsConfig(),
		Store:                       store.DefaultConfig(),
		Remoting:                    remoting.DefaultServerConfig(),
		Clients:                     clients.DefaultConfig(),
		FS:                          vfs.OS,
	}
}

// fastListenAddr is the VIP channel's address given the bound client port,
// whether it was set explicitly, and false when the channel is off.
func (c *Config) fastListenAddr(boundPort int) (addr string, explicit, on bool) {
	host, _, err := net.SplitHostPort(c.listenAddr())
	if err != nil {
		host = "0.0.0.0"
	}
	switch {
	case c.FastListenPort == -1:
		return "", false, false
	case c.FastListenPort > 0:
		return net.JoinHostPort(host, strconv.Itoa(c.FastListenPort)), true, true
	case boundPort <= 2:
		return "", false, false
	}
	return net.JoinHostPort(host, strconv.Itoa(boundPort-2)), false, true
}

// listenAddr is the address to bind.
// ACLPath returns the plain_acl.yml the broker reads (aclFilePath, or its
// default in the store's config directory).
func (c *Config) ACLPath() string {
	if c.ACLFilePath != "" {
		return c.ACLFilePath
	}
	return acl.DefaultPath(filepath.Join(c.Store.RootDir, "config"))
}

// PeerClient is the remoting configuration of the broker's own
// connections: signed with Credentials, over TLS if ClientTLS is set.
func (c *Config) PeerClient() remoting.ClientConfig {
	cc := remoting.ClientConfig{TLS: c.ClientTLS}
	if !c.Credentials.Empty() {
		cc.Sign = c.Credentials.Sign
	}
	return cc
}

func (c *Config) listenAddr() string {
	if c.ListenAddr != "" {
		return c.ListenAddr
	}
	return net.JoinHostPort("0.0.0.0", strconv.Itoa(c.ListenPort))
}

// runtime returns the runtime-changeable part of c.
func (c *Config) runtime() meta.Runtime {
	return meta.Runtime{
		AutoCreateTopicEnable:       c.AutoCreateTopicEnable,
		AutoCreateSubscriptionGroup: c.AutoCreateSubscriptionGroup,
		BrokerPermission:            c.BrokerPermission,
		WaitTimeInSendQueue:         c.WaitTimeInSendQueue,
		LongPollingEnable:           c.LongPollingEnable,
		ShortPollingTime:            c.ShortPollingTime,
	}
}

// Metrics exporter types (metricsExporterType). RocketMQ 5.x also has
// OTLP_GRPC and LOG, which Petrel refuses.
const (
	MetricsDisable = "DISABLE"
	MetricsProm    = "PROM"
)

// MetricsConfig is the Prometheus endpoint's configuration, with RocketMQ
// 5.x's keys.
type MetricsConfig struct {
	// ExporterType is metricsExporterType: DISABLE (default for `petrel
	// broker`, as RocketMQ) or PROM (serve /metrics, /healthz and /readyz
	// over HTTP; the default of `petrel standalone`).
	ExporterType string
	// Host is metricsPromExporterHost: the address to bind; empty means
	// 127.0.0.1 (RocketMQ binds brokerIP1). Set it to the address a
	// Prometheus server scrapes, or 0.0.0.0 for all interfaces.
	Host string
	// Port is metricsPromExporterPort. Default 5557; 0 binds any free port
	// (logged as "petrel metrics listening").
	Port int
	// Pprof is metricsPprofEnable (Petrel only): also serve Go's
	// net/http/pprof under /debug/pprof/ on the same port. Default false.
	Pprof bool
	// CardinalityLimit is metricsOtelCardinalityLimit: at most this many
	// label sets per metric; events for more are dropped and counted in
	// petrel_metrics_dropped_total. Default 50000.
	CardinalityLimit int
}

// DefaultMetricsConfig returns RocketMQ 5.x's defaults: off, port 5557.
func DefaultMetricsConfig() MetricsConfig {
	return MetricsConfig{ExporterType: MetricsDisable, Port: 5557, CardinalityLimit: 50000}
}
