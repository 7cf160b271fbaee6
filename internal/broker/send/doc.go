// Package send is the broker's write path for producers: SEND_MESSAGE (10),
// SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320), and the request-reply
// path SEND_REPLY_MESSAGE (324/325). It checks a send in RocketMQ's order
// (broker and topic permission, topic name, auto-creation from TBW102, queue,
// size), builds the stored message (born host from the connection, store
// host, CLUSTER property), routes it (retry to dead letters, delay levels and
// timers, transactional half messages), hands it to the store and answers
// from its own completion goroutines once the store reports the message as
// durable as configured. See docs/design/broker.md "Send path".
//
// Every admitted send passes the broker's write gate until it is answered, so
// a shutdown can refuse new sends and wait for these. Queue-time flow control
// (waitTimeMillsInSendQueue) is the remoting pool's (Pool.SetMaxQueueWait).
//
// With a de-duplication window (docs/design/dedup.md, dedup.go) a send
// claims its messages' keys in broker/dedup before the put: duplicates are
// answered from their first copy, a send whose key is in flight is parked
// and resumed by the completion that resolves it.
//
// Imports: the standard library, internal/store, internal/lifecycle,
// broker/meta, broker/answer, broker/delay, broker/retry, broker/txn, broker/dedup,
// pkg/clock, pkg/message, pkg/protocol (and header, body), pkg/remoting.
package send
