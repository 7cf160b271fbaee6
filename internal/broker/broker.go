package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/petrelmq/petrel/internal/acl"
	"github.com/petrelmq/petrel/internal/broker/admin"
	"github.com/petrelmq/petrel/internal/broker/clients"
	"github.com/petrelmq/petrel/internal/broker/dedup"
	"github.com/petrelmq/petrel/internal/broker/delay"
	"github.com/petrelmq/petrel/internal/broker/meta"
	"github.com/petrelmq/petrel/internal/broker/offset"
	"github.com/petrelmq/petrel/internal/broker/pull"
	"github.com/petrelmq/petrel/internal/broker/query"
	"github.com/petrelmq/petrel/internal/broker/registrar"
	"github.com/petrelmq/petrel/internal/broker/retry"
	"github.com/petrelmq/petrel/internal/broker/send"
	"github.com/petrelmq/petrel/internal/broker/stats"
	"github.com/petrelmq/petrel/internal/broker/subscription"
	"github.com/petrelmq/petrel/internal/broker/txn"
	"github.com/petrelmq/petrel/internal/lifecycle"
	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("broker: closed")

// Broker is a RocketMQ-compatible broker: the lifecycle of the store, the
// rooms that serve requests (send, pull, delay, retry, txn, query, offset,
// admin, clients), the remoting servers and name-server registration. Which
// request code goes to which room is routes.go.
//
// Lifecycle: New (no I/O) → Start → Close. All methods are safe for
// concurrent use.
type Broker struct {
	cfg  Config
	log  *slog.Logger
	clk  clock.Clock
	live *meta.Live
	gate lifecycle.Gate  // every write, from admission to answer
	run  lifecycle.Group // the offset flusher and the stats sampler

	topics  *meta.Topics
	groups  *meta.Groups
	offsets *meta.Offsets
	clients *clients.Manager
	subs    *subscription.Compiler
	stats   *stats.Broker
	obs     observer // metrics.go

	// Set by Start before any request is served; read-only afterwards.
	store      *store.Store
	rooms      rooms
	reg        *registrar.Registrar
	srv, fast  *remoting.Server // fast: the VIP channel; nil when off
	acl        *acl.Guard       // nil unless aclEnable
	pools      pools
	advertised netip.AddrPort
	repl       replication // replication.go
	bootTime   time.Time

	mu      sync.Mutex // guards started, closed, addr
	started bool
	closed  bool
	addr    string
}

// rooms are the request-serving components Start builds.
type rooms struct {
	delay  *delay.Service
	retry  *retry.Service
	txn    *txn.Service
	send   *send.Service
	dedup  *dedup.Table // nil on a slave
	pull   *pull.Service
	query  *query.Service
	offset *offset.Service
	admin  *admin.Service
}

// New validates cfg and builds a broker without touching the disk or network.
// log may be nil (discard); clk is usually clock.Real{}.
func New(cfg Config, log *slog.Logger, clk clock.Clock) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.Clients.Validate(); err != nil {
		return nil, fmt.Errorf("broker: config: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if clk == nil {
		return nil, errors.New("broker: nil clock")
	}
	b := &Broker{
		cfg:     cfg,
		log:     log,
		clk:     clk,
		live:    meta.NewLive(cfg.runtime()),
		topics:  meta.NewTopics(clk),
		groups:  meta.NewGroups(clk),
		offsets: meta.NewOffsets(),
		subs:    subscription.NewCompiler(cfg.EnablePropertyFilter),
		stats:   stats.NewBroker(),
		obs:     newObserver(&cfg),
	}
	b.clients = clients.New(cfg.Clients, log, clk, clients.Hooks{OnConsumerHeartbeat: b.onHeartbeat})
	return b, nil
}

