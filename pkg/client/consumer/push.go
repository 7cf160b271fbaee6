package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
)

// PushConsumer delivers messages to handlers: it long-polls the queues
// allocated to it and runs a Concurrently or an Orderly handler on them.
//
// NewPush builds it without I/O; Subscribe adds topics before Start; Start
// registers the group and starts the loops; Close stops everything, commits
// offsets and returns once every goroutine has ended. Goroutines: one puller
// per held queue, one orderly runner per held queue (orderly only), a pool of
// ConsumeGoroutines workers (concurrent only), and the rebalance, commit and
// lock loops. Methods are safe for concurrent use.
type PushConsumer struct {
	b     *base
	tasks chan consumeTask
	kind  int // 0 unset, 1 concurrent, 2 orderly
}

type consumeTask struct {
	pq   *processQueue
	msgs []*message.MessageExt
}

// NewPush validates the options and returns a push consumer. Options are
// client.SharedOption values (client.NameServers, ...) and this package's
// options; Group is required.
func NewPush(opts ...client.ConsumerOption) (*PushConsumer, error) {
	cfg, copts, err := splitOptions(opts)
	if err != nil {
		return nil, err
	}
	b, err := newBase(cfg, copts, body.ConsumePassively)
	if err != nil {
		return nil, err
	}
	p := &PushConsumer{b: b, tasks: make(chan consumeTask, cfg.goroutines)}
	b.runner = p.runQueue
	b.cli.Handle(protocol.ConsumeMessageDirectly, p.handleConsumeDirectly)
	return p, nil
}

// Client returns the consumer's SDK core (its id, routes, hooks).
func (p *PushConsumer) Client() *client.Client { return p.b.cli }

// Group returns the consumer group as sent on the wire.
func (p *PushConsumer) Group() string { return p.b.group }

// Subscribe adds a topic with a selector and a handler; call it before Start.
// All handlers of one consumer must be of one kind (Concurrently or Orderly).
// Subscribing a topic again replaces the earlier subscription. Errors:
// ErrBadSubscription, ErrAlreadyStarted, ErrClosed.
func (p *PushConsumer) Subscribe(topic string, sel Selector, h Handler) error {
	if h == nil {
		return fmt.Errorf("%w: nil handler", ErrBadSubscription)
	}
	switch fn := h.(type) {
	case Concurrently:
		if fn == nil {
			return fmt.Errorf("%w: nil handler", ErrBadSubscription)
		}
	case Orderly:
		if fn == nil {
			return fmt.Errorf("%w: nil handler", ErrBadSubscription)
		}
	}
	kind := 1
	if h.orderly() {
		kind = 2
	}
	if strings.HasPrefix(topic, client.RetryGroupTopicPrefix) {
		return fmt.Errorf("%w: %q is a retry topic", ErrBadSubscription, topic)
	}
	p.b.mu.Lock()
	k := p.kind
	p.b.mu.Unlock()
	if k != 0 && k != kind {
		return fmt.Errorf("%w: concurrent and orderly handlers cannot be mixed", ErrBadSubscription)
	}
	if err := p.b.subscribe(topic, sel, h, false); err != nil {
		return err
	}
	p.b.mu.Lock()
	p.kind = kind
	p.b.mu.Unlock()
	return nil
}

// Start registers the group, heartbeats the brokers, and starts rebalancing
// and consuming. ctx bounds only the start. Errors: no subscription,
// ErrAlreadyStarted, ErrClosed, client errors.
func (p *PushConsumer) Start(ctx context.Context) error {
	p.b.mu.Lock()
	kind, n := p.kind, len(p.b.mu.subs)
	p.b.mu.Unlock()
	if n == 0 {
		return errors.New("consumer: Start without Subscribe")
	}
	p.b.orderly = kind == 2
	if p.b.cfg.model == Clustering {
		// Clustering consumers also read their group's retry topic.
		if err := p.b.subscribe(client.RetryGroupTopicPrefix+p.b.cfg.group, All(), nil, true); err != nil {
			return err
		}
	}
	if err := p.b.start(ctx); err != nil {
		return err
	}
	life, _ := p.b.life()
	if !p.b.orderly {
		for i := range p.b.cfg.goroutines {
			p.b.goFunc("consume-"+strconv.Itoa(i), func() { p.worker(life) })
		}
	}
	p.b.goFunc("consume-timeout", func() { p.expiryLoop(life) })
	return nil
}

