package broker

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmq/petrel/internal/broker/clients"
	"github.com/petrelmq/petrel/internal/properties"
	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/internal/vfs"
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
	// BrokerID is brokerId: 0 for a master. Default 0. Only masters are
	// supported for now.
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
	// each offset message id). RocketMQ guesses a local address; Petrel
	// defaults to 127.0.0.1 so that a development broker works out of the box:
	// set it to a reachable address for anything else.
	BrokerIP1 string
	// BrokerRole is brokerRole: ASYNC_MASTER (default), SYNC_MASTER or SLAVE.
	// SLAVE is not supported yet; SYNC_MASTER behaves as ASYNC_MASTER until
	// replication lands.
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
		BrokerIP1:                   "127.0.0.1",
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
func (c *Config) listenAddr() string {
	if c.ListenAddr != "" {
		return c.ListenAddr
	}
	return net.JoinHostPort("0.0.0.0", strconv.Itoa(c.ListenPort))
}

// Validate reports the first bad field by name.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("broker: config: "+format, args...)
	}
	switch {
	case c.ClusterName == "":
		return bad("ClusterName (brokerClusterName) is empty")
	case c.BrokerName == "":
		return bad("BrokerName (brokerName) is empty")
	case validateTopicName(c.ClusterName) != nil:
		return bad("ClusterName (brokerClusterName) %q: %v", c.ClusterName, validateTopicName(c.ClusterName))
	case validateTopicName(c.BrokerName) != nil:
		return bad("BrokerName (brokerName) %q: %v", c.BrokerName, validateTopicName(c.BrokerName))
	case c.BrokerID < 0:
		return bad("BrokerID (brokerId) %d is negative", c.BrokerID)
	case c.BrokerRole != RoleAsyncMaster && c.BrokerRole != RoleSyncMaster && c.BrokerRole != RoleSlave:
		return bad("BrokerRole (brokerRole) %q: want ASYNC_MASTER, SYNC_MASTER or SLAVE", c.BrokerRole)
	case c.BrokerRole == RoleSlave:
		return bad("BrokerRole (brokerRole) SLAVE is not supported yet: run masters only")
	case c.BrokerID != body.MasterID:
		return bad("BrokerID (brokerId) %d: a master has id 0 and slaves are not supported yet", c.BrokerID)
	case c.ListenAddr == "" && (c.ListenPort <= 0 || c.ListenPort > 65534):
		return bad("ListenPort (listenPort) %d is outside [1, 65534]", c.ListenPort)
	case c.FastListenPort < -1 || c.FastListenPort > 65535:
		return bad("FastListenPort (fastListenPort) %d is outside [1, 65535] (0: listenPort-2, -1: off)", c.FastListenPort)
	case c.DefaultTopicQueueNums < 1 || c.DefaultTopicQueueNums > 1024:
		return bad("DefaultTopicQueueNums (defaultTopicQueueNums) %d is outside [1, 1024]", c.DefaultTopicQueueNums)
	case c.BrokerPermission < 0 || c.BrokerPermission > 7:
		return bad("BrokerPermission (brokerPermission) %d is outside [0, 7]", c.BrokerPermission)
	case c.RegisterNameServerPeriod <= 0:
		return bad("RegisterNameServerPeriod (registerNameServerPeriod) %v must be positive", c.RegisterNameServerPeriod)
	case c.RegisterTimeout <= 0:
		return bad("RegisterTimeout (registerBrokerTimeoutMills) %v must be positive", c.RegisterTimeout)
	case c.WaitTimeInSendQueue <= 0:
		return bad("WaitTimeInSendQueue (waitTimeMillsInSendQueue) %v must be positive", c.WaitTimeInSendQueue)
	case c.SendWorkers < 1 || c.PullWorkers < 1 || c.AdminWorkers < 1 || c.HeartbeatWorkers < 1:
		return bad("worker counts (send %d, pull %d, admin %d, heartbeat %d) must be at least 1",
			c.SendWorkers, c.PullWorkers, c.AdminWorkers, c.HeartbeatWorkers)
	case c.SendQueueCapacity < 1 || c.PullQueueCapacity < 1:
		return bad("queue capacities (send %d, pull %d) must be at least 1", c.SendQueueCapacity, c.PullQueueCapacity)
	case c.FlushConsumerOffsetInterval <= 0:
		return bad("FlushConsumerOffsetInterval (flushConsumerOffsetInterval) %v must be positive", c.FlushConsumerOffsetInterval)
	case c.ShortPollingTime <= 0:
		return bad("ShortPollingTime (shortPollingTimeMills) %v must be positive", c.ShortPollingTime)
	case c.MaxHeldPulls < 1:
		return bad("MaxHeldPulls (maxHeldPulls) %d must be at least 1", c.MaxHeldPulls)
	case c.ShutdownTimeout <= 0:
		return bad("ShutdownTimeout (shutdownTimeoutMillis) %v must be positive", c.ShutdownTimeout)
	case c.FlushDelayOffsetInterval <= 0 || c.TimerMaxDelay <= 0 || c.TimerPrecision < time.Millisecond:
		return bad("FlushDelayOffsetInterval %v and TimerMaxDelay %v must be positive and TimerPrecision %v at least 1 ms",
			c.FlushDelayOffsetInterval, c.TimerMaxDelay, c.TimerPrecision)
	case c.TransactionTimeOut < 0 || c.TransactionCheckMax < 0 || c.TransactionCheckInterval <= 0:
		return bad("TransactionTimeOut %v and TransactionCheckMax %d must not be negative and TransactionCheckInterval %v must be positive",
			c.TransactionTimeOut, c.TransactionCheckMax, c.TransactionCheckInterval)
	case c.FS == nil:
		return bad("FS is nil")
	case c.Store.MaxMessageSize <= 0:
		return bad("Store.MaxMessageSize (maxMessageSize) %d must be positive", c.Store.MaxMessageSize)
	}
	ip, err := netip.ParseAddr(c.BrokerIP1)
	if err != nil {
		return bad("BrokerIP1 (brokerIP1) %q is not an IP address", c.BrokerIP1)
	}
	if ip.IsUnspecified() {
		return bad("BrokerIP1 (brokerIP1) %q cannot be dialled by clients", c.BrokerIP1)
	}
	for _, ns := range c.NameServers {
		if _, _, err := net.SplitHostPort(ns); err != nil {
			return bad("NameServers (namesrvAddr) entry %q is not host:port", ns)
		}
	}
	if err := c.Store.Validate(); err != nil {
		return fmt.Errorf("broker: config: %w", err)
	}
	rc := c.Remoting
	rc.ListenAddr = c.listenAddr()
	if err := rc.Validate(); err != nil {
		return bad("Remoting: %v", err)
	}
	return nil
}

