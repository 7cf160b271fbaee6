package producer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/header"
)

// Errors of the producer. Broker refusals are *protocol.Error values (match
// them with errors.Is(err, protocol.ErrXxx)).
var (
	// ErrClosed is returned by every call after Close.
	ErrClosed = client.ErrClosed
	// ErrNotStarted is returned by sends before Start.
	ErrNotStarted = client.ErrNotStarted
	// ErrBadMessage is matched by every error about a message the producer
	// refuses before sending it.
	ErrBadMessage = errors.New("producer: bad message")
	// ErrNoBroker is returned when a queue's broker has no master address.
	ErrNoBroker = errors.New("producer: no master address for broker")
)

// topicChar marks the bytes a topic may hold: [%|a-zA-Z0-9_-] (RocketMQ's
// topic pattern), checked by a table rather than a regexp per send.
var topicChar = func() (t [256]bool) {
	for _, c := range []byte("%|_-") {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	return t
}()

func validTopicChars(topic string) bool {
	for i := 0; i < len(topic); i++ {
		if !topicChar[topic[i]] {
			return false
		}
	}
	return true
}

// Producer sends messages to the brokers of a RocketMQ cluster.
//
// New builds it without I/O; Start starts its client (route refresh and
// heartbeat loops); Close stops it. Sends are safe for concurrent use. Each
// Producer owns one client.Client and therefore its own connections.
type Producer struct {
	cfg    config
	core   *client.Client
	group  string // wire name
	faults *faultTable
	async  chan struct{} // SendAsync in-flight slots

	unregister func()

	replies struct {
		sync.Mutex
		pending map[string]chan *message.MessageExt
	}
}

// New validates the options and returns a producer. It does no I/O. Options
// are client.SharedOption values (client.NameServers, ...) and this package's
// options. A TransactionListener is accepted only by NewTransactional.
func New(opts ...client.ProducerOption) (*Producer, error) {
	p, err := newProducer(opts)
	if err != nil {
		return nil, err
	}
	if p.cfg.tx != nil {
		_ = p.core.Close()
		return nil, errors.New("producer: TransactionListener needs NewTransactional")
	}
	return p, nil
}

func newProducer(opts []client.ProducerOption) (*Producer, error) {
	cfg := defaultConfig()
	copts := make([]client.Option, 0, len(opts))
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("producer: nil option")
		}
		if po, ok := o.(producerOption); ok {
			po.applyProducer(&cfg)
		}
		copts = append(copts, o)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	core, err := client.New(copts...)
	if err != nil {
		return nil, err
	}
	p := &Producer{
		cfg:    cfg,
		core:   core,
		group:  core.Wrap(cfg.group),
		faults: newFaultTable(cfg.latencySteps, cfg.failureAvoidance),
		async:  make(chan struct{}, cfg.maxAsyncInflight),
	}
	p.replies.pending = map[string]chan *message.MessageExt{}
	core.Handle(protocol.PushReplyMessageToClient, p.handleReply)
	return p, nil
}

// Client returns the producer's SDK core (for its id, routes and hooks).
func (p *Producer) Client() *client.Client { return p.core }

// Group returns the producer group as sent on the wire.
func (p *Producer) Group() string { return p.group }

// Start registers the producer group for heartbeats and starts the client.
// Errors: client.ErrAlreadyStarted, ErrClosed.
func (p *Producer) Start(ctx context.Context) error {
	if err := p.core.Start(ctx); err != nil {
		return err
	}
	un, err := p.core.RegisterProducer(p.group)
	if err != nil {
		_ = p.core.Close()
		return err
	}
	p.unregister = un
	return nil
}

// Close stops the producer: sends in flight fail, callbacks of SendAsync are
// all called, and every goroutine is gone when it returns. Idempotent; safe
// before Start.
func (p *Producer) Close() error { return p.core.Close() }

