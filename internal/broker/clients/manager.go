package clients

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("clients: closed")

// notifyTimeout bounds queueing one NOTIFY_CONSUMER_IDS_CHANGED frame on a
// connection whose write queue is full (a client that does not read).
const notifyTimeout = 3 * time.Second

// Hooks let the broker act on client requests before they are recorded. A nil
// hook is skipped. Hooks run on request workers without any Manager lock held, so
// they may block briefly (for example to create a retry topic).
type Hooks struct {
	// OnConsumerHeartbeat runs for each consumer group of a heartbeat before the
	// heartbeat is recorded; clustering is false for BROADCASTING groups. An error
	// fails the whole heartbeat (nothing of it is recorded) with that error: a
	// *protocol.Error's code and remark are used as the response's, anything else
	// gives SYSTEM_ERROR with the error text.
	OnConsumerHeartbeat func(group string, subs []body.SubscriptionData, clustering bool) error
}

// Manager is the broker's client management: it registers producers and
// consumers from heartbeats, answers consumer-list, lock and connection-list
// requests, drops clients whose connection closes or who stop heartbeating, and
// tells consumer groups when their membership changes.
//
// Goroutines: Start launches two, both stopped and waited for by Close: the
// expiry scan (a clock ticker every ScanInterval) and the notifier, which sends
// NOTIFY_CONSUMER_IDS_CHANGED oneway to every channel of a changed group. Changes
// only mark the group pending and wake the notifier, so request processing never
// waits for client I/O, and a burst of changes to one group gives one round of
// notifications. Notifications queued before Start are sent once it runs.
//
// All methods are safe for concurrent use. Lock order: life → mu; nothing holds
// mu during network I/O or hooks.
type Manager struct {
	cfg   Config
	log   *slog.Logger
	clk   clock.Clock
	hooks Hooks
	wake  chan struct{} // capacity 1: pending notifications

	mu struct {
		sync.Mutex
		reg *Registry
		// conns maps the connection id of every connection that registered
		// something to its Conn, until it closes.
		conns map[uint64]*remoting.Conn
		// pending holds the consumer groups awaiting NOTIFY_CONSUMER_IDS_CHANGED.
		pending map[string]struct{}
	}

	life struct {
		sync.Mutex
		started, closed bool
		cancel          context.CancelFunc
	}
	wg sync.WaitGroup // the scan and notifier goroutines; added to under life
}

var _ remoting.ConnListener = (*Manager)(nil)

// New returns a Manager without starting anything. log may be nil (discard); clk
// is usually clock.Real{}. Zero durations in cfg take their defaults; a config
// that fails Validate otherwise is a programming error and panics (brokers
// validate their configuration first).
func New(cfg Config, log *slog.Logger, clk clock.Clock, hooks Hooks) *Manager {
	def := DefaultConfig()
	if cfg.ChannelExpiredTimeout == 0 {
		cfg.ChannelExpiredTimeout = def.ChannelExpiredTimeout
	}
	if cfg.ScanInterval == 0 {
		cfg.ScanInterval = def.ScanInterval
	}
	if cfg.LockExpiry == 0 {
		cfg.LockExpiry = def.LockExpiry
	}
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if clk == nil {
		clk = clock.Real{}
	}
	m := &Manager{cfg: cfg, log: log, clk: clk, hooks: hooks, wake: make(chan struct{}, 1)}
	m.mu.reg = NewRegistry(cfg.ChannelExpiredTimeout, cfg.LockExpiry)
	m.mu.conns = map[uint64]*remoting.Conn{}
	m.mu.pending = map[string]struct{}{}
	return m
}

// Start launches the expiry scan and the notifier. ctx is used only for its
// values; Close stops both. It fails after Close (ErrClosed) or if called twice.
func (m *Manager) Start(ctx context.Context) error {
	m.life.Lock()
	defer m.life.Unlock()
	if m.life.closed {
		return ErrClosed
	}
	if m.life.started {
		return errors.New("clients: already started")
	}
	m.life.started = true
	lifetime, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.life.cancel = cancel
	m.goFunc(lifetime, "expiry-scan", m.scanLoop)
	m.goFunc(lifetime, "notifier", m.notifyLoop)
	return nil
}

// goFunc runs f on a tracked goroutine with a pprof label; call with life held.
func (m *Manager) goFunc(ctx context.Context, name string, f func(context.Context)) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		pprof.Do(ctx, pprof.Labels("broker/clients", name), f)
	}()
}

// Close stops the goroutines Start launched and waits for them. Registrations
// stay readable. It is idempotent and safe before Start.
func (m *Manager) Close() error {
	m.life.Lock()
	if m.life.closed {
		m.life.Unlock()
		return nil
	}
	m.life.closed = true
	if m.life.cancel != nil {
		m.life.cancel()
	}
	m.life.Unlock()
	m.wg.Wait()
	return nil
}

// scanLoop is the expiry-scan goroutine: Start launches it, Close (ctx) stops
// it. It owns its ticker.
func (m *Manager) scanLoop(ctx context.Context) {
	t := m.clk.NewTicker(m.cfg.ScanInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			m.Scan()
		}
	}
}

