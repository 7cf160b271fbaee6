// Package consumequeue stores RocketMQ consume queues: for each (topic, queue id) an
// array of fixed-size entries, indexed by queue offset, that says where each message
// of the queue sits in the commit log. The dispatcher builds it from the commit log;
// pulls read it. It is byte-compatible with RocketMQ 4.x (store/ConsumeQueue.java).
//
// # Layout
//
// A Set owns one root directory (RocketMQ's storePathConsumeQueue, by default
// $HOME/store/consumequeue); a Queue owns <root>/<topic>/<queueId>/, where queueId is
// the decimal queue id. A queue is a sequence of files of EntriesPerFile entries
// (default 300,000, so 6,000,000 bytes). Each file is named by the 20-digit,
// zero-padded byte offset of its first entry within the queue: the file holding queue
// offsets [k·300000, (k+1)·300000) is named %020d of k·6,000,000:
//
//	00000000000000000000  offsets       0 .. 299,999
//	00000000000006000000  offsets 300,000 .. 599,999
//	00000000000012000000  ...
//
// Files are created at their full size (sparse, zero-filled), as RocketMQ expects.
//
// # Entry
//
// Entry i of the queue is at byte (i mod EntriesPerFile)·20 of its file. Big-endian:
//
//	 0               8       12              20
//	+---------------+-------+---------------+
//	|  phys (int64) | size  | tags code     |
//	|               |(int32)| (int64)       |
//	+---------------+-------+---------------+
//
// Fields:
//
//   - phys: commit-log byte offset of the stored message record.
//   - size: record size in bytes.
//   - tags code: Java String.hashCode of the whole TAGS value, sign-extended (0 without
//     tags); for delayed messages in SCHEDULE_TOPIC_XXXX, the delivery time in ms.
//
// There is no checksum: the entry is derived data, rebuilt from the commit log.
// An entry is valid when phys >= 0 and size > 0 (RocketMQ's rule); an all-zero entry
// has never been written. A queue that starts at a non-zero offset has the part of its
// first file below the start filled with blank entries (phys 0, size MaxInt32, tags
// code 0), as RocketMQ's fillPreBlank does; they are never returned.
//
// # Invariants
//
//   - Entries [MinOffset, MaxOffset) are readable; entries are contiguous; files are
//     contiguous (no missing file between the first and the last).
//   - phys is non-decreasing along the queue (dispatch follows the commit log), which
//     TruncateTo, DeleteBelow and SearchOffset rely on for binary search.
//   - Only the last file can hold buffered (not yet written) entries.
//
// # Writing
//
// Append(off, ...) with off == MaxOffset appends. A lower off is a re-dispatch: a no-op
// when the stored entry is identical, ErrConflict otherwise. A higher off is ErrGap
// (RocketMQ logs "[BUG]logic queue order maybe wrong" and writes the entry at the
// wrong position; we refuse), except on a queue with no file, which starts at off
// with blank padding below it, like RocketMQ. Appended entries go to a small
// in-memory buffer (WriteBufferEntries) that readers see at once; it is written to the
// file when full, at a roll, and in Flush, which then fsyncs the dirty files and the
// directory. Only what Flush has returned for is durable.
//
// A failed write or file creation changes nothing and is not sticky: the entry is
// not appended (or stays buffered) and the next call tries again. A failed fsync
// (or file removal, or truncation) is sticky: the kernel may have dropped pages it
// could not write and would report the next fsync as successful, so mutations return
// the error (Err) until Resync writes the entries since the last good Flush again
// and marks every file for the next Flush. Readers are never affected: MaxOffset
// never goes back. AppendGone fills the offsets of messages that retention deleted
// before they were dispatched with entries pointing where those records were
// (readers treat them as removed messages), so the queue can go on after them.
//
// # Recovery
//
// Open scans the last three files (as RocketMQ does), or from the first short file
// if that lies earlier; the first entry that is not valid, or whose phys is below
// the end (phys+size) of the entry before it, ends the queue: a crash can lose the
// page holding an entry's first bytes while the page with its size survives, which
// leaves a valid-looking entry with a small phys. Files after it are removed and any
// non-zero bytes after it in its file (a torn write that reached the disk out of
// order) are zeroed and fsynced, so a later crash cannot bring them back. A short
// file (crash between create and resize, or a lost size change) is extended; a queue
// with no entry at all is reset to empty; files after a hole in the name sequence are
// removed. Bad names and oversized files fail Open with ErrCorrupt.
//
// A queue alone cannot see everything a crash can do when more than two files of
// entries were appended between two Flush calls (older files are not scanned, and
// the directory entry of a file created since the last Flush can be lost while
// later ones survive, so the queue seems to start late). The store closes that
// gap: after a crash it re-dispatches every record since the checkpoint, compares
// each entry with its record (TruncateAt cuts the queue at the first one that
// differs), and rebuilds from the commit log any queue that misses entries below
// its MinOffset or fails to open. After the commit log is recovered, the store calls
// TruncateTo(commit-log end) to drop entries pointing at or past it (RocketMQ
// truncateDirtyLogicFiles).
//
// # Retention
//
// DeleteBelow(commit-log min) removes every file except the last whose last entry
// points below the new commit-log minimum (RocketMQ deleteExpiredFile) and moves
// MinOffset to the first entry at or past it (correctMinOffset). Open cannot know the
// commit-log minimum, so the store calls DeleteBelow after opening.
//
// # Concurrency
//
// A Queue has one writer: the dispatcher goroutine calls Append. Flush may run on
// another goroutine (a periodic flusher); TruncateTo, DeleteBelow and Close serialise
// with both. Any number of goroutines may call Get, Read, MinOffset, MaxOffset and
// SearchOffset concurrently with the writer; they never wait for an fsync. Lock order
// is syncMu → wmu → mu: syncMu is held across fsync and only Flush, TruncateTo,
// DeleteBelow and Close take it; wmu serialises mutations; mu (a RWMutex) guards what
// readers see and is held shared while they copy bytes, so no file is closed under a
// reader. Get and Read do not allocate.
//
// Example:
//
//	q, err := consumequeue.Open(vfs.OS, "/store/consumequeue/TopicA/0", consumequeue.DefaultConfig())
//	...
//	err = q.Append(q.MaxOffset(), phys, size, tagsCode) // dispatcher
//	err = q.Flush()
//	n, err := q.Read(from, 32, buf) // pull
//
// Imports: the standard library, internal/vfs and pkg/message (the store's
// rule, internal/lint).
package consumequeue