func (p *Producer) checkRunning() error {
	if p.core.Closed() {
		return ErrClosed
	}
	if !p.core.Started() {
		return ErrNotStarted
	}
	return nil
}

// outMsg is a message ready for the wire.
type outMsg struct {
	topic   string // wire name
	flag    int32
	propStr string
	body    []byte
	sysFlag message.SysFlag
	ids     []string // UNIQ_KEYs
	count   int
	batch   bool
	reply   bool
	src     *message.Message   // the caller's message (selectors read it)
	all     []*message.Message // a batch's messages (for trace records)
}

func badMessage(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadMessage, fmt.Sprintf(format, args...))
}

func (p *Producer) checkTopic(topic string) error {
	switch {
	case topic == "":
		return badMessage("empty topic")
	case len(topic) > message.MaxTopicLength:
		return badMessage("topic %q is longer than %d characters", topic, message.MaxTopicLength)
	case !validTopicChars(topic):
		return badMessage("topic %q has characters outside [%%|a-zA-Z0-9_-]", topic)
	}
	return nil
}

// prepare validates msg and builds its wire form: namespace, UNIQ_KEY,
// compression, property string. msg itself is not modified.
func (p *Producer) prepare(msg *message.Message) (*outMsg, error) {
	if msg == nil {
		return nil, badMessage("nil message")
	}
	o := &outMsg{topic: p.core.Wrap(msg.Topic), flag: msg.Flag, body: msg.Body, count: 1, src: msg}
	if err := p.checkTopic(o.topic); err != nil {
		return nil, err
	}
	if len(msg.Body) == 0 {
		return nil, badMessage("empty body")
	}
	if len(msg.Body) > p.cfg.maxMessageSize {
		return nil, badMessage("body of %d bytes exceeds MaxMessageSize %d", len(msg.Body), p.cfg.maxMessageSize)
	}
	id := msg.Properties[message.PropertyUniqKey]
	if id == "" {
		id = p.core.NewUniqID()
	}
	o.ids = []string{id}
	if p.cfg.compressOver > 0 && len(o.body) >= p.cfg.compressOver {
		alg := p.cfg.compressType
		if z, err := client.CompressWith(alg, o.body, p.cfg.compressLevel); err == nil && len(z) < len(o.body) {
			o.body = z
			o.sysFlag |= alg.SysFlag()
		}
	}
	if strings.EqualFold(msg.Properties[message.PropertyTransactionPrepared], "true") {
		o.sysFlag = o.sysFlag.WithTransactionType(message.SysFlagTransactionPreparedType)
	}
	return o, p.encodeProps(o, msg.Properties, id)
}

