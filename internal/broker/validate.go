package broker

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/petrelmq/petrel/internal/broker/meta"
	"github.com/petrelmq/petrel/internal/properties"
	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// Validate reports the first bad setting. An error about a setting a key
// configures wraps a *properties.KeyError naming the key (for example "key
// defaultTopicQueueNums: 0 is outside [1, 1024]"), so that the command that
// loaded broker.conf can point at the file and line (properties.Binder.Locate).
func (c *Config) Validate() error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("broker: config: %w", err)
	}
	return nil
}

func (c *Config) validate() error {
	inv := properties.Invalid
	switch {
	case c.ClusterName == "":
		return inv("brokerClusterName", "is empty")
	case c.BrokerName == "":
		return inv("brokerName", "is empty")
	case meta.ValidateTopicName(c.ClusterName) != nil:
		return inv("brokerClusterName", "%q: %v", c.ClusterName, meta.ValidateTopicName(c.ClusterName))
	case meta.ValidateTopicName(c.BrokerName) != nil:
		return inv("brokerName", "%q: %v", c.BrokerName, meta.ValidateTopicName(c.BrokerName))
	case c.BrokerID < 0:
		return inv("brokerId", "%d is negative", c.BrokerID)
	case c.TraceTopicEnable && meta.ValidateTopicName(c.MsgTraceTopicName) != nil:
		return inv("msgTraceTopicName", "%q: %v", c.MsgTraceTopicName, meta.ValidateTopicName(c.MsgTraceTopicName))
	}
	if err := checkRole(c); err != nil {
		return err
	}
	switch {
	case c.ListenAddr == "" && (c.ListenPort <= 0 || c.ListenPort > 65534):
		return inv("listenPort", "%d is outside [1, 65534]", c.ListenPort)
	case c.FastListenPort < -1 || c.FastListenPort > 65535:
		return inv("fastListenPort", "%d is outside [1, 65535] (0: listenPort-2, -1: off)", c.FastListenPort)
	case c.DefaultTopicQueueNums < 1 || c.DefaultTopicQueueNums > 1024:
		return inv("defaultTopicQueueNums", "%d is outside [1, 1024]", c.DefaultTopicQueueNums)
	case c.DuplicateWindow < 0 || c.DuplicateWindow > meta.MaxDuplicateWindow:
		return inv(meta.KeyDuplicateWindowSeconds, "%d s is outside [0, %d]", int64(c.DuplicateWindow/time.Second),
			int64(meta.MaxDuplicateWindow/time.Second))
	case c.BrokerPermission < 0 || c.BrokerPermission > 7:
		return inv(meta.KeyBrokerPermission, "%d is outside [0, 7]", c.BrokerPermission)
	case c.Metrics.Port < 0 || c.Metrics.Port > 65535:
		return inv("metricsPromExporterPort", "%d is outside [0, 65535]", c.Metrics.Port)
	case c.Metrics.CardinalityLimit < 1:
		return inv("metricsOtelCardinalityLimit", "%d must be at least 1", c.Metrics.CardinalityLimit)
	case c.FS == nil:
		return errors.New("FS is nil")
	}
	for _, v := range []struct {
		key string
		n   int
	}{
		{"sendMessageThreadPoolNums", c.SendWorkers},
		{"pullMessageThreadPoolNums", c.PullWorkers},
		{"adminBrokerThreadPoolNums", c.AdminWorkers},
		{"heartbeatThreadPoolNums", c.HeartbeatWorkers},
		{"sendThreadPoolQueueCapacity", c.SendQueueCapacity},
		{"pullThreadPoolQueueCapacity", c.PullQueueCapacity},
		{"maxHeldPulls", c.MaxHeldPulls},
		{"duplicateMaxEntries", c.DuplicateMaxEntries},
	} {
		if v.n < 1 {
			return inv(v.key, "%d must be at least 1", v.n)
		}
	}
	for _, v := range []struct {
		key string
		d   time.Duration
		min time.Duration // smallest allowed
	}{
		{"registerNameServerPeriod", c.RegisterNameServerPeriod, 1},
		{"registerBrokerTimeoutMills", c.RegisterTimeout, 1},
		{meta.KeyWaitTimeInSendQueue, c.WaitTimeInSendQueue, 1},
		{"flushConsumerOffsetInterval", c.FlushConsumerOffsetInterval, 1},
		{meta.KeyShortPollingTime, c.ShortPollingTime, 1},
		{"shutdownTimeoutMillis", c.ShutdownTimeout, 1},
		{"flushDelayOffsetInterval", c.FlushDelayOffsetInterval, 1},
		{"timerMaxDelaySec", c.TimerMaxDelay, 1},
		{"timerPrecisionMs", c.TimerPrecision, time.Millisecond},
		{"transactionTimeOut", c.TransactionTimeOut, 0},
		{"transactionCheckInterval", c.TransactionCheckInterval, 1},
	} {
		switch {
		case v.d >= v.min:
		case v.min == 0:
			return inv(v.key, "%v is negative", v.d)
		case v.min == 1:
			return inv(v.key, "%v must be positive", v.d)
		default:
			return inv(v.key, "%v is below %v", v.d, v.min)
		}
	}
	switch {
	case c.HAListenPort < 0 || c.HAListenPort > 65535:
		return inv("haListenPort", "%d is outside [0, 65535] (0: listenPort+1)", c.HAListenPort)
	case c.HAMasterAddress != "" && !validHostPort(c.HAMasterAddress):
		return inv("haMasterAddress", "%q is not host:port", c.HAMasterAddress)
	case c.HASendHeartbeatInterval <= 0:
		return inv("haSendHeartbeatInterval", "%v must be positive", c.HASendHeartbeatInterval)
	case c.HAHousekeepingInterval <= c.HASendHeartbeatInterval:
		return inv("haHousekeepingInterval", "%v must exceed haSendHeartbeatInterval %v", c.HAHousekeepingInterval, c.HASendHeartbeatInterval)
	case c.HATransferBatchSize < 1 || c.HATransferBatchSize > 16<<20:
		return inv("haTransferBatchSize", "%d is outside [1, 16 MiB]", c.HATransferBatchSize)
	case c.HASlaveFallbehindMax < 0:
		return inv("haSlaveFallbehindMax", "%d is negative", c.HASlaveFallbehindMax)
	case c.SlaveTimeout <= 0:
		return inv("slaveTimeout", "%v must be positive", c.SlaveTimeout)
	case c.HAMaxTruncateBytes < 0:
		return inv("haMaxTruncateBytes", "%d is negative", c.HAMaxTruncateBytes)
	}
	if c.TransactionCheckMax < 0 {
		return inv("transactionCheckMax", "%d is negative", c.TransactionCheckMax)
	}
	if c.Store.MaxMessageSize <= 0 {
		return inv("maxMessageSize", "%d must be positive", c.Store.MaxMessageSize)
	}
	for _, v := range []struct{ key, ip string }{{"brokerIP1", c.BrokerIP1}, {"brokerIP2", c.BrokerIP2}} {
		if v.ip == "" { // unset: derived at Start (advertisedIP)
			continue
		}
		ip, err := netip.ParseAddr(v.ip)
		if err != nil {
			return inv(v.key, "%q is not an IP address", v.ip)
		}
		if ip.IsUnspecified() {
			return inv(v.key, "%q cannot be dialled", v.ip)
		}
	}
	for _, ns := range c.NameServers {
		if _, _, err := net.SplitHostPort(ns); err != nil {
			return inv("namesrvAddr", "entry %q is not host:port", ns)
		}
	}
	if err := c.Store.Validate(); err != nil {
		var ce *store.ConfigError
		if errors.As(err, &ce) {
			if keys := storeFieldKeys[ce.Field]; len(keys) > 0 {
				return &properties.KeyError{Key: keys[0], Also: keys[1:],
					Err: fmt.Errorf("key %s: %s", keys[0], ce.Reason)}
			}
		}
		return err
	}
	if err := validateRemotingKeys(c.Remoting); err != nil {
		return err
	}
	rc := c.Remoting
	rc.ListenAddr = c.listenAddr()
	if err := rc.Validate(); err != nil {
		return fmt.Errorf("Remoting: %w", err)
	}
	return nil
}

