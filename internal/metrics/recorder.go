package metrics

import (
	"strings"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/pkg/protocol"
)

// Message types, RocketMQ 5.x's message_type label of rocketmq_messages_in_total.
const (
	TypeNormal      = "normal"
	TypeFIFO        = "fifo"
	TypeDelay       = "delay"
	TypeTransaction = "transaction"
)

// DefaultLimit is the default cap on series per metric (RocketMQ 5.x's
// metricsOtelCardinalityLimit default).
const DefaultLimit = 50000

// Identity is the broker's identity, put on every series as RocketMQ does:
// cluster, node_type="broker" and node_id (the broker name).
type Identity struct {
	Cluster string
	Node    string
}

// Bucket bounds. Message sizes as RocketMQ 5.x's view (bytes); RPC latency
// in milliseconds as RocketMQ's remoting view; flush latency in microseconds
// (exported in seconds); group-commit batch sizes in waiters.
var (
	sizeBounds  = []int64{1 << 10, 4 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20}
	rpcBounds   = []int64{1, 3, 5, 7, 10, 100, 1000, 3000, 5000}
	flushBounds = []int64{100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000}
	batchBounds = []int64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}
)

type inKey struct{ topic, typ string }

// clone copies a key's strings when the table adds it: they are often cut
// from a request's header, which they would otherwise keep alive.
func (k inKey) clone() inKey { return inKey{strings.Clone(k.topic), strings.Clone(k.typ)} }

type inSeries struct {
	msgs, bytes atomic.Int64
	size        hist
}

type outKey struct{ topic, group string }

func (k outKey) clone() outKey { return outKey{strings.Clone(k.topic), strings.Clone(k.group)} }

type outSeries struct {
	msgs, bytes atomic.Int64
}

type dlqKey struct{ group, topic string }

func (k dlqKey) clone() dlqKey { return dlqKey{strings.Clone(k.group), strings.Clone(k.topic)} }

type count struct{ n atomic.Int64 }

type rpcKey struct {
	req     protocol.RequestCode
	resp    protocol.ResponseCode
	long    bool
	deferTo bool // answered later, off the handler (see RPC)
}

type queueKey struct {
	group, topic string
	queue        int32
}

func (k queueKey) clone() queueKey {
	return queueKey{strings.Clone(k.group), strings.Clone(k.topic), k.queue}
}

// Recorder records the broker's hot-path events. The zero value is not
// usable; a nil *Recorder records nothing.
type Recorder struct {
	id    Identity
	limit int

	in     *table[inKey, inSeries]
	out    *table[outKey, outSeries]
	dlq    *table[dlqKey, count]
	rpc    *table[rpcKey, hist]
	pulled *table[queueKey, count] // next offset of the last pull answer

	flush, batch hist
	lagDropped   atomic.Int64
}

// NewRecorder builds a recorder capped at limit series per metric (<= 0:
// DefaultLimit).
func NewRecorder(id Identity, limit int) *Recorder {
	if limit <= 0 {
		limit = DefaultLimit
	}
	return &Recorder{
		id: id, limit: limit,
		in:     newTable[inKey, inSeries](limit),
		out:    newTable[outKey, outSeries](limit),
		dlq:    newTable[dlqKey, count](limit),
		rpc:    newTable[rpcKey, hist](limit),
		pulled: newTable[queueKey, count](limit),
	}
}

// MessagesIn records n messages of bytes stored record bytes sent by
// producers to topic (rocketmq_messages_in_total, rocketmq_throughput_in_total,
// rocketmq_message_size with the mean record size). As RocketMQ, sends to
// retry and dead-letter topics are not counted.
func (r *Recorder) MessagesIn(topic, msgType string, n, bytes int) {
	if r == nil || n <= 0 || isRetryOrDLQ(topic) {
		return
	}
	s := r.in.get(inKey{topic, msgType})
	if s == nil {
		return
	}
	s.msgs.Add(int64(n))
	s.bytes.Add(int64(bytes))
	s.size.observe(sizeBounds, int64(bytes/n))
}

// Pulled records a pull answer of group on topic's queue: n messages of
// bytes (rocketmq_messages_out_total, rocketmq_throughput_out_total), and
// next, the offset the consumer pulls from next, for the in-flight gauges.
func (r *Recorder) Pulled(topic, group string, queueID int32, next int64, n, bytes int) {
	if r == nil {
		return
	}
	if n > 0 {
		if s := r.out.get(outKey{topic, group}); s != nil {
			s.msgs.Add(int64(n))
			s.bytes.Add(int64(bytes))
		}
	}
	if q := r.pulled.get(queueKey{group, topic, queueID}); q != nil {
		q.n.Store(next)
	}
}