// Close stops pulling and consuming (handlers get a cancelled ctx and are
// waited for), commits offsets, releases locks and closes the client.
// Idempotent; safe before Start.
func (p *PushConsumer) Close() error { return p.b.close() }

// Rebalance runs a rebalance round now and returns when it is done (tests,
// operational tools). Errors: ErrNotStarted, ErrClosed.
func (p *PushConsumer) Rebalance(ctx context.Context) error {
	if _, err := p.b.life(); err != nil {
		return err
	}
	p.b.rebalance(ctx)
	return nil
}

// Assignment returns the queues the consumer holds now, sorted.
func (p *PushConsumer) Assignment() []message.MessageQueue { return p.b.heldQueues() }

// CommitOffsets persists the consumed offsets of held queues now.
func (p *PushConsumer) CommitOffsets(ctx context.Context) error {
	if _, err := p.b.life(); err != nil {
		return err
	}
	return p.b.commitHeld(ctx)
}

// handlerFor returns the handler for a message's (restored) topic.
func (p *PushConsumer) handlerFor(topic string) Handler {
	if s, ok := p.b.subscriptionOf(topic); ok && s.handler != nil {
		return s.handler
	}
	for _, s := range p.b.subscriptions() {
		if s.handler != nil {
			return s.handler
		}
	}
	return nil
}

// runQueue starts the goroutines of a new queue.
func (p *PushConsumer) runQueue(pq *processQueue, from message.QueueOffset) {
	p.b.goQueue(pq, "pull "+pq.mq.String(), func() { p.pullLoop(pq, from) })
	if p.b.orderly {
		p.b.goQueue(pq, "orderly "+pq.mq.String(), func() { p.orderlyLoop(pq) })
	}
}

// pullLoop is a queue's puller, started by runQueue and stopped when the
// queue is dropped or the consumer closes (pq.ctx). It long-polls the queue,
// caches what it gets and hands it to the consumers, pausing while the
// queue's cache is over MaxCachedMessages or MaxCachedBytes.
func (p *PushConsumer) pullLoop(pq *processQueue, next message.QueueOffset) {
	b := p.b
	ctx := pq.ctx
	sub, _ := b.subscriptionOf(pq.mq.Topic)
	for ctx.Err() == nil {
		if n, bytes := pq.size(); n >= b.cfg.maxCachedMessages || bytes >= b.cfg.maxCachedBytes {
			b.sleep(ctx, DefaultFlowControlDelay)
			continue
		}
		if b.orderly && b.cfg.model == Clustering && !pq.lockValid(b.cfg.clk.Now()) {
			b.sleep(ctx, b.cfg.pullRetryDelay)
			continue
		}
		res, addr, err := p.pullOnce(ctx, pq, sub, next)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			b.log.Debug("consumer: pull failed", "queue", pq.mq, "offset", next, "peer", addr, "err", err)
			if !b.pullFailed(ctx, pq, addr, err) {
				b.sleep(ctx, b.cfg.pullRetryDelay)
			}
			continue
		}
		switch res.Status {
		case client.PullFound:
			msgs := p.prepare(sub, res.Messages)
			next = res.NextBeginOffset
			if len(msgs) == 0 {
				pq.setNext(next)
				p.updateOffset(pq, true)
				continue
			}
			pq.put(msgs)
			pq.setNext(next)
			if !b.orderly && !p.dispatch(pq, msgs) {
				return
			}
		case client.PullNoNewMsg, client.PullNoMatchedMsg:
			next = res.NextBeginOffset
			pq.setNext(next)
			p.updateOffset(pq, true)
		case client.PullOffsetIllegal:
			b.log.Warn("consumer: pull offset illegal; moving on", "queue", pq.mq, "offset", next, "next", res.NextBeginOffset)
			next = res.NextBeginOffset
			pq.setNext(next)
			b.offsets.update(pq.mq, next, false)
			_ = b.backend.persist(ctx, b.offsets.take([]message.MessageQueue{pq.mq}, false))
		}
	}
}

