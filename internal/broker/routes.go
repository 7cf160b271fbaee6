package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmq/petrel/internal/acl"
	"github.com/petrelmq/petrel/internal/broker/admin"
	"github.com/petrelmq/petrel/internal/broker/dedup"
	"github.com/petrelmq/petrel/internal/broker/delay"
	"github.com/petrelmq/petrel/internal/broker/ha"
	"github.com/petrelmq/petrel/internal/broker/meta"
	"github.com/petrelmq/petrel/internal/broker/offset"
	"github.com/petrelmq/petrel/internal/broker/pull"
	"github.com/petrelmq/petrel/internal/broker/query"
	"github.com/petrelmq/petrel/internal/broker/retry"
	"github.com/petrelmq/petrel/internal/broker/send"
	"github.com/petrelmq/petrel/internal/broker/txn"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// routes.go is the one place that binds request codes: the rooms Start
// builds, the pools they run on, and the table from request code to handler
// and pool. A role (slave) or a cross-cutting check (ACL, metrics) is a
// change here.

// Sizes of the pools that have no broker.conf key.
const (
	lightWorkers = 4     // transactions, replies, send-backs
	lightQueue   = 10000 // their queues
	adminQueue   = 10000
	hbQueue      = 10000
)

// pools are the worker pools requests run on. The main and VIP servers share
// them, so the VIP channel adds no capacity of its own.
type pools struct {
	send, pull, admin, heartbeat, light *remoting.Pool
}

func newPools(cfg *Config, live *meta.Live) pools {
	p := pools{
		send:      remoting.NewPool("send", cfg.SendWorkers, cfg.SendQueueCapacity),
		pull:      remoting.NewPool("pull", cfg.PullWorkers, cfg.PullQueueCapacity),
		admin:     remoting.NewPool("admin", cfg.AdminWorkers, adminQueue),
		heartbeat: remoting.NewPool("heartbeat", cfg.HeartbeatWorkers, hbQueue),
		light:     remoting.NewPool("light", lightWorkers, lightQueue),
	}
	// waitTimeMillsInSendQueue: a send that waited longer for a worker is
	// answered SYSTEM_BUSY [TIMEOUT_CLEAN_QUEUE], as RocketMQ cleans its queue.
	p.send.SetMaxQueueWait(func() time.Duration { return live.Get().WaitTimeInSendQueue })
	return p
}

// route binds request codes to a handler on a pool.
type route struct {
	codes []protocol.RequestCode
	h     remoting.ProcessorFunc
	pool  *remoting.Pool
}

