package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/internal/broker/clients"
	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("broker: closed")

// Pool queue sizes that are not configurable.
const (
	sendAcceptWorkers = 2
	sendAcceptQueue   = 4096
	adminQueue        = 10000
	heartbeatQueue    = 10000
	holdRunners       = 2
	completers        = 2
)

// putDone is the tag of an asynchronous put: the completer goroutines call it
// with the put's outcome.
type putDone func(store.PutResult, error)

// put stores msgs and calls done with the outcome on a completer goroutine.
func (b *Broker) put(msgs []*message.MessageExt, done putDone) {
	b.store.Put(msgs, b.completions, done)
}

// completer is one of the goroutines that run put completions: started by
// Start, stopped by Close through ctx after the store closed... see Close.
func (b *Broker) completer(ctx context.Context) {
	var cs []store.Completion
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.completions.Ready():
		}
		cs = b.completions.Drain(cs[:0])
		for i := range cs {
			cs[i].Tag.(putDone)(cs[i].Result, cs[i].Err)
			cs[i] = store.Completion{}
		}
	}
}

// dispatchLoop hands the store's dispatch events to the broker's consumers
// of them: started by Start, stopped by Close through ctx.
func (b *Broker) dispatchLoop(ctx context.Context) {
	var evs []store.DispatchEvent
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.dispatchQ.Ready():
		}
		var lost bool
		evs, lost = b.dispatchQ.Drain(evs[:0])
		for _, ev := range evs {
			for _, f := range b.dispatchFns {
				f(ev)
			}
		}
		if lost {
			for _, f := range b.lostFns {
				f()
			}
		}
	}
}

// Broker is a RocketMQ-compatible master broker: the message store, the request
// processors, client management, long polling and name-server registration.
//
// Lifecycle: New (no I/O) → Start → Close. Goroutines, all started by Start
// through goFunc and waited for by Close: the send workers, the long-poll sweeper
// and runners, the consumer-offset flusher and the registration loop; plus those
// of the remoting server, the client manager and the store, which Close closes.
// All methods are safe for concurrent use.
type Broker struct {
	cfg Config
	log *slog.Logger
	clk clock.Clock
	rt  atomic.Pointer[runtimeConfig]

	topics  *topicManager
	groups  *groupManager
	offsets *offsetManager
	clients *clients.Manager
	holds   *holdService
	reg     *registrar
	gate    writeGate
	sendQ   chan *sendTask
	ds      delayServices // schedule.go: delay levels and timer messages
	sql     sqlCache      // compiled SQL92 subscriptions (sqlfilter.go)

	txn *txnService // transaction.go: half messages, END_TRANSACTION, check-back

	stats *brokerStats // stats.go: put/get/consume rates

	// completions receives the store's put completions; the completer
	// goroutines run their tags (putDone), off the store's goroutines.
	completions *store.Completions
	// dispatchQ receives the store's dispatch events; the dispatch goroutine
	// hands them to dispatchFns (long polling, delay levels, timers).
	dispatchQ   *store.DispatchQueue
	dispatchFns []func(store.DispatchEvent)
	lostFns     []func() // called when dispatchQ dropped events

	// Set by Start before any request is served; read-only afterwards.
	store      store.MessageStore
	srv        *remoting.Server
	fast       *remoting.Server // the VIP channel (fastListenPort); nil when off
	advertised netip.AddrPort
	addr       string // advertised "ip:port"
	bootTime   time.Time

	mu      sync.Mutex // guards started, closed, cancel and wg.Add
	started bool
	closed  bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
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
		topics:  newTopicManager(clk),
		groups:  newGroupManager(clk),
		offsets: newOffsetManager(),
		sendQ:   make(chan *sendTask, cfg.SendQueueCapacity),
		stats:   newBrokerStats(),

		completions: store.NewCompletions(),
		dispatchQ:   store.NewDispatchQueue(store.DefaultDispatchQueueSize),
	}
	rt := cfg.runtime()
	b.rt.Store(&rt)
	b.gate.init()
	b.holds = newHoldService(clk, cfg.MaxHeldPulls, b.rerunHeld)
	b.reg = newRegistrar(b)
	b.txn = newTxnService(b)
	b.clients = clients.New(cfg.Clients, log, clk, clients.Hooks{OnConsumerHeartbeat: b.onHeartbeat})
	return b, nil
}

