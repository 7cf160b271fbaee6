package metrics

import (
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// State is what the broker reports at each scrape. Fields it cannot tell
// are left at their zero values; Replication is nil when the broker does not
// replicate.
type State struct {
	Topics, Groups int // topic configs and subscription-group configs held
	Permission     int // brokerPermission (2 write, 4 read, 6 both)
	// Processors are the request pools: name ("send", "pull", ...) and
	// requests queued for a worker (rocketmq_processor_watermark).
	Processors []Processor
	// Lags are per consumer group and topic (retry topics included), summed
	// over queues; Queues are the same per queue.
	Lags   []Lag
	Queues []QueueLag
	Store  Store
	// Connections are the open client connections (both client ports).
	Connections int
	// MemoryUsed and MemoryLimit are the remoting memory budget's bytes in
	// use and limit (serverMemoryBudgetBytes).
	MemoryUsed, MemoryLimit int64
	HeldPulls               int
	Replication             *Replication
}

// Processor is one request pool.
type Processor struct {
	Name   string
	Queued int
}

// Lag is a consumer group's progress on a topic, over its queues. Every
// figure is >= 0.
type Lag struct {
	Group, Topic string
	// Messages: stored but not yet committed (max offset - committed offset).
	Messages int64
	// Latency: now - store time of the oldest uncommitted message; 0 if none.
	Latency time.Duration
	// Inflight: pulled but not yet committed (pulled offset - committed).
	Inflight int64
	// Queueing: now - store time of the oldest message not yet pulled; 0 if none.
	Queueing time.Duration
}

// QueueLag is one queue's lag (petrel_consumer_queue_lag_messages).
type QueueLag struct {
	Group, Topic string
	Queue        int32
	Messages     int64
}

// Store is the store's disk figures.
type Store struct {
	CommitLogBytes    int64 // max - min offset: bytes of messages held
	CommitLogSegments int
	ConsumeQueueBytes int64 // entries held × 20 bytes
	// DiskUsedRatio and ConsumeQueueDiskUsedRatio are the filesystems' used
	// fractions (0..1).
	DiskUsedRatio, ConsumeQueueDiskUsedRatio float64
	DispatchBehindBytes                      int64
	// ExpiredSegmentsDeleted: segments deleted past fileReservedTime;
	// ForcedSegmentsDeleted and ForcedMessagesDeleted: deleted early because
	// the disk was above diskSpaceCleanForciblyRatio.
	ExpiredSegmentsDeleted, ForcedSegmentsDeleted, ForcedMessagesDeleted int64
	Degraded                                                             bool
}

// Replication is a master's or slave's replication state.
type Replication struct {
	Role string // "master" or "slave"
	// Slaves (master only): per slave address, bytes behind and in-sync.
	Slaves []Replica
	// SyncStateSet is the size of the in-sync set (master: in-sync slaves
	// plus itself); -1 if unknown.
	SyncStateSet int
	// BehindBytes (slave only): master max offset the slave knows of minus
	// its own.
	BehindBytes int64
}

// Replica is one slave seen by its master.
type Replica struct {
	Addr     string
	LagBytes int64
	LagTime  time.Duration
	InSync   bool
}

// Registry returns a registry with the broker's metrics (state is called at
// each scrape, with the scrape time), and the Go runtime and process
// collectors.
func (r *Recorder) Registry(state func(now time.Time) State) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{r: r, state: state, d: newDescs(r.id)})
	return reg
}

type descs struct {
	in, inBytes, size, out, outBytes, dlq, rpc               *prometheus.Desc
	topics, groups, perm, watermark                          *prometheus.Desc
	lag, lagLatency, inflight, queueing, queueLag            *prometheus.Desc
	clBytes, clSegments, cqBytes, diskRatio, dispatchBehind  *prometheus.Desc
	retSegments, retMessages, degraded                       *prometheus.Desc
	flush, batch, conns, memUsed, memLimit, held             *prometheus.Desc
	replLagBytes, replLagSeconds, replInSync, syncSet, slave *prometheus.Desc
	dropped                                                  *prometheus.Desc
}

