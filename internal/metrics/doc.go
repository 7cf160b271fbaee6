// Package metrics is Petrel's observability endpoint: the broker's Prometheus
// metrics (RocketMQ 5.x's names and labels where they exist, so its Grafana
// dashboards work, plus Petrel's own), and the HTTP server that serves them
// with /healthz, /readyz and, when enabled, /debug/pprof.
//
// Recording is split by cost:
//
//   - Hot-path events (a stored send, a pull answer, a message sent to a
//     dead-letter queue, an RPC, a commit-log fsync) are recorded by Recorder
//     methods: a read-locked map lookup by a struct key (no allocation) and
//     atomic adds. A series is made on its first event; beyond Limit series
//     per metric the event is dropped and petrel_metrics_dropped_total counts
//     it, so hostile topic or group names cannot grow memory without bound.
//   - Everything else (topic and group counts, lag, disk, connections,
//     memory budget, replication) is read when Prometheus scrapes, from the
//     State function the broker gives: nothing is kept between scrapes.
//
// Every series carries RocketMQ's identity labels: cluster, node_type
// ("broker") and node_id (the broker name).
//
// Ownership: the broker owns one Recorder and one Server for its lifetime
// (Server is started by Broker.Start and closed by Broker.Close). Recorder
// methods are safe for concurrent use; a nil *Recorder records nothing.
//
// Imports: the standard library, pkg/protocol (code names) and the Prometheus
// client library. The broker's rooms never import it: each declares the
// one-method interface it calls.
//
//	rec := metrics.NewRecorder(metrics.Identity{Cluster: "c", Node: "broker-a"}, 50000)
//	reg := rec.Registry(func(now time.Time) metrics.State { ... })
//	srv := metrics.NewServer(metrics.ServerConfig{Addr: "127.0.0.1:5557"}, reg, ready, log)
//	err := srv.Start(ctx)
package metrics