// onHeartbeat is the client manager's consumer-heartbeat hook: a heartbeat
// whose SQL92 subscriptions cannot be served is refused; the group's config
// and (for clustering) its retry topic are made to exist.
func (b *Broker) onHeartbeat(group string, subs []body.SubscriptionData, clustering bool) error {
	if err := b.subs.CheckHeartbeat(group, subs); err != nil {
		return err
	}
	return b.rooms.retry.OnConsumerHeartbeat(group, clustering)
}

// Addr returns the advertised address "brokerIP1:port" clients and name
// servers use, or "" before Start.
func (b *Broker) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addr
}

// ListenAddr returns the bound client address, or nil before Start.
func (b *Broker) ListenAddr() net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv == nil {
		return nil
	}
	return b.srv.Addr()
}

// FastAddr returns the VIP channel's bound address, or nil before Start or
// when it is off.
func (b *Broker) FastAddr() net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fast == nil {
		return nil
	}
	return b.fast.Addr()
}

// HeldPulls returns the number of pull requests held by long polling (also
// heldPullCount in GET_BROKER_RUNTIME_INFO).
func (b *Broker) HeldPulls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rooms.pull == nil {
		return 0
	}
	return b.rooms.pull.Held()
}

// Start opens and recovers the store, loads config/topics.json,
// subscriptionGroup.json and consumerOffset.json, builds and starts the rooms,
// and only then listens (so a TCP health check passes only when sends work),
// and registers with every name server (a name server that does not answer is
// retried every registerNameServerPeriod; it does not fail Start). ctx bounds
// the start only; Close stops the broker. On failure everything Start opened
// is closed again in reverse order; the caller may still call Close.
func (b *Broker) Start(ctx context.Context) (err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.started {
		return errors.New("broker: already started")
	}
	if b.cfg.Failover.Enable && b.cfg.Controller == nil {
		return errors.New("broker: enableControllerMode=true: start the broker through internal/failover (petrel broker does)")
	}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()

	// With a fixed port the store opens (and recovers) before anything
	// listens. With port 0 (tests) the port is only known once bound, and it
	// is part of every stored message's store host, so the listener comes
	// first.
	var lc net.ListenConfig
	var ln net.Listener
	port := b.cfg.ListenPort
	if _, p, err := net.SplitHostPort(b.cfg.listenAddr()); err == nil {
		port, _ = strconv.Atoi(p)
	}
	if port == 0 {
		if ln, err = lc.Listen(ctx, "tcp", b.cfg.listenAddr()); err != nil {
			return fmt.Errorf("broker: listen: %w", err)
		}
		undo = append(undo, func() { _ = ln.Close() })
		port = ln.Addr().(*net.TCPAddr).Port
	}
	b.advertised = netip.AddrPortFrom(b.resolveAdvertisedIP(), uint16(port))
	closeMetrics, err := b.startMetrics(ctx) // /healthz answers while the store recovers
	if err != nil {
		return err
	}
	undo = append(undo, closeMetrics)

	if b.cfg.ClientTLS == nil {
		if b.cfg.ClientTLS, err = b.cfg.TLS.Client(); err != nil {
			return fmt.Errorf("broker: tls.enable: %w", err)
		}
	}
	if b.cfg.TLS.ServerMode != "" {
		if b.cfg.Remoting.TLSMode, b.cfg.Remoting.TLS, err = b.cfg.TLS.Server(func(err error) {
			b.log.Error("broker: TLS certificate reload failed; the previous certificate stays", "err", err)
		}); err != nil {
			return fmt.Errorf("broker: %w", err)
		}
	}
	if b.cfg.ACLEnable {
		if b.acl, err = acl.Open(acl.Config{Path: b.cfg.ACLPath(), AdminCodes: acl.BrokerAdminCodes}, b.log); err != nil {
			return fmt.Errorf("broker: aclEnable=true: %w", err)
		}
		undo = append(undo, func() { _ = b.acl.Close() })
		if err := b.acl.Start(ctx); err != nil {
			return fmt.Errorf("broker: %w", err)
		}
	}
	err = b.openStore()
	if b.store != nil {
		undo = append(undo, func() { _ = b.store.Close() })
	}
	if err != nil {
		return err
	}
	if err := b.repl.listen(ctx, &lc, &b.cfg, b.advertised); err != nil {
		return err
	}
	undo = append(undo, b.repl.closeListener)
	b.reg = registrar.New(registrar.Config{
		ClusterName: b.cfg.ClusterName, BrokerName: b.cfg.BrokerName, BrokerID: b.cfg.BrokerID,
		BrokerAddr: b.advertised.String(), HAServerAddr: b.repl.advertised, NameServers: b.cfg.NameServers,
		Period: b.cfg.RegisterNameServerPeriod, Timeout: b.cfg.RegisterTimeout, Client: b.cfg.PeerClient(),
	}, b.log, b.clk, b.registrationBody)
	if err := b.buildRooms(); err != nil {
		return err
	}
	undo = append(undo, func() { _ = b.rooms.delay.Close() })
	if err := b.store.Start(ctx); err != nil {
		return fmt.Errorf("broker: start store: %w", err)
	}
	b.rooms.txn.Load() // the resolved transactions, before serving
	if err := b.rebuildDedup(); err != nil {
		return err
	}
	stop, err := b.startRooms(ctx)
	undo = append(undo, stop)
	if err != nil {
		return err
	}

	if ln == nil {
		if ln, err = lc.Listen(ctx, "tcp", b.cfg.listenAddr()); err != nil {
			return fmt.Errorf("broker: listen: %w", err)
		}
		undo = append(undo, func() { _ = ln.Close() })
	}
	closeServers, err := b.startServers(ctx, &lc, ln)
	undo = append(undo, closeServers)
	if err != nil {
		return err
	}

	if err := b.run.Start(ctx, "broker"); err != nil {
		return err
	}
	undo = append(undo, b.run.Stop)
	b.run.Go("housekeeping", b.housekeep)

	b.addr = b.advertised.String()
	b.bootTime = b.clk.Now()
	b.stats.SampleAll(b.bootTime, b.store.Stats().PutCount) // rates count from here
	b.stats.SampleTopics(b.bootTime, topicTotals(b.topics, b.store))
	b.started = true
	b.obs.up.Store(true)
	b.log.Info("broker: started", "cluster", b.cfg.ClusterName, "broker", b.cfg.BrokerName,
		"brokerId", b.cfg.BrokerID, "addr", b.addr, "listen", ln.Addr().String(),
		"nameServers", b.cfg.NameServers, "role", b.cfg.BrokerRole, "storeRoot", b.cfg.Store.RootDir,
		"flushDiskType", b.cfg.Store.FlushDiskType.String(), "autoCreateTopicEnable", b.cfg.AutoCreateTopicEnable,
		"autoCreateSubscriptionGroup", b.cfg.AutoCreateSubscriptionGroup, "brokerPermission", b.cfg.BrokerPermission,
		"longPollingEnable", b.cfg.LongPollingEnable)

	// The first registration is synchronous (bounded), so routes exist once
	// Start returns unless a name server is down; the registrar retries it.
	b.mu.Unlock()
	err = b.reg.Start(ctx)
	b.mu.Lock()
	return err
}

