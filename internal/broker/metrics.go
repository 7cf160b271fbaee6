package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/internal/metrics"
	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// observer wires internal/metrics into the broker: the recorder the rooms
// report to (nil when metricsExporterType is DISABLE, so the rooms' hooks
// cost nothing), the state read at each scrape, and the HTTP endpoint with
// /metrics, /healthz and /readyz. Start starts the endpoint before the store
// opens, so /healthz answers and /readyz says why not while it recovers.
type observer struct {
	rec  *metrics.Recorder
	http *metrics.Server
	up   atomic.Bool // Start finished: the store is recovered and the rooms serve
}

// defaultMetricsHost is where the metrics endpoint binds when
// metricsPromExporterHost is empty.
const defaultMetricsHost = "127.0.0.1"

// newObserver builds the recorder when metrics are on.
func newObserver(cfg *Config) observer {
	if cfg.Metrics.ExporterType != MetricsProm {
		return observer{}
	}
	return observer{rec: metrics.NewRecorder(metrics.Identity{Cluster: cfg.ClusterName, Node: cfg.BrokerName},
		cfg.Metrics.CardinalityLimit)}
}

// startMetrics starts the HTTP endpoint on metricsPromExporterHost (default
// 127.0.0.1) and metricsPromExporterPort. The returned function closes it.
//
// RocketMQ binds brokerIP1 by default; the endpoint has no authentication
// (and may serve pprof), so Petrel exposes it beyond the host only when
// metricsPromExporterHost says so.
func (b *Broker) startMetrics(ctx context.Context) (func(), error) {
	if b.obs.rec == nil {
		return func() {}, nil
	}
	host := b.cfg.Metrics.Host
	if host == "" {
		host = defaultMetricsHost
	}
	reg := b.obs.rec.Registry(b.metricsState)
	srv := metrics.NewServer(metrics.ServerConfig{Addr: net.JoinHostPort(host, strconv.Itoa(b.cfg.Metrics.Port)),
		Pprof: b.cfg.Metrics.Pprof}, reg, b.ready, b.log)
	if err := srv.Start(ctx); err != nil {
		return func() {}, fmt.Errorf("broker: %w", err)
	}
	b.obs.http = srv
	return func() { _ = srv.Close() }, nil
}

// MetricsAddr returns the bound address of the metrics endpoint, or nil when
// it is off or not started.
func (b *Broker) MetricsAddr() net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.obs.http == nil {
		return nil
	}
	return b.obs.http.Addr()
}

// ready is /readyz: the store is recovered and the broker serves, a name
// server accepted its registration within the last 2 minutes (the name
// server's broker expiry) when name servers are configured, and the store
// reports no problem.
func (b *Broker) ready() error {
	if !b.obs.up.Load() {
		return errors.New("starting: the store is opening or recovering")
	}
	if len(b.cfg.NameServers) > 0 {
		last := b.reg.LastRegistered()
		if last.IsZero() {
			return errors.New("not registered with any name server yet")
		}
		if age := b.clk.Now().Sub(last); age > 2*time.Minute {
			return fmt.Errorf("no name server accepted the registration for %v", age.Round(time.Second))
		}
	}
	if ps := b.store.Stats().Problems; len(ps) > 0 {
		var what []string
		for _, p := range ps {
			what = append(what, fmt.Sprint(p))
		}
		return fmt.Errorf("store degraded: %s", strings.Join(what, "; "))
	}
	return nil
}

// timed wraps a route's handler with rocketmq_rpc_latency: the one
// cross-cutting metrics hook of the route table. A handler that answers later
// (nil, nil: a send waiting for its flush, a held pull) is recorded as
// deferred with the time to hand it off.
func timed(rec *metrics.Recorder, code protocol.RequestCode, h remoting.ProcessorFunc) remoting.ProcessorFunc {
	if rec == nil {
		return h
	}
	return func(ctx context.Context, conn *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
		t0 := time.Now()
		resp, err := h(ctx, conn, req)
		took := time.Since(t0)
		switch {
		case err != nil:
			rec.RPC(code, protocol.SystemError, took, false, false)
		case resp == nil:
			rec.RPC(code, 0, took, true, code == protocol.PullMessage)
		default:
			rec.RPC(code, resp.ResponseCode(), took, false, false)
		}
		return resp, err
	}
}

