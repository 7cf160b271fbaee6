package broker

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmq/petrel/internal/broker/meta"
	"github.com/petrelmq/petrel/internal/properties"
	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// BindProperties binds the RocketMQ broker.conf keys to c: the broker keys the
// field comments name, the store keys (storePathRootDir, storePathCommitLog,
// storePathConsumeQueue, storePathIndex, storeCheckpoint, abortFile,
// mappedFileSizeCommitLog, mappedFileSizeConsumeQueue (also spelt maped..., as
// before RocketMQ 4.5), flushDiskType,
// flushIntervalCommitLog, flushCommitLogLeastPages,
// flushCommitLogThoroughInterval, syncFlushTimeout, maxMessageSize,
// messageIndexEnable, maxHashSlotNum, maxIndexNum, fileReservedTime,
// deleteWhen, cleanResourceInterval, diskMaxUsedSpaceRatio,
// diskSpaceWarningLevelRatio, diskSpaceCleanForciblyRatio, messageDelayLevel, the maxTransfer* read caps,
// accessMessageInMemoryMaxRatio, flushIntervalConsumeQueue), Petrel's listenAddr,
// maxHeldPulls, duplicateWindowSeconds, duplicateMaxEntries,
// shutdownTimeoutMillis and maxFrameSize, aclEnable with Petrel's
// aclFilePath, accessKey and secretKey (the broker's own credentials), and
// the tls.* keys. enableDLegerCommitLog is bound only to refuse true, as this
// build has no DLedger. Every other RocketMQ 4.9 key (properties.AcceptRocketMQ) is
// accepted with no effect; any other key is unknown.
func (c *Config) BindProperties(b *properties.Binder) {
	b.AcceptRocketMQ(properties.BrokerConfig, properties.MessageStoreConfig,
		properties.NettyServerConfig, properties.NettyClientConfig)
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
	b.Getter("namesrvAddr", func() string { return strings.Join(c.NameServers, ";") })
	b.Func("listenPort", func(v string) error {
		port, err := strconv.ParseUint(v, 10, 16)
		if err != nil || port == 0 || port > 65534 {
			return fmt.Errorf("want a TCP port 1-65534, got %q", v)
		}
		c.ListenPort = int(port)
		return nil
	})
	b.Getter("listenPort", func() string { return strconv.Itoa(c.ListenPort) })
	b.String("listenAddr", &c.ListenAddr)
	b.Func("fastListenPort", func(v string) error {
		port, err := strconv.ParseInt(v, 10, 32)
		if err != nil || port < -1 || port > 65535 {
			return fmt.Errorf("want a TCP port 1-65535, 0 (listenPort-2) or -1 (off), got %q", v)
		}
		c.FastListenPort = int(port)
		return nil
	})
	b.Getter("fastListenPort", func() string { return strconv.Itoa(c.FastListenPort) })
	b.String("brokerIP1", &c.BrokerIP1)
	b.String("brokerIP2", &c.BrokerIP2)
	b.Enum("brokerRole", &c.BrokerRole, RoleAsyncMaster, RoleSyncMaster, RoleSlave)
	b.Bool(meta.KeyAutoCreateTopicEnable, &c.AutoCreateTopicEnable)
	b.Bool(meta.KeyAutoCreateSubscriptionGroup, &c.AutoCreateSubscriptionGroup)
	b.Int("defaultTopicQueueNums", &c.DefaultTopicQueueNums)
	b.Int(meta.KeyBrokerPermission, &c.BrokerPermission)
	b.Millis("registerNameServerPeriod", &c.RegisterNameServerPeriod)
	b.Millis("registerBrokerTimeoutMills", &c.RegisterTimeout)
	b.Millis(meta.KeyWaitTimeInSendQueue, &c.WaitTimeInSendQueue)
	b.Int("sendMessageThreadPoolNums", &c.SendWorkers)
	b.Int("sendThreadPoolQueueCapacity", &c.SendQueueCapacity)
	b.Int("pullMessageThreadPoolNums", &c.PullWorkers)
	b.Int("pullThreadPoolQueueCapacity", &c.PullQueueCapacity)
	b.Int("adminBrokerThreadPoolNums", &c.AdminWorkers)
	b.Int("heartbeatThreadPoolNums", &c.HeartbeatWorkers)
	b.Millis("flushConsumerOffsetInterval", &c.FlushConsumerOffsetInterval)
	b.Bool(meta.KeyLongPollingEnable, &c.LongPollingEnable)
	b.Millis(meta.KeyShortPollingTime, &c.ShortPollingTime)
	b.Int("maxHeldPulls", &c.MaxHeldPulls)
	b.Seconds(meta.KeyDuplicateWindowSeconds, &c.DuplicateWindow)
	b.Int("duplicateMaxEntries", &c.DuplicateMaxEntries)
	bindTLS(b, &c.TLS)
	b.Bool("aclEnable", &c.ACLEnable)
	b.String("aclFilePath", &c.ACLFilePath)
	b.String("accessKey", &c.Credentials.AccessKey)
	b.Func("secretKey", func(v string) error { c.Credentials.SecretKey = v; return nil })
	b.Getter("secretKey", func() string { return maskSecret(c.Credentials.SecretKey) })
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
	b.Bool("clusterTopicEnable", &c.ClusterTopicEnable)
	b.Bool("brokerTopicEnable", &c.BrokerTopicEnable)
	b.Bool("traceTopicEnable", &c.TraceTopicEnable)
	b.Enum("metricsExporterType", &c.Metrics.ExporterType, MetricsDisable, MetricsProm)
	b.String("metricsPromExporterHost", &c.Metrics.Host)
	b.Int("metricsPromExporterPort", &c.Metrics.Port)
	b.Bool("metricsPprofEnable", &c.Metrics.Pprof)
	b.Int("metricsOtelCardinalityLimit", &c.Metrics.CardinalityLimit)
	b.String("msgTraceTopicName", &c.MsgTraceTopicName)

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
	b.Getter("storePathRootDir", func() string { return s.RootDir })
	for _, p := range []struct {
		key  string
		dst  *string
		name string // default: <storePathRootDir>/name
	}{
		{"storePathCommitLog", &s.CommitLogDir, "commitlog"},
		{"storePathConsumeQueue", &s.ConsumeQueueDir, "consumequeue"},
		{"storePathIndex", &s.IndexDir, "index"},
		{"storeCheckpoint", &s.CheckpointPath, "checkpoint"},
		{"abortFile", &s.AbortPath, "abort"},
	} {
		b.String(p.key, p.dst)
		b.Getter(p.key, func() string {
			if *p.dst == "" {
				return filepath.Join(s.RootDir, p.name)
			}
			return *p.dst
		})
	}
	// RocketMQ 4.5 renamed maped* to mapped*; both spellings work.
	b.Int64("mappedFileSizeCommitLog", &s.CommitLogSegmentSize)
	b.Alias("mapedFileSizeCommitLog", "mappedFileSizeCommitLog")
	b.Func("mappedFileSizeConsumeQueue", func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 20 {
			return fmt.Errorf("want a size in bytes of at least one 20-byte entry, got %q", v)
		}
		s.ConsumeQueueEntriesPerFile = int(n / 20)
		return nil
	})
	b.Getter("mappedFileSizeConsumeQueue", func() string { return strconv.Itoa(s.ConsumeQueueEntriesPerFile * 20) })
	b.Alias("mapedFileSizeConsumeQueue", "mappedFileSizeConsumeQueue")
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
	b.Getter("flushDiskType", func() string { return s.FlushDiskType.String() })
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
	b.Getter("fileReservedTime", func() string { return strconv.FormatInt(int64(s.FileReservedTime/time.Hour), 10) })
	b.Func("deleteWhen", func(v string) error {
		hours, err := parseDeleteWhen(v)
		if err != nil {
			return err
		}
		s.DeleteWhen = hours
		return nil
	})
	b.Getter("deleteWhen", func() string {
		hs := make([]string, len(s.DeleteWhen))
		for i, h := range s.DeleteWhen {
			hs[i] = fmt.Sprintf("%02d", h)
		}
		return strings.Join(hs, ";")
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
	b.Getter("diskSpaceWarningLevelRatio", func() string { return fmt.Sprintf("%.2f", float64(s.DiskFullRatio)/100) })
	b.Func("diskSpaceCleanForciblyRatio", func(v string) error {
		// As diskSpaceWarningLevelRatio: 0.85 or 85.
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || f > 100 {
			return fmt.Errorf("want a ratio such as 0.85 or a percentage such as 85, got %q", v)
		}
		if f <= 1 {
			f *= 100
		}
		s.DiskSpaceCleanForciblyRatio = int(f + 0.5)
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
	b.Int64("serverMemoryBudgetBytes", &c.Remoting.MemoryBudget)
	b.Int("serverMaxInflightPerConnection", &c.Remoting.MaxInflightPerConn)
	b.Int("serverMaxConnectionsPerAddress", &c.Remoting.MaxConnsPerAddr)
	b.Int("serverMaxRequestsPerSecondPerAddress", &c.Remoting.MaxRequestsPerSecondPerAddr)
	b.Seconds("serverChannelMaxIdleTimeSeconds", &c.Remoting.IdleTimeout)

	b.Ignore("JVM-only setting", "rocketmqHome", "fetchNamesrvAddrByAddressServer",
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
	b.Func("haListenPort", func(v string) error {
		port, err := strconv.ParseUint(v, 10, 16)
		if err != nil || port > 65535 {
			return fmt.Errorf("want a TCP port, or 0 for listenPort+1, got %q", v)
		}
		c.HAListenPort = int(port)
		return nil
	})
	b.String("haMasterAddress", &c.HAMasterAddress)
	b.Millis("haSendHeartbeatInterval", &c.HASendHeartbeatInterval)
	b.Millis("haHousekeepingInterval", &c.HAHousekeepingInterval)
	b.Int("haTransferBatchSize", &c.HATransferBatchSize)
	b.Int64("haSlaveFallbehindMax", &c.HASlaveFallbehindMax)
	b.Millis("slaveTimeout", &c.SlaveTimeout)
	b.Bool("slaveReadEnable", &c.SlaveReadEnable)
	b.Int64("haMaxTruncateBytes", &c.HAMaxTruncateBytes)
	bindFailover(b, &c.Failover)
	b.Ignore("a slave never moves a consumer's offset in Petrel (RocketMQ's default)", "offsetCheckInSlave")
	b.Ignore("replication (HA) setting not implemented", "duplicationEnable")
	b.Ignore("not implemented in Petrel",
		"filterSupportRetry", "enableCalcFilterBitMap",
		"compressedRegister", "forceRegister")
	refuseTrue := func(key, why string) {
		b.Func(key, func(v string) error {
			on, err := properties.ParseBool(v)
			if err != nil {
				return err
			}
			if on {
				return errors.New(why)
			}
			return nil
		})
		b.Getter(key, func() string { return "false" })
	}
	refuseTrue("enableDLegerCommitLog", "DLedger replication is not implemented; remove enableDLegerCommitLog or set it to false")
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

// bindFailover binds the controller-mode keys (docs/design/failover.md).
func bindFailover(b *properties.Binder, f *FailoverConfig) {
	b.Bool("enableControllerMode", &f.Enable)
	b.Func("controllerAddr", func(v string) error {
		var addrs []string
		for _, a := range strings.Split(v, ";") {
			if a = strings.TrimSpace(a); a != "" {
				addrs = append(addrs, a)
			}
		}
		f.ControllerAddrs = addrs
		return nil
	})
	b.Getter("controllerAddr", func() string { return strings.Join(f.ControllerAddrs, ";") })
	b.Func("brokerElectionPriority", func(v string) error {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return fmt.Errorf("want an integer, got %q", v)
		}
		f.ElectionPriority = int32(n)
		return nil
	})
	b.Getter("brokerElectionPriority", func() string { return strconv.Itoa(int(f.ElectionPriority)) })
	b.Millis("controllerHeartBeatTimeoutMills", &f.HeartbeatTimeout)
	b.Millis("brokerHeartbeatInterval", &f.HeartbeatInterval)
	b.Millis("syncBrokerMetadataPeriod", &f.SyncMetadataPeriod)
	b.Millis("checkSyncStateSetPeriod", &f.CheckSyncStateSetPeriod)
	b.Millis("haMaxTimeSlaveNotCatchup", &f.MaxTimeNotCatchup)
	b.Bool("allAckInSyncStateSet", &f.AllAck)
	b.Int("inSyncReplicas", &f.InSyncReplicas)
	b.Int("minInSyncReplicas", &f.MinInSyncReplicas)
	b.String("storePathEpochFile", &f.EpochFile)
}

// maskSecret hides a secret in config listings and logs.
func maskSecret(s string) string {
	if s == "" {
		return ""
	}
	return "******"
}

// bindTLS binds RocketMQ's TLS settings (tls.properties keys in RocketMQ,
// broker.conf keys here).
func bindTLS(b *properties.Binder, t *remoting.TLSSettings) {
	b.Enum("tls.server.mode", &t.ServerMode, "disabled", "permissive", "enforcing")
	b.String("tls.server.certPath", &t.ServerCertPath)
	b.String("tls.server.keyPath", &t.ServerKeyPath)
	b.String("tls.server.trustCertPath", &t.ServerTrustCertPath)
	b.Enum("tls.server.need.client.auth", &t.ServerNeedClientAuth, "none", "optional", "require")
	b.Bool("tls.enable", &t.ClientEnable)
	b.String("tls.client.trustCertPath", &t.ClientTrustCertPath)
	b.String("tls.client.certPath", &t.ClientCertPath)
	b.String("tls.client.keyPath", &t.ClientKeyPath)
	b.Bool("tls.test.mode.enable", &t.ClientInsecure)
}
