package client

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/header"
	"github.com/petrelmq/petrel/pkg/trace"
)

// Trace defaults.
const (
	// TraceQueueSize is how many trace records wait to be sent at most; a
	// record made while the queue is full is dropped (see TraceDropped).
	TraceQueueSize = 2048
	// traceBatch is the most records one trace message gathers from the
	// queue (rocketmq-client-go's batchSize).
	traceBatch = 100
	// traceDropLogInterval is the least time between two logs of dropped
	// records.
	traceDropLogInterval = 10 * time.Second
)

// WithTrace turns message trace on: producers write a Pub record for each
// message a broker stored, push consumers a SubBefore and a SubAfter record
// around each handler call (lite pull consumers both for each pulled batch,
// as RocketMQ's do), transactional producers an EndTransaction record
// for each commit or rollback, all in RocketMQ's trace format (package
// trace), as the official clients' enableMsgTrace / WithTrace do. The
// records go to topic ("" for trace.DefaultTopic, RMQ_SYS_TRACE_TOPIC, which
// brokers create with traceTopicEnable=true; another topic must exist or be
// auto-created), keyed by message id and keys, where mqadmin
// queryMsgTraceById, `petrel admin queryMsgTraceById` and the console find
// them. The topic is used as given, without the namespace.
//
// Records are queued (at most TraceQueueSize) and sent in batches by a
// goroutine of the client, through the client's connections: tracing never
// blocks or fails a send or a consume. Records that find the queue full or
// whose trace message fails are dropped, counted by Client.TraceDropped and
// logged at Warn at most every 10s. Close sends the records still queued,
// within CallTimeout. Default: off.
func WithTrace(topic string) SharedOption {
	return opt(func(c *config) {
		if topic == "" {
			topic = trace.DefaultTopic
		}
		c.traceTopic = topic
	})
}

// tracer queues trace records and sends them to the trace topic. Its loop is
// started by Client.Start and stopped by Client.Close (stop), which waits
// for it to send what is queued.
type tracer struct {
	c       *Client
	topic   string
	queue   chan trace.Record
	dropped atomic.Int64
	rr      atomic.Uint32
	started atomic.Bool   // the loop runs (or ran)
	stop    chan struct{} // closed by shutdown
	done    chan struct{} // closed when the loop returns
	once    sync.Once

	// Owned by the loop.
	logged    int64 // drops already logged
	loggedAt  time.Time
	propsBuf  []byte
	lastError error
}

func newTracer(c *Client, topic string) *tracer {
	return &tracer{c: c, topic: topic, queue: make(chan trace.Record, TraceQueueSize),
		stop: make(chan struct{}), done: make(chan struct{})}
}

// TraceOn reports whether WithTrace turned message trace on.
func (c *Client) TraceOn() bool { return c.tr != nil }

// TraceTopic returns the trace topic, or "" when trace is off.
func (c *Client) TraceTopic() string {
	if c.tr == nil {
		return ""
	}
	return c.tr.topic
}

// Trace queues trace records for the trace topic. It never blocks: records
// that do not fit the queue, or come after Close, are dropped and counted;
// records queued before Start are sent once the client starts. It does
// nothing when trace is off. Producers and consumers of this module call
// it; applications need not.
func (c *Client) Trace(recs ...trace.Record) {
	t := c.tr
	if t == nil {
		return
	}
	for _, r := range recs {
		select {
		case <-t.stop:
			t.dropped.Add(1)
			continue
		default:
		}
		select {
		case t.queue <- r:
		default:
			t.dropped.Add(1)
		}
	}
}

// TraceDropped returns how many trace records were dropped so far: the queue
// was full, the client was not running, or their trace message failed.
func (c *Client) TraceDropped() int64 {
	if c.tr == nil {
		return 0
	}
	return c.tr.dropped.Load()
}

// start launches the loop; the caller holds c.mu.
func (t *tracer) startLocked() {
	t.started.Store(true)
	t.c.goFuncLocked("trace", t.loop)
}

