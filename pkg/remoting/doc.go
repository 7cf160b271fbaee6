// Package remoting is framed TCP for the RocketMQ remoting protocol: a Server that
// dispatches requests to Processors registered per request code, each on a bounded
// worker Pool, and a Client that multiplexes requests over one connection per
// address. Both sides can receive requests from the peer on the same connection
// (server-to-client calls such as CHECK_TRANSACTION_STATE), and both sides' Conn
// can send them (Conn.Invoke, Conn.InvokeOneway).
//
// # Ownership and goroutines
//
// A Server owns its listener, its accept goroutine and every accepted Conn; a
// Client owns every Conn it dialled. Each Conn has one reader goroutine (reads and
// dispatches frames, runs ConnListener callbacks) and one writer goroutine (the only
// writer of the socket: whole frames, in order, batched). Processors run on the
// workers of the Pool they were registered with (server) or on a bounded goroutine
// per request (client). Every goroutine is tracked; Close waits for all of them
// and is idempotent. No lock is held across network I/O.
//
// # Concurrency
//
// Server, Client, Conn and Pool are safe for concurrent use. A Command passed to an
// Invoke method or to Conn.Reply is modified (opaque, flag, version) and must not
// be shared. Responses are matched to calls by opaque per connection; a response
// nobody waits for (timed out, or oneway) is dropped.
//
// # Limits and back-pressure
//
//   - Frames are capped by MaxFrameSize (16 MiB) both ways; a bigger incoming
//     frame closes the connection, a bigger outgoing one fails the call. Headers
//     are capped too (protocol.HeaderSizeLimit 1 MiB, RemarkSizeLimit 64 KiB,
//     ExtFieldsSizeLimit 512 KiB, MaxExtFields 1024 entries): a frame's prefix
//     and header are checked before its body is read, and a bad one closes the
//     connection.
//   - A started frame must complete within FrameReadTimeout (30s), time spent
//     waiting for the memory budget included; a server connection that sends
//     nothing for IdleTimeout (120s) is closed. Frame buffers grow as bytes
//     arrive (see protocol.FrameReader), so half-open connections cost little
//     memory.
//   - MemoryBudget (a quarter of memory, at most 1 GiB; key
//     serverMemoryBudgetBytes) bounds what a server's connections hold: each
//     frame reserves its length before its header is read (frames over 64 KiB
//     from three quarters of the budget only) and holds it until the request
//     has run; answers are counted from when they are queued until written.
//     When it is used up, connections wait before reading their next frame (the
//     server keeps serving what it has), and while unwritten answers fill half
//     of it, queued requests wait before starting. See Budget.
//   - A connection whose write queue holds WriteHighWater (4 MiB) is paused:
//     no more of its requests are read, and those already queued wait (holding
//     no worker), until its peer reads. A Reply never blocks; a queue that would
//     pass max(64 MiB, 16 × WriteHighWater) closes the connection.
//   - Per connection at most MaxInflightPerConn (4096; key
//     serverMaxInflightPerConnection) requests are queued, waiting or running;
//     beyond it, and when a Pool's queue is full, requests are answered
//     SYSTEM_BUSY with an "[OVERLOAD]" remark (oneway ones are dropped).
//   - Pausing a connection, waiting for the budget and refusing a request are
//     each logged at Warn, at most once per 10s per kind, with the peer and a
//     count of the lines suppressed since the last one.
//   - Invoke and InvokeOneway wait while 256 frames are queued; a write that
//     stalls for WriteTimeout (30s) closes the connection.
//   - Optional per-IP caps: MaxConnsPerAddr (key serverMaxConnectionsPerAddress)
//     closes connections beyond it at accept; MaxRequestsPerSecondPerAddr (key
//     serverMaxRequestsPerSecondPerAddress, a token bucket) answers requests
//     beyond it SYSTEM_BUSY "[RATE_LIMIT]". Both are off by default.
//   - A Client connection has at most ClientConfig.MaxInflightPerConn (4096,
//     the server's default cap) Invoke and InvokeAsync calls awaiting answers;
//     beyond it a call waits on its ctx for one, so a client with default
//     settings is never refused for having too many requests in flight.
//   - InvokeAsync callbacks run on one goroutine per connection, in answer
//     order, not on the reader; a callback running over 10ms gets the answers
//     queued behind it a goroutine of their own.
//   - Server.Close answers, rather than drops, what it has accepted: requests
//     read, queued or waiting are answered SERVICE_NOT_AVAILABLE (14) with a
//     "[SHUTDOWN]" remark, running ones once their processor returns, and queued
//     answers are written, all within DrainTimeout (3s).
//
// # Security
//
// Server.SetInterceptor installs one check that runs before every processor,
// on its worker (the broker's and name server's ACL, internal/acl); what it
// answers replaces the processor's answer. ClientConfig.Sign signs every
// outgoing request (auth.Credentials.Sign). ServerConfig.TLSMode serves TLS:
// permissive decides per connection by its first byte (0x16 starts a TLS
// handshake), on the connection's reader, never on the accept loop;
// enforcing closes plain connections. ServerTLSConfig reloads changed
// certificate files; ClientConfig.TLS dials TLS.
//
// Bad input (a malformed frame or header, an oversize or negative length, an
// unknown serialize type) closes only that connection, with one log line naming
// the peer and the reason. A panic in a Processor is recovered, logged and
// answered SYSTEM_ERROR. See docs/design/protocol.md (## Remoting).
//
// # Example
//
//	srv, err := remoting.NewServer(cfg, log)
//	pool := remoting.NewPool("default", 8, 1024)
//	srv.Register(protocol.GetRouteInfoByTopic, remoting.ProcessorFunc(routeInfo), pool)
//	err = srv.Start(ctx)
//	defer srv.Close()
//
//	cl := remoting.NewClient(remoting.ClientConfig{}, log)
//	defer cl.Close()
//	resp, err := cl.Invoke(ctx, "127.0.0.1:9876", protocol.NewRequest(protocol.GetRouteInfoByTopic,
//		map[string]string{"topic": "T"}))
package remoting