func newDescs(id Identity) descs {
	c := prometheus.Labels{"cluster": id.Cluster, "node_type": "broker", "node_id": id.Node}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, c)
	}
	return descs{
		in:       d("rocketmq_messages_in_total", "Total number of incoming messages", "topic", "message_type", "is_system"),
		inBytes:  d("rocketmq_throughput_in_total", "Total traffic of incoming messages, bytes", "topic", "message_type", "is_system"),
		size:     d("rocketmq_message_size", "Incoming messages size, bytes", "topic", "message_type", "is_system"),
		out:      d("rocketmq_messages_out_total", "Total number of outgoing messages", "topic", "consumer_group", "is_retry", "is_system"),
		outBytes: d("rocketmq_throughput_out_total", "Total traffic of outgoing messages, bytes", "topic", "consumer_group", "is_retry", "is_system"),
		dlq:      d("rocketmq_send_to_dlq_messages_total", "Consumer send to DLQ messages", "consumer_group", "topic", "is_system"),
		rpc: d("rocketmq_rpc_latency", "Rpc latency, milliseconds",
			"protocol_type", "request_code", "response_code", "is_long_polling", "result"),
		topics:     d("rocketmq_topic_number", "Active topic number"),
		groups:     d("rocketmq_consumer_group_number", "Active subscription group number"),
		perm:       d("rocketmq_broker_permission", "Broker permission"),
		watermark:  d("rocketmq_processor_watermark", "Request processor watermark", "processor"),
		lag:        d("rocketmq_consumer_lag_messages", "Consumer lag messages", "consumer_group", "topic", "is_retry", "is_system"),
		lagLatency: d("rocketmq_consumer_lag_latency", "Consumer lag time, milliseconds", "consumer_group", "topic", "is_retry", "is_system"),
		inflight:   d("rocketmq_consumer_inflight_messages", "Consumer inflight messages", "consumer_group", "topic", "is_retry", "is_system"),
		queueing:   d("rocketmq_consumer_queueing_latency", "Consumer queueing time, milliseconds", "consumer_group", "topic", "is_retry", "is_system"),
		queueLag: d("petrel_consumer_queue_lag_messages", "Messages stored but not committed by the group, per queue",
			"consumer_group", "topic", "queue_id"),
		clBytes:        d("petrel_commitlog_bytes", "Bytes of messages held in the commit log (max offset - min offset)"),
		clSegments:     d("petrel_commitlog_segments", "Commit-log segment files"),
		cqBytes:        d("petrel_consumequeue_bytes", "Bytes of consume-queue entries held (20 bytes each)"),
		diskRatio:      d("petrel_disk_used_ratio", "Used fraction of the filesystem holding the store part", "path"),
		dispatchBehind: d("petrel_dispatch_behind_bytes", "Commit-log bytes not yet dispatched to consume queues and index"),
		retSegments: d("petrel_retention_segments_deleted_total", "Commit-log segments deleted by retention",
			"reason"),
		retMessages: d("petrel_retention_messages_deleted_total",
			"Messages deleted before fileReservedTime because the disk was above diskSpaceCleanForciblyRatio"),
		degraded: d("petrel_store_degraded", "1 when the store reports a problem (see petrel health / GET_BROKER_RUNTIME_INFO)"),
		flush:    d("petrel_commitlog_flush_seconds", "Commit-log fsync latency, seconds"),
		batch:    d("petrel_commitlog_group_commit_size", "Sync-flush puts completed by one commit-log fsync"),
		conns:    d("petrel_connections", "Open client connections"),
		memUsed:  d("petrel_memory_budget_used_bytes", "Bytes of the remoting memory budget in use"),
		memLimit: d("petrel_memory_budget_limit_bytes", "The remoting memory budget (serverMemoryBudgetBytes)"),
		held:     d("petrel_held_pulls", "Pull requests held by long polling"),
		replLagBytes: d("petrel_replication_lag_bytes",
			"Commit-log bytes a slave is behind its master (master: per slave; slave: slave=\"self\")", "slave"),
		replLagSeconds: d("petrel_replication_lag_seconds", "How long a slave has been behind its master", "slave"),
		replInSync:     d("petrel_replication_slave_in_sync", "1 when the slave can confirm SYNC_MASTER puts", "slave"),
		syncSet:        d("petrel_replication_sync_state_set_size", "Brokers in the SyncStateSet (the master and its in-sync slaves)"),
		slave:          d("petrel_replication_role", "1 for the broker's replication role", "role"),
		dropped: d("petrel_metrics_dropped_total",
			"Events or series dropped because a metric reached metricsOtelCardinalityLimit label sets", "metric"),
	}
}

type collector struct {
	r     *Recorder
	state func(time.Time) State
	d     descs
}

// Describe sends nothing: the collector is unchecked, as its label sets
// come and go with topics and groups.
func (c *collector) Describe(chan<- *prometheus.Desc) {}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	r, d := c.r, c.d
	counter := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v, labels...)
	}
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	histogram := func(desc *prometheus.Desc, h *hist, bounds []int64, div float64, labels ...string) {
		b, sum, n := h.snapshot(bounds, div)
		ch <- prometheus.MustNewConstHistogram(desc, n, sum, b, labels...)
	}
	bs := strconv.FormatBool

	r.in.each(func(k inKey, s *inSeries) {
		sys := bs(isSystemTopic(k.topic))
		counter(d.in, float64(s.msgs.Load()), k.topic, k.typ, sys)
		counter(d.inBytes, float64(s.bytes.Load()), k.topic, k.typ, sys)
		histogram(d.size, &s.size, sizeBounds, 1, k.topic, k.typ, sys)
	})
	r.out.each(func(k outKey, s *outSeries) {
		retry, sys := bs(isRetryOrDLQ(k.topic)), bs(isSystem(k.topic, k.group))
		counter(d.out, float64(s.msgs.Load()), k.topic, k.group, retry, sys)
		counter(d.outBytes, float64(s.bytes.Load()), k.topic, k.group, retry, sys)
	})
	r.dlq.each(func(k dlqKey, s *count) {
		counter(d.dlq, float64(s.n.Load()), k.group, k.topic, bs(isSystem(k.topic, k.group)))
	})
	r.rpc.each(func(k rpcKey, h *hist) {
		resp, result := codeName(k.resp.String()), "success"
		if k.deferTo {
			resp, result = "deferred", "deferred"
		}
		histogram(d.rpc, h, rpcBounds, 1, "remoting", codeName(k.req.String()), resp, bs(k.long), result)
	})
	histogram(d.flush, &r.flush, flushBounds, 1e6)
	histogram(d.batch, &r.batch, batchBounds, 1)

	if c.state != nil {
		c.collectState(ch, c.state(time.Now()), gauge, counter)
	}
	for name, n := range map[string]int64{
		"rocketmq_messages_in_total": r.in.dropped.Load(), "rocketmq_messages_out_total": r.out.dropped.Load(),
		"rocketmq_send_to_dlq_messages_total": r.dlq.dropped.Load(), "rocketmq_rpc_latency": r.rpc.dropped.Load(),
		"rocketmq_consumer_inflight_messages": r.pulled.dropped.Load(), "rocketmq_consumer_lag_messages": r.lagDropped.Load(),
	} {
		counter(d.dropped, float64(n), name)
	}
}