// encodeProps sets o.propStr to props plus UNIQ_KEY=id when props lack it,
// in map order (no copy of the map, no sort: decoders ignore the order).
func (p *Producer) encodeProps(o *outMsg, props map[string]string, id string) error {
	var buf [256]byte
	b, err := message.AppendPropertiesUnsorted(buf[:0], props)
	if err == nil && props[message.PropertyUniqKey] == "" {
		b, err = message.AppendProperty(b, 0, message.PropertyUniqKey, id)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	o.propStr = string(b)
	return nil
}

// prepareBatch validates msgs and builds one batch body.
func (p *Producer) prepareBatch(msgs []*message.Message) (*outMsg, error) {
	if len(msgs) == 0 {
		return nil, badMessage("empty batch")
	}
	topic := msgs[0].Topic
	o := &outMsg{topic: p.core.Wrap(topic), batch: true, count: len(msgs), src: msgs[0], all: msgs}
	if err := p.checkTopic(o.topic); err != nil {
		return nil, err
	}
	if strings.HasPrefix(o.topic, client.RetryGroupTopicPrefix) {
		return nil, badMessage("batches to retry topics are not allowed")
	}
	inner := make([]*message.Message, len(msgs))
	for i, m := range msgs {
		switch {
		case m == nil:
			return nil, badMessage("nil message at %d", i)
		case m.Topic != topic:
			return nil, badMessage("batch mixes topics %q and %q", topic, m.Topic)
		case len(m.Body) == 0:
			return nil, badMessage("empty body at %d", i)
		case m.Property(message.PropertyDelayTimeLevel) != "" && m.Property(message.PropertyDelayTimeLevel) != "0":
			return nil, badMessage("delayed messages cannot be batched")
		case strings.EqualFold(m.Property(message.PropertyTransactionPrepared), "true"):
			return nil, badMessage("transactional messages cannot be batched")
		}
		props := maps.Clone(m.Properties)
		if props == nil {
			props = map[string]string{}
		}
		id := props[message.PropertyUniqKey]
		if id == "" {
			id = p.core.NewUniqID()
			props[message.PropertyUniqKey] = id
		}
		o.ids = append(o.ids, id)
		inner[i] = &message.Message{Flag: m.Flag, Body: m.Body, Properties: props}
	}
	b, err := message.AppendBatch(nil, inner)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	if len(b) > p.cfg.maxMessageSize {
		return nil, badMessage("batch body of %d bytes exceeds MaxMessageSize %d", len(b), p.cfg.maxMessageSize)
	}
	o.body = b
	return o, nil
}

// request builds the send command for o to queue mq.
func (p *Producer) request(o *outMsg, mq message.MessageQueue) *protocol.Command {
	code := protocol.SendMessageV2
	switch {
	case o.batch:
		code = protocol.SendBatchMessage
	case o.reply && p.cfg.longHeaders:
		code = protocol.SendReplyMessage
	case o.reply:
		code = protocol.SendReplyMessageV2
	case p.cfg.longHeaders:
		code = protocol.SendMessage
	}
	req := header.NewRequest(code, &header.SendMessage{
		ProducerGroup:         p.group,
		Topic:                 o.topic,
		DefaultTopic:          p.cfg.createTopicKey,
		DefaultTopicQueueNums: p.cfg.topicQueueNums,
		QueueID:               mq.QueueID,
		SysFlag:               int32(o.sysFlag),
		BornTimestamp:         p.core.Now().UnixMilli(),
		Flag:                  o.flag,
		Properties:            o.propStr,
		Batch:                 o.batch,
		BrokerName:            mq.BrokerName,
	})
	req.Body = o.body
	return req
}

// result turns a send response into a SendResult or an error.
func (p *Producer) result(resp *protocol.Command, mq message.MessageQueue, o *outMsg) (*SendResult, error) {
	r := &SendResult{Queue: mq, MsgID: strings.Join(o.ids, ",")}
	switch resp.ResponseCode() {
	case protocol.Success:
		r.Status = SendOK
	case protocol.FlushDiskTimeout:
		r.Status = SendFlushDiskTimeout
	case protocol.FlushSlaveTimeout:
		r.Status = SendFlushSlaveTimeout
	case protocol.SlaveNotAvailable:
		r.Status = SendSlaveNotAvailable
	default:
		return nil, protocol.ResponseError(resp)
	}
	var h header.SendMessageResponse
	if err := h.Decode(resp); err != nil {
		return nil, fmt.Errorf("producer: send answer from %s: %w", mq.BrokerName, err)
	}
	r.OffsetMsgID = h.MsgID
	r.Queue.QueueID = h.QueueID
	r.QueueOffset = message.QueueOffset(h.QueueOffset)
	r.TransactionID = h.TransactionID
	r.RegionID = h.Region
	if r.RegionID == "" {
		r.RegionID = "DefaultRegion"
	}
	r.TraceOn = h.TraceOn
	return r, nil
}

// retriableCodes are the broker answers after which a send moves to another
// broker.
var retriableCodes = map[protocol.ResponseCode]bool{
	protocol.SystemError:         true,
	protocol.ServiceNotAvailable: true,
	protocol.NoPermission:        true,
	protocol.TopicNotExist:       true,
}

// busy reports whether err is a SYSTEM_BUSY answer: the broker is overloaded
// (a full queue, too many requests in flight on the connection) and did not
// store the message, so it may be sent again after a backoff.
func busy(err error) bool {
	var pe *protocol.Error
	return errors.As(err, &pe) && pe.Code == protocol.SystemBusy
}

// errAttemptTimedOut: an Idempotent send's attempt got no answer within
// AttemptTimeout; it is retried on the same broker.
var errAttemptTimedOut = errors.New("producer: no answer within AttemptTimeout")

// attemptCtx bounds one attempt: by AttemptTimeout for Idempotent sends, else
// by ctx alone.
func (p *Producer) attemptCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if !p.cfg.idempotent {
		return ctx, func() {}
	}
	d := p.cfg.attemptTimeout
	if d <= 0 {
		d = p.cfg.sendTimeout / time.Duration(p.cfg.retries+1)
	}
	return context.WithTimeout(ctx, d)
}

