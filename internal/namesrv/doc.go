// Package namesrv is Petrel's name server: the route registry that brokers register
// with and clients ask for topic routes, speaking RocketMQ 4.x's name-server
// commands so Java brokers and the official clients work unchanged.
//
// # Structure
//
//   - RouteTable is the pure core: brokers, clusters, topic queue data, broker
//     liveness keyed by broker address (with the connection that registered it),
//     data versions, filter servers and HA addresses. It has no goroutines and no
//     I/O; time enters as a now argument. Its semantics follow the Java
//     RouteInfoManager (see docs/design/namesrv.md).
//   - EncodeRoute, EncodeClusterInfo, EncodeTopicList and EncodeKVTable write the
//     JSON bodies, including the fastjson form with bare integer keys that older
//     Go clients need.
//   - DecodeRegisterBody reads REGISTER_BROKER bodies, plain JSON or zlib
//     compressed, with every length checked.
//   - The KV configuration lives in memory and is persisted to a JSON file
//     (kvConfig.json, the Java shape) after every change.
//   - Server wraps it all: it owns the remoting server, the liveness-scan
//     goroutine and the KV file, and registers the request processors.
//
// # Ownership and concurrency
//
// Server owns its RouteTable behind a read-write mutex (route lookups and lists
// share it; registrations, scans and admin changes take it exclusively; nothing
// under it does I/O). The KV store has its own mutex and serialises file writes
// outside it. Server's methods are safe for concurrent use; RouteTable's are not.
// One goroutine besides the remoting server's own runs the liveness scan: Start
// launches it, Close stops it and waits for it.
//
// # Example
//
//	cfg := namesrv.DefaultConfig()
//	cfg.ListenAddr = "127.0.0.1:9876"
//	srv, err := namesrv.New(cfg, slog.Default(), clock.Real{})
//	if err != nil { ... }
//	if err := srv.Start(ctx); err != nil { ... }
//	defer srv.Close()
//
// Imports: the standard library, internal/properties, internal/vfs, pkg/clock,
// pkg/protocol (and body, header) and pkg/remoting. Nothing imports it but cmd
// and the test harness (internal/lint).
package namesrv