func (c *collector) collectState(ch chan<- prometheus.Metric, st State,
	gauge, counter func(*prometheus.Desc, float64, ...string)) {
	d := c.d
	bs := strconv.FormatBool
	gauge(d.topics, float64(st.Topics))
	gauge(d.groups, float64(st.Groups))
	gauge(d.perm, float64(st.Permission))
	for _, p := range st.Processors {
		gauge(d.watermark, float64(p.Queued), p.Name)
	}
	lags := st.Lags
	if len(lags) > c.r.limit {
		c.r.lagDropped.Add(int64(len(lags) - c.r.limit))
		lags = lags[:c.r.limit]
	}
	for _, l := range lags {
		retry, sys := bs(isRetryOrDLQ(l.Topic)), bs(isSystem(l.Topic, l.Group))
		gauge(d.lag, float64(max(l.Messages, 0)), l.Group, l.Topic, retry, sys)
		gauge(d.lagLatency, float64(max(l.Latency, 0).Milliseconds()), l.Group, l.Topic, retry, sys)
		gauge(d.inflight, float64(max(l.Inflight, 0)), l.Group, l.Topic, retry, sys)
		gauge(d.queueing, float64(max(l.Queueing, 0).Milliseconds()), l.Group, l.Topic, retry, sys)
	}
	queues := st.Queues
	if len(queues) > c.r.limit {
		c.r.lagDropped.Add(int64(len(queues) - c.r.limit))
		queues = queues[:c.r.limit]
	}
	for _, q := range queues {
		gauge(d.queueLag, float64(max(q.Messages, 0)), q.Group, q.Topic, strconv.Itoa(int(q.Queue)))
	}
	s := st.Store
	gauge(d.clBytes, float64(s.CommitLogBytes))
	gauge(d.clSegments, float64(s.CommitLogSegments))
	gauge(d.cqBytes, float64(s.ConsumeQueueBytes))
	gauge(d.diskRatio, s.DiskUsedRatio, "commitlog")
	gauge(d.diskRatio, s.ConsumeQueueDiskUsedRatio, "consumequeue")
	gauge(d.dispatchBehind, float64(s.DispatchBehindBytes))
	counter(d.retSegments, float64(s.ExpiredSegmentsDeleted), "expired")
	counter(d.retSegments, float64(s.ForcedSegmentsDeleted), "forced")
	counter(d.retMessages, float64(s.ForcedMessagesDeleted))
	gauge(d.degraded, b2f(s.Degraded))
	gauge(d.conns, float64(st.Connections))
	gauge(d.memUsed, float64(st.MemoryUsed))
	gauge(d.memLimit, float64(st.MemoryLimit))
	gauge(d.held, float64(st.HeldPulls))
	if rp := st.Replication; rp != nil {
		gauge(d.slave, 1, rp.Role)
		if rp.Role == "slave" {
			gauge(d.replLagBytes, float64(max(rp.BehindBytes, 0)), "self")
		}
		for _, sl := range rp.Slaves {
			gauge(d.replLagBytes, float64(max(sl.LagBytes, 0)), sl.Addr)
			gauge(d.replLagSeconds, max(sl.LagTime, 0).Seconds(), sl.Addr)
			gauge(d.replInSync, b2f(sl.InSync), sl.Addr)
		}
		if rp.SyncStateSet >= 0 {
			gauge(d.syncSet, float64(rp.SyncStateSet))
		}
	}
}

// codeName is RocketMQ's label value for a request or response code: the
// Java constant's name in lower case ("send_message_v2"), or the number.
func codeName(s string) string {
	if strings.HasPrefix(s, "RequestCode(") || strings.HasPrefix(s, "CODE(") {
		s = s[strings.IndexByte(s, '(')+1 : len(s)-1]
	}
	return strings.ToLower(s)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
