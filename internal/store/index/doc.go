// Package index is the message-key index of the store, byte-compatible with
// RocketMQ 4.x's IndexFile (store/index/IndexFile.java, IndexHeader.java,
// IndexService.java). It answers QUERY_MESSAGE: the commit-log offsets of messages
// with a given key (or unique key) in a time range. It is never on the send or
// consume path.
//
// # Files
//
// <storePathRootDir>/index/ holds files named by their creation time in local time,
// yyyyMMddHHmmssSSS (17 digits, RocketMQ's timeMillisToHumanString), e.g.
// 20240305060708009; name order is creation order (a name that would not sort after
// the previous one is bumped by 1 ms). Each file has the same size,
// 40 + HashSlots×4 + MaxEntries×20 bytes (420,000,040 with RocketMQ's 5,000,000
// slots and 20,000,000 entries). All integers are big-endian.
//
//	+----------------+---------------------------+-------------------------------+
//	| header (40 B)  | hash slots (HashSlots×4)  | entries (MaxEntries×20)       |
//	+----------------+---------------------------+-------------------------------+
//
// Header:
//
//	 0           8           16          24          32        36        40
//	+-----------+-----------+-----------+-----------+---------+---------+
//	| begin ts  | end ts    | begin phys| end phys  | slot cnt| index   |
//	| int64 ms  | int64 ms  | int64     | int64     | int32   | count   |
//	+-----------+-----------+-----------+-----------+---------+---------+
//
// Fields:
//
//   - begin/end ts: store time of the first/last entry. A new file starts with the
//     previous file's end ts and end phys in all four fields until its first put.
//   - slot cnt: RocketMQ's hashSlotCount, incremented on every put.
//   - index count: the next entry number. Numbering starts at 1 (entry 0 is never
//     written); a header with 0 reads as 1. The file is full when it reaches
//     MaxEntries, so it holds MaxEntries-1 keys.
//
// Hash slot s (at 40 + 4s) holds the number of the newest entry whose key hash is
// ≡ s (mod HashSlots), or 0 for none. A value above the index count is treated as
// empty. Entry n (at 40 + 4·HashSlots + 20n):
//
//	 0        4                 12         16         20
//	+--------+-----------------+----------+----------+
//	|key hash| phys            | time diff| prev     |
//	| int32  | int64           | int32 s  | int32    |
//	+--------+-----------------+----------+----------+
//
// Fields:
//
//   - key hash: |Java String.hashCode(key)|, with hashCode = MinInt32 mapped to 0
//     (KeyHash); slot = key hash mod HashSlots.
//   - phys: commit-log offset of the message.
//   - time diff: (store time − header begin ts) / 1000, truncated; 0 while the
//     header has no begin ts; clamped to [0, MaxInt32]. Readers rebuild the time as
//     begin ts + 1000·diff, so the index resolves time to the second.
//   - prev: the entry number that the slot held before (the chain), 0 = end.
//
// Keys are built as RocketMQ does: topic + "#" + UNIQ_KEY, and topic + "#" + k for
// each non-empty word k of KEYS split on single spaces (PutMessage). There is no
// checksum; the index is derived data that recovery rebuilds from the commit log.
//
// # Query
//
// Query walks files newest first, skipping files whose [begin ts, end ts] does not
// overlap the range, and stops after a file that begins before the range or once it
// has maxNum results. In a file it follows the slot's chain, collecting entries whose
// key hash matches and whose time is in range, and stops at prev 0, a prev above the
// index count, a self-loop, or an entry older than the range (RocketMQ's rules; the
// walk is also bounded by the index count). Different keys can share a hash: the
// caller checks the messages' keys, as RocketMQ's clients do.
//
// # Writing and durability
//
// One writer goroutine calls Put / PutMessage. The writable (newest) file keeps its
// slot table in memory (HashSlots×4 bytes) and buffers new entries; both are visible
// to Query at once. Buffered entries may be written out at any time (entries past the
// on-disk index count are ignored). Flush then makes everything durable in three
// steps, each followed by an fsync: entries, header, dirty slot pages (4 KiB pages).
// Every intermediate state on disk is consistent: slots only point at durable
// entries below the durable index count, so a crash loses at most the keys of the
// Flush in progress. A file created but never flushed is short on disk; Open
// extends it (its header reads as empty). Files full and flushed release their slot
// table and are read with ReadAt.
//
// # Recovery and retention
//
// After a crash, the store calls DropNewerThan(checkpoint index timestamp), which
// removes the newest files whose end ts is later than the checkpoint (RocketMQ's
// IndexService.load rule), then TruncateTo(recovered commit-log end), which removes
// the newest files whose end phys is at or past it (they may point at records that
// no longer exist). Both return the commit-log offset to re-dispatch from; PutMessage
// skips messages below EndPhysOffset, as RocketMQ's buildIndex does, so replaying a
// range that is already indexed adds nothing (except a message exactly at the end,
// which RocketMQ also indexes twice). Retention: DeleteBelow(commit-log min)
// removes the oldest files whose end phys is below it, never the newest file
// (RocketMQ deleteExpiredFile). Removals are durable after the next Flush.
//
// # Concurrency
//
// Query, EndPhysOffset, LastUpdate and Headers are safe for concurrent use with the
// writer. Flush may run on another goroutine; its fsyncs do not block Put. Lock
// order: syncMu (Flush, removals, Close) → wmu (writer) → mu (readers' view, held
// shared while reading, so no file closes under a reader).
//
// Example:
//
//	s, err := index.Open(vfs.OS, root+"/index", index.DefaultConfig(), clock.Real{})
//	err = s.PutMessage(topic, uniqKey, keys, phys, storeMillis) // dispatcher
//	err = s.Flush()
//	offs, err := s.Query(topic, "order-42", 32, begin, end)
//
// Imports: the standard library, internal/vfs, pkg/clock and pkg/message (the
// store's rule, internal/lint).
package index
