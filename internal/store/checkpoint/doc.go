// Package checkpoint reads and writes the store's checkpoint file and the abort
// marker, in RocketMQ 4.x's layout (store/StoreCheckpoint.java).
//
// # Checkpoint file
//
// <storePathRootDir>/checkpoint (RocketMQ's storeCheckpoint), FileSize = 4096 bytes,
// all integers big-endian:
//
//	 0        8        16       24                      4080     4088  4092  4096
//	+--------+--------+--------+-- zeros ... ----------+--------+-----+-----+
//	| physic | logics | index  |                       | magic  | ver | crc |
//	| int64  | int64  | int64  |                       |PTRLCKPT|  u32| u32 |
//	+--------+--------+--------+-----------------------+--------+-----+-----+
//
// Fields:
//
//   - physic: store timestamp (ms) of the last message flushed in the commit log.
//   - logics: store timestamp (ms) of the last message whose consume-queue entry
//     was flushed.
//   - index: end timestamp (ms) of the last full index file that was flushed.
//   - trailer (Petrel only): magic "PTRLCKPT", format version (1), and the CRC-32C
//     (Castagnoli) of bytes [0, 24). RocketMQ reads only the first 24 bytes, so it
//     reads our files; we read RocketMQ's files (no magic: accepted without a
//     check, any size of at least 24 bytes). A file with the magic and a newer
//     version is refused (ErrNewerVersion), and one with a wrong CRC is
//     ErrCorrupt: never silently reset to zero.
//
// Recovery after a crash starts scanning the commit log from the first segment whose
// first message is older than Values.MinTimestamp (or MinTimestampIndex with the
// index enabled), as RocketMQ does; the checkpoint must therefore never be later
// than durable data: set a watermark only after the data it covers is flushed.
//
// # Crash safety
//
// RocketMQ overwrites the page in place through mmap and forces it; a crash in the
// middle can leave a torn page. Flush here replaces the file atomically
// (vfs.WriteFileAtomic: write checkpoint.tmp, fsync, rename over checkpoint, fsync
// the directory), so after a crash the file holds the values of a completed Flush.
// A stale checkpoint.tmp left by a crash is overwritten by the next Flush.
//
// # Abort marker
//
// <storePathRootDir>/abort is an empty file: CreateAbort makes it (durably) when the
// store starts, RemoveAbort deletes it (with a directory fsync) as the very last
// step of a clean shutdown, and AbortExists at start tells whether the previous run
// crashed and recovery must scan and repair.
//
// # Concurrency
//
// Checkpoint getters and setters are safe for concurrent use and never wait for
// I/O. Flush calls are serialised with each other; they snapshot the values and
// write them without blocking setters.
//
// Example:
//
//	crashed, err := checkpoint.AbortExists(fsys, root+"/abort")
//	cp, err := checkpoint.Load(fsys, root+"/checkpoint")
//	err = checkpoint.CreateAbort(fsys, root+"/abort")
//	...
//	cp.SetPhysicMsgTimestamp(lastFlushedStoreTime)
//	err = cp.Flush()
//	...
//	err = checkpoint.RemoveAbort(fsys, root+"/abort") // clean shutdown
//
// Imports: the standard library and internal/vfs (the store's rule,
// internal/lint).
package checkpoint
