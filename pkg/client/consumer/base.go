package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
)

type state int

const (
	stateNew state = iota
	stateStarted
	stateClosed
)

// members are the (client id, group) pairs of the consumers started in this
// process and not yet closed.
var members struct {
	sync.Mutex
	m map[[2]string]bool
}

// claimMember records that a consumer of group with client id id runs in
// this process, and returns the function that forgets it. Two such consumers
// would be one member to the brokers, and each would take the queues of
// both (RocketMQ's clients refuse the same: "the consumer group has been
// created before").
func claimMember(id, group string) (release func(), err error) {
	k := [2]string{id, group}
	members.Lock()
	defer members.Unlock()
	if members.m[k] {
		return nil, fmt.Errorf("%w: group %q, client id %q (give each consumer its own client.InstanceName)", ErrDuplicateMember, group, id)
	}
	if members.m == nil {
		members.m = map[[2]string]bool{}
	}
	members.m[k] = true
	var once sync.Once
	return func() {
		once.Do(func() {
			members.Lock()
			defer members.Unlock()
			delete(members.m, k)
		})
	}, nil
}

// queueRunner starts the goroutines of a newly assigned queue (with
// base.goQueue), reading from from.
type queueRunner func(pq *processQueue, from message.QueueOffset)

// base is what the push and lite pull consumers share: the SDK core client,
// subscriptions, the rebalance, commit and lock loops, the offset table, and
// the set of assigned queues. Each owner sets runner (and orderly) before
// start.
type base struct {
	cfg         config
	cli         *client.Client
	group       string // wire name
	ops         brokerOps
	positions   queuePositions // ops, or a fake in tests
	log         *slog.Logger
	offsets     *offsetTable
	backend     offsetBackend
	consumeType string
	orderly     bool
	manual      bool // lite pull with Assign: no rebalance
	runner      queueRunner
	assigned    func(message.MessageQueue) bool // lite pull Assign: queues to re-add after a reset
	released    func(message.MessageQueue)      // optional: called after a queue is given up
	startedAt   time.Time

	rebalanceWake chan struct{}
	commitWake    chan struct{}
	wg            sync.WaitGroup // every goroutine the consumer owns

	mu struct {
		sync.Mutex
		state      state
		life       context.Context
		cancel     context.CancelFunc
		subs       map[string]*subscription // by wire topic
		unregister func()
	}
	// rb serialises rebalance rounds, resets and releases: the queue set
	// changes only under it.
	rb sync.Mutex
	qs struct {
		sync.Mutex
		m map[message.MessageQueue]*processQueue
	}
}

func newBase(cfg config, copts []client.Option, consumeType string) (*base, error) {
	cli, err := client.New(copts...)
	if err != nil {
		return nil, err
	}
	b := &base{
		cfg:           cfg,
		cli:           cli,
		group:         cli.Wrap(cfg.group),
		ops:           brokerOps{cli: cli},
		positions:     brokerOps{cli: cli},
		log:           cli.Logger(),
		offsets:       newOffsetTable(),
		consumeType:   consumeType,
		rebalanceWake: make(chan struct{}, 1),
		commitWake:    make(chan struct{}, 1),
	}
	b.mu.subs = map[string]*subscription{}
	b.qs.m = map[message.MessageQueue]*processQueue{}
	if cfg.model == Broadcasting {
		path := cfg.offsetFile
		if path == "" {
			if path, err = defaultOffsetFile(cli.ID(), b.group); err != nil {
				_ = cli.Close()
				return nil, err
			}
		}
		b.backend = &localOffsets{path: path}
	} else {
		b.backend = remoteOffsets{ops: b.ops, group: b.group}
	}
	cli.Handle(protocol.NotifyConsumerIDsChanged, func(context.Context, *client.ServerRequest) *protocol.Command {
		b.triggerRebalance()
		return nil
	})
	cli.Handle(protocol.ResetConsumerClientOffset, b.handleReset)
	cli.Handle(protocol.GetConsumerRunningInfo, b.handleRunningInfo)
	return b, nil
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (b *base) triggerRebalance() { wake(b.rebalanceWake) }

// subscribe adds a subscription before Start.
func (b *base) subscribe(topic string, sel Selector, h Handler, retry bool) error {
	if topic == "" {
		return fmt.Errorf("%w: empty topic", ErrBadSubscription)
	}
	wire := b.cli.Wrap(topic)
	sd, err := subscriptionData(wire, sel, b.cfg.clk.Now().UnixNano())
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.mu.state {
	case stateStarted:
		return ErrAlreadyStarted
	case stateClosed:
		return ErrClosed
	}
	b.mu.subs[wire] = &subscription{topic: wire, data: sd, handler: h, retry: retry}
	return nil
}

func (b *base) subscriptions() []*subscription {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := slices.Collect(maps.Values(b.mu.subs))
	slices.SortFunc(out, func(x, y *subscription) int { return compareStrings(x.topic, y.topic) })
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (b *base) subscriptionOf(topic string) (*subscription, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.mu.subs[topic]
	return s, ok
}

func fromWhereName(f ConsumeFrom) string { return f.String() }

// consumerData is the group's heartbeat entry.
func (b *base) consumerData() body.ConsumerData {
	cd := body.ConsumerData{
		GroupName:           b.group,
		ConsumeType:         b.consumeType,
		MessageModel:        b.cfg.model.String(),
		ConsumeFromWhere:    fromWhereName(b.cfg.from),
		SubscriptionDataSet: []body.SubscriptionData{},
	}
	for _, s := range b.subscriptions() {
		cd.SubscriptionDataSet = append(cd.SubscriptionDataSet, s.data.Clone())
	}
	return cd
}

// goFunc runs f on a goroutine the consumer owns (Close waits for it).
func (b *base) goFunc(name string, f func()) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		pprof.Do(context.Background(), pprof.Labels("petrel-consumer", name), func(context.Context) { f() })
	}()
}