func (b *Broker) runtime() *runtimeConfig { return b.rt.Load() }

// Addr returns the advertised address "brokerIP1:port" clients and name
// servers use, or "" before Start.
func (b *Broker) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addr
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

// startFast starts the VIP channel (fastListenPort): a second server with the
// same processors, as RocketMQ's fast remoting server, next to the client
// port bound at boundPort. Caller holds b.mu (Start).
func (b *Broker) startFast(ctx context.Context, lc *net.ListenConfig, boundPort int) error {
	addr, explicit, on := b.cfg.fastListenAddr(boundPort)
	if !on {
		return nil
	}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		if explicit {
			return fmt.Errorf("broker: listen on fastListenPort: %w", err)
		}
		b.log.Warn("broker: VIP channel off: cannot listen on listenPort-2 (set fastListenPort, or -1 to turn it off)",
			"addr", addr, "err", err)
		return nil
	}
	rcfg := b.cfg.Remoting
	rcfg.Listener = ln
	rcfg.ListenAddr = ln.Addr().String()
	srv, err := remoting.NewServer(rcfg, b.log)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("broker: VIP channel: %w", err)
	}
	b.registerProcessors(srv)
	srv.AddConnListener(b.holds)
	if err := srv.Start(ctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("broker: VIP channel: %w", err)
	}
	b.fast = srv
	b.log.Info("broker: VIP channel listening", "addr", ln.Addr().String())
	return nil
}

// ListenAddr returns the bound address, or nil before Start.
func (b *Broker) ListenAddr() net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv == nil {
		return nil
	}
	return b.srv.Addr()
}

// goFunc starts f on a tracked goroutine with a pprof label. Caller holds b.mu
// and the broker is started and not closed.
func (b *Broker) goFunc(ctx context.Context, name string, f func(context.Context)) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		pprof.Do(ctx, pprof.Labels("broker", name), f)
	}()
}

