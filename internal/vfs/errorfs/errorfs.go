package errorfs

import (
	"errors"
	"io"
	"io/fs"
	"sync"
	"sync/atomic"

	"github.com/petrelmq/petrel/internal/vfs"
)

// ErrInjected is the default injected error.
var ErrInjected = errors.New("errorfs: injected error")

// Op is a kind of filesystem operation.
type Op int

// The operations an Injector sees.
const (
	OpCreate      Op = iota // FS.Create, FS.OpenReadWrite (may create)
	OpOpen                  // FS.Open, FS.OpenDir
	OpRemove                // FS.Remove, FS.RemoveAll
	OpRename                // FS.Rename
	OpMkdir                 // FS.MkdirAll
	OpList                  // FS.List
	OpLock                  // FS.Lock
	OpRead                  // File.Read, File.ReadAt
	OpWrite                 // File.Write, File.WriteAt
	OpSync                  // File.Sync, File.SyncData (also on directories)
	OpTruncate              // File.Truncate
	OpPreallocate           // Preallocator.Preallocate
	OpStatfs                // vfs.DiskUsage.Space
	numOps
)

var opNames = [...]string{"create", "open", "remove", "rename", "mkdir", "list", "lock", "read", "write", "sync", "truncate", "preallocate", "statfs"}

func (o Op) String() string {
	if o >= 0 && o < numOps {
		return opNames[o]
	}
	return "op(?)"
}

// Injector decides whether an operation on path fails; a nil error lets it through.
type Injector interface {
	MaybeError(op Op, path string) error
}

// InjectorFunc adapts a function to Injector.
type InjectorFunc func(op Op, path string) error

// MaybeError calls f.
func (f InjectorFunc) MaybeError(op Op, path string) error { return f(op, path) }

// OnNth fails only the nth (1-based) operation of kind op with err.
func OnNth(op Op, n int64, err error) Injector {
	var count atomic.Int64
	return InjectorFunc(func(o Op, _ string) error {
		if o == op && count.Add(1) == n {
			return err
		}
		return nil
	})
}

// FromNth fails the nth (1-based) operation of kind op and every later one with err,
// like a device that has gone bad.
func FromNth(op Op, n int64, err error) Injector {
	var count atomic.Int64
	return InjectorFunc(func(o Op, _ string) error {
		if o == op && count.Add(1) >= n {
			return err
		}
		return nil
	})
}

// If fails every operation for which pred returns true with err.
func If(pred func(op Op, path string) bool, err error) Injector {
	return InjectorFunc(func(o Op, p string) error {
		if pred(o, p) {
			return err
		}
		return nil
	})
}

// Switch is an Injector that can be armed and disarmed while the FS is in use.
// Disarmed (the zero value), it lets everything through.
type Switch struct {
	mu  sync.Mutex
	inj Injector
}

// Set arms s with inj; nil disarms it.
func (s *Switch) Set(inj Injector) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inj = inj
}

// MaybeError consults the armed Injector.
func (s *Switch) MaybeError(op Op, path string) error {
	s.mu.Lock()
	inj := s.inj
	s.mu.Unlock()
	if inj == nil {
		return nil
	}
	return inj.MaybeError(op, path)
}

// FS is a vfs.FS whose operations pass through an Injector first.
type FS struct {
	fs  vfs.FS
	inj Injector
}

var (
	_ vfs.FS           = (*FS)(nil)
	_ vfs.DiskUsage    = (*FS)(nil)
	_ vfs.File         = (*file)(nil)
	_ vfs.Preallocator = (*file)(nil)
	_ vfs.DataSyncer   = (*file)(nil)
)

// Wrap returns fsys with faults from inj. Files it opens always implement
// vfs.Preallocator and vfs.DataSyncer; when the wrapped file lacks them,
// Preallocate does nothing and SyncData calls Sync.
func Wrap(fsys vfs.FS, inj Injector) *FS { return &FS{fs: fsys, inj: inj} }

func (e *FS) fail(op Op, path string) error {
	if err := e.inj.MaybeError(op, path); err != nil {
		return &fs.PathError{Op: op.String(), Path: path, Err: err}
	}
	return nil
}

func (e *FS) wrapFile(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &file{f: f, fs: e, name: name}, nil
}

// Create implements vfs.FS.
func (e *FS) Create(name string) (vfs.File, error) {
	if err := e.fail(OpCreate, name); err != nil {
		return nil, err
	}
	f, err := e.fs.Create(name)
	return e.wrapFile(name, f, err)
}

