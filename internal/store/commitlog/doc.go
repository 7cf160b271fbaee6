// Package commitlog is the broker's commit log: every message of every topic, in
// arrival order, in fixed-size segment files. The store facade (internal/store)
// owns a Log; it appends encoded records (pkg/message), waits for durability,
// reads records back by physical offset, rebuilds consume queues and indexes
// from the recovery scan, and deletes old segments for retention.
//
// # On-disk format
//
// A log is a directory of segment files, each exactly Config.SegmentSize bytes
// (default 1 GiB, preallocated), named by the physical offset of its first byte as
// 20 zero-padded decimal digits: 00000000000000000000, 00000000001073741824, ...
// Segment bases are multiples of the segment size and contiguous. There is no
// segment header (RocketMQ compatibility). Names and layout are part of the
// on-disk format; never change them.
//
// A segment holds stored records (message format V1, see pkg/message) back to back
// from byte 0. A record never straddles segments: when the next record would leave
// less than 8 bytes in the segment, a blank record fills the rest and the record
// goes to the next segment:
//
//	segment N (SegmentSize bytes)
//	+----------+----------+-----+----------+----------------------------------+
//	| record   | record   | ... | record   | TOTALSIZE=rest | 0xCBD43194 | 0...|
//	+----------+----------+-----+----------+----------------------------------+
//	                                        \_ blank record, only 8 bytes written
//
//	record (offsets for IPv4 hosts; +12 after each IPv6 host)
//	 0 TOTALSIZE  4 MAGIC 0xDAA320A7  8 BODYCRC  12 QUEUEID  16 FLAG
//	20 QUEUEOFFSET(8)  28 PHYSICALOFFSET(8)  36 SYSFLAG  40 BORNTIMESTAMP(8)
//	48 BORNHOST(8|20)  56 STORETIMESTAMP(8)  64 STOREHOST(8|20)  72 RECONSUMETIMES
//	76 PREPARED_TX_OFFSET(8)  84 BODYLEN BODY  TOPICLEN(1) TOPIC  PROPSLEN(2) PROPS
//
// Unwritten space reads as zeros. BODYCRC covers only the body; recovery also
// requires PHYSICALOFFSET to equal the record's position, exact length
// accounting, a non-empty NUL-free topic and NUL-free properties, which catches
// torn writes in the unchecksummed parts (lost sectors read as zeros). Bit rot in
// QUEUEID, FLAG, QUEUEOFFSET, timestamps, hosts and similar fields is not
// detectable with this format.
//
// # Writing
//
// Append takes the append lock (Log.mu) only to assign the offset, write the blank
// record if the segment is full, copy the input into the write buffer and patch
// PHYSICALOFFSET, STORETIMESTAMP and (via the caller's callback) QUEUEOFFSET in the
// copy. No syscall happens under it. One writer goroutine swaps the buffer for its
// spare and writes it with WriteAt (pwrite) into the segment files, then
// publishes MaxOffset: readers never see a partly written record. Segments are
// created and preallocated by the writer ahead of need (when the current one is
// half full, or at once when an append waits for it); the writer fsyncs a
// segment before writing into the next, so valid data in a later segment
// implies every earlier segment is complete. Append places a record only in a
// segment that is allocated, so no record is written to space that is not
// reserved: a full disk shows up when a segment is allocated, never in the
// middle of a record (the FS's available space is also checked before a
// segment is created, for filesystems that cannot preallocate). If the
// allocation fails for space or file descriptors (ENOSPC, EDQUOT, EMFILE,
// ENFILE), nothing was written, so the log stays writable: records that fit
// the current segment are accepted, the one that needs the next fails with
// ErrNoSegment, and the writer tries again (at most every second, when an
// append needs it), so appends resume by themselves.
//
// Why pwrite and not mmap: on this machine, copying 1 KiB records into a shared
// mmap and msyncing per 64 KiB was slower than pwrite plus fdatasync per 64 KiB
// (BenchmarkRawCopy; see docs/perf.md), the copy under the lock would take page
// faults (disk I/O) on first touch, an I/O error or ENOSPC on an mmap is a SIGBUS
// instead of an error, and a pwrite path runs unchanged on MemFS and errorfs, so
// fault-injection and crash tests exercise the production code.
//
// # Durability
//
// One flusher goroutine fsyncs (fdatasync). SyncAsync(upTo, done) queues a waiter
// and returns; the flusher fsyncs once for every waiter whose data was written
// when the fsync began (group commit) and calls done(nil); after
// Config.FlushTimeout a waiter gets ErrFlushTimeout (one timer serves the whole
// queue). Before an fsync for waiters the flusher gathers: it waits, at most as
// long as the previous fsync took, until as many waiters are queued as the
// previous fsync served plus left queued. Appends continue during an
// fsync. In FlushAsync mode the flusher also fsyncs every FlushInterval (500 ms)
// when at least FlushLeastPages (4) pages are dirty and at least every
// ThoroughFlushInterval (10 s) when anything is. Errors are sticky: after a failed
// write or fsync, or a failed segment creation or preallocation other than
// the recoverable ones above, the log is read-only; Append and Sync return an
// error wrapping ErrReadOnly and the cause; data appended but not yet written
// is dropped; reopening recovers.
//
// # Recovery
//
// Open scans from the segment holding RecoverOptions.From to the end, validating
// each record and reporting it to OnRecord. The scan of a segment ends at a blank
// record (full segment), at zeros (end of data) or at an invalid record. At the
// end of data it decides:
//   - valid records in a later segment: corruption (that segment was fsynced);
//   - otherwise, if a valid record follows the invalid one in the same segment and
//     the bytes between contain no zeroed sector piece: corruption;
//   - otherwise a torn tail: unsynced writes that reached the disk partly.
//
// Corruption fails Open with *CorruptionError{Path, Offset, Reason} unless
// RecoverOptions.Repair. A torn tail (or a repair) is truncated at the last valid
// record: the rest of the segment is zeroed (truncate + preallocate), later
// segments are removed, everything is fsynced and the dropped range is logged.
//
// # Replication
//
// ReadRaw reads stored bytes from any offset up to the readable end within one
// segment; AppendRaw appends a master's bytes at the same offset (the log's
// end, or any segment base for an Empty log) through the writer and flusher,
// cut anywhere, even inside a record (live scans wait for the rest). Truncate
// and Reset cut or empty the log online, on the writer goroutine under syncMu
// (raw.go; docs/design/storage.md, "Raw access for replication").
//
// # Concurrency and lock order
//
// All methods are safe for concurrent use. Lock order: syncMu → Log.mu, segMu;
// Log.mu → (nothing); segMu and fmu are never held while taking another Log
// lock. No lock is held across I/O except segMu during segment-list edits and
// Stat in retention, and syncMu, which is held across an fsync on purpose: it
// is taken only by the two goroutines that fsync segment data (the flusher, and
// the writer at a roll), never by appends or reads, and it makes the sticky
// check, the fsync and the advance of SyncedOffset one step, so no fsync after
// a failed one counts.
// Segments are reference counted: a reader holds a reference for the duration of
// a read, so DeleteSegments* never closes a file under it.
//
// # Lifecycle
//
// Open (recovery, no goroutines) → Start (writer and flusher) → Append / SyncAsync
// / reads → Close (stop appends, drain the buffer, final fsync, complete waiters,
// close files). Close is idempotent and safe before Start.
//
// # Example
//
//	l, err := commitlog.Open(vfs.OS, commitlog.DefaultConfig(dir), commitlog.RecoverOptions{})
//	if err != nil { ... }
//	if err := l.Start(ctx); err != nil { ... }
//	defer l.Close()
//	rec, _ := message.AppendRecord(nil, msg)
//	res, err := l.Append(ctx, rec, func(n int) message.QueueOffset { return nextQueueOffset(n) })
//	l.SyncAsync(res.End, func(err error) { reply(err) })
//
// Imports: the standard library, internal/vfs, pkg/clock and pkg/message (the
// store's rule, internal/lint).
package commitlog