// Start binds the listen address, opens the store, loads config/topics.json,
// subscriptionGroup.json and consumerOffset.json, starts serving and registers
// with every name server (a name server that does not answer is retried every
// registerNameServerPeriod; it does not fail Start). ctx bounds the start only;
// Close stops the broker. On failure everything Start opened is closed again;
// the caller may still call Close.
func (b *Broker) Start(ctx context.Context) (err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.started {
		return errors.New("broker: already started")
	}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", b.cfg.listenAddr())
	if err != nil {
		return fmt.Errorf("broker: listen: %w", err)
	}
	undo = append(undo, func() { _ = ln.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	b.advertised = netip.AddrPortFrom(netip.MustParseAddr(b.cfg.BrokerIP1), uint16(port))

	scfg := b.cfg.Store
	scfg.StoreHost = b.advertised
	st, err := store.Open(b.cfg.FS, scfg, b.log, b.clk)
	if err != nil {
		return fmt.Errorf("broker: open store: %w", err)
	}
	undo = append(undo, func() { _ = st.Close() })
	b.store = st
	if err := b.topics.load(st, &b.cfg); err != nil {
		return err
	}
	if err := b.groups.load(st); err != nil {
		return err
	}
	if err := b.offsets.load(st); err != nil {
		return err
	}
	if err := b.openDelay(st); err != nil {
		return err
	}
	undo = append(undo, func() { _ = b.closeDelay() })
	b.dispatchFns = append(b.dispatchFns, b.holds.onDispatch)
	b.lostFns = append(b.lostFns, b.holds.wakeAll)
	st.AddDispatchQueue(b.dispatchQ)
	if err := st.Start(ctx); err != nil {
		return fmt.Errorf("broker: start store: %w", err)
	}
	b.txn.load() // transaction.go: the resolved transactions, before serving

	rcfg := b.cfg.Remoting
	rcfg.Listener = ln
	rcfg.ListenAddr = ln.Addr().String()
	srv, err := remoting.NewServer(rcfg, b.log)
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	b.srv = srv
	b.registerProcessors(srv) // also adds the client manager as a connection listener
	srv.AddConnListener(b.holds)
	if err := srv.Start(ctx); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	undo = append(undo, func() { _ = srv.Close() })
	if err := b.startFast(ctx, &lc, port); err != nil {
		return err
	}
	if b.fast != nil {
		undo = append(undo, func() { _ = b.fast.Close() })
	}

	lifetime, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.cancel = cancel
	undo = append(undo, func() { cancel(); b.wg.Wait() })
	if err := b.clients.Start(lifetime); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	undo = append(undo, func() { _ = b.clients.Close() })
	for i := range b.cfg.SendWorkers {
		b.goFunc(lifetime, "send-worker-"+strconv.Itoa(i), b.sendWorker)
	}
	for i := range holdRunners {
		b.goFunc(lifetime, "hold-runner-"+strconv.Itoa(i), b.holds.runner)
	}
	b.goFunc(lifetime, "hold-sweeper", b.holds.sweeper)
	for i := range completers {
		b.goFunc(lifetime, "completer-"+strconv.Itoa(i), b.completer)
	}
	b.goFunc(lifetime, "dispatch", b.dispatchLoop)
	b.goFunc(lifetime, "offset-flusher", b.offsetFlusher)
	b.goFunc(lifetime, "stats-sampler", b.statsSampler)
	b.goFunc(lifetime, "transaction-checker", b.txn.loop)
	b.startDelay(lifetime)
	regCtx, regCancel := context.WithCancel(lifetime)
	b.reg.cancel = regCancel
	b.goFunc(regCtx, "register", b.reg.loop)

	b.addr = b.advertised.String()
	b.bootTime = b.clk.Now()
	b.stats.sampleAll(b.bootTime, st.Stats().PutCount) // rates count from here
	b.started = true
	b.log.Info("broker: started", "cluster", b.cfg.ClusterName, "broker", b.cfg.BrokerName,
		"brokerId", b.cfg.BrokerID, "addr", b.addr, "listen", ln.Addr().String(),
		"nameServers", b.cfg.NameServers, "role", b.cfg.BrokerRole, "storeRoot", b.cfg.Store.RootDir,
		"flushDiskType", b.cfg.Store.FlushDiskType.String(), "autoCreateTopicEnable", b.cfg.AutoCreateTopicEnable,
		"autoCreateSubscriptionGroup", b.cfg.AutoCreateSubscriptionGroup, "brokerPermission", b.cfg.BrokerPermission,
		"longPollingEnable", b.cfg.LongPollingEnable)

	// The first registration is synchronous, so routes exist once Start returns
	// (unless a name server is down; the loop retries).
	b.mu.Unlock()
	rctx, rcancel := context.WithTimeout(ctx, b.cfg.RegisterTimeout+time.Second)
	_ = b.reg.registerNow(rctx)
	rcancel()
	b.mu.Lock()
	return nil
}

// registerProcessors wires every request code to its pool.
func (b *Broker) registerProcessors(srv *remoting.Server) {
	sendPool := remoting.NewPool("send", sendAcceptWorkers, sendAcceptQueue)
	pullPool := remoting.NewPool("pull", b.cfg.PullWorkers, b.cfg.PullQueueCapacity)
	adminPool := remoting.NewPool("admin", b.cfg.AdminWorkers, adminQueue)
	hbPool := remoting.NewPool("heartbeat", b.cfg.HeartbeatWorkers, heartbeatQueue)

	accept := remoting.ProcessorFunc(b.acceptSend)
	for _, code := range []protocol.RequestCode{protocol.SendMessage, protocol.SendMessageV2, protocol.SendBatchMessage} {
		srv.Register(code, accept, sendPool)
	}
	srv.Register(protocol.PullMessage, remoting.ProcessorFunc(b.processPull), pullPool)
	admin := remoting.ProcessorFunc(b.processAdmin)
	for _, code := range adminCodes {
		srv.Register(code, admin, adminPool)
	}
	b.clients.Register(srv, hbPool)
	b.registerTxnQueryReply(srv, adminPool) // transaction.go
	b.registerDelayProcessors(srv, adminPool)
	srv.Register(protocol.CheckClientConfig, remoting.ProcessorFunc(b.processCheckClientConfig), hbPool)
}

// offsetFlusher is the goroutine that writes changed consumer offsets every
// FlushConsumerOffsetInterval. Started by Start, stopped by Close (which
// flushes once more after it stops).
func (b *Broker) offsetFlusher(ctx context.Context) {
	b.every(ctx, b.cfg.FlushConsumerOffsetInterval, func() {
		if err := b.offsets.flush(); err != nil {
			b.log.Error("broker: persist consumer offsets", "err", err)
		}
	})
}

// every calls f every d (on the broker's clock) until ctx is done.
func (b *Broker) every(ctx context.Context, d time.Duration, f func()) {
	t := b.clk.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			f()
		}
	}
}