// checkRole checks brokerRole and brokerId together, as RocketMQ's
// BrokerStartup does (a slave has an id above 0), but refuses a master whose id
// is not 0 where RocketMQ silently resets it.
func checkRole(c *Config) error {
	if c.Failover.Enable && c.Controller == nil {
		// Controller mode as configured: the supervisor picks the role and
		// the name-server id; brokerId is the id in the set.
		if c.BrokerID < 1 {
			return properties.Invalid("brokerId", "%d with enableControllerMode=true: in controller mode brokerId is the broker's id in its set and must be 1 or more (the master registers with the name servers as 0)", c.BrokerID)
		}
		return validateFailover(&c.Failover)
	}
	switch c.BrokerRole {
	case RoleAsyncMaster, RoleSyncMaster:
		if c.BrokerID != body.MasterID {
			return properties.Invalid("brokerId", "%d with brokerRole=%s: a master has brokerId 0 (a slave needs brokerRole=SLAVE)",
				c.BrokerID, c.BrokerRole)
		}
	case RoleSlave:
		if c.BrokerID <= body.MasterID {
			return properties.Invalid("brokerId", "%d with brokerRole=SLAVE: a slave has a brokerId above 0", c.BrokerID)
		}
	default:
		return properties.Invalid("brokerRole", "%q: want ASYNC_MASTER, SYNC_MASTER or SLAVE", c.BrokerRole)
	}
	return nil
}