// Scan runs one expiry scan now: it drops channels silent for longer than
// ChannelExpiredTimeout and expired locks, and notifies the groups that lost a
// member. The scan goroutine calls it every ScanInterval. Expired channels keep
// their connection open, unlike RocketMQ, which closes it: a Go client shares one
// connection between all its groups, and a group it stopped listing must not cut
// off the others.
func (m *Manager) Scan() {
	m.mu.Lock()
	events := m.mu.reg.Scan(m.clk.Now())
	m.eventsLocked(events)
	m.mu.Unlock()
	for _, e := range events {
		m.log.Info("clients: consumer channel expired", "group", e.Group, "client", e.ClientID, "conn", e.ConnID)
	}
}

// eventsLocked marks the groups of events for notification; mu must be held.
func (m *Manager) eventsLocked(events []Event) {
	if !m.cfg.NotifyConsumerIDsChanged {
		return
	}
	added := false
	for _, e := range events {
		if e.Remaining == 0 {
			continue // nobody left to tell
		}
		m.mu.pending[e.Group] = struct{}{}
		added = true
	}
	if added {
		select {
		case m.wake <- struct{}{}:
		default:
		}
	}
}

// notifyLoop is the notifier goroutine: Start launches it, Close (ctx) stops it.
// Each wake-up sends one notification per pending group to the group's current
// channels.
func (m *Manager) notifyLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
			m.flushNotifications(ctx)
		}
	}
}

type notification struct {
	group string
	conn  *remoting.Conn
}

func (m *Manager) flushNotifications(ctx context.Context) {
	m.mu.Lock()
	groups := slices.Sorted(maps.Keys(m.mu.pending))
	clear(m.mu.pending)
	var out []notification
	for _, g := range groups {
		for _, ch := range m.mu.reg.ConsumerChannels(g) {
			if c := m.mu.conns[ch.ConnID]; c != nil {
				out = append(out, notification{g, c})
			}
		}
	}
	m.mu.Unlock()

	for _, n := range out {
		if ctx.Err() != nil {
			return
		}
		req := protocol.NewRequest(protocol.NotifyConsumerIDsChanged, map[string]string{"consumerGroup": n.group})
		sctx, cancel := context.WithTimeout(ctx, notifyTimeout)
		err := n.conn.InvokeOneway(sctx, req)
		cancel()
		if err != nil && !errors.Is(err, remoting.ErrConnClosed) {
			m.log.Warn("clients: cannot notify consumer of group change", "group", n.group, "peer", n.conn.RemoteAddr(), "err", err)
		}
	}
}

// OnConnect implements remoting.ConnListener; a connection counts once it
// heartbeats.
func (m *Manager) OnConnect(*remoting.Conn) {}

// OnClose implements remoting.ConnListener: every registration of the closed
// connection is dropped at once and the groups it left are notified.
func (m *Manager) OnClose(c *remoting.Conn) {
	m.mu.Lock()
	delete(m.mu.conns, c.ID())
	events := m.mu.reg.ConnClosed(c.ID())
	m.eventsLocked(events)
	m.mu.Unlock()
	for _, e := range events {
		m.log.Info("clients: consumer connection closed", "group", e.Group, "client", e.ClientID, "peer", c.RemoteAddr())
	}
}

// record applies f to the registry for connection c under the lock and marks
// the resulting events for notification. If c closed meanwhile (its close may
// have been handled before f ran), its registrations are dropped again at once.
func (m *Manager) record(c *remoting.Conn, f func(r *Registry) []Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.conns[c.ID()] = c
	events := f(m.mu.reg)
	select {
	case <-c.Closed():
		delete(m.mu.conns, c.ID())
		events = append(events, m.mu.reg.ConnClosed(c.ID())...)
	default:
	}
	m.eventsLocked(events)
	for _, e := range events {
		if e.Kind == ChannelJoined {
			m.log.Info("clients: consumer joined", "group", e.Group, "client", e.ClientID, "peer", c.RemoteAddr())
		}
	}
}

// Subscription returns group's subscription to topic, if the group is online and
// subscribes to it.
func (m *Manager) Subscription(group, topic string) (body.SubscriptionData, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.reg.Subscription(group, topic)
}

// GroupsSubscribing returns the online consumer groups subscribing to topic,
// sorted.
func (m *Manager) GroupsSubscribing(topic string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.reg.GroupsSubscribing(topic)
}

// ConsumerGroups returns the online consumer groups, sorted.
func (m *Manager) ConsumerGroups() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.reg.ConsumerGroups()
}

// ConsumerGroup returns a snapshot of an online consumer group.
func (m *Manager) ConsumerGroup(group string) (GroupInfo, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.reg.ConsumerGroup(group)
}

// ProducerConns returns the open connections of producer group group (for
// transaction check-back), sorted by client id; nil if none.
func (m *Manager) ProducerConns(group string) []*remoting.Conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.connsLocked(m.mu.reg.ProducerChannels(group))
}

// ConsumerConns returns the open connections of consumer group group, sorted by
// client id; nil if none.
func (m *Manager) ConsumerConns(group string) []*remoting.Conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.connsLocked(m.mu.reg.ConsumerChannels(group))
}

func (m *Manager) connsLocked(chs []ChannelInfo) []*remoting.Conn {
	var out []*remoting.Conn
	for _, ch := range chs {
		if c := m.mu.conns[ch.ConnID]; c != nil {
			out = append(out, c)
		}
	}
	return out
}
