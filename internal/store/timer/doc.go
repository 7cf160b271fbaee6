// Package timer is the on-disk index of pending timer messages: a timer log
// of small fixed-size records, linked into time buckets, plus a checkpoint.
// The message bodies stay in the commit log (topic rmq_sys_wheel_timer); this
// package only remembers when each must be delivered and where it is, so
// millions of pending timers cost 40 bytes of disk each and no memory per
// message (memory grows with the number of non-empty buckets, at most
// maxDelay/precision).
//
// # Files
//
// <Dir>/<20-digit base> are timer-log segments of Config.SegmentSize bytes
// (a multiple of RecordSize), named by the log position of their first byte.
// A record (big-endian; part of the on-disk format; never change):
//
//	 0  deliverAt  int64   Unix ms the message is due
//	 8  bucket     int64   Unix ms start of the bucket it is linked into
//	16  phys       int64   commit-log offset of the parked message
//	24  prev       int64   log position of the previous record of the same
//	                       bucket, -1 for the first
//	32  size       int32   record size of the parked message in the commit log
//	36  crc        uint32  CRC-32C of bytes 0..35
//
// bucket is deliverAt rounded down to Config.Precision, raised to the bucket
// being delivered (or to the next one) for a record that arrives late.
//
// <Dir>/checkpoint (written atomically) holds: magic "PTLC", version 1, the
// log end covered, the enqueue offset (next queue offset of
// rmq_sys_wheel_timer queue 0 not yet in the log) and the cursor (first bucket
// not fully delivered), then a CRC-32C.
//
// # Recovery
//
// Open truncates the log to the checkpoint's end (later records are added
// again from the enqueue offset), then scans it and links every record whose
// bucket is at or after the cursor. Buckets delivered after the last
// checkpoint are delivered again: at least once, never lost. Segments whose
// records all lie in buckets before the durable cursor are removed after a
// checkpoint.
//
// # Concurrency
//
// All methods of Log are safe for concurrent use; a mutex guards the index
// and appends, and Sync does its fsyncs without holding it. Typical use: one
// goroutine Adds what it reads from the commit log, another ClaimDue /
// TakeLate / Finish to deliver, and either calls Sync periodically.
//
// Imports: the standard library, internal/vfs and pkg/message (the store's
// rule, internal/lint).
package timer