// routes is the table of every request code the broker serves. Codes not in
// it are answered REQUEST_CODE_NOT_SUPPORTED by remoting. The client
// manager's codes (heartbeat, consumer list, locks, connection lists) are
// registered by clients.Manager.Register on the heartbeat pool.
func (b *Broker) routes() []route {
	r, p := &b.rooms, &b.pools
	return []route{
		{[]protocol.RequestCode{protocol.SendMessage, protocol.SendMessageV2, protocol.SendBatchMessage}, r.send.ProcessSend, p.send},
		{[]protocol.RequestCode{protocol.SendReplyMessage, protocol.SendReplyMessageV2}, r.send.ProcessReply, p.light},
		{[]protocol.RequestCode{protocol.PullMessage}, r.pull.ProcessPull, p.pull},
		{[]protocol.RequestCode{protocol.ConsumerSendMsgBack}, r.retry.ProcessSendBack, p.light},
		{[]protocol.RequestCode{protocol.EndTransaction}, r.txn.ProcessEndTransaction, p.light},

		{[]protocol.RequestCode{protocol.QueryConsumerOffset}, r.offset.ProcessQueryConsumerOffset, p.admin},
		{[]protocol.RequestCode{protocol.UpdateConsumerOffset}, r.offset.ProcessUpdateConsumerOffset, p.admin},
		{[]protocol.RequestCode{protocol.GetMaxOffset, protocol.GetMinOffset, protocol.SearchOffsetByTimestamp,
			protocol.GetEarliestMsgStoretime}, r.offset.ProcessQueueOffset, p.admin},
		{[]protocol.RequestCode{protocol.GetAllConsumerOffset}, r.offset.ProcessGetAllConsumerOffset, p.admin},
		{[]protocol.RequestCode{protocol.InvokeBrokerToResetOffset}, r.offset.ProcessResetOffset, p.admin},
		{[]protocol.RequestCode{protocol.GetAllDelayOffset}, r.delay.ProcessGetAllDelayOffset, p.admin},

		{[]protocol.RequestCode{protocol.QueryMessage}, r.query.ProcessQueryMessage, p.admin},
		{[]protocol.RequestCode{protocol.ViewMessageByID}, r.query.ProcessViewMessageByID, p.admin},
		{[]protocol.RequestCode{protocol.QueryConsumeTimeSpan}, r.query.ProcessQueryConsumeTimeSpan, p.admin},

		{[]protocol.RequestCode{protocol.UpdateAndCreateTopic}, r.admin.ProcessCreateTopic, p.admin},
		{[]protocol.RequestCode{protocol.DeleteTopicInBroker}, r.admin.ProcessDeleteTopic, p.admin},
		{[]protocol.RequestCode{protocol.GetAllTopicConfig}, r.admin.ProcessGetAllTopicConfig, p.admin},
		{[]protocol.RequestCode{protocol.UpdateAndCreateSubscription}, r.admin.ProcessCreateGroup, p.admin},
		{[]protocol.RequestCode{protocol.GetAllSubscriptionGroupConfig}, r.admin.ProcessGetAllSubscriptionGroupConfig, p.admin},
		{[]protocol.RequestCode{protocol.DeleteSubscriptionGroup}, r.admin.ProcessDeleteGroup, p.admin},
		{[]protocol.RequestCode{protocol.GetBrokerRuntimeInfo}, r.admin.ProcessRuntimeInfo, p.admin},
		{[]protocol.RequestCode{protocol.GetTopicStatsInfo}, r.admin.ProcessTopicStats, p.admin},
		{[]protocol.RequestCode{protocol.GetConsumeStats}, r.admin.ProcessConsumeStats, p.admin},
		{[]protocol.RequestCode{protocol.QueryTopicConsumeByWho}, r.admin.ProcessConsumeByWho, p.admin},
		{[]protocol.RequestCode{protocol.GetBrokerConfig}, r.admin.ProcessGetBrokerConfig, p.admin},
		{[]protocol.RequestCode{protocol.UpdateBrokerConfig}, r.admin.ProcessUpdateBrokerConfig, p.admin},
		{[]protocol.RequestCode{protocol.GetBrokerConsumeStats}, r.admin.ProcessBrokerConsumeStats, p.admin},
		{[]protocol.RequestCode{protocol.QueryConsumeQueue}, r.admin.ProcessQueryConsumeQueue, p.admin},
		{[]protocol.RequestCode{protocol.ViewBrokerStatsData}, r.admin.ProcessViewBrokerStatsData, p.admin},
		{[]protocol.RequestCode{protocol.CloneGroupOffset}, r.admin.ProcessCloneGroupOffset, p.admin},
		// Relayed to a consumer client over its own connection.
		{[]protocol.RequestCode{protocol.GetConsumerRunningInfo}, r.admin.ProcessConsumerRunningInfo, p.admin},
		{[]protocol.RequestCode{protocol.ConsumeMessageDirectly}, r.admin.ProcessConsumeMessageDirectly, p.admin},
		{[]protocol.RequestCode{protocol.InvokeBrokerToGetConsumerStatus}, r.admin.ProcessGetConsumerStatus, p.admin},

		{[]protocol.RequestCode{protocol.CheckClientConfig}, b.subs.ProcessCheckClientConfig, p.heartbeat},
		// Petrel-only: a slave compares its records with its master's.
		{[]protocol.RequestCode{ha.RequestCodeCommitLogDigest}, ha.DigestProcessor(b.store), p.admin},
	}
}

// register binds the route table, the client manager's codes and the
// connection listeners on srv.
func (b *Broker) register(srv *remoting.Server) {
	for _, rt := range b.routes() {
		for _, code := range rt.codes {
			srv.Register(code, timed(b.obs.rec, code, rt.h), rt.pool)
		}
	}
	b.clients.Register(srv, b.pools.heartbeat) // also its connection listener
	srv.AddConnListener(b.rooms.pull)          // held pulls of a closed connection go
	if b.acl != nil {
		// aclEnable: every request of every code above passes the ACL check
		// first, and the ACL admin codes (50-54) are served.
		srv.SetInterceptor(b.acl.Intercept)
		for code, h := range b.acl.Processors(acl.AdminInfo{BrokerName: b.cfg.BrokerName,
			BrokerAddr: b.advertised.String(), ClusterName: b.cfg.ClusterName}) {
			srv.Register(code, h, b.pools.admin)
		}
	}
}

