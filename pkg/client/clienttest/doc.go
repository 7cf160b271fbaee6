// Package clienttest is an in-memory name server and broker for SDK tests: just
// enough of the RocketMQ protocol (routes, send V1/V2/batch, pull with a short
// long-poll hold, heartbeat, consumer offsets and members, END_TRANSACTION, a
// few admin codes) to exercise the client, with per-code interception for
// fault injection, and slaves (StartSlave) that serve their master's messages
// and answer pulls with a configurable suggestWhichBrokerId. Servers listen on
// 127.0.0.1:0 and are closed by t.Cleanup. Not for production use.
//
// Imports: the standard library, pkg/ and testify; never anything under
// internal/ (internal/lint).
package clienttest