func (p *PushConsumer) updateOffset(pq *processQueue, increaseOnly bool) {
	if off, ok := pq.commitOffset(); ok && !pq.dropped() {
		p.b.offsets.update(pq.mq, off, increaseOnly)
	}
}

// pullOnce pulls the queue from the broker the last answer suggested
// (suggestWhichBrokerId: the master, or a slave when the master finds the
// consumer far behind), falling back to the master or any broker of the name
// (a slave while the master is down). Pulls from a slave carry no commit
// offset, as RocketMQ's clients do; offsets are committed separately. It
// returns the address pulled from ("" when none was found).
func (p *PushConsumer) pullOnce(ctx context.Context, pq *processQueue, sub *subscription, next message.QueueOffset) (*client.PullResult, string, error) {
	b := p.b
	id := pq.pullBrokerID()
	addr, slave, err := b.ops.readAddr(ctx, pq.mq, id, false)
	if err != nil {
		return nil, "", err
	}
	req := client.PullRequest{
		Queue:       pq.mq,
		Group:       b.group,
		Offset:      next,
		MaxMessages: int32(b.cfg.pullBatchSize),
		Suspend:     b.cfg.suspendTimeout,
	}
	if sub != nil {
		req.Expression, req.ExpressionType, req.SubVersion = sub.data.SubString, sub.data.ExpressionType, sub.data.SubVersion
	}
	if b.cfg.model == Clustering && !slave {
		if off, ok := b.offsets.get(pq.mq); ok && off > 0 {
			req.CommitOffset, req.CommitOffsetValid = off, true
		}
	}
	pctx, cancel := context.WithTimeout(ctx, b.cfg.pullTimeout)
	defer cancel()
	res, err := b.cli.Pull(pctx, addr, req)
	followSuggestion(pq, id, res, err)
	return res, addr, err
}

// followSuggestion records where the next pull of pq goes: where the answer
// suggested, or back to the master after a failed pull from a slave.
func followSuggestion(pq *processQueue, id int64, res *client.PullResult, err error) {
	switch {
	case res != nil:
		pq.setPullBrokerID(res.SuggestWhichBrokerID)
	case err != nil && id != body.MasterID:
		pq.setPullBrokerID(body.MasterID)
	}
}

// prepare filters pulled messages by tag, restores the real topic of retried
// messages and removes the namespace from topics.
func (p *PushConsumer) prepare(sub *subscription, msgs []*message.MessageExt) []*message.MessageExt {
	out := msgs[:0]
	for _, m := range msgs {
		if sub != nil && !matchTags(sub.data, m) {
			continue
		}
		if rt := m.Property(message.PropertyRetryTopic); rt != "" && strings.HasPrefix(m.Topic, client.RetryGroupTopicPrefix) {
			m.Topic = rt
		}
		m.Topic = p.b.cli.Unwrap(m.Topic)
		out = append(out, m)
	}
	return out
}

// dispatch hands cached messages to the worker pool in batches; it returns
// false when the queue was dropped meanwhile.
func (p *PushConsumer) dispatch(pq *processQueue, msgs []*message.MessageExt) bool {
	for len(msgs) > 0 {
		n := min(len(msgs), p.b.cfg.consumeBatchSize)
		select {
		case p.tasks <- consumeTask{pq: pq, msgs: msgs[:n:n]}:
		case <-pq.ctx.Done():
			return false
		}
		msgs = msgs[n:]
	}
	return true
}