// Close shuts the broker down in the order of docs/design/broker.md:
// unregister from the name servers → refuse new sends → wait for in-flight sends
// (up to ShutdownTimeout) → answer held pulls → close the server and client
// manager → stop the goroutines → persist offsets and configs → close the store.
// It is idempotent and safe before Start; it returns the first error.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	started := b.started
	b.mu.Unlock()
	if !started {
		return nil
	}

	var errs []error
	b.reg.stop()
	b.reg.unregisterAll()
	b.gate.close()
	if !b.gate.wait(b.clk, b.cfg.ShutdownTimeout) {
		b.log.Warn("broker: in-flight sends did not finish in time", "timeout", b.cfg.ShutdownTimeout)
	}
	// Held pulls are answered now; remoting.Server.Close then writes every
	// queued answer (bounded by its DrainTimeout) before closing connections.
	b.holds.close()
	errs = append(errs, b.srv.Close())
	if b.fast != nil {
		errs = append(errs, b.fast.Close())
	}
	errs = append(errs, b.clients.Close())
	b.cancel()
	b.wg.Wait()
	b.reg.closeClient()
	errs = append(errs, b.closeDelay()) // the scheduler and timer stopped with wg; the store is still open
	if err := b.offsets.flush(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, b.topics.persist(), b.groups.persist())
	errs = append(errs, b.store.Close())
	err := errors.Join(errs...)
	if err != nil {
		b.log.Error("broker: closed with errors", "err", err)
	} else {
		b.log.Info("broker: closed")
	}
	return err
}

// writeGate counts admitted sends from admission to answer, so Close can
// refuse new ones and wait for the rest.
type writeGate struct {
	mu      sync.Mutex
	n       int
	closing bool
	zero    chan struct{} // closed when closing and n reaches 0
}

func (g *writeGate) init() { g.zero = make(chan struct{}) }

// enter admits a send; false once closing.
func (g *writeGate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	g.n++
	return true
}

// exit ends an admitted send.
func (g *writeGate) exit() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n--
	if g.closing && g.n == 0 {
		close(g.zero)
	}
}

// close refuses new sends; it reports whether some were in flight.
func (g *writeGate) close() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return g.n > 0
	}
	g.closing = true
	if g.n == 0 {
		close(g.zero)
	}
	return g.n > 0
}

// wait waits until every admitted send has ended or d passes; it reports
// whether they all ended.
func (g *writeGate) wait(clk clock.Clock, d time.Duration) bool {
	t := clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-g.zero:
		return true
	case <-t.C():
		return false
	}
}

// HeldPulls returns the number of pull requests currently held by long
// polling (also reported as heldPullCount by GET_BROKER_RUNTIME_INFO).
func (b *Broker) HeldPulls() int { return b.holds.held() }
