// Package console is Petrel's web console: plain HTML, JavaScript and CSS
// embedded in the binary (no build step, no CDN), served with a small JSON
// API that talks to the name servers and brokers through pkg/admin, as any
// admin tool does. `petrel console` runs it alone; `petrel standalone` runs
// it on 127.0.0.1 next to its broker.
//
// Pages: cluster (brokers with their role, version, TPS and disk), topics
// (list; a topic's route and per-queue offsets; create, update perm and
// queue numbers, send a test message: topicedit.go), consumer groups
// (lag per topic and queue, never negative), messages (by key in a
// topic, or by message id, with properties, body and the message-trace
// records clients wrote for it to RMQ_SYS_TRACE_TOPIC, trace.go),
// producers (a producer group's online clients, producers.go) and dead
// letters (a group's %DLQ% messages, resend, export as JSON lines or CSV:
// dlq.go).
//
// Login (auth.go): off unless Config.Users is set (ParseUsers reads a
// RocketMQ-dashboard-style users file). Then every page and API but the
// login page's needs the session cookie petrel_console_session, in-memory
// sessions last SessionTTL, users without the admin mark may only read,
// and passwords are never logged.
//
// Speed: answers are cached for CacheTTL (default 3 s), and a page asks each
// broker once (cluster: one GET_BROKER_RUNTIME_INFO per broker; groups: one
// GET_ALL_SUBSCRIPTIONGROUP_CONFIG per master, then one GET_CONSUME_STATS
// per group and master with every topic at once, and one
// GET_CONSUMER_CONNECTION_LIST per group), at most Parallel calls at a time.
//
// Ownership: a Server owns its admin client and HTTP listener; Start and
// Close. Imports: the standard library and pkg/ only.
package console