// attemptErr marks an attempt that ran out of its own time (not the send's)
// as errAttemptTimedOut.
func attemptErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", errAttemptTimedOut, err)
	}
	return err
}

// retriable reports whether a failed attempt may be tried again elsewhere:
// transport errors and the codes in retriableCodes, not a closed producer,
// a message refused before sending, or an ended context.
func retriable(err error) bool {
	var pe *protocol.Error
	switch {
	case errors.As(err, &pe):
		return retriableCodes[pe.Code] || pe.Code == protocol.SystemBusy
	case errors.Is(err, errAttemptTimedOut):
		return true
	case errors.Is(err, client.ErrClosed), errors.Is(err, ErrBadMessage),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, ErrNoQueue):
		return false
	}
	return true
}

// routeFor returns the route to send to, borrowing the auto-create topic's
// route when the topic has none (RocketMQ's TBW102 rule); borrowed reports
// that. A cached route without a writable queue (its brokers between
// masters, say) is refreshed first, rate-limited (Client.RefreshStaleRoute).
func (p *Producer) routeFor(ctx context.Context, topic string) (r *client.Route, borrowed bool, err error) {
	r, err = p.writableRoute(ctx, topic)
	if err == nil && len(r.PublishQueues()) > 0 {
		return r, false, nil
	}
	if p.cfg.autoCreate && (err == nil || errors.Is(err, protocol.ErrTopicNotExist)) {
		if nr, ok := p.borrowRoute(ctx, topic, false); ok {
			return nr, true, nil
		}
	}
	if err != nil {
		return nil, false, fmt.Errorf("producer: route of %q: %w", topic, err)
	}
	return nil, false, fmt.Errorf("%w: topic %q", ErrNoQueue, topic)
}

// writableRoute returns topic's cached route, or fetches it; when the route
// has no writable queue it is refreshed (rate-limited) in case it is stale.
func (p *Producer) writableRoute(ctx context.Context, topic string) (*client.Route, error) {
	r, err := p.core.Route(ctx, topic)
	if err != nil || len(r.PublishQueues()) > 0 {
		return r, err
	}
	if fr, ferr := p.core.RefreshStaleRoute(ctx, topic); ferr == nil {
		return fr, nil
	}
	return r, nil
}

// borrowRoute derives topic's route from the auto-create topic's and caches
// it (until the name servers know the topic). With stale the auto-create
// topic's route is refreshed first (rate-limited).
func (p *Producer) borrowRoute(ctx context.Context, topic string, stale bool) (*client.Route, bool) {
	var def *client.Route
	var err error
	if stale {
		def, err = p.core.RefreshStaleRoute(ctx, p.cfg.createTopicKey)
	} else {
		def, err = p.writableRoute(ctx, p.cfg.createTopicKey)
	}
	if err != nil || len(def.PublishQueues()) == 0 {
		return nil, false
	}
	nr := def.WithTopic(topic, p.cfg.topicQueueNums)
	p.core.StoreRoute(topic, nr)
	p.core.Logger().Debug("producer: topic has no route; sending through the auto-create topic", "topic", topic, "key", p.cfg.createTopicKey)
	return nr, true
}