// goQueue runs f on a goroutine of pq: releasing the queue waits for it.
func (b *base) goQueue(pq *processQueue, name string, f func()) {
	pq.wg.Add(1)
	b.goFunc(name, func() {
		defer pq.wg.Done()
		f()
	})
}

// start starts the client, registers the group and launches the loops.
func (b *base) start(ctx context.Context) error {
	b.mu.Lock()
	switch b.mu.state {
	case stateStarted:
		b.mu.Unlock()
		return ErrAlreadyStarted
	case stateClosed:
		b.mu.Unlock()
		return ErrClosed
	}
	release, err := claimMember(b.cli.ID(), b.group)
	if err != nil {
		b.mu.Unlock()
		return err
	}
	if err := b.cli.Start(ctx); err != nil {
		b.mu.Unlock()
		release()
		return err
	}
	un, err := b.cli.RegisterConsumer(b.group, b.consumerData)
	if err != nil {
		b.mu.Unlock()
		release()
		_ = b.cli.Close()
		return err
	}
	b.mu.unregister = func() { un(); release() }
	b.mu.state = stateStarted
	b.mu.life, b.mu.cancel = context.WithCancel(context.Background())
	life := b.mu.life
	b.startedAt = b.cfg.clk.Now()
	if b.cfg.from == ConsumeFromTimestamp && b.cfg.timestamp.IsZero() {
		b.cfg.timestamp = b.startedAt.Add(-30 * time.Minute)
	}
	b.mu.Unlock()

	// Learn the brokers, then heartbeat them before the first rebalance, so
	// the member list includes this client.
	for _, s := range b.subscriptions() {
		if _, err := b.cli.Route(ctx, s.topic); err != nil && !s.retry {
			b.log.Warn("consumer: no route yet; will retry at rebalance", "topic", s.topic, "err", err)
		}
	}
	if err := b.cli.SendHeartbeat(ctx); err != nil {
		b.log.Warn("consumer: first heartbeat failed", "group", b.group, "err", err)
	}
	if !b.manual {
		b.goFunc("rebalance", func() { b.rebalanceLoop(life) })
	}
	b.goFunc("commit", func() { b.commitLoop(life) })
	if b.orderly && b.cfg.model == Clustering {
		b.goFunc("lock", func() { b.lockLoop(life) })
	}
	return nil
}

func (b *base) life() (context.Context, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.mu.state {
	case stateNew:
		return nil, ErrNotStarted
	case stateClosed:
		return nil, ErrClosed
	}
	return b.mu.life, nil
}