// worker is one of the ConsumeGoroutines pool goroutines, started by Start
// and stopped by Close (ctx): it runs concurrent handlers on tasks.
func (p *PushConsumer) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case t := <-p.tasks:
			p.consume(t)
		}
	}
}

func (p *PushConsumer) consume(t consumeTask) {
	b := p.b
	pq := t.pq
	if pq.dropped() {
		return
	}
	h, _ := p.handlerFor(b.cli.Wrap(t.msgs[0].Topic)).(Concurrently)
	msgs := t.msgs
	for len(msgs) > 0 {
		res, panicked := ConsumeRetryLater, false
		tc := b.traceBefore(msgs)
		call, cctx := pq.begin(msgs, b.cfg.clk.Now())
		if h != nil {
			res, panicked = p.callConcurrently(cctx, h, pq.mq, msgs)
		}
		expired := pq.end(call)
		b.traceAfter(tc, traceCode(res == ConsumeSuccess, panicked, expired))
		if expired {
			// ConsumeTimeout: the expiry sends msgs back; the messages of
			// the task not in msgs were sent back by an earlier round.
			if done := without(t.msgs, msgs); len(done) > 0 && !pq.dropped() {
				if off, ok := pq.remove(done); ok {
					b.offsets.update(pq.mq, off, true)
				}
			}
			return
		}
		if res == ConsumeSuccess || pq.ctx.Err() != nil {
			break
		}
		if b.cfg.model == Broadcasting {
			b.log.Warn("consumer: broadcast messages failed and are dropped", "queue", pq.mq, "count", len(msgs))
			break
		}
		var failed []*message.MessageExt
		for _, m := range msgs {
			if err := p.sendBack(pq.ctx, pq.mq, m, 0); err != nil {
				b.log.Warn("consumer: send back failed; consuming again locally", "queue", pq.mq, "offset", m.QueueOffset, "err", err)
				m.ReconsumeTimes++
				failed = append(failed, m)
			}
		}
		if len(failed) == 0 || !b.sleep(pq.ctx, b.cfg.pullRetryDelay) {
			break
		}
		msgs = failed
	}
	if pq.dropped() {
		return
	}
	if off, ok := pq.remove(t.msgs); ok {
		b.offsets.update(pq.mq, off, true)
	}
}

// without returns the messages of all that are not in some.
func without(all, some []*message.MessageExt) []*message.MessageExt {
	var out []*message.MessageExt
	for _, m := range all {
		if !slices.Contains(some, m) {
			out = append(out, m)
		}
	}
	return out
}

// callConcurrently runs a concurrent handler; a panic is recovered, logged
// with its stack, reported, and counts as ConsumeRetryLater.
func (p *PushConsumer) callConcurrently(ctx context.Context, h Concurrently, mq message.MessageQueue, msgs []*message.MessageExt) (res ConsumeResult, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			p.logPanic(r, mq, msgs)
			res, panicked = ConsumeRetryLater, true
		}
	}()
	return h(ctx, msgs), false
}

// callOrderly runs an orderly handler; a panic is recovered, logged with its
// stack, reported, and counts as SuspendCurrentQueueAMoment.
func (p *PushConsumer) callOrderly(ctx context.Context, h Orderly, mq message.MessageQueue, msgs []*message.MessageExt) (res OrderlyResult, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			p.logPanic(r, mq, msgs)
			res, panicked = SuspendCurrentQueueAMoment, true
		}
	}()
	return h(ctx, msgs), false
}

func (p *PushConsumer) logPanic(r any, mq message.MessageQueue, msgs []*message.MessageExt) {
	p.b.log.Error("consumer: handler panicked; its messages will be consumed again later",
		"group", p.b.group, "queue", mq, "offset", msgs[0].QueueOffset, "count", len(msgs),
		"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
}

// expiryLoop is started by Start and stopped by Close (ctx): every
// ConsumeTimeout (at most every maxExpiryScan) it finds handler calls that
// have run longer than ConsumeTimeout and expires them (see expireQueue).
func (p *PushConsumer) expiryLoop(ctx context.Context) {
	b := p.b
	t := b.cfg.clk.NewTicker(min(b.cfg.consumeTimeout, maxExpiryScan))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		for _, mq := range b.heldQueues() {
			if pq, ok := b.queue(mq); ok && !pq.dropped() {
				p.expireQueue(pq)
			}
		}
	}
}