// buildRooms builds every room over the opened store (before it starts, so
// the rooms' dispatch queues see every entry).
func (b *Broker) buildRooms() error {
	cfg, st := &b.cfg, b.store
	master := cfg.BrokerRole != RoleSlave
	trigger := b.reg.Trigger
	// The transaction topics join the topic table when first written.
	firstUse := func(topic string) {
		if created, err := b.topics.CreateOnFirstUse(topic); err != nil {
			b.log.Error("broker: persist topic", "topic", topic, "err", err)
		} else if created {
			trigger()
		}
	}
	var err error
	r := &b.rooms
	// The rooms' metrics hooks stay nil interfaces when metrics are off.
	var sendM send.Metrics
	var pullM pull.Metrics
	var retryM retry.Metrics
	if rec := b.obs.rec; rec != nil {
		sendM, pullM, retryM = rec, rec, rec
	}
	r.delay, err = delay.Open(st, st.Timer(), delay.Config{
		Levels: cfg.Store.MessageDelayLevel, FlushInterval: cfg.FlushDelayOffsetInterval,
		TimerMaxDelay: cfg.TimerMaxDelay, Deliver: master,
	}, b.clk, b.log)
	if err != nil {
		return err
	}
	r.retry = retry.New(retry.Deps{Store: st, Topics: b.topics, Groups: b.groups, Runtime: b.live, Gate: &b.gate,
		Delay: r.delay, Registered: trigger, BrokerName: cfg.BrokerName, StoreHost: b.advertised, Log: b.log, Metrics: retryM})
	r.txn = txn.New(txn.Config{BrokerName: cfg.BrokerName, Timeout: cfg.TransactionTimeOut, CheckMax: cfg.TransactionCheckMax,
		CheckInterval: cfg.TransactionCheckInterval, Check: master, StoreHost: b.advertised, FirstUse: firstUse},
		st, b.offsets, b.clients, &b.gate, b.clk, b.log)
	if master {
		r.dedup = dedup.New(cfg.DuplicateMaxEntries, b.clk, b.log)
	}
	r.send = send.New(send.Config{
		BrokerName: cfg.BrokerName, ClusterName: cfg.ClusterName, RegionID: cfg.RegionID, TraceOn: cfg.TraceOn,
		MaxMessageSize: cfg.Store.MaxMessageSize, RejectTransactionMessage: cfg.RejectTransactionMessage,
		StoreReplyMessage: cfg.StoreReplyMessageEnable, StoreHost: b.advertised, Slave: !master,
		DuplicateWindow: cfg.DuplicateWindow,
	}, send.Deps{Store: st, Topics: b.topics, FirstUse: firstUse, Runtime: b.live, Gate: &b.gate, Delay: r.delay, Retry: r.retry,
		Dedup: r.dedup, Producers: b.clients, Registered: trigger, Clock: b.clk, Log: b.log, Metrics: sendM})
	r.pull = pull.New(pull.Config{BrokerName: cfg.BrokerName, MaxHeldPulls: cfg.MaxHeldPulls, Slave: !master,
		SlaveReadEnable: cfg.SlaveReadEnable,
		MaxPullCount:    max(cfg.Store.MaxTransferCountInMemory, cfg.Store.MaxTransferCountOnDisk)},
		pull.Deps{Store: st, Topics: b.topics, Groups: b.groups, Offsets: b.offsets, Runtime: b.live,
			Consumers: b.clients, Subscriptions: b.subs, Stats: b.stats, Clock: b.clk, Log: b.log, Metrics: pullM})
	r.query = query.New(st, b.topics, b.offsets, cfg.BrokerName)
	r.offset = offset.New(st, b.offsets, b.topics, b.clients, cfg.BrokerName, b.log)
	r.admin = admin.New(admin.Deps{Store: st, Topics: b.topics, Groups: b.groups, Offsets: b.offsets, Runtime: b.live,
		Consumers: b.clients, Stats: b.stats, Registrar: b.reg, Config: b.configProperties, Extra: b.runtimeExtra,
		RegisterTimeout: cfg.RegisterTimeout, BrokerName: cfg.BrokerName, ClusterName: cfg.ClusterName, BrokerAddr: b.advertised.String(),
		BootTime: b.clk.Now(), Clock: b.clk, Log: b.log})
	b.pools = newPools(&b.cfg, b.live)
	return b.repl.build(&b.cfg, b.store, b.reg, replicationDeps{topics: b.topics, groups: b.groups,
		offsets: b.offsets, delay: r.delay, self: b.advertised.String(), clk: b.clk, log: b.log})
}

