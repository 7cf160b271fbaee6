package vfs

import (
	"io"
	"io/fs"
)

// FS is the filesystem.
type FS interface {
	// Create creates or truncates the named file for reading and writing.
	Create(name string) (File, error)
	// Open opens the named file read-only.
	Open(name string) (File, error)
	// OpenReadWrite opens an existing file, or creates it, for reading and writing
	// without truncating it.
	OpenReadWrite(name string) (File, error)
	// OpenDir opens a directory so it can be synced after entries change.
	OpenDir(name string) (File, error)
	// MkdirAll creates a directory and its parents.
	MkdirAll(dir string, perm fs.FileMode) error
	// Rename atomically replaces newname with oldname.
	Rename(oldname, newname string) error
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// RemoveAll removes a path and everything below it.
	RemoveAll(name string) error
	// List returns the names (not paths) of the entries of dir, sorted.
	List(dir string) ([]string, error)
	// Stat describes the named file.
	Stat(name string) (fs.FileInfo, error)
	// Lock takes an exclusive advisory lock on the named file (created if absent),
	// so two processes cannot open the same store. Close the returned Closer to
	// release it.
	Lock(name string) (io.Closer, error)
	// PathJoin joins path elements.
	PathJoin(elem ...string) string
}

// File is an open file.
type File interface {
	io.Reader
	io.Writer
	io.ReaderAt
	io.WriterAt
	io.Closer
	// Sync makes the file's data and metadata durable (fsync).
	Sync() error
	// Truncate changes the file's size.
	Truncate(size int64) error
	Stat() (fs.FileInfo, error)
}

// Preallocator is an optional File capability: reserve size bytes of disk at off so
// later writes there neither fail for space nor change file metadata.
type Preallocator interface {
	Preallocate(off, size int64) error
}

// DataSyncer is an optional File capability: fdatasync, durability of data and of the
// metadata needed to read it back (size), without the rest.
type DataSyncer interface {
	SyncData() error
}

// SyncData calls f.SyncData when f has it, else f.Sync.
func SyncData(f File) error {
	if ds, ok := f.(DataSyncer); ok {
		return ds.SyncData()
	}
	return f.Sync()
}

// DiskUsage is an optional FS capability: how full the filesystem holding path
// is, as statfs(2) reports it.
type DiskUsage interface {
	Space(path string) (Space, error)
}

// Space describes a filesystem's capacity in bytes, as statfs(2) reports it.
type Space struct {
	// Total is the size of the filesystem (f_blocks).
	Total uint64
	// Free is the space not in use, including blocks reserved for the
	// superuser (f_bfree).
	Free uint64
	// Avail is the space an unprivileged process may still use (f_bavail):
	// Free minus the reserved blocks.
	Avail uint64
}

// Used returns the bytes in use: Total - Free. Reserved blocks that are free
// do not count.
func (s Space) Used() uint64 { return s.Total - min(s.Free, s.Total) }

// UsedRatio returns Used / (Used + Avail), in [0, 1]: the Use% that df(1)
// prints. Blocks reserved for the superuser count neither as used nor as
// available, so a filesystem made with a large reserve (mkfs.ext4 -m) is not
// reported full while it is nearly empty. An empty or unknown filesystem gives 0.
func (s Space) UsedRatio() float64 {
	used := s.Used()
	if used+s.Avail == 0 {
		return 0
	}
	return float64(used) / float64(used+s.Avail)
}