// expireQueue handles the calls of pq that ran past ConsumeTimeout. A
// concurrent call's context is cancelled and its messages are sent back
// (delay level 3, as RocketMQ's cleanExpiredMsg) and removed from the queue,
// so the queue's offset moves on; messages whose send-back fails stay and
// are tried again at the next scan. An orderly call only has its context
// cancelled: its queue must wait for it to keep the order.
func (p *PushConsumer) expireQueue(pq *processQueue) {
	b := p.b
	for _, c := range pq.expire(b.cfg.clk.Now(), b.cfg.consumeTimeout, !b.orderly) {
		if b.orderly {
			b.log.Error("consumer: orderly handler call exceeded ConsumeTimeout; its context is cancelled and its queue waits for it",
				"group", b.group, "queue", pq.mq, "offset", c.msgs[0].QueueOffset, "timeout", b.cfg.consumeTimeout)
			continue
		}
		if b.cfg.model == Broadcasting {
			// Nothing to send back to: drop them, as a failed broadcast
			// batch is dropped.
			b.log.Warn("consumer: broadcast handler call exceeded ConsumeTimeout; its messages are dropped",
				"group", b.group, "queue", pq.mq, "offset", c.msgs[0].QueueOffset, "count", len(c.msgs), "timeout", b.cfg.consumeTimeout)
			if off, ok := pq.remove(c.msgs); ok && !pq.dropped() {
				b.offsets.update(pq.mq, off, true)
			}
			pq.settle(c, nil)
			continue
		}
		var left, sent []*message.MessageExt
		for _, m := range c.msgs {
			if err := p.sendBack(pq.ctx, pq.mq, m, 3); err != nil {
				if pq.ctx.Err() != nil {
					return
				}
				b.log.Warn("consumer: send back of an expired message failed; will retry", "queue", pq.mq, "offset", m.QueueOffset, "err", err)
				left = append(left, m)
				continue
			}
			b.log.Warn("consumer: handler call exceeded ConsumeTimeout; message sent back for retry",
				"group", b.group, "queue", pq.mq, "offset", m.QueueOffset, "msgId", m.MsgID(), "timeout", b.cfg.consumeTimeout)
			sent = append(sent, m)
		}
		if len(sent) > 0 && !pq.dropped() {
			if off, ok := pq.remove(sent); ok {
				b.offsets.update(pq.mq, off, true)
			}
		}
		pq.settle(c, left)
	}
}

