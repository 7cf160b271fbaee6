// Package dedup is the broker's de-duplication window (docs/design/dedup.md):
// a Table of recent sends keyed by (topic, producer group, de-dup key), each
// in flight or stored with the answer its first copy got, so a retried send
// is answered from the first copy instead of being stored again.
//
// The send room claims keys before it puts a message and resolves them when
// the store completes the put; a send whose key is in flight is parked on the
// entry and run again, on the resolving goroutine, once it is resolved.
// Entries expire by time (per-window FIFOs) and are capped (MaxEntries, the
// oldest evicted first). Rebuild fills the table from the commit log's
// recent records at a master's start.
//
// Concurrency: all methods are safe for concurrent use. Table.mu is a leaf
// lock; waiters run after it is released.
//
// Imports: the standard library, pkg/clock, pkg/message and pkg/protocol.
package dedup
