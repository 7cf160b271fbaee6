// Package store is the broker's message store facade: it implements
// MessageStore (api.go) over the commit log (internal/store/commitlog), consume
// queues (consumequeue), the key index (index) and the checkpoint and abort
// marker (checkpoint), in RocketMQ 4.x's on-disk layout under Config.RootDir:
//
//	commitlog/<20-digit offset>          commit-log segments
//	consumequeue/<topic>/<queueId>/...   consume queues
//	index/<yyyyMMddHHmmssSSS>            index files
//	checkpoint, abort, lock              checkpoint, crash marker, directory lock
//	config/*.json (+ .bak)               broker config files (LoadConfig/SaveConfig)
//
// The byte formats are documented in those packages and in
// docs/design/storage.md; this package adds no file format of its own.
//
// # Put
//
// Put encodes the message into a pooled buffer outside any lock, then calls
// commitlog.Append, whose append lock covers only offset assignment, the copy
// and the queue-offset callback: the topic-queue table hands out the next queue
// offset of (topic, queue) there, so queue offsets follow the log's order
// (transaction half and rollback records get queue offset 0 and do not advance
// it, as in RocketMQ). ASYNC_FLUSH answers at once; SYNC_FLUSH answers from the
// commit log's group commit (commitlog.SyncAsync), with PutFlushDiskTimeout after
// SyncFlushTimeout. No goroutine waits per request.
//
// # Dispatch
//
// One dispatcher goroutine follows the commit log from the dispatch watermark
// with commitlog.Scan and, per record: appends the consume-queue entry (tags code
// = Java hash of TAGS, or the delivery time for SCHEDULE_TOPIC_XXXX; none for
// transaction half and rollback records), adds UNIQ_KEY and KEYS to the index
// (not for rollbacks), advances the watermark and pushes a DispatchEvent to
// every registered DispatchQueue.
//
// # Signals, not callbacks
//
// The store never runs upper-layer code on its goroutines. A Put's outcome is
// a Completion pushed to the caller's Completions queue; dispatch events are
// pushed to bounded DispatchQueues that drop (and say so) rather than block.
// The owner of each queue drains it from its own goroutine, so reply
// encoding or long-poll work cannot slow the writer, the group commit or the
// dispatcher (signal.go).
// It sleeps on a capacity-1 channel that the commit log's writer signals
// (commitlog.Config.OnWritten) whenever it publishes data.
//
// A consume-queue or index write that fails (EMFILE, ENOSPC, EIO, a failed
// fsync) does not stop a queue for good: the dispatcher records a repair from
// that record on (repair.go), skips the queue in normal dispatch, and retries
// with backoff (100 ms doubling to 30 s): it makes the queue writable again
// (or opens the index again from its files), then adds the missing entries
// from the commit log, a bounded chunk per pass, until it reaches the
// watermark. Meanwhile the store is degraded: logged at ERROR and listed in
// Stats.Problems. A record whose queue offset does not follow its queue is a
// message retention deleted before dispatch (the queue gets entries for the
// deleted messages and skips them) or one of a deleted topic (left out).
//
// # Reads
//
// GetMessages follows RocketMQ 4.9's getMessage: NO_MATCHED_LOGIC_QUEUE and
// NO_MESSAGE_IN_QUEUE answer NextBeginOffset 0, OFFSET_TOO_SMALL the queue's
// minimum, OFFSET_OVERFLOW_ONE the offset itself, OFFSET_OVERFLOW_BADLY the
// maximum (0 when the minimum is 0), OFFSET_FOUND_NULL the start of the next
// consume-queue file; FOUND, NO_MATCHED_MESSAGE and MESSAGE_WAS_REMOVING answer
// offset + entries scanned (filtered-out entries count). After a record that
// retention removed, entries in the same commit-log segment are skipped.
//
// # Recovery, checkpoint, retention, shutdown
//
// See docs/design/storage.md ("Store facade"). In short: Open creates the abort
// marker first; after a clean stop it re-dispatches from the consume queues'
// largest end (and the index's end); after a crash from the segment before the
// checkpoint's consume-queue time (and the index's end), after truncating consume
// queues and index to the recovered commit-log end and checking each queue's last
// entry against its record. Re-dispatch is idempotent (consume-queue appends of
// existing entries are no-ops, a differing entry cuts the queue there; the index
// skips what it has). A queue that lost entries the commit log still holds, or
// that cannot be opened, is rebuilt from the commit log's minimum. A periodic
// flusher writes the checkpoint with times no later than what it has flushed.
//
// Retention and the disk guard follow RocketMQ 4.9 (clean.go), with disk use
// measured per store path (commit log, consume queues) as df shows it, used ÷
// (used + available), so blocks reserved for root count as neither: expired
// segments (FileReservedTime) go at DeleteWhen hours, or at any hour above
// DiskMaxUsedSpaceRatio (75%); unexpired ones go only above
// DiskSpaceCleanForciblyRatio (85%), oldest first, each logged at ERROR with
// its time range and, per consumer group (ConsumerProgress), the unconsumed
// messages it held; puts are refused with ErrDiskFull above DiskFullRatio
// (diskSpaceWarningLevelRatio, 90%). The disk is measured every
// CleanResourceInterval, every 1/8 segment written, after each segment
// allocation and when a put was refused, so a fast writer cannot outrun the
// guard and puts resume by themselves once space is back. The commit log only
// places records in preallocated segments and refuses (ErrNoSegment, mapped
// to ErrDiskFull) a record whose segment could not be allocated, without
// turning read-only.
//
// # Replication
//
// *Store, not MessageStore, has the API a master's and a slave's HA service
// use (replica.go; docs/design/replication.md): raw commit-log reads
// (ReadCommitLog), appends of a master's bytes at their offsets
// (AppendReplicated, durable per flush mode before it returns), online cuts
// for a diverged or too-old slave log (TruncateCommitLog, ResetCommitLog),
// record walks (CommitLogRecords, LastCommitLogRecord), a written signal
// (CommitLogWritten) and the Replicator that holds SYNC_MASTER puts until a
// slave has them (SetReplicator).
//
// # Goroutines and locks
//
// Start launches the dispatcher, the derived-data flusher and the cleaner (plus
// the commit log's writer and flusher); Close stops them. Lock order: putGate
// (a truncation takes it exclusively) → repl.dispMu (held by the dispatcher for
// each pass, and by a truncation) → Store.cq → Store.tq; Store.idxMu (the
// index pointer, replaced by an index repair) → (the index's own locks);
// Store.cleanMu (one retention pass at a time) → Store.cq, idxMu; commitlog's
// append lock → (nothing of the Store: the queue-offset callback only uses an
// atomic counter). No Store lock is held across an fsync except cq's write
// lock while a queue is created or a topic deleted, idxMu (shared) while the
// index is flushed, cleanMu, and putGate and dispMu during a truncation.
//
// # Example
//
//	s, err := store.Open(vfs.OS, store.DefaultConfig(), logger, clock.Real{})
//	if err != nil { ... }
//	if err := s.Start(ctx); err != nil { ... }
//	defer s.Close()
//	s.Put(msg, func(r store.PutResult, err error) { reply(r, err) })
//	res, err := s.GetMessages(ctx, group, topic, queueID, offset, 32, filter, buf[:0])
//
// Imports: the standard library, its subpackages, internal/vfs, pkg/clock,
// pkg/message and x/sys. It must never import the broker, remoting or the SDK
// (internal/lint), and its goroutines never run upper-layer code (signals,
// above).
package store