// close stops every loop and queue, commits offsets, releases locks and
// closes the client. Idempotent; safe before start.
func (b *base) close() error {
	b.mu.Lock()
	prev := b.mu.state
	b.mu.state = stateClosed
	cancel, un := b.mu.cancel, b.mu.unregister
	b.mu.Unlock()
	if prev == stateClosed {
		return nil
	}
	if prev == stateNew {
		return b.cli.Close()
	}
	cancel()
	b.wg.Wait()
	// Every queue goroutine is gone: commit what was consumed and unlock.
	ctx, cc := context.WithTimeout(context.Background(), b.cli.CallTimeout())
	defer cc()
	b.rb.Lock()
	var qs []message.MessageQueue
	b.qs.Lock()
	for mq, pq := range b.qs.m {
		pq.drop()
		qs = append(qs, mq)
	}
	clear(b.qs.m)
	b.qs.Unlock()
	b.rb.Unlock()
	var errs []error
	if err := b.backend.persist(ctx, b.offsets.take(qs, false)); err != nil {
		errs = append(errs, err)
	}
	if b.orderly && b.cfg.model == Clustering && len(qs) > 0 {
		b.unlock(ctx, qs)
	}
	if un != nil {
		un()
	}
	if err := b.cli.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func (b *base) sleep(ctx context.Context, d time.Duration) bool {
	t := b.cfg.clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

// rebalanceLoop is started by start and stopped by close (ctx): it rebalances
// at once, every RebalanceInterval and when woken (NOTIFY_CONSUMER_IDS_CHANGED).
func (b *base) rebalanceLoop(ctx context.Context) {
	t := b.cfg.clk.NewTicker(b.cfg.rebalanceInterval)
	defer t.Stop()
	for {
		b.rebalance(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		case <-b.rebalanceWake:
		}
	}
}

// commitLoop is started by start and stopped by close (ctx): it persists
// changed offsets of held queues every CommitInterval and when woken.
func (b *base) commitLoop(ctx context.Context) {
	t := b.cfg.clk.NewTicker(b.cfg.commitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		case <-b.commitWake:
		}
		b.commitHeld(ctx)
	}
}

func (b *base) heldQueues() []message.MessageQueue {
	b.qs.Lock()
	defer b.qs.Unlock()
	qs := slices.Collect(maps.Keys(b.qs.m))
	SortQueues(qs)
	return qs
}

func (b *base) commitHeld(ctx context.Context) error {
	offs := b.offsets.take(b.heldQueues(), false)
	if err := b.backend.persist(ctx, offs); err != nil {
		b.offsets.markDirty(offs)
		if ctx.Err() == nil {
			b.log.Warn("consumer: commit offsets", "group", b.group, "err", err)
		}
		return err
	}
	return nil
}

// rebalance runs one round over every subscription.
func (b *base) rebalance(ctx context.Context) {
	b.rb.Lock()
	defer b.rb.Unlock()
	for _, s := range b.subscriptions() {
		if ctx.Err() != nil {
			return
		}
		target, err := b.target(ctx, s.topic)
		if err != nil {
			b.log.Debug("consumer: rebalance skipped a topic", "group", b.group, "topic", s.topic, "err", err)
			continue
		}
		b.applyLocked(ctx, s.topic, target)
	}
}

// target computes the queues of topic this member should hold.
func (b *base) target(ctx context.Context, topic string) ([]message.MessageQueue, error) {
	r, err := b.cli.Route(ctx, topic)
	if err != nil {
		return nil, err
	}
	all := r.SubscribeQueues()
	if b.cfg.model == Broadcasting {
		return slices.Clone(all), nil
	}
	members, err := b.members(ctx, r)
	if err != nil {
		return nil, err
	}
	return Allocate(b.cfg.strategy, b.cli.ID(), all, members), nil
}

// members asks the topic's brokers, in turn, for the group's client ids.
func (b *base) members(ctx context.Context, r *client.Route) ([]string, error) {
	var errs []error
	for _, name := range r.BrokerNames() {
		addr, _, ok := r.SubscribeAddr(name, body.MasterID, false) // a slave when the master is down
		if !ok {
			continue
		}
		resp, err := b.cli.Call(ctx, addr, header.NewRequest(protocol.GetConsumerListByGroup, &header.GetConsumerListByGroup{ConsumerGroup: b.group}))
		if err != nil {
			if client.SuggestsStaleRoute(err) {
				b.cli.MarkRouteStale(r.Topic())
			}
			errs = append(errs, err)
			continue
		}
		var lb body.GetConsumerListByGroupResponseBody
		if err := json.Unmarshal(resp.Body, &lb); err != nil {
			errs = append(errs, err)
			continue
		}
		return lb.ConsumerIDList, nil
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("consumer: topic %s has no broker address", r.Topic())
	}
	return nil, errors.Join(errs...)
}

// Diff returns the queues to add (in target, not held) and to remove (held,
// not in target), each sorted. It is the pure core of a rebalance round.
func Diff(held, target []message.MessageQueue) (add, remove []message.MessageQueue) {
	in := func(qs []message.MessageQueue) map[message.MessageQueue]bool {
		m := make(map[message.MessageQueue]bool, len(qs))
		for _, q := range qs {
			m[q] = true
		}
		return m
	}
	h, t := in(held), in(target)
	for q := range t {
		if !h[q] {
			add = append(add, q)
		}
	}
	for q := range h {
		if !t[q] {
			remove = append(remove, q)
		}
	}
	SortQueues(add)
	SortQueues(remove)
	return add, remove
}

// applyLocked moves the held queues of topic to target. Caller holds b.rb.
func (b *base) applyLocked(ctx context.Context, topic string, target []message.MessageQueue) {
	var held []message.MessageQueue
	for _, q := range b.heldQueues() {
		if q.Topic == topic {
			held = append(held, q)
		}
	}
	add, remove := Diff(held, target)
	for _, mq := range remove {
		b.releaseLocked(ctx, mq)
	}
	for _, mq := range add {
		if ctx.Err() != nil {
			return
		}
		b.addLocked(ctx, mq)
	}
}

// addLocked takes a queue: lock it (orderly clustering), find the offset to
// start from, and start its goroutines. On failure the queue is left for the
// next round. Caller holds b.rb.
func (b *base) addLocked(ctx context.Context, mq message.MessageQueue) bool {
	life, err := b.life()
	if err != nil {
		return false
	}
	pq := newProcessQueue(life, mq)
	if b.orderly && b.cfg.model == Clustering {
		locked, err := b.lock(ctx, []message.MessageQueue{mq})
		if err != nil || !locked[mq] {
			b.log.Debug("consumer: queue not locked; retry next round", "queue", mq, "err", err)
			return false
		}
		pq.setLocked(true, b.cfg.clk.Now())
	}
	from, err := b.computeFrom(ctx, mq)
	if err != nil {
		if ctx.Err() == nil { // not a Close cutting the rebalance short
			b.log.Warn("consumer: no start offset; retry next round", "queue", mq, "err", err)
		}
		if b.orderly && b.cfg.model == Clustering {
			b.unlock(ctx, []message.MessageQueue{mq})
		}
		return false
	}
	b.offsets.update(mq, from, false)
	b.qs.Lock()
	b.qs.m[mq] = pq
	b.qs.Unlock()
	b.runner(pq, from)
	return true
}

// releaseLocked gives a queue up: stop its goroutines, commit its offset,
// unlock it (orderly clustering). Caller holds b.rb.
func (b *base) releaseLocked(ctx context.Context, mq message.MessageQueue) {
	b.qs.Lock()
	pq := b.qs.m[mq]
	delete(b.qs.m, mq)
	b.qs.Unlock()
	if pq == nil {
		return
	}
	pq.drop()
	pq.wg.Wait()
	if err := b.backend.persist(ctx, b.offsets.take([]message.MessageQueue{mq}, false)); err != nil {
		b.log.Warn("consumer: commit offset of a released queue", "queue", mq, "err", err)
	}
	b.offsets.remove(mq)
	if b.orderly && b.cfg.model == Clustering {
		b.unlock(ctx, []message.MessageQueue{mq})
	}
	if b.released != nil {
		b.released(mq)
	}
}

// queuePositions are the broker's offset queries used to place a new group.
type queuePositions interface {
	maxOffset(ctx context.Context, mq message.MessageQueue) (message.QueueOffset, error)
	minOffset(ctx context.Context, mq message.MessageQueue) (message.QueueOffset, error)
	searchOffset(ctx context.Context, mq message.MessageQueue, ms int64) (message.QueueOffset, error)
}

var _ queuePositions = brokerOps{}

// computeFrom returns the offset to start a queue at: the stored offset, or
// the consume-from policy's for a group without one (RocketMQ's
// computePullFromWhere).
func (b *base) computeFrom(ctx context.Context, mq message.MessageQueue) (message.QueueOffset, error) {
	off, found, err := b.backend.fetch(ctx, mq)
	if err != nil {
		return 0, err
	}
	if found {
		return off, nil
	}
	retry := len(mq.Topic) > len(client.RetryGroupTopicPrefix) && mq.Topic[:len(client.RetryGroupTopicPrefix)] == client.RetryGroupTopicPrefix
	switch b.cfg.from {
	case ConsumeFromFirstOffset:
		if b.cfg.model == Broadcasting {
			return b.positions.minOffset(ctx, mq)
		}
		return 0, nil
	case ConsumeFromTimestamp:
		if retry {
			return b.positions.maxOffset(ctx, mq)
		}
		return b.positions.searchOffset(ctx, mq, b.cfg.timestamp.UnixMilli())
	default:
		if retry {
			return 0, nil
		}
		return b.positions.maxOffset(ctx, mq)
	}
}

// lock sends LOCK_BATCH_MQ for qs, grouped by broker, and returns the queues
// now locked.
func (b *base) lock(ctx context.Context, qs []message.MessageQueue) (map[message.MessageQueue]bool, error) {
	out := map[message.MessageQueue]bool{}
	var errs []error
	for _, group := range byBroker(qs) {
		addr, err := b.ops.masterAddr(ctx, group[0])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		req := protocol.NewRequest(protocol.LockBatchMQ, nil)
		req.Body, _ = json.Marshal(body.LockBatchRequestBody{ConsumerGroup: b.group, ClientID: b.cli.ID(), MQSet: group})
		resp, err := b.cli.Call(ctx, addr, req)
		if err != nil {
			b.ops.failed(group[0], err)
			errs = append(errs, err)
			continue
		}
		lr, err := body.DecodeLockBatchResponse(resp.Body)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, q := range lr.LockOKMQSet {
			out[q] = true
		}
	}
	return out, errors.Join(errs...)
}

// unlock sends UNLOCK_BATCH_MQ for qs, grouped by broker; failures are logged
// (the broker expires locks after 60s anyway).
func (b *base) unlock(ctx context.Context, qs []message.MessageQueue) {
	for _, group := range byBroker(qs) {
		addr, err := b.ops.masterAddr(ctx, group[0])
		if err != nil {
			continue
		}
		req := protocol.NewRequest(protocol.UnlockBatchMQ, nil)
		req.Body, _ = json.Marshal(body.UnlockBatchRequestBody{ConsumerGroup: b.group, ClientID: b.cli.ID(), MQSet: group})
		if _, err := b.cli.Call(ctx, addr, req); err != nil {
			b.log.Debug("consumer: unlock failed", "peer", addr, "err", err)
		}
	}
}

func byBroker(qs []message.MessageQueue) [][]message.MessageQueue {
	m := map[string][]message.MessageQueue{}
	for _, q := range qs {
		m[q.BrokerName] = append(m[q.BrokerName], q)
	}
	var out [][]message.MessageQueue
	for _, name := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[name])
	}
	return out
}