// startRooms starts the rooms that own goroutines and the client manager; the
// returned function stops whatever was started.
func (b *Broker) startRooms(ctx context.Context) (stop func(), err error) {
	r := &b.rooms
	var started []func() error
	stop = func() {
		for i := len(started) - 1; i >= 0; i-- {
			_ = started[i]()
		}
	}
	for _, c := range []struct {
		start func(context.Context) error
		stop  func() error
	}{
		{r.send.Start, r.send.Close},
		{r.retry.Start, r.retry.Close},
		{r.pull.Start, r.pull.Close},
		{r.delay.Start, func() error { return nil }}, // Close persists: the undo of buildRooms closes it
		{r.txn.Start, r.txn.Close},
		{b.repl.start, func() error { b.repl.stop(0); return nil }},
		{b.clients.Start, b.clients.Close},
	} {
		if err := c.start(ctx); err != nil {
			return stop, fmt.Errorf("broker: %w", err)
		}
		started = append(started, c.stop)
	}
	return stop, nil
}

// stopRooms stops the rooms after the servers closed: no request reaches
// them any more. The delay room persists its progress; the store is still
// open.
func (b *Broker) stopRooms() error {
	r := &b.rooms
	return errors.Join(r.send.Close(), r.retry.Close(), r.pull.Close(), r.txn.Close(), r.delay.Close())
}

// startServers starts the client server on ln and the VIP channel; the
// returned function closes both.
func (b *Broker) startServers(ctx context.Context, lc *net.ListenConfig, ln net.Listener) (closeAll func(), err error) {
	closeAll = func() {
		if b.fast != nil {
			_ = b.fast.Close()
		}
		if b.srv != nil {
			_ = b.srv.Close()
		}
	}
	rcfg := b.cfg.Remoting
	rcfg.Listener = ln
	rcfg.ListenAddr = ln.Addr().String()
	if rcfg.Budget == nil {
		// One memory budget (serverMemoryBudgetBytes) for both ports: the VIP
		// channel adds no memory of its own, as it adds no pools.
		limit := rcfg.MemoryBudget
		if limit == 0 {
			limit = remoting.DefaultMemoryBudget()
		}
		rcfg.Budget = remoting.NewBudget(limit)
	}
	srv, err := remoting.NewServer(rcfg, b.log)
	if err != nil {
		return closeAll, fmt.Errorf("broker: %w", err)
	}
	b.register(srv)
	if err := srv.Start(ctx); err != nil {
		return closeAll, fmt.Errorf("broker: %w", err)
	}
	b.srv = srv

	addr, explicit, on := b.cfg.fastListenAddr(ln.Addr().(*net.TCPAddr).Port)
	if !on {
		return closeAll, nil
	}
	fln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		if explicit {
			return closeAll, fmt.Errorf("broker: listen on fastListenPort: %w", err)
		}
		b.log.Warn("broker: VIP channel off: cannot listen on listenPort-2 (set fastListenPort, or -1 to turn it off)",
			"addr", addr, "err", err)
		return closeAll, nil
	}
	rcfg.Listener = fln
	rcfg.ListenAddr = fln.Addr().String()
	fast, err := remoting.NewServer(rcfg, b.log)
	if err != nil {
		_ = fln.Close()
		return closeAll, fmt.Errorf("broker: VIP channel: %w", err)
	}
	b.register(fast)
	if err := fast.Start(ctx); err != nil {
		_ = fast.Close()
		return closeAll, fmt.Errorf("broker: VIP channel: %w", err)
	}
	b.fast = fast
	b.log.Info("broker: VIP channel listening", "addr", fln.Addr().String())
	return closeAll, nil
}