// staleRoute reports whether a failed attempt suggests that the route it
// used is out of date: client.SuggestsStaleRoute, or a queue whose broker had
// no master address in the route.
func staleRoute(err error) bool {
	return errors.Is(err, ErrNoBroker) || client.SuggestsStaleRoute(err)
}

// refreshAfter follows up an attempt of a that failed with err: when err
// suggests a stale route, the topic's route is refreshed (shared with other
// sends and rate-limited per topic, see client.RefreshStaleRoute). With
// retry, the next attempt follows: refreshAfter waits for the refresh and
// the attempt uses the refreshed route. Otherwise the refresh runs in the
// background for the sends that come next.
func (p *Producer) refreshAfter(ctx context.Context, a *attempt, err error, retry bool) {
	if !staleRoute(err) {
		return
	}
	if !retry {
		p.core.MarkRouteStale(a.o.topic)
		if a.borrowed {
			p.core.MarkRouteStale(p.cfg.createTopicKey)
		}
		return
	}
	r, rerr := p.core.RefreshStaleRoute(ctx, a.o.topic)
	switch {
	case rerr == nil && (len(r.PublishQueues()) > 0 || !a.borrowed):
		// Even without a writable queue (a broker set between masters):
		// the next attempt fails fast rather than dial a dead address.
		a.route, a.borrowed = r, false
	case a.borrowed && (rerr == nil || errors.Is(rerr, protocol.ErrTopicNotExist)):
		if nr, ok := p.borrowRoute(ctx, a.o.topic, true); ok {
			a.route = nr
		}
	}
}

// attempt is the state of one send across its attempts.
type attempt struct {
	o     *outMsg
	route *client.Route
	// borrowed: route is the auto-create topic's (the topic has none yet).
	borrowed bool
	selector QueueSelector
	tolerant bool
	max      int // attempts allowed
	busyMax  int // attempts allowed when the last answer was SYSTEM_BUSY
	n        int // attempts made
	busies   int // SYSTEM_BUSY answers so far
	last     string
	lastErr  error
	// pinned is the broker of an Idempotent send's first attempt: its
	// retries go there too (the de-duplication window is per broker).
	pinned string
	// stored is the last answer that stored the message without SendOK,
	// kept while RetryAnotherBrokerWhenNotStoreOK tries other brokers: it is
	// the result if no later attempt does better.
	stored *SendResult
}

func (p *Producer) newAttempt(ctx context.Context, o *outMsg, opts []SendOption) (*attempt, error) {
	so := sendOptions{selector: p.cfg.selector}
	for _, f := range opts {
		f(&so)
	}
	route, borrowed, err := p.routeFor(ctx, o.topic)
	if err != nil {
		return nil, err
	}
	a := &attempt{o: o, route: route, borrowed: borrowed, selector: so.selector, max: 1, busyMax: 1 + p.cfg.retries}
	if ft, ok := so.selector.(FaultTolerant); ok && ft.AvoidsFaults() {
		a.tolerant = true
		a.max = 1 + p.cfg.retries
	}
	return a, nil
}

// pick chooses the queue and address of the next attempt.
func (p *Producer) pick(a *attempt) (message.MessageQueue, string, error) {
	queues := a.route.PublishQueues()
	last := a.last
	if a.pinned != "" {
		queues = slices.DeleteFunc(slices.Clone(queues), func(q message.MessageQueue) bool { return q.BrokerName != a.pinned })
		last = ""
	} else if a.tolerant && p.cfg.faultTolerance {
		queues = p.faults.filter(queues, p.core.Now(), func(name string) string {
			addr, _ := a.route.MasterAddr(name)
			return addr
		})
	}
	if len(queues) == 0 {
		return message.MessageQueue{}, "", fmt.Errorf("%w: topic %q", ErrNoQueue, a.o.topic)
	}
	mq, err := a.selector.Select(a.o.src, queues, last)
	if err != nil {
		return message.MessageQueue{}, "", err
	}
	if p.cfg.idempotent {
		a.pinned = mq.BrokerName
	}
	mq.Topic = a.o.topic
	addr, ok := a.route.MasterAddr(mq.BrokerName)
	if !ok {
		return mq, "", fmt.Errorf("%w %q", ErrNoBroker, mq.BrokerName)
	}
	return mq, addr, nil
}