// openStore opens the store (b.store is set once it is open, even if loading
// the metadata fails) and loads the metadata tables from its config
// directory.
func (b *Broker) openStore() error {
	scfg := b.cfg.Store
	scfg.StoreHost = b.advertised
	scfg.TimerPrecision = b.cfg.TimerPrecision
	if rec := b.obs.rec; rec != nil {
		scfg.OnFlush = rec.Flushed
	}
	st, err := store.Open(b.cfg.FS, scfg, b.log, b.clk)
	if err != nil {
		return fmt.Errorf("broker: open store: %w", err)
	}
	b.store = st
	if cm := b.cfg.Controller; cm != nil && cm.StartFenced {
		st.SetWriteFence(fmt.Errorf("%w: becoming master, the epoch is not recorded yet", store.ErrFenced))
	}
	st.SetConsumerProgress(b.offsets) // forced deletions name the groups that lose messages
	sys := meta.SystemTopics{
		ClusterName: b.cfg.ClusterName, BrokerName: b.cfg.BrokerName,
		AutoCreate: b.cfg.AutoCreateTopicEnable, DefaultQueueNums: int32(b.cfg.DefaultTopicQueueNums),
		ClusterTopicEnable: b.cfg.ClusterTopicEnable, BrokerTopicEnable: b.cfg.BrokerTopicEnable,
	}
	if b.cfg.TraceTopicEnable {
		sys.TraceTopic = b.cfg.MsgTraceTopicName
	}
	if err := b.topics.Load(st, sys); err != nil {
		return err
	}
	if err := b.groups.Load(st); err != nil {
		return err
	}
	if b.cfg.Controller != nil && b.cfg.BrokerRole != RoleSlave {
		if err := adoptStoreTopics(st, b.topics, b.log); err != nil {
			return err
		}
	}
	return b.offsets.Load(st)
}