// runtimeExtra adds the broker's own figures to GET_BROKER_RUNTIME_INFO.
func (b *Broker) runtimeExtra(kv map[string]string) {
	kv["sendThreadPoolQueueSize"] = strconv.Itoa(b.pools.send.Queued())
	kv["sendThreadPoolQueueCapacity"] = strconv.Itoa(b.cfg.SendQueueCapacity)
	kv["pullThreadPoolQueueSize"] = strconv.Itoa(b.pools.pull.Queued())
	kv["pullThreadPoolQueueCapacity"] = strconv.Itoa(b.cfg.PullQueueCapacity)
	now := time.Now()
	kv["sendThreadPoolQueueHeadWaitTimeMills"] = strconv.FormatInt(b.pools.send.HeadWait(now).Milliseconds(), 10)
	kv["pullThreadPoolQueueHeadWaitTimeMills"] = strconv.FormatInt(b.pools.pull.HeadWait(now).Milliseconds(), 10)
	kv["heldPullCount"] = strconv.Itoa(b.rooms.pull.Held())
	if b.rooms.dedup != nil {
		st := b.rooms.dedup.Stats()
		byTopic, _ := json.Marshal(st.ByTopic)
		kv["duplicateDroppedTotal"] = strconv.FormatInt(st.Dropped, 10)
		kv["duplicateDroppedByTopic"] = string(byTopic)
		kv["duplicateEntries"] = strconv.Itoa(st.Entries)
		kv["duplicateEvictedTotal"] = strconv.FormatInt(st.Evicted, 10)
	}
	b.repl.info(kv)
}

// configProperties renders the effective configuration with broker.conf key
// names (GET_BROKER_CONFIG; admin adds the runtime-changeable keys).
func (b *Broker) configProperties() map[string]string {
	c := &b.cfg
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	s := &c.Store
	return map[string]string{
		"brokerClusterName":              c.ClusterName,
		"brokerName":                     c.BrokerName,
		"brokerId":                       strconv.FormatInt(c.BrokerID, 10),
		"namesrvAddr":                    strings.Join(c.NameServers, ";"),
		"listenPort":                     strconv.Itoa(int(b.advertised.Port())),
		"brokerIP1":                      b.advertised.Addr().String(),
		"brokerIP2":                      haIP(&b.cfg, b.advertised).String(),
		"brokerRole":                     c.BrokerRole,
		"slaveReadEnable":                strconv.FormatBool(c.SlaveReadEnable),
		"haMasterAddress":                c.HAMasterAddress,
		"defaultTopicQueueNums":          strconv.Itoa(c.DefaultTopicQueueNums),
		"registerNameServerPeriod":       ms(c.RegisterNameServerPeriod),
		"flushConsumerOffsetInterval":    ms(c.FlushConsumerOffsetInterval),
		"regionId":                       c.RegionID,
		"traceOn":                        strconv.FormatBool(c.TraceOn),
		meta.KeyDuplicateWindowSeconds:   strconv.FormatInt(int64(c.DuplicateWindow/time.Second), 10),
		"duplicateMaxEntries":            strconv.Itoa(c.DuplicateMaxEntries),
		"storePathRootDir":               s.RootDir,
		"flushDiskType":                  s.FlushDiskType.String(),
		"maxMessageSize":                 strconv.Itoa(s.MaxMessageSize),
		"mappedFileSizeCommitLog":        strconv.FormatInt(s.CommitLogSegmentSize, 10),
		"fileReservedTime":               strconv.FormatInt(int64(s.FileReservedTime/time.Hour), 10),
		"flushIntervalCommitLog":         ms(s.FlushInterval),
		"syncFlushTimeout":               ms(s.SyncFlushTimeout),
		"messageIndexEnable":             strconv.FormatBool(s.MessageIndexEnable),
		"diskMaxUsedSpaceRatio":          strconv.Itoa(s.DiskMaxUsedSpaceRatio),
		"cleanResourceInterval":          ms(s.CleanResourceInterval),
		"flushCommitLogLeastPages":       strconv.Itoa(s.FlushLeastPages),
		"flushCommitLogThoroughInterval": ms(s.FlushThoroughInterval),
	}
}