// done records an attempt's outcome in the fault table and the hooks.
func (p *Producer) done(a *attempt, mq message.MessageQueue, addr string, start time.Time, err error) {
	lat := p.core.Now().Sub(start)
	if p.cfg.faultTolerance && mq.BrokerName != "" {
		p.faults.update(mq.BrokerName, addr, lat, err != nil && retriable(err), p.core.Now())
	}
	ev := client.SendEvent{Topic: a.o.topic, Queue: mq, Addr: addr, Attempt: a.n, Messages: a.o.count, Bytes: len(a.o.body), Latency: lat, Err: err}
	client.EachHook(p.core, func(h client.HookSendDone) { h.OnSendDone(ev) })
	a.n++
	if err != nil {
		a.lastErr = err
		a.last = mq.BrokerName
		if busy(err) {
			a.busies++
		}
	}
}

// backoff returns the wait before the next attempt: none unless the last
// answer was SYSTEM_BUSY, then BusyBackoff's first wait doubled for each
// earlier busy answer, capped, and drawn between half and all of that.
func (p *Producer) backoff(a *attempt) time.Duration {
	if a.busies == 0 || !busy(a.lastErr) {
		return 0
	}
	d := p.cfg.busyBackoff
	for i := 1; i < a.busies && d < p.cfg.maxBusyBackoff; i++ {
		d *= 2
	}
	d = min(d, p.cfg.maxBusyBackoff)
	return d/2 + rand.N(d/2+1)
}

// waitBackoff waits d on the caller's goroutine; it reports false when ctx
// ends first or d would pass ctx's deadline (the send then fails with its
// last error).
func (p *Producer) waitBackoff(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	if dl, ok := ctx.Deadline(); ok && p.core.Now().Add(d).After(dl) {
		return false
	}
	t := p.core.Clock().NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
		return false
	}
}

// retryNotStored reports whether to send again after an answer res that
// stored the message with a status other than SendOK: only with
// RetryAnotherBrokerWhenNotStoreOK and attempts left (RocketMQ's rule). It
// keeps res as the fallback result and avoids its broker next.
func (p *Producer) retryNotStored(ctx context.Context, a *attempt, mq message.MessageQueue, res *SendResult) bool {
	if res.Status == SendOK || !p.cfg.retryNotStoreOK {
		return false
	}
	a.stored = res
	a.last = mq.BrokerName
	return a.n < a.max && ctx.Err() == nil
}

// failed is the outcome once no attempt is left after an error: an earlier
// stored-but-not-OK result if there is one, else the error.
func (a *attempt) failed() (*SendResult, error) {
	if a.stored != nil {
		return a.stored, nil
	}
	return nil, a.fail()
}

func (a *attempt) again(ctx context.Context, err error) bool {
	if busy(err) {
		return a.n < max(a.max, a.busyMax) && ctx.Err() == nil
	}
	return a.n < a.max && ctx.Err() == nil && retriable(err)
}

func (a *attempt) fail() error {
	if a.n > 1 {
		return fmt.Errorf("producer: send to %q failed after %d attempts: %w", a.o.topic, a.n, a.lastErr)
	}
	return fmt.Errorf("producer: send to %q: %w", a.o.topic, a.lastErr)
}