// Open implements vfs.FS.
func (e *FS) Open(name string) (vfs.File, error) {
	if err := e.fail(OpOpen, name); err != nil {
		return nil, err
	}
	f, err := e.fs.Open(name)
	return e.wrapFile(name, f, err)
}

// OpenReadWrite implements vfs.FS.
func (e *FS) OpenReadWrite(name string) (vfs.File, error) {
	if err := e.fail(OpCreate, name); err != nil {
		return nil, err
	}
	f, err := e.fs.OpenReadWrite(name)
	return e.wrapFile(name, f, err)
}

// OpenDir implements vfs.FS.
func (e *FS) OpenDir(name string) (vfs.File, error) {
	if err := e.fail(OpOpen, name); err != nil {
		return nil, err
	}
	f, err := e.fs.OpenDir(name)
	return e.wrapFile(name, f, err)
}

// MkdirAll implements vfs.FS.
func (e *FS) MkdirAll(dir string, perm fs.FileMode) error {
	if err := e.fail(OpMkdir, dir); err != nil {
		return err
	}
	return e.fs.MkdirAll(dir, perm)
}

// Rename implements vfs.FS; the Injector sees newname.
func (e *FS) Rename(oldname, newname string) error {
	if err := e.fail(OpRename, newname); err != nil {
		return err
	}
	return e.fs.Rename(oldname, newname)
}

// Remove implements vfs.FS.
func (e *FS) Remove(name string) error {
	if err := e.fail(OpRemove, name); err != nil {
		return err
	}
	return e.fs.Remove(name)
}

// RemoveAll implements vfs.FS.
func (e *FS) RemoveAll(name string) error {
	if err := e.fail(OpRemove, name); err != nil {
		return err
	}
	return e.fs.RemoveAll(name)
}

// List implements vfs.FS.
func (e *FS) List(dir string) ([]string, error) {
	if err := e.fail(OpList, dir); err != nil {
		return nil, err
	}
	return e.fs.List(dir)
}

// Stat implements vfs.FS; it is never failed.
func (e *FS) Stat(name string) (fs.FileInfo, error) { return e.fs.Stat(name) }

// Lock implements vfs.FS.
func (e *FS) Lock(name string) (io.Closer, error) {
	if err := e.fail(OpLock, name); err != nil {
		return nil, err
	}
	return e.fs.Lock(name)
}

// PathJoin implements vfs.FS.
func (e *FS) PathJoin(elem ...string) string { return e.fs.PathJoin(elem...) }

// Space implements vfs.DiskUsage when the wrapped FS does, else reports
// errors.ErrUnsupported. The Injector sees it as OpStatfs.
func (e *FS) Space(path string) (vfs.Space, error) {
	if err := e.fail(OpStatfs, path); err != nil {
		return vfs.Space{}, err
	}
	if du, ok := e.fs.(vfs.DiskUsage); ok {
		return du.Space(path)
	}
	return vfs.Space{}, errors.ErrUnsupported
}

type file struct {
	f    vfs.File
	fs   *FS
	name string
}

func (f *file) Read(p []byte) (int, error) {
	if err := f.fs.fail(OpRead, f.name); err != nil {
		return 0, err
	}
	return f.f.Read(p)
}

func (f *file) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.fail(OpRead, f.name); err != nil {
		return 0, err
	}
	return f.f.ReadAt(p, off)
}

func (f *file) Write(p []byte) (int, error) {
	if err := f.fs.fail(OpWrite, f.name); err != nil {
		return 0, err
	}
	return f.f.Write(p)
}

func (f *file) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.fail(OpWrite, f.name); err != nil {
		return 0, err
	}
	return f.f.WriteAt(p, off)
}

func (f *file) Close() error { return f.f.Close() }

func (f *file) Sync() error {
	if err := f.fs.fail(OpSync, f.name); err != nil {
		return err
	}
	return f.f.Sync()
}

func (f *file) SyncData() error {
	if err := f.fs.fail(OpSync, f.name); err != nil {
		return err
	}
	return vfs.SyncData(f.f)
}

func (f *file) Truncate(size int64) error {
	if err := f.fs.fail(OpTruncate, f.name); err != nil {
		return err
	}
	return f.f.Truncate(size)
}

func (f *file) Preallocate(off, size int64) error {
	if err := f.fs.fail(OpPreallocate, f.name); err != nil {
		return err
	}
	if p, ok := f.f.(vfs.Preallocator); ok {
		return p.Preallocate(off, size)
	}
	return nil
}

func (f *file) Stat() (fs.FileInfo, error) { return f.f.Stat() }