// orderlyLoop is a queue's orderly runner, started by runQueue and stopped
// when the queue is dropped or the consumer closes (pq.ctx): it runs the
// handler on the queue's messages in order, one batch at a time, while the
// broker lock is valid.
func (p *PushConsumer) orderlyLoop(pq *processQueue) {
	b := p.b
	ctx := pq.ctx
	for {
		msgs := pq.head(b.cfg.consumeBatchSize)
		if len(msgs) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-pq.wake:
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if b.cfg.model == Clustering && !pq.lockValid(b.cfg.clk.Now()) {
			if !b.sleep(ctx, min(b.cfg.pullRetryDelay, b.cfg.lockInterval)) {
				return
			}
			continue
		}
		h, _ := p.handlerFor(b.cli.Wrap(msgs[0].Topic)).(Orderly)
		res, panicked := SuspendCurrentQueueAMoment, false
		tc := b.traceBefore(msgs)
		call, cctx := pq.begin(msgs, b.cfg.clk.Now())
		if h != nil {
			res, panicked = p.callOrderly(cctx, h, pq.mq, msgs)
		}
		expired := pq.end(call)
		b.traceAfter(tc, traceCode(res == OrderlySuccess, panicked, expired))
		if res == OrderlySuccess {
			if off, ok := pq.remove(msgs); ok {
				b.offsets.update(pq.mq, off, true)
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		var dead []*message.MessageExt
		for _, m := range msgs {
			if b.cfg.maxReconsumeTimes >= 0 && int(m.ReconsumeTimes) >= b.cfg.maxReconsumeTimes {
				if b.cfg.model == Broadcasting || p.sendBack(ctx, pq.mq, m, -1) == nil {
					dead = append(dead, m)
				}
				continue
			}
			m.ReconsumeTimes++
		}
		if len(dead) > 0 {
			if off, ok := pq.remove(dead); ok {
				b.offsets.update(pq.mq, off, true)
			}
		}
		if !b.sleep(ctx, b.cfg.orderlySuspend) {
			return
		}
	}
}

// sendBack returns a failed message to the broker (CONSUMER_SEND_MSG_BACK),
// and falls back to sending a copy to %RETRY%<group> when that fails.
// delayLevel 0 lets the broker pick (3 + reconsume times); -1 sends the
// message to the dead-letter queue.
func (p *PushConsumer) sendBack(ctx context.Context, mq message.MessageQueue, m *message.MessageExt, delayLevel int) error {
	b := p.b
	ctx, cancel := context.WithTimeout(ctx, b.cli.CallTimeout())
	defer cancel()
	origin := b.cli.Wrap(m.Topic)
	maxTimes := b.cfg.maxReconsumeTimes
	if maxTimes < 0 {
		maxTimes = DefaultMaxReconsumeTimes
	}
	err := func() error {
		addr, err := b.ops.masterAddr(ctx, mq)
		if err != nil {
			return err
		}
		_, err = b.cli.Call(ctx, addr, header.NewRequest(protocol.ConsumerSendMsgBack, &header.ConsumerSendMsgBack{
			Group:             b.group,
			Offset:            int64(m.PhysOffset),
			DelayLevel:        int32(delayLevel),
			OriginMsgID:       m.MsgID(),
			OriginTopic:       origin,
			MaxReconsumeTimes: header.Some(int32(maxTimes)),
			BrokerName:        mq.BrokerName,
		}))
		b.ops.failed(mq, err)
		return err
	}()
	if err == nil {
		return nil
	}
	if ferr := p.sendToRetryTopic(ctx, m, origin, maxTimes, delayLevel); ferr != nil {
		return errors.Join(err, ferr)
	}
	return nil
}

// innerProducerGroup is the producer group of fallback retry sends.
const innerProducerGroup = "CLIENT_INNER_PRODUCER"

func (p *PushConsumer) sendToRetryTopic(ctx context.Context, m *message.MessageExt, origin string, maxTimes, delayLevel int) error {
	b := p.b
	topic := client.RetryGroupTopicPrefix + b.group
	r, err := b.cli.Route(ctx, topic)
	if err != nil {
		return err
	}
	qs := r.PublishQueues()
	if len(qs) == 0 {
		return fmt.Errorf("consumer: no writable queue of %s", topic)
	}
	q := qs[rand.IntN(len(qs))]
	addr, ok := r.MasterAddr(q.BrokerName)
	if !ok {
		return fmt.Errorf("consumer: no master address for broker %q", q.BrokerName)
	}
	props := maps.Clone(m.Properties)
	if props == nil {
		props = map[string]string{}
	}
	if props[message.PropertyOriginMessageID] == "" {
		props[message.PropertyOriginMessageID] = m.MsgID()
	}
	props[message.PropertyRetryTopic] = origin
	delete(props, message.PropertyTransactionPrepared)
	if delayLevel >= 0 {
		props[message.PropertyDelayTimeLevel] = strconv.Itoa(3 + int(m.ReconsumeTimes))
	}
	reconsume := int(m.ReconsumeTimes) + 1
	if delayLevel < 0 {
		reconsume = maxTimes // the broker's retry rule sends it to the DLQ
	}
	propStr, err := message.AppendProperties(nil, props)
	if err != nil {
		return err
	}
	req := header.NewRequest(protocol.SendMessage, &header.SendMessage{
		ProducerGroup:         innerProducerGroup,
		Topic:                 topic,
		DefaultTopic:          client.AutoCreateTopicKey,
		DefaultTopicQueueNums: 4,
		QueueID:               q.QueueID,
		BornTimestamp:         b.cfg.clk.Now().UnixMilli(),
		Flag:                  m.Flag,
		Properties:            string(propStr),
		ReconsumeTimes:        int32(reconsume),
		MaxReconsumeTimes:     header.Some(int32(maxTimes)),
		BrokerName:            q.BrokerName,
	})
	req.Body = m.Body
	_, err = b.cli.Call(ctx, addr, req)
	if client.SuggestsStaleRoute(err) {
		b.cli.MarkRouteStale(topic)
	}
	return err
}

// consumeDirectlyResult is the CONSUME_MESSAGE_DIRECTLY answer body.
type consumeDirectlyResult struct {
	Order          bool   `json:"order"`
	AutoCommit     bool   `json:"autoCommit"`
	ConsumeResult  string `json:"consumeResult"`
	Remark         string `json:"remark"`
	SpentTimeMills int64  `json:"spentTimeMills"`
}

// handleConsumeDirectly answers CONSUME_MESSAGE_DIRECTLY (309): it runs the
// handler once on the message in the body, outside any queue, and reports the
// result (Java's enum names: CR_SUCCESS, CR_LATER).
func (p *PushConsumer) handleConsumeDirectly(ctx context.Context, req *client.ServerRequest) *protocol.Command {
	var hd header.ConsumeMessageDirectly
	if err := hd.Decode(req.Cmd); err != nil {
		return protocol.NewResponse(req.Cmd, protocol.SystemError, err.Error())
	}
	if hd.ConsumerGroup != p.b.group {
		return protocol.NewResponse(req.Cmd, protocol.SystemError, "consumer group not found: "+hd.ConsumerGroup)
	}
	msgs, err := message.DecodeMessages(req.Cmd.Body)
	if err != nil || len(msgs) == 0 {
		return protocol.NewResponse(req.Cmd, protocol.SystemError, fmt.Sprintf("consumer: no message in body: %v", err))
	}
	for _, m := range msgs {
		p.b.cli.DecompressBody(m)
	}
	msgs = p.prepare(nil, msgs)
	start := p.b.cfg.clk.Now()
	out := consumeDirectlyResult{AutoCommit: true, ConsumeResult: "CR_SUCCESS"}
	mq := message.MessageQueue{Topic: msgs[0].Topic, BrokerName: hd.BrokerName, QueueID: msgs[0].QueueID}
	panicked := func() {
		if r := recover(); r != nil {
			p.logPanic(r, mq, msgs)
			out.ConsumeResult = "CR_THROW_EXCEPTION"
		}
	}
	switch h := p.handlerFor(p.b.cli.Wrap(msgs[0].Topic)).(type) {
	case Concurrently:
		func() {
			defer panicked()
			if h(ctx, msgs) != ConsumeSuccess {
				out.ConsumeResult = "CR_LATER"
			}
		}()
	case Orderly:
		out.Order = true
		func() {
			defer panicked()
			if h(ctx, msgs) != OrderlySuccess {
				out.ConsumeResult = "CR_LATER"
			}
		}()
	default:
		out.ConsumeResult = "CR_RETURN_NULL"
	}
	out.SpentTimeMills = p.b.cfg.clk.Now().Sub(start).Milliseconds()
	resp := protocol.NewResponse(req.Cmd, protocol.Success, "")
	resp.Body, _ = json.Marshal(out)
	return resp
}

var _ = time.Second