// PulledOffset returns the next offset group last pulled from topic's queue,
// or -1 if it has not pulled it since the broker started.
func (r *Recorder) PulledOffset(group, topic string, queueID int32) int64 {
	if r == nil {
		return -1
	}
	k := queueKey{group, topic, queueID}
	r.pulled.mu.RLock()
	q := r.pulled.m[k]
	r.pulled.mu.RUnlock()
	if q == nil {
		return -1
	}
	return q.n.Load()
}

// SentToDLQ records a message of group's moved to its dead-letter queue
// (rocketmq_send_to_dlq_messages_total); topic is the topic it came from.
func (r *Recorder) SentToDLQ(group, topic string) {
	if r == nil {
		return
	}
	if c := r.dlq.get(dlqKey{group, topic}); c != nil {
		c.n.Add(1)
	}
}

// RPC records a request served by the broker (rocketmq_rpc_latency): its
// code, the answer's code and how long the handler took. deferred marks a
// request whose handler handed the answer to a later completion (a send
// waiting for its flush or replicas, a held pull): its latency is the time to
// hand it off, and it is exported with result "deferred" and response_code
// "deferred"; longPolling marks a held pull.
func (r *Recorder) RPC(req protocol.RequestCode, resp protocol.ResponseCode, took time.Duration, deferred, longPolling bool) {
	if r == nil {
		return
	}
	if h := r.rpc.get(rpcKey{req: req, resp: resp, long: longPolling, deferTo: deferred}); h != nil {
		h.observe(rpcBounds, took.Milliseconds())
	}
}

// Flushed records one commit-log fsync: how long it took and how many
// waiters (sync-flush puts) it completed (petrel_commitlog_flush_seconds,
// petrel_commitlog_group_commit_size). It runs on the store's flusher
// goroutine: atomics only.
func (r *Recorder) Flushed(took time.Duration, waiters int) {
	if r == nil {
		return
	}
	r.flush.observe(flushBounds, took.Microseconds())
	if waiters > 0 {
		r.batch.observe(batchBounds, int64(waiters))
	}
}

// Forget drops the series of a deleted topic or group, so deleted names do not
// hold series (and the cap) forever.
func (r *Recorder) Forget(topic, group string) {
	if r == nil {
		return
	}
	match := func(t, g string) bool { return topic != "" && t == topic || group != "" && g == group }
	r.in.remove(func(k inKey) bool { return match(k.topic, "") })
	r.out.remove(func(k outKey) bool { return match(k.topic, k.group) })
	r.dlq.remove(func(k dlqKey) bool { return match(k.topic, k.group) })
	r.pulled.remove(func(k queueKey) bool { return match(k.topic, k.group) })
}

// Prune drops the series of topics and groups that no longer exist (deleted
// since they were recorded), so they neither linger nor hold the cap. The
// broker calls it at each scrape.
func (r *Recorder) Prune(topicExists, groupExists func(string) bool) {
	if r == nil {
		return
	}
	r.in.remove(func(k inKey) bool { return !topicExists(k.topic) })
	r.out.remove(func(k outKey) bool { return !topicExists(k.topic) || !groupExists(k.group) })
	r.dlq.remove(func(k dlqKey) bool { return !groupExists(k.group) })
	r.pulled.remove(func(k queueKey) bool { return !topicExists(k.topic) || !groupExists(k.group) })
}

func isRetryOrDLQ(topic string) bool {
	return strings.HasPrefix(topic, "%RETRY%") || strings.HasPrefix(topic, "%DLQ%")
}

// isSystem is RocketMQ's is_system label: a system topic (RocketMQ's
// TopicValidator list and the rmq_sys_/RMQ_SYS_ prefixes) or a system group
// (CID_RMQ_SYS_ prefix).
func isSystem(topic, group string) bool {
	return isSystemTopic(topic) || strings.HasPrefix(strings.ToLower(group), "cid_rmq_sys_")
}

func isSystemTopic(t string) bool {
	switch t {
	case "TBW102", "SELF_TEST_TOPIC", "OFFSET_MOVED_EVENT", "BenchmarkTest", "SCHEDULE_TOPIC_XXXX",
		"RMQ_SYS_TRANS_HALF_TOPIC", "RMQ_SYS_TRACE_TOPIC", "RMQ_SYS_TRANS_OP_HALF_TOPIC",
		"TRANS_CHECK_MAX_TIME_TOPIC", "rmq_sys_wheel_timer":
		return true
	}
	return strings.HasPrefix(t, "rmq_sys_") || strings.HasPrefix(t, "RMQ_SYS_")
}