// adoptStoreTopics gives a topic config to every topic the store holds
// queues of but the topic table does not know: a master elected in
// controller mode may have replicated a topic's messages without its config
// (created on the old master just before it failed, before the metadata
// sync). The config has as many queues as the store has, read and write.
func adoptStoreTopics(st *store.Store, topics *meta.Topics, log *slog.Logger) error {
	for _, name := range st.Topics() {
		if _, ok := topics.Get(name); ok || meta.IsSystemTopic(name) || strings.HasPrefix(name, meta.RetryTopicPrefix) ||
			strings.HasPrefix(name, meta.DLQTopicPrefix) {
			continue
		}
		ids := st.QueueIDs(name)
		if len(ids) == 0 {
			continue
		}
		n := ids[len(ids)-1] + 1
		if _, err := topics.Put(meta.NewTopicConfig(name, n, body.PermRead|body.PermWrite)); err != nil {
			return err
		}
		log.Warn("broker: topic config recreated from the store (its messages were replicated before its config)",
			"topic", name, "queues", n)
	}
	return nil
}

// resolveAdvertisedIP picks brokerIP1 (Config.advertisedIP) and logs it when
// it was not configured, so an operator sees what clients are told.
func (b *Broker) resolveAdvertisedIP() netip.Addr {
	var ifs []ifaceAddrs
	if b.cfg.BrokerIP1 == "" {
		var err error
		if ifs, err = hostAddrs(); err != nil {
			b.log.Warn("broker: listing network interfaces for brokerIP1", "err", err)
		}
	}
	ip, how := b.cfg.advertisedIP(ifs)
	if b.cfg.BrokerIP1 == "" {
		b.log.Info("broker: brokerIP1 not set; advertising "+ip.String(), "brokerIP1", ip.String(), "chosen", how)
	}
	return ip
}

// registrationBody encodes the topic table for REGISTER_BROKER. When the
// broker permission lacks read or write, every topic's perm is narrowed by
// it, so routes stop offering what the broker refuses. A controller-mode
// master whose lease ran out holds its registrations (registrar.ErrHold).
func (b *Broker) registrationBody() ([]byte, error) {
	if cm := b.cfg.Controller; cm != nil && b.cfg.BrokerID == body.MasterID && cm.LeaseValid != nil && !cm.LeaseValid(b.clk.Now()) {
		// Registering as id 0 now could take the route from a master elected
		// since; the supervisor steps this broker down a timeout later.
		return nil, fmt.Errorf("%w: the master's lease from the controller ran out (epoch %d)", registrar.ErrHold, cm.Epoch)
	}
	w := b.topics.Snapshot()
	if perm := int32(b.live.Get().BrokerPermission); perm&(body.PermRead|body.PermWrite) != body.PermRead|body.PermWrite {
		for name, tc := range w.TopicConfigTable {
			tc.Perm &= perm | body.PermInherit
			w.TopicConfigTable[name] = tc
		}
	}
	return body.EncodeRegisterBody(&body.RegisterBody{Topics: w}, false)
}