// Keys of the runtime-changeable settings (UPDATE_BROKER_CONFIG).
const (
	keyAutoCreateTopicEnable       = "autoCreateTopicEnable"
	keyAutoCreateSubscriptionGroup = "autoCreateSubscriptionGroup"
	keyBrokerPermission            = "brokerPermission"
	keyWaitTimeInSendQueue         = "waitTimeMillsInSendQueue"
	keyLongPollingEnable           = "longPollingEnable"
	keyShortPollingTime            = "shortPollingTimeMills"
)

// runtimeConfig is the part of Config that UPDATE_BROKER_CONFIG may change. The
// broker keeps it behind an atomic pointer and replaces it whole.
type runtimeConfig struct {
	AutoCreateTopicEnable       bool
	AutoCreateSubscriptionGroup bool
	BrokerPermission            int
	WaitTimeInSendQueue         time.Duration
	LongPollingEnable           bool
	ShortPollingTime            time.Duration
}

func (c *Config) runtime() runtimeConfig {
	return runtimeConfig{
		AutoCreateTopicEnable:       c.AutoCreateTopicEnable,
		AutoCreateSubscriptionGroup: c.AutoCreateSubscriptionGroup,
		BrokerPermission:            c.BrokerPermission,
		WaitTimeInSendQueue:         c.WaitTimeInSendQueue,
		LongPollingEnable:           c.LongPollingEnable,
		ShortPollingTime:            c.ShortPollingTime,
	}
}

func (rc *runtimeConfig) bind(b *properties.Binder) {
	b.Bool(keyAutoCreateTopicEnable, &rc.AutoCreateTopicEnable)
	b.Bool(keyAutoCreateSubscriptionGroup, &rc.AutoCreateSubscriptionGroup)
	b.Int(keyBrokerPermission, &rc.BrokerPermission)
	b.Millis(keyWaitTimeInSendQueue, &rc.WaitTimeInSendQueue)
	b.Bool(keyLongPollingEnable, &rc.LongPollingEnable)
	b.Millis(keyShortPollingTime, &rc.ShortPollingTime)
}

