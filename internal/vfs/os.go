package vfs

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"
)

// OS is the real filesystem.
var OS FS = osFS{}

type osFS struct{}

var (
	_ FS           = osFS{}
	_ DiskUsage    = osFS{}
	_ Preallocator = (*osFile)(nil)
	_ DataSyncer   = (*osFile)(nil)
)

type osFile struct{ *os.File }

func (f *osFile) SyncData() error { return unix.Fdatasync(int(f.Fd())) }

func (f *osFile) Preallocate(off, size int64) error {
	err := unix.Fallocate(int(f.Fd()), 0, off, size)
	if err == unix.EOPNOTSUPP || err == unix.ENOSYS {
		return nil // the filesystem cannot; writes still work
	}
	return err
}

func wrap(f *os.File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return &osFile{f}, nil
}

func (osFS) Create(name string) (File, error) {
	return wrap(os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644))
}

func (osFS) Open(name string) (File, error) { return wrap(os.Open(name)) }

func (osFS) OpenReadWrite(name string) (File, error) {
	return wrap(os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644))
}

func (osFS) OpenDir(name string) (File, error) { return wrap(os.Open(name)) }

func (osFS) MkdirAll(dir string, perm fs.FileMode) error { return os.MkdirAll(dir, perm) }

func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

func (osFS) Remove(name string) error { return os.Remove(name) }

func (osFS) RemoveAll(name string) error { return os.RemoveAll(name) }

func (osFS) List(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	sort.Strings(names)
	return names, err
}

func (osFS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

func (osFS) PathJoin(elem ...string) string { return filepath.Join(elem...) }

// Space implements DiskUsage with statfs(2). Block counts are in units of the
// fragment size (f_frsize), which Linux reports equal to f_bsize for the
// filesystems a store lives on.
func (osFS) Space(path string) (Space, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return Space{}, &fs.PathError{Op: "statfs", Path: path, Err: err}
	}
	unit := uint64(st.Frsize)
	if unit == 0 {
		unit = uint64(st.Bsize)
	}
	return Space{Total: st.Blocks * unit, Free: st.Bfree * unit, Avail: st.Bavail * unit}, nil
}

type lockCloser struct{ f *os.File }

func (l lockCloser) Close() error {
	_ = unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	return l.f.Close()
}

func (osFS) Lock(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, &fs.PathError{Op: "lock", Path: name, Err: err}
	}
	return lockCloser{f}, nil
}
