package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"path/filepath"
	"sync"

	"github.com/petrelmq/petrel/internal/vfs"
)

// Layout of the checkpoint file. Part of the on-disk format; never change.
const (
	// FileSize is the size of the checkpoint file: RocketMQ maps one OS page.
	FileSize = 4096
	// Field offsets of RocketMQ's StoreCheckpoint, each an int64 big-endian.
	physicPos = 0
	logicsPos = 8
	indexPos  = 16
	// fieldsEnd is the end of the fields RocketMQ 4.x reads and writes.
	fieldsEnd = 24
	// The Petrel trailer at the end of the page: magic (8), version (4), CRC-32C
	// (Castagnoli) of bytes [0, fieldsEnd) (4). RocketMQ ignores these bytes;
	// a file without the magic is a RocketMQ file and is accepted unchecked.
	trailerPos = FileSize - 16
	versionPos = trailerPos + 8
	crcPos     = trailerPos + 12
	// Version is the trailer version this code writes and the newest it reads.
	Version = 1
)

var magic = [8]byte{'P', 'T', 'R', 'L', 'C', 'K', 'P', 'T'}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors. Match them with errors.Is.
var (
	// ErrCorrupt marks a checkpoint file that cannot be trusted: too short, or with
	// a Petrel trailer whose checksum does not match.
	ErrCorrupt = errors.New("checkpoint: corrupt")
	// ErrNewerVersion is returned for a file written by a newer format version.
	ErrNewerVersion = errors.New("checkpoint: newer format version")
)

// Values are the checkpoint's watermarks: store timestamps (ms since the epoch) of
// the last message known durable in each structure, as RocketMQ's StoreCheckpoint.
type Values struct {
	// PhysicMsgTimestamp is the store time of the last message flushed in the
	// commit log.
	PhysicMsgTimestamp int64
	// LogicsMsgTimestamp is the store time of the last message whose consume-queue
	// entry was flushed.
	LogicsMsgTimestamp int64
	// IndexMsgTimestamp is the end timestamp of the last index file that was full
	// and flushed.
	IndexMsgTimestamp int64
}

// MinTimestamp is RocketMQ's recovery point for the commit log: min(physic,
// logics) minus 3 seconds (store times are not strictly ordered across flushes),
// never below 0.
func (v Values) MinTimestamp() int64 {
	m := min(v.PhysicMsgTimestamp, v.LogicsMsgTimestamp) - 3000
	return max(m, 0)
}

// MinTimestampIndex is MinTimestamp also bounded by IndexMsgTimestamp: the recovery
// point when the message index is enabled.
func (v Values) MinTimestampIndex() int64 {
	return min(v.MinTimestamp(), v.IndexMsgTimestamp)
}

// Encode returns the FileSize-byte file image of v, with the Petrel trailer.
func Encode(v Values) []byte {
	b := make([]byte, FileSize)
	binary.BigEndian.PutUint64(b[physicPos:], uint64(v.PhysicMsgTimestamp))
	binary.BigEndian.PutUint64(b[logicsPos:], uint64(v.LogicsMsgTimestamp))
	binary.BigEndian.PutUint64(b[indexPos:], uint64(v.IndexMsgTimestamp))
	copy(b[trailerPos:], magic[:])
	binary.BigEndian.PutUint32(b[versionPos:], Version)
	binary.BigEndian.PutUint32(b[crcPos:], crc32.Checksum(b[:fieldsEnd], castagnoli))
	return b
}

// Decode parses a checkpoint file image. It accepts RocketMQ's files (no trailer;
// anything of at least 24 bytes) and Petrel's (trailer checked). It returns an error
// wrapping ErrCorrupt or ErrNewerVersion when it cannot trust b.
func Decode(b []byte) (Values, error) {
	if len(b) < fieldsEnd {
		return Values{}, fmt.Errorf("%w: %d bytes, want at least %d", ErrCorrupt, len(b), fieldsEnd)
	}
	v := Values{
		PhysicMsgTimestamp: int64(binary.BigEndian.Uint64(b[physicPos:])),
		LogicsMsgTimestamp: int64(binary.BigEndian.Uint64(b[logicsPos:])),
		IndexMsgTimestamp:  int64(binary.BigEndian.Uint64(b[indexPos:])),
	}
	if len(b) < FileSize || [8]byte(b[trailerPos:versionPos]) != magic {
		return v, nil // RocketMQ's file
	}
	if ver := binary.BigEndian.Uint32(b[versionPos:]); ver > Version {
		return Values{}, fmt.Errorf("%w: %d, this build reads up to %d", ErrNewerVersion, ver, Version)
	}
	if got, want := crc32.Checksum(b[:fieldsEnd], castagnoli), binary.BigEndian.Uint32(b[crcPos:]); got != want {
		return Values{}, fmt.Errorf("%w: checksum %08x, stored %08x", ErrCorrupt, got, want)
	}
	return v, nil
}