// housekeep writes changed consumer offsets every
// flushConsumerOffsetInterval (Close flushes once more) and samples the rates
// every stats.SampleInterval.
func (b *Broker) housekeep(ctx context.Context) {
	flush := b.clk.NewTicker(b.cfg.FlushConsumerOffsetInterval)
	defer flush.Stop()
	sample := b.clk.NewTicker(stats.SampleInterval)
	defer sample.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-flush.C():
			if err := b.offsets.Flush(); err != nil {
				b.log.Error("broker: persist consumer offsets", "err", err)
			}
		case <-sample.C():
			now := b.clk.Now()
			b.stats.SampleAll(now, b.store.Stats().PutCount)
			b.stats.SampleTopics(now, topicTotals(b.topics, b.store))
		}
	}
}

// Close shuts the broker down in the order of docs/design/shutdown.md:
// unregister from the name servers → refuse new writes and wait for those in
// flight (up to shutdownTimeoutMillis) → answer held pulls → close the
// servers (flushing queued answers) and the client manager → stop the rooms
// and the broker's goroutines → persist offsets, topics and groups → close
// the store (flush, checkpoint, abort file, directory lock). It is idempotent
// and safe before Start; it returns the first errors joined.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	started := b.started
	b.obs.up.Store(false) // /readyz: not ready from the start of the shutdown
	b.mu.Unlock()
	if !started {
		return nil
	}

	var errs []error
	errs = append(errs, b.reg.Close())
	if !b.gate.Close(b.clk, b.cfg.ShutdownTimeout) {
		b.log.Warn("broker: in-flight writes did not finish in time", "timeout", b.cfg.ShutdownTimeout,
			"inFlight", b.gate.InFlight())
	}
	b.rooms.pull.ReleaseHeld()
	errs = append(errs, b.srv.Close())
	if b.fast != nil {
		errs = append(errs, b.fast.Close())
	}
	errs = append(errs, b.clients.Close())
	if b.acl != nil {
		errs = append(errs, b.acl.Close())
	}
	wait := b.cfg.ShutdownTimeout
	if b.cfg.Controller != nil {
		// Controller mode: acknowledged puts are on the SyncStateSet already,
		// and after a demotion the slaves follow another master.
		wait = 0
	}
	b.repl.stop(wait)
	b.run.Stop()
	errs = append(errs, b.stopRooms())
	errs = append(errs, b.offsets.Flush(), b.topics.Persist(), b.groups.Persist())
	errs = append(errs, b.store.Close())
	if b.obs.http != nil {
		errs = append(errs, b.obs.http.Close())
	}
	err := errors.Join(errs...)
	if err != nil {
		b.log.Error("broker: closed with errors", "err", err)
	} else {
		b.log.Info("broker: closed")
	}
	return err
}

// topicTotals returns each topic's stored-message count: the sum of its
// queues' max offsets (VIEW_BROKER_STATS_DATA's TOPIC_PUT_NUMS counts the
// differences between samples of it).
func topicTotals(topics *meta.Topics, st interface {
	MaxOffsetInQueue(topic string, queueID int32) message.QueueOffset
}) map[string]int64 {
	out := map[string]int64{}
	for _, t := range topics.Names() {
		tc, ok := topics.Get(t)
		if !ok {
			continue
		}
		var n int64
		for q := range max(tc.WriteQueueNums, tc.ReadQueueNums) {
			n += int64(st.MaxOffsetInQueue(t, q))
		}
		out[t] = n
	}
	return out
}