func (p *Producer) sendSync(ctx context.Context, o *outMsg, opts []SendOption) (*SendResult, error) {
	begin := p.core.Now()
	res, err := p.sendAttempts(ctx, o, opts)
	p.tracePub(o, begin, res)
	return res, err
}

func (p *Producer) sendAttempts(ctx context.Context, o *outMsg, opts []SendOption) (*SendResult, error) {
	a, err := p.newAttempt(ctx, o, opts)
	if err != nil {
		return nil, err
	}
	for {
		start := p.core.Now()
		mq, addr, err := p.pick(a)
		var res *SendResult
		if err == nil {
			var resp *protocol.Command
			actx, cancel := p.attemptCtx(ctx)
			resp, err = p.core.Invoke(actx, addr, p.request(o, mq))
			cancel()
			err = attemptErr(ctx, err)
			if err == nil {
				res, err = p.result(resp, mq, o)
			}
		}
		p.done(a, mq, addr, start, err)
		if err == nil {
			if p.retryNotStored(ctx, a, mq, res) {
				continue
			}
			return res, nil
		}
		again := a.again(ctx, err)
		p.refreshAfter(ctx, a, err, again)
		if !again || !p.waitBackoff(ctx, p.backoff(a)) {
			return a.failed()
		}
	}
}

func (p *Producer) sendCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, p.cfg.sendTimeout)
}

