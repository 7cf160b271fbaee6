// Package broker is Petrel's RocketMQ-compatible broker. This package is only
// the lifecycle (broker.go: New, Start, Close), the configuration (config.go,
// validate.go, keys.go: broker.conf keys) and routes.go, the one table that
// binds every request code to a room's handler and a worker pool. The work is
// done in rooms, one concern each, with narrow dependencies and no pointer
// back to *Broker:
//
//	send/        SEND_MESSAGE(_V2), SEND_BATCH_MESSAGE, request-reply
//	dedup/       the de-duplication window the send room claims keys in
//	pull/        PULL_MESSAGE, over longpoll/ (held pulls) and subscription/ (filters)
//	delay/       delay levels and timer messages
//	retry/       CONSUMER_SEND_MSG_BACK, dead letters, retry topics
//	txn/         half messages, END_TRANSACTION, the check-back checker
//	offset/      consumer offsets, queue offset reads, reset by time
//	query/       lookups by key, unique key and offset
//	admin/       topics, groups, broker status and configuration
//	clients/     producers, consumers, heartbeats, rebalance locks
//	registrar/   name-server registration
//	meta/        topic, group and offset tables and their files
//	stats/       put/get/consume rates
//	answer/      response helpers the rooms share
//
// Adding a role (slave) or a cross-cutting check (ACL, metrics) is a change
// in routes.go; which room may import which is in internal/lint. metrics.go
// wires internal/metrics: the recorder the send, pull and retry rooms report
// to through their one-method hooks, the RPC timing wrapper routes.go puts
// on every route, the state read at each scrape and the HTTP endpoint
// (/metrics, /healthz, /readyz), which Start starts before the store opens
// and Close closes last.
//
// Ownership: a Broker owns its store, its metrics endpoint, its remoting servers (the client port
// and the VIP channel, which share the pools), its rooms and its registrar;
// each room owns its own goroutines (lifecycle.Group) and its own store
// completion and dispatch queues, so no broker code runs on store
// goroutines. Close releases everything in the order of
// docs/design/shutdown.md.
//
// Concurrency: all exported methods are safe for concurrent use. Handlers run
// on bounded remoting pools; sends and held pulls are answered
// asynchronously with Conn.Reply, so no worker waits for a flush or a
// message.
//
// Imports: every room, internal/store, internal/metrics, internal/lifecycle,
// internal/properties, internal/vfs and pkg/. Only cmd and the test harness
// import it (internal/lint).
//
// Example:
//
//	cfg := broker.DefaultConfig()
//	cfg.NameServers = []string{"127.0.0.1:9876"}
//	cfg.Store.RootDir = "/var/lib/petrel/store"
//	b, err := broker.New(cfg, slog.Default(), clock.Real{})
//	if err != nil { ... }
//	if err := b.Start(ctx); err != nil { ... }
//	defer b.Close()
package broker