// shutdown stops the loop and waits until it has sent what was queued.
// Idempotent.
func (t *tracer) shutdown() {
	t.once.Do(func() { close(t.stop) })
	if t.started.Load() {
		<-t.done
	}
}

// loop sends queued records in batches until stop, then sends what is left
// within CallTimeout.
func (t *tracer) loop() {
	defer close(t.done)
	for {
		select {
		case r := <-t.queue:
			t.sendBatch(context.Background(), t.gather(r))
		case <-t.stop:
			ctx, cancel := context.WithTimeout(context.Background(), t.c.cfg.callTimeout)
			defer cancel()
			for {
				select {
				case r := <-t.queue:
					if ctx.Err() != nil {
						t.dropped.Add(1)
						continue
					}
					t.sendBatch(ctx, t.gather(r))
				default:
					t.logDrops(true)
					return
				}
			}
		}
	}
}

// gather returns first and the records queued after it, up to traceBatch.
func (t *tracer) gather(first trace.Record) []trace.Record {
	batch := []trace.Record{first}
	for len(batch) < traceBatch {
		select {
		case r := <-t.queue:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// sendBatch sends recs in trace messages of at most trace.MaxBodySize
// bytes (one record may exceed it alone).
func (t *tracer) sendBatch(ctx context.Context, recs []trace.Record) {
	var body []byte
	from := 0
	for i := range recs {
		body = trace.Append(body, &recs[i])
		if len(body) > trace.MaxBodySize || i == len(recs)-1 {
			t.sendOne(ctx, recs[from:i+1], body)
			body, from = nil, i+1
		}
	}
	t.logDrops(false)
}

// sendOne sends one trace message holding recs (encoded as body).
func (t *tracer) sendOne(ctx context.Context, recs []trace.Record, body []byte) {
	if err := t.send(ctx, recs, body); err != nil {
		t.dropped.Add(int64(len(recs)))
		t.lastError = err
	}
}

func (t *tracer) send(ctx context.Context, recs []trace.Record, body []byte) error {
	r, err := t.c.Route(ctx, t.topic)
	if err != nil {
		return err
	}
	qs := r.PublishQueues()
	if len(qs) == 0 {
		return fmt.Errorf("client: trace topic %q has no writable queue", t.topic)
	}
	mq := qs[int(t.rr.Add(1)-1)%len(qs)]
	addr, ok := r.MasterAddr(mq.BrokerName)
	if !ok {
		return fmt.Errorf("client: trace topic %q: no master address for %s", t.topic, mq.BrokerName)
	}
	props, err := message.AppendProperties(t.propsBuf[:0], map[string]string{
		message.PropertyKeys:    strings.Join(trace.Keys(recs), message.KeySeparator),
		message.PropertyUniqKey: t.c.NewUniqID(),
	})
	if err != nil {
		return err
	}
	t.propsBuf = props
	req := header.NewRequest(protocol.SendMessageV2, &header.SendMessage{
		ProducerGroup:         trace.ProducerGroup,
		Topic:                 t.topic,
		DefaultTopic:          AutoCreateTopicKey,
		DefaultTopicQueueNums: 4,
		QueueID:               mq.QueueID,
		BornTimestamp:         t.c.Now().UnixMilli(),
		Properties:            string(props),
	})
	req.Body = body
	_, err = t.c.Call(ctx, addr, req)
	return err
}

// logDrops logs the records dropped since the last log, at most every
// traceDropLogInterval unless final.
func (t *tracer) logDrops(final bool) {
	n := t.dropped.Load()
	if n == t.logged {
		return
	}
	now := t.c.Now()
	if !final && !t.loggedAt.IsZero() && now.Sub(t.loggedAt) < traceDropLogInterval {
		return
	}
	t.c.log.Warn("client: message trace records dropped", "topic", t.topic,
		"dropped", n-t.logged, "total", n, "lastError", t.lastError)
	t.logged, t.loggedAt = n, now
}