// Send sends msg and waits until the broker stored it. It retries on another
// broker (Retries, default 2) for transport errors and retriable codes, all
// within SendTimeout (default 3s) or ctx's deadline, whichever comes first.
// msg is not modified; the UNIQ_KEY it gets is SendResult.MsgID. A broker
// answer that the message is stored but its flush or replication did not
// confirm in time is a result (SendResult.Status), not an error, and is not
// sent again unless RetryAnotherBrokerWhenNotStoreOK is on. Errors:
// ErrBadMessage (refused before sending), *protocol.Error from the broker,
// transport or context errors, ErrNotStarted, ErrClosed.
func (p *Producer) Send(ctx context.Context, msg *message.Message, opts ...SendOption) (*SendResult, error) {
	if err := p.checkRunning(); err != nil {
		return nil, err
	}
	o, err := p.prepare(msg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := p.sendCtx(ctx)
	defer cancel()
	return p.sendSync(ctx, o, opts)
}

// SendBatch sends msgs, which must all have the same topic, as one
// SEND_BATCH_MESSAGE: the broker stores them in one queue with consecutive
// offsets. Every message gets a UNIQ_KEY; bodies are not compressed; the
// encoded batch must fit MaxMessageSize. Delayed, transactional and retry-topic
// messages cannot be batched. Retries and errors are as for Send.
func (p *Producer) SendBatch(ctx context.Context, msgs ...*message.Message) (*SendResult, error) {
	if err := p.checkRunning(); err != nil {
		return nil, err
	}
	o, err := p.prepareBatch(msgs)
	if err != nil {
		return nil, err
	}
	ctx, cancel := p.sendCtx(ctx)
	defer cancel()
	return p.sendSync(ctx, o, nil)
}

// SendAsync sends msg without waiting for the answer; cb gets the result or the
// error exactly once. Finding the route (the first send to a topic) happens on
// the caller's goroutine; retries happen like Send's, within SendTimeout. cb
// runs on a goroutine the producer owns, or on the caller's when the send fails
// before reaching the network; it must not block for long. At most
// MaxAsyncInflight sends are outstanding: beyond that SendAsync blocks until one
// completes or ctx ends. Close fails outstanding sends and waits for their
// callbacks.
func (p *Producer) SendAsync(ctx context.Context, msg *message.Message, cb func(*SendResult, error), opts ...SendOption) {
	if cb == nil {
		cb = func(*SendResult, error) {}
	}
	if err := p.checkRunning(); err != nil {
		cb(nil, err)
		return
	}
	begin := p.core.Now()
	o, err := p.prepare(msg)
	if err != nil {
		cb(nil, err)
		return
	}
	select {
	case p.async <- struct{}{}:
	case <-ctx.Done():
		cb(nil, context.Cause(ctx))
		return
	}
	ctx, cancel := p.sendCtx(ctx)
	var once sync.Once
	finish := func(r *SendResult, err error) {
		once.Do(func() {
			cancel()
			<-p.async
			p.tracePub(o, begin, r)
			cb(r, err)
		})
	}
	a, err := p.newAttempt(ctx, o, opts)
	if err != nil {
		finish(nil, err)
		return
	}
	p.attemptAsync(ctx, a, finish)
}

func (p *Producer) attemptAsync(ctx context.Context, a *attempt, finish func(*SendResult, error)) {
	for {
		start := p.core.Now()
		mq, addr, err := p.pick(a)
		if err == nil {
			actx, cancel := p.attemptCtx(ctx)
			err = p.core.InvokeAsync(actx, addr, p.request(a.o, mq), func(resp *protocol.Command, err error) {
				cancel()
				err = attemptErr(ctx, err)
				var res *SendResult
				if err == nil {
					res, err = p.result(resp, mq, a.o)
				}
				p.done(a, mq, addr, start, err)
				switch {
				case err == nil && p.retryNotStored(ctx, a, mq, res):
					p.attemptAsync(ctx, a, finish)
				case err == nil:
					finish(res, nil)
				case a.again(ctx, err):
					p.refreshAfter(ctx, a, err, true)
					p.retryAsync(ctx, a, finish)
				default:
					p.refreshAfter(ctx, a, err, false)
					finish(a.failed())
				}
			})
			if err == nil {
				return
			}
			cancel()
		}
		p.done(a, mq, addr, start, err)
		again := a.again(ctx, err)
		p.refreshAfter(ctx, a, err, again)
		if !again {
			finish(a.failed())
			return
		}
	}
}

// retryAsync makes a's next attempt, at once or, after a SYSTEM_BUSY answer,
// once the backoff has passed: the wait runs on a goroutine the client owns
// (Close ends it and the send fails with ErrClosed), not on the one that
// delivered the answer.
func (p *Producer) retryAsync(ctx context.Context, a *attempt, finish func(*SendResult, error)) {
	d := p.backoff(a)
	if d <= 0 {
		p.attemptAsync(ctx, a, finish)
		return
	}
	if dl, ok := ctx.Deadline(); ok && p.core.Now().Add(d).After(dl) {
		finish(a.failed())
		return
	}
	started := p.core.Go("send-backoff", func(life context.Context) {
		t := p.core.Clock().NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C():
			p.attemptAsync(ctx, a, finish)
		case <-ctx.Done():
			finish(a.failed())
		case <-life.Done():
			finish(nil, ErrClosed)
		}
	})
	if !started {
		finish(nil, ErrClosed)
	}
}

// SendOneway sends msg without any answer from the broker (the request has the
// oneway bit set): it returns once the request is written to the connection's
// queue. Only transport errors are retried, on another broker.
func (p *Producer) SendOneway(ctx context.Context, msg *message.Message, opts ...SendOption) error {
	if err := p.checkRunning(); err != nil {
		return err
	}
	o, err := p.prepare(msg)
	if err != nil {
		return err
	}
	ctx, cancel := p.sendCtx(ctx)
	defer cancel()
	a, err := p.newAttempt(ctx, o, opts)
	if err != nil {
		return err
	}
	for {
		start := p.core.Now()
		mq, addr, err := p.pick(a)
		if err == nil {
			err = p.core.InvokeOneway(ctx, addr, p.request(o, mq))
		}
		p.done(a, mq, addr, start, err)
		if err == nil {
			return nil
		}
		var pe *protocol.Error
		again := !errors.As(err, &pe) && a.again(ctx, err)
		p.refreshAfter(ctx, a, err, again)
		if !again {
			return a.fail()
		}
	}
}
