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
//     frame closes the connection, a bigger outgoing one fails the call.
//   - A started frame must complete within FrameReadTimeout (30s); a server
//     connection that sends nothing for IdleTimeout (120s) is closed. Frame
//     buffers grow as bytes arrive (see protocol.FrameReader), so half-open
//     connections cost little memory.
//   - Per connection at most MaxInflightPerConn (256) requests are queued or
//     running; beyond it, and when a Pool's queue is full, requests are answered
//     SYSTEM_BUSY with an "[OVERLOAD]" remark (oneway ones are dropped).
//   - The write queue holds 256 frames; writers block while it is full, and a
//     write that stalls for WriteTimeout (30s) closes the connection.
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