// metricsState is what a scrape reads: counts, lag, disk, connections,
// memory and replication.
func (b *Broker) metricsState(now time.Time) metrics.State {
	st := metrics.State{
		Topics:     len(b.topics.Names()),
		Groups:     len(b.groups.Snapshot().SubscriptionGroupTable),
		Permission: b.live.Get().BrokerPermission,
	}
	if !b.obs.up.Load() {
		return st
	}
	b.obs.rec.Prune(func(t string) bool { _, ok := b.topics.Get(t); return ok },
		func(g string) bool { _, ok := b.groups.Get(g); return ok })
	for _, p := range []*remoting.Pool{b.pools.send, b.pools.pull, b.pools.admin, b.pools.heartbeat, b.pools.light} {
		st.Processors = append(st.Processors, metrics.Processor{Name: p.Name(), Queued: p.Queued()})
	}
	st.Lags, st.Queues = consumerLags(b.store, b.offsets.All(), b.obs.rec, now)
	ss := b.store.Stats()
	st.Store = metrics.Store{
		CommitLogBytes:            int64(ss.CommitLogMaxOffset - ss.CommitLogMinOffset),
		CommitLogSegments:         ss.CommitLogSegments,
		DiskUsedRatio:             ss.DiskUsedRatio,
		ConsumeQueueDiskUsedRatio: ss.ConsumeQueueDiskUsedRatio,
		DispatchBehindBytes:       ss.DispatchBehindBytes,
		ExpiredSegmentsDeleted:    ss.SegmentsDeletedExpired,
		ForcedSegmentsDeleted:     ss.SegmentsDeletedUnexpired,
		ForcedMessagesDeleted:     ss.MessagesDeletedUnexpired,
		Degraded:                  ss.Degraded(),
	}
	for _, t := range b.store.Topics() {
		for _, q := range b.store.QueueIDs(t) {
			n := b.store.MaxOffsetInQueue(t, q) - b.store.MinOffsetInQueue(t, q)
			st.Store.ConsumeQueueBytes += max(int64(n), 0) * 20
		}
	}
	for _, srv := range []*remoting.Server{b.srv, b.fast} {
		if srv != nil {
			st.Connections += srv.ConnCount()
		}
	}
	if bud := b.srv.Budget(); bud != nil {
		st.MemoryUsed, st.MemoryLimit = bud.Used(), bud.Limit()
	}
	st.HeldPulls = b.rooms.pull.Held()
	switch r := &b.repl; {
	case r.server != nil:
		hs := r.server.Status()
		rp := &metrics.Replication{Role: "master", SyncStateSet: hs.InSync + 1}
		for _, sl := range hs.Slaves {
			rp.Slaves = append(rp.Slaves, metrics.Replica{Addr: sl.Addr, LagBytes: sl.LagBytes, LagTime: sl.LagTime, InSync: sl.InSync})
		}
		st.Replication = rp
	case r.client != nil:
		cs := r.client.Status()
		rp := &metrics.Replication{Role: "slave", SyncStateSet: -1}
		if cs.ConfirmOffset > 0 {
			rp.BehindBytes = int64(cs.ConfirmOffset - cs.Offset)
		}
		st.Replication = rp
	}
	return st
}

// lags computes every consumer group's lag from its committed offsets:
// per queue, the committed offset is first clamped into [min, max] of the
// queue (an offset past the end after a store reset, or before its start
// after retention, would otherwise give a negative or phantom lag), so no
// figure is ever negative. Only queues a group has committed are counted.
func consumerLags(st *store.Store, all map[string]map[int32]int64, rec *metrics.Recorder, now time.Time) ([]metrics.Lag, []metrics.QueueLag) {
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var lags []metrics.Lag
	var queues []metrics.QueueLag
	storeAge := func(topic string, q int32, off message.QueueOffset) time.Duration {
		ms, err := st.MessageStoreTime(topic, q, off)
		if err != nil || ms <= 0 {
			return 0
		}
		return max(now.Sub(time.UnixMilli(ms)), 0)
	}
	for _, k := range keys {
		topic, group, ok := strings.Cut(k, "@")
		if !ok {
			continue
		}
		l := metrics.Lag{Group: group, Topic: topic}
		qs := all[k]
		ids := make([]int32, 0, len(qs))
		for q := range qs {
			ids = append(ids, q)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for _, q := range ids {
			lo, hi := st.MinOffsetInQueue(topic, q), st.MaxOffsetInQueue(topic, q)
			done := min(max(message.QueueOffset(qs[q]), lo), hi)
			lag := int64(hi - done)
			l.Messages += lag
			queues = append(queues, metrics.QueueLag{Group: group, Topic: topic, Queue: q, Messages: lag})
			if lag > 0 {
				l.Latency = max(l.Latency, storeAge(topic, q, done))
			}
			if p := rec.PulledOffset(group, topic, q); p >= 0 {
				pulled := min(max(message.QueueOffset(p), done), hi)
				l.Inflight += int64(pulled - done)
				if pulled < hi {
					l.Queueing = max(l.Queueing, storeAge(topic, q, pulled))
				}
			}
		}
		lags = append(lags, l)
	}
	return lags, queues
}