// lockLoop is started by start for orderly clustering consumers and stopped by
// close (ctx): it renews the broker locks of every held queue each
// LockInterval.
func (b *base) lockLoop(ctx context.Context) {
	t := b.cfg.clk.NewTicker(b.cfg.lockInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		b.renewLocks(ctx)
	}
}

func (b *base) renewLocks(ctx context.Context) {
	held := b.heldQueues()
	if len(held) == 0 {
		return
	}
	locked, err := b.lock(ctx, held)
	if err != nil && ctx.Err() == nil {
		b.log.Warn("consumer: lock renewal", "group", b.group, "err", err)
	}
	now := b.cfg.clk.Now()
	b.qs.Lock()
	defer b.qs.Unlock()
	for _, mq := range held {
		if pq := b.qs.m[mq]; pq != nil {
			if locked[mq] {
				pq.setLocked(true, now)
			} else if err == nil {
				pq.setLocked(false, now)
			}
		}
	}
}

// pullFailed follows up a pull of pq from addr that failed with err. When
// err suggests the route is stale (client.SuggestsStaleRoute: a connection
// error, a timeout, a broker that is not available), it refreshes the
// topic's route, shared with the consumer's other queues and rate-limited
// (client.RefreshStaleRoute), and reports whether pq is now to be read from
// another address, in which case the caller pulls again at once rather than
// after PullRetryDelay: that is how a consumer follows a new master within
// moments of its registration. addr is "" when no address was found (the
// look-up refreshed the route already).
func (b *base) pullFailed(ctx context.Context, pq *processQueue, addr string, err error) (retryNow bool) {
	if addr == "" || !client.SuggestsStaleRoute(err) {
		return false
	}
	r, rerr := b.cli.RefreshStaleRoute(ctx, pq.mq.Topic)
	if rerr != nil {
		return false
	}
	next, _, ok := r.SubscribeAddr(pq.mq.BrokerName, pq.pullBrokerID(), false)
	return ok && next != addr
}

// queue returns the process queue of a held queue.
func (b *base) queue(mq message.MessageQueue) (*processQueue, bool) {
	b.qs.Lock()
	defer b.qs.Unlock()
	pq, ok := b.qs.m[mq]
	return pq, ok
}