func (rc *runtimeConfig) validate() error {
	switch {
	case rc.BrokerPermission < 0 || rc.BrokerPermission > 7:
		return fmt.Errorf("%s %d is outside [0, 7]", keyBrokerPermission, rc.BrokerPermission)
	case rc.WaitTimeInSendQueue <= 0:
		return fmt.Errorf("%s must be positive", keyWaitTimeInSendQueue)
	case rc.ShortPollingTime <= 0:
		return fmt.Errorf("%s must be positive", keyShortPollingTime)
	}
	return nil
}

// BindProperties binds the RocketMQ broker.conf keys to c: the broker keys the
// field comments name, the store keys (storePathRootDir, storePathCommitLog,
// storePathConsumeQueue, storePathIndex, storeCheckpoint, abortFile,
// mapedFileSizeCommitLog, mapedFileSizeConsumeQueue, flushDiskType,
// flushIntervalCommitLog, flushCommitLogLeastPages,
// flushCommitLogThoroughInterval, syncFlushTimeout, maxMessageSize,
// messageIndexEnable, maxHashSlotNum, maxIndexNum, fileReservedTime,
// deleteWhen, cleanResourceInterval, diskMaxUsedSpaceRatio,
// diskSpaceWarningLevelRatio, messageDelayLevel, the maxTransfer* read caps,
// accessMessageInMemoryMaxRatio, flushIntervalConsumeQueue), Petrel's listenAddr,
// maxHeldPulls, shutdownTimeoutMillis, maxFrameSize, serverMemoryBudgetBytes and
// serverMaxInflightPerConnection, and RocketMQ's JVM and Netty tuning keys, which
// are accepted with no effect.
func (c *Config) BindProperties(b *properties.Binder) {
	b.String("brokerClusterName", &c.ClusterName)
	b.String("brokerName", &c.BrokerName)
	b.Int64("brokerId", &c.BrokerID)
	b.Func("namesrvAddr", func(v string) error {
		var addrs []string
		for _, a := range strings.Split(v, ";") {
			if a = strings.TrimSpace(a); a != "" {
				addrs = append(addrs, a)
			}
		}
		c.NameServers = addrs
		return nil
	})
	b.Func("listenPort", func(v string) error {
		port, err := strconv.ParseUint(v, 10, 16)
		if err != nil || port == 0 || port > 65534 {
			return fmt.Errorf("want a TCP port 1-65534, got %q", v)
		}
		c.ListenPort = int(port)
		return nil
	})
	b.String("listenAddr", &c.ListenAddr)
	b.Func("fastListenPort", func(v string) error {
		port, err := strconv.ParseInt(v, 10, 32)
		if err != nil || port < -1 || port > 65535 {
			return fmt.Errorf("want a TCP port 1-65535, 0 (listenPort-2) or -1 (off), got %q", v)
		}
		c.FastListenPort = int(port)
		return nil
	})
	b.String("brokerIP1", &c.BrokerIP1)
	b.Enum("brokerRole", &c.BrokerRole, RoleAsyncMaster, RoleSyncMaster, RoleSlave)
	b.Bool(keyAutoCreateTopicEnable, &c.AutoCreateTopicEnable)
	b.Bool(keyAutoCreateSubscriptionGroup, &c.AutoCreateSubscriptionGroup)
	b.Int("defaultTopicQueueNums", &c.DefaultTopicQueueNums)
	b.Int(keyBrokerPermission, &c.BrokerPermission)
	b.Millis("registerNameServerPeriod", &c.RegisterNameServerPeriod)
	b.Millis("registerBrokerTimeoutMills", &c.RegisterTimeout)
	b.Millis(keyWaitTimeInSendQueue, &c.WaitTimeInSendQueue)
	b.Int("sendMessageThreadPoolNums", &c.SendWorkers)
	b.Int("sendThreadPoolQueueCapacity", &c.SendQueueCapacity)
	b.Int("pullMessageThreadPoolNums", &c.PullWorkers)
	b.Int("pullThreadPoolQueueCapacity", &c.PullQueueCapacity)
	b.Int("adminBrokerThreadPoolNums", &c.AdminWorkers)
	b.Int("heartbeatThreadPoolNums", &c.HeartbeatWorkers)
	b.Millis("flushConsumerOffsetInterval", &c.FlushConsumerOffsetInterval)
	b.Bool(keyLongPollingEnable, &c.LongPollingEnable)
	b.Millis(keyShortPollingTime, &c.ShortPollingTime)
	b.Int("maxHeldPulls", &c.MaxHeldPulls)
	b.Millis("shutdownTimeoutMillis", &c.ShutdownTimeout)
	b.String("regionId", &c.RegionID)
	b.Bool("traceOn", &c.TraceOn)
	b.Millis("flushDelayOffsetInterval", &c.FlushDelayOffsetInterval)
	b.Seconds("timerMaxDelaySec", &c.TimerMaxDelay)
	b.Millis("timerPrecisionMs", &c.TimerPrecision)
	b.Bool("enablePropertyFilter", &c.EnablePropertyFilter)
	b.Millis("transactionTimeOut", &c.TransactionTimeOut)
	b.Int("transactionCheckMax", &c.TransactionCheckMax)
	b.Millis("transactionCheckInterval", &c.TransactionCheckInterval)
	b.Bool("rejectTransactionMessage", &c.RejectTransactionMessage)
	b.Bool("storeReplyMessageEnable", &c.StoreReplyMessageEnable)

	s := &c.Store
	b.Func("storePathRootDir", func(v string) error {
		if v == "" {
			return errors.New("want a directory, got an empty value")
		}
		old := s.RootDir
		// Paths still at their default under the old root follow the new one, so
		// the order of keys in the file does not matter.
		follow := func(p *string, name string) {
			if *p == "" || *p == filepath.Join(old, name) {
				*p = filepath.Join(v, name)
			}
		}
		follow(&s.CommitLogDir, "commitlog")
		follow(&s.ConsumeQueueDir, "consumequeue")
		follow(&s.IndexDir, "index")
		follow(&s.CheckpointPath, "checkpoint")
		follow(&s.AbortPath, "abort")
		follow(&s.ConfigDir, "config")
		s.RootDir = v
		return nil
	})
	b.String("storePathCommitLog", &s.CommitLogDir)
	b.String("storePathConsumeQueue", &s.ConsumeQueueDir)
	b.String("storePathIndex", &s.IndexDir)
	b.String("storeCheckpoint", &s.CheckpointPath)
	b.String("abortFile", &s.AbortPath)
	b.Int64("mapedFileSizeCommitLog", &s.CommitLogSegmentSize)
	b.Func("mapedFileSizeConsumeQueue", func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 20 {
			return fmt.Errorf("want a size in bytes of at least one 20-byte entry, got %q", v)
		}
		s.ConsumeQueueEntriesPerFile = int(n / 20)
		return nil
	})
	b.Func("flushDiskType", func(v string) error {
		switch v {
		case "ASYNC_FLUSH":
			s.FlushDiskType = store.AsyncFlush
		case "SYNC_FLUSH":
			s.FlushDiskType = store.SyncFlush
		default:
			return fmt.Errorf("want ASYNC_FLUSH or SYNC_FLUSH, got %q", v)
		}
		return nil
	})
	b.Millis("flushIntervalCommitLog", &s.FlushInterval)
	b.Int("flushCommitLogLeastPages", &s.FlushLeastPages)
	b.Millis("flushCommitLogThoroughInterval", &s.FlushThoroughInterval)
	b.Millis("syncFlushTimeout", &s.SyncFlushTimeout)
	b.Int("maxMessageSize", &s.MaxMessageSize)
	b.Bool("messageIndexEnable", &s.MessageIndexEnable)
	b.Int("maxHashSlotNum", &s.MaxHashSlotNum)
	b.Int("maxIndexNum", &s.MaxIndexNum)
	b.Func("fileReservedTime", func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("want a positive number of hours, got %q", v)
		}
		s.FileReservedTime = time.Duration(n) * time.Hour
		return nil
	})
	b.Func("deleteWhen", func(v string) error {
		hours, err := parseDeleteWhen(v)
		if err != nil {
			return err
		}
		s.DeleteWhen = hours
		return nil
	})
	b.Millis("cleanResourceInterval", &s.CleanResourceInterval)
	b.Int("diskMaxUsedSpaceRatio", &s.DiskMaxUsedSpaceRatio)
	b.Func("diskSpaceWarningLevelRatio", func(v string) error {
		// RocketMQ writes it as a fraction (0.90); accept a percentage too.
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || f > 100 {
			return fmt.Errorf("want a ratio such as 0.90 or a percentage such as 90, got %q", v)
		}
		if f <= 1 {
			f *= 100
		}
		s.DiskFullRatio = int(f + 0.5)
		return nil
	})

	b.String("messageDelayLevel", &s.MessageDelayLevel)
	b.Int("maxTransferBytesOnMessageInMemory", &s.MaxTransferBytesInMemory)
	b.Int("maxTransferCountOnMessageInMemory", &s.MaxTransferCountInMemory)
	b.Int("maxTransferBytesOnMessageInDisk", &s.MaxTransferBytesOnDisk)
	b.Int("maxTransferCountOnMessageInDisk", &s.MaxTransferCountOnDisk)
	b.Int("accessMessageInMemoryMaxRatio", &s.AccessMessageInMemoryMaxRatio)
	b.Millis("flushIntervalConsumeQueue", &s.FlushConsumeQueueInterval)

	b.Int("maxFrameSize", &c.Remoting.MaxFrameSize)
	b.Seconds("serverChannelMaxIdleTimeSeconds", &c.Remoting.IdleTimeout)
	b.Int64("serverMemoryBudgetBytes", &c.Remoting.MemoryBudget)
	b.Int("serverMaxInflightPerConnection", &c.Remoting.MaxInflightPerConn)

	b.Ignore("JVM-only setting", "rocketmqHome", "namesrvAddrFromEnv", "fetchNamesrvAddrByAddressServer",
		"rmqAddressServerDomain", "rmqAddressServerSubGroup")
	b.Ignore("Netty tuning; Petrel sizes its own buffers",
		"serverWorkerThreads", "serverCallbackExecutorThreads", "serverSelectorThreads",
		"serverOnewaySemaphoreValue", "serverAsyncSemaphoreValue", "serverSocketSndBufSize",
		"serverSocketRcvBufSize", "serverPooledByteBufAllocatorEnable", "useEpollNativeSelector",
		"clientWorkerThreads", "clientCallbackExecutorThreads", "clientOnewaySemaphoreValue",
		"clientAsyncSemaphoreValue", "clientSocketSndBufSize", "clientSocketRcvBufSize",
		"clientPooledByteBufAllocatorEnable", "clientCloseSocketIfTimeout", "serverSocketBacklog")
	b.Ignore("thread pool of a feature that has no separate pool in Petrel",
		"queryMessageThreadPoolNums", "clientManageThreadPoolNums", "consumerManageThreadPoolNums",
		"processReplyMessageThreadPoolNums", "endTransactionThreadPoolNums",
		"queryThreadPoolQueueCapacity", "clientManagerThreadPoolQueueCapacity",
		"consumerManagerThreadPoolQueueCapacity", "heartbeatThreadPoolQueueCapacity",
		"endTransactionPoolQueueCapacity", "replyThreadPoolQueueCapacity")
	b.Ignore("page-cache and mmap tuning; the Petrel store manages its own buffers",
		"transientStorePoolEnable", "transientStorePoolSize", "fastFailIfNoBufferInStorePool",
		"warmMapedFileEnable", "flushLeastPagesWhenWarmMapedFile", "useReentrantLockWhenPutMessage",
		"osPageCacheBusyTimeOutMills", "commitIntervalCommitLog", "commitCommitLogLeastPages",
		"commitCommitLogThoroughInterval", "flushConsumeQueueLeastPages",
		"flushConsumeQueueThoroughInterval", "startAcceptSendRequestTimeStamp", "brokerFastFailureEnable")
	b.Ignore("not supported yet (HA, ACL)",
		"brokerIP2", "haListenPort", "haSendHeartbeatInterval", "haHousekeepingInterval",
		"haTransferBatchSize", "haMasterAddress", "haSlaveFallbehindMax", "slaveReadEnable",
		"aclEnable", "filterSupportRetry", "enableCalcFilterBitMap",
		"offsetCheckInSlave", "duplicationEnable",
		"clusterTopicEnable", "brokerTopicEnable", "traceTopicEnable", "msgTraceTopicName",
		"compressedRegister", "forceRegister", "enableDLegerCommitLog")
}

// parseDeleteWhen parses deleteWhen: hours of the day separated by ';'
// ("04", "01;02").
func parseDeleteWhen(v string) ([]int, error) {
	var hours []int
	for _, p := range strings.Split(v, ";") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		h, err := strconv.Atoi(p)
		if err != nil || h < 0 || h > 23 {
			return nil, fmt.Errorf("want hours 00-23 separated by ';', got %q", v)
		}
		hours = append(hours, h)
	}
	if len(hours) == 0 {
		return nil, fmt.Errorf("want hours 00-23 separated by ';', got %q", v)
	}
	return hours, nil
}