// Checkpoint is the store's checkpoint file. Setters and getters are safe for
// concurrent use and never block on I/O; Flush writes the current values durably.
type Checkpoint struct {
	fs   vfs.FS
	path string

	// flushMu serialises Flush calls (each writes and fsyncs a whole file); only
	// Flush takes it, so setters never wait for an fsync. Order: flushMu → mu.
	flushMu sync.Mutex
	mu      struct {
		sync.Mutex
		v Values
	}
	existed bool
}

// Load reads the checkpoint at path. A missing file gives zero values (RocketMQ
// starts from scratch the same way) and Existed reports false; the file is written
// by the first Flush. The directory of path must exist by then. An unreadable or
// untrustworthy file is an error (ErrCorrupt, ErrNewerVersion, or the I/O error).
func Load(fsys vfs.FS, path string) (*Checkpoint, error) {
	c := &Checkpoint{fs: fsys, path: path}
	b, err := vfs.ReadFile(fsys, path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return c, nil
	case err != nil:
		return nil, fmt.Errorf("checkpoint: read %s: %w", path, err)
	}
	v, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %s: %w", path, err)
	}
	c.mu.v = v
	c.existed = true
	return c, nil
}

// Existed reports whether Load found a checkpoint file.
func (c *Checkpoint) Existed() bool { return c.existed }

// Path returns the file path.
func (c *Checkpoint) Path() string { return c.path }

// Values returns the current (possibly not yet flushed) values.
func (c *Checkpoint) Values() Values {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.v
}

// PhysicMsgTimestamp returns the current commit-log watermark (ms).
func (c *Checkpoint) PhysicMsgTimestamp() int64 { return c.Values().PhysicMsgTimestamp }

// LogicsMsgTimestamp returns the current consume-queue watermark (ms).
func (c *Checkpoint) LogicsMsgTimestamp() int64 { return c.Values().LogicsMsgTimestamp }

// IndexMsgTimestamp returns the current index watermark (ms).
func (c *Checkpoint) IndexMsgTimestamp() int64 { return c.Values().IndexMsgTimestamp }

// SetPhysicMsgTimestamp sets the commit-log watermark; durable after Flush. Call it
// only after the commit-log data up to that message is durable.
func (c *Checkpoint) SetPhysicMsgTimestamp(ms int64) {
	c.mu.Lock()
	c.mu.v.PhysicMsgTimestamp = ms
	c.mu.Unlock()
}

// SetLogicsMsgTimestamp sets the consume-queue watermark; durable after Flush. Call
// it only after the consume-queue entries up to that message are durable.
func (c *Checkpoint) SetLogicsMsgTimestamp(ms int64) {
	c.mu.Lock()
	c.mu.v.LogicsMsgTimestamp = ms
	c.mu.Unlock()
}

// SetIndexMsgTimestamp sets the index watermark; durable after Flush. Call it only
// after the index file ending at that time is durable.
func (c *Checkpoint) SetIndexMsgTimestamp(ms int64) {
	c.mu.Lock()
	c.mu.v.IndexMsgTimestamp = ms
	c.mu.Unlock()
}

// Flush writes the current values durably by atomic replacement: write path.tmp,
// fsync it, rename it over path, fsync the directory. After a crash the file holds
// the values of some completed Flush, never a torn mix. Concurrent Flush calls are
// serialised; setters do not wait for it. A failed Flush may be retried: it writes a
// fresh temporary file (no fsync is retried on the same data).
func (c *Checkpoint) Flush() error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	img := Encode(c.Values())
	if err := vfs.WriteFileAtomic(c.fs, c.path, img); err != nil {
		return fmt.Errorf("checkpoint: flush: %w", err)
	}
	return nil
}

// CreateAbort creates the abort marker at path (RocketMQ's "abort" file, empty)
// and makes it durable (file and directory fsync). The store calls it at start,
// after reading AbortExists; its presence at the next start means that run crashed.
func CreateAbort(fsys vfs.FS, path string) error {
	f, err := fsys.Create(path)
	if err != nil {
		return fmt.Errorf("checkpoint: create abort file %s: %w", path, err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("checkpoint: create abort file %s: %w", path, err)
	}
	if err := vfs.SyncDir(fsys, filepath.Dir(path)); err != nil {
		return fmt.Errorf("checkpoint: create abort file: %w", err)
	}
	return nil
}

// AbortExists reports whether the abort marker exists: the last run did not shut
// down cleanly and recovery must scan the commit log.
func AbortExists(fsys vfs.FS, path string) (bool, error) {
	_, err := fsys.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("checkpoint: stat abort file %s: %w", path, err)
	}
}

// RemoveAbort removes the abort marker and fsyncs its directory, so the clean
// shutdown is durable. A missing marker is not an error. Call it last in shutdown,
// after everything else is flushed.
func RemoveAbort(fsys vfs.FS, path string) error {
	if err := fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checkpoint: remove abort file %s: %w", path, err)
	}
	if err := vfs.SyncDir(fsys, filepath.Dir(path)); err != nil {
		return fmt.Errorf("checkpoint: remove abort file: %w", err)
	}
	return nil
}