// validateFailover checks the controller-mode keys.
func validateFailover(f *FailoverConfig) error {
	inv := properties.Invalid
	if len(f.ControllerAddrs) == 0 {
		return inv("controllerAddr", "is empty: enableControllerMode=true needs the controllers' addresses, host:port;host:port")
	}
	for _, a := range f.ControllerAddrs {
		if !validHostPort(a) {
			return inv("controllerAddr", "entry %q is not host:port", a)
		}
	}
	switch {
	case f.HeartbeatInterval <= 0:
		return inv("brokerHeartbeatInterval", "%v must be positive", f.HeartbeatInterval)
	case f.HeartbeatTimeout < 2*f.HeartbeatInterval:
		return inv("controllerHeartBeatTimeoutMills", "%v must be at least twice brokerHeartbeatInterval %v", f.HeartbeatTimeout, f.HeartbeatInterval)
	case f.SyncMetadataPeriod <= 0:
		return inv("syncBrokerMetadataPeriod", "%v must be positive", f.SyncMetadataPeriod)
	case f.CheckSyncStateSetPeriod <= 0:
		return inv("checkSyncStateSetPeriod", "%v must be positive", f.CheckSyncStateSetPeriod)
	case f.MaxTimeNotCatchup <= 0:
		return inv("haMaxTimeSlaveNotCatchup", "%v must be positive", f.MaxTimeNotCatchup)
	case f.InSyncReplicas < 1:
		return inv("inSyncReplicas", "%d must be at least 1 (the master)", f.InSyncReplicas)
	case f.MinInSyncReplicas < 1:
		return inv("minInSyncReplicas", "%d must be at least 1 (the master)", f.MinInSyncReplicas)
	}
	return nil
}

// storeFieldKeys names the broker.conf key of each store.Config field that a
// *store.ConfigError can name: the first key is the one reported, the others
// are keys that also bear on the check (Locate points at whichever was set).
var storeFieldKeys = map[string][]string{
	"RootDir":                       {"storePathRootDir"},
	"CommitLogSegmentSize":          {"mappedFileSizeCommitLog"},
	"ConsumeQueueEntriesPerFile":    {"mappedFileSizeConsumeQueue"},
	"FlushDiskType":                 {"flushDiskType"},
	"FlushInterval":                 {"flushIntervalCommitLog"},
	"FlushLeastPages":               {"flushCommitLogLeastPages"},
	"FlushThoroughInterval":         {"flushCommitLogThoroughInterval"},
	"SyncFlushTimeout":              {"syncFlushTimeout"},
	"MaxMessageSize":                {"maxMessageSize", "mappedFileSizeCommitLog"},
	"MaxHashSlotNum":                {"maxHashSlotNum"},
	"MaxIndexNum":                   {"maxIndexNum", "maxHashSlotNum"},
	"FileReservedTime":              {"fileReservedTime"},
	"CleanResourceInterval":         {"cleanResourceInterval"},
	"DiskMaxUsedSpaceRatio":         {"diskMaxUsedSpaceRatio"},
	"DiskFullRatio":                 {"diskSpaceWarningLevelRatio"},
	"DeleteWhen":                    {"deleteWhen"},
	"MessageDelayLevel":             {"messageDelayLevel"},
	"AccessMessageInMemoryMaxRatio": {"accessMessageInMemoryMaxRatio"},
	"FlushConsumeQueueInterval":     {"flushIntervalConsumeQueue"},
	"MaxTransferBytesInMemory": {"maxTransferBytesOnMessageInMemory", "maxTransferCountOnMessageInMemory",
		"maxTransferBytesOnMessageInDisk", "maxTransferCountOnMessageInDisk"},
}

// remotingKeys are the broker.conf keys bound to remoting.ServerConfig fields,
// each with how to copy its field. validateRemotingKeys checks each field alone
// on top of the defaults, so that a remoting.ServerConfig.Validate error is
// reported under the key that caused it without repeating remoting's rules.
// A key bound to a Remoting field belongs here.
var remotingKeys = []struct {
	key  string
	copy func(dst *remoting.ServerConfig, src remoting.ServerConfig)
}{
	{"maxFrameSize", func(d *remoting.ServerConfig, s remoting.ServerConfig) { d.MaxFrameSize = s.MaxFrameSize }},
	{"serverMemoryBudgetBytes", func(d *remoting.ServerConfig, s remoting.ServerConfig) { d.MemoryBudget = s.MemoryBudget }},
	{"serverMaxInflightPerConnection", func(d *remoting.ServerConfig, s remoting.ServerConfig) { d.MaxInflightPerConn = s.MaxInflightPerConn }},
	{"serverMaxConnectionsPerAddress", func(d *remoting.ServerConfig, s remoting.ServerConfig) { d.MaxConnsPerAddr = s.MaxConnsPerAddr }},
	{"serverMaxRequestsPerSecondPerAddress", func(d *remoting.ServerConfig, s remoting.ServerConfig) {
		d.MaxRequestsPerSecondPerAddr = s.MaxRequestsPerSecondPerAddr
	}},
	{"serverChannelMaxIdleTimeSeconds", func(d *remoting.ServerConfig, s remoting.ServerConfig) { d.IdleTimeout = s.IdleTimeout }},
}

// validateRemotingKeys reports a bad remoting setting under its key (see
// remotingKeys).
func validateRemotingKeys(rc remoting.ServerConfig) error {
	for _, k := range remotingKeys {
		probe := remoting.DefaultServerConfig()
		probe.ListenAddr = "127.0.0.1:0"
		k.copy(&probe, rc)
		if err := probe.Validate(); err != nil {
			return &properties.KeyError{Key: k.key, Err: fmt.Errorf("key %s: %w", k.key, err)}
		}
	}
	return nil
}

// validHostPort reports whether s is host:port with a numeric port.
func validHostPort(s string) bool {
	_, p, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	_, err = strconv.ParseUint(p, 10, 16)
	return err == nil
}
