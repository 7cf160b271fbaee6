package vfs

import (
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// MemFS is an in-memory FS for tests. It implements FS, DiskUsage, and, on its files,
// Preallocator and DataSyncer.
//
// A MemFS made by NewCrashableMem also records, per file, which writes happened since
// the last Sync and, per directory, which entries changed since the directory's last
// Sync, so CrashClone can produce the state a machine could hold after a power cut.
//
// Durability model of a crashable MemFS:
//   - File data is durable once the file (any handle to it) is synced.
//   - A created, renamed or removed directory entry is durable once its parent
//     directory is synced (OpenDir + Sync), as on Linux file systems without
//     ordering guarantees. Syncing a file does not make its directory entry durable.
//   - MkdirAll is durable at once (a simplification: tests never need to crash
//     between making a directory and syncing its parent).
//
// All methods are safe for concurrent use; one mutex guards the whole tree.
type MemFS struct {
	mu        sync.Mutex
	root      *memNode
	crashable bool
	capacity  int64            // bytes; 0 means unlimited
	reserved  int64            // bytes of capacity only the superuser may use; writes never do
	used      int64            // sum of file sizes
	now       func() time.Time // file modification times; time.Now by default
	locks     map[string]bool
}

var (
	_ FS           = (*MemFS)(nil)
	_ DiskUsage    = (*MemFS)(nil)
	_ File         = (*memFile)(nil)
	_ Preallocator = (*memFile)(nil)
	_ DataSyncer   = (*memFile)(nil)
)

// memOp is one unsynced change to a file: a write of data at off, or (data == nil) a
// change of size to size.
type memOp struct {
	off  int64
	data []byte
	size int64
}

type memNode struct {
	isDir   bool
	modTime time.Time

	// Files.
	data     []byte
	synced   []byte  // content as of the last Sync (crashable only)
	unsynced []memOp // changes since the last Sync, in order (crashable only)

	// Directories.
	children       map[string]*memNode
	syncedChildren map[string]*memNode // as of the last directory Sync (crashable only)
}

func newDirNode(now time.Time) *memNode {
	return &memNode{isDir: true, modTime: now, children: map[string]*memNode{}, syncedChildren: map[string]*memNode{}}
}

// NewMem returns an empty in-memory FS with unlimited capacity.
func NewMem() *MemFS {
	return &MemFS{root: newDirNode(time.Now()), locks: map[string]bool{}, now: time.Now}
}

// NewCrashableMem returns an empty in-memory FS that tracks unsynced state so that
// CrashClone can simulate a crash. It costs a second copy of synced file data.
func NewCrashableMem() *MemFS {
	m := NewMem()
	m.crashable = true
	return m
}

// SetCapacity limits the total size of all files to bytes (0: unlimited). A write,
// truncate or preallocation that would exceed it fails with an error matching
// syscall.ENOSPC and changes nothing. Lowering it below current use only affects
// later growth.
func (m *MemFS) SetCapacity(bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.capacity = bytes
}

// Used returns the bytes all files take.
func (m *MemFS) Used() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.used
}

// SetReserved sets aside bytes of the capacity as blocks reserved for the
// superuser, like mkfs.ext4 -m: Space reports them free but not available,
// and writes, which MemFS makes as an unprivileged process, fail with ENOSPC
// once only reserved space is left. It has no effect with unlimited capacity.
func (m *MemFS) SetReserved(bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reserved = bytes
}

// SetClock makes now the source of file modification times (default
// time.Now), so retention by age can be tested with a manual clock.
func (m *MemFS) SetClock(now func() time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = now
}

// Space implements DiskUsage for the whole MemFS (path is ignored): Total is
// the capacity (1<<62 when unlimited), Free what files do not use, Avail Free
// minus the reserved bytes.
func (m *MemFS) Space(string) (Space, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.capacity
	if c == 0 {
		c = 1 << 62
	}
	free := max(c-m.used, 0)
	avail := max(c-m.reserved-m.used, 0)
	if m.capacity == 0 {
		avail = free
	}
	return Space{Total: uint64(c), Free: uint64(free), Avail: uint64(avail)}, nil
}

func splitPath(name string) []string {
	name = filepath.ToSlash(filepath.Clean(name))
	name = strings.Trim(name, "/")
	if name == "" || name == "." {
		return nil
	}
	return strings.Split(name, "/")
}

// walkLocked returns the parent directory of name and name's last element.
func (m *MemFS) parentLocked(op, name string) (*memNode, string, error) {
	parts := splitPath(name)
	if len(parts) == 0 {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	dir := m.root
	for _, p := range parts[:len(parts)-1] {
		c, ok := dir.children[p]
		if !ok {
			return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		if !c.isDir {
			return nil, "", &fs.PathError{Op: op, Path: name, Err: syscall.ENOTDIR}
		}
		dir = c
	}
	return dir, parts[len(parts)-1], nil
}

func (m *MemFS) lookupLocked(op, name string) (*memNode, error) {
	if len(splitPath(name)) == 0 {
		return m.root, nil
	}
	dir, base, err := m.parentLocked(op, name)
	if err != nil {
		return nil, err
	}
	n, ok := dir.children[base]
	if !ok {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return n, nil
}

func (m *MemFS) openFile(op, name string, create, truncate, readOnly bool) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parentLocked(op, name)
	if err != nil {
		return nil, err
	}
	n, ok := dir.children[base]
	switch {
	case ok && n.isDir:
		return nil, &fs.PathError{Op: op, Path: name, Err: syscall.EISDIR}
	case !ok && !create:
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	case !ok:
		n = &memNode{modTime: m.now()}
		dir.children[base] = n
		if !m.crashable {
			dir.syncedChildren[base] = n
		}
	case truncate:
		m.resizeLocked(n, 0)
	}
	return &memFile{fs: m, node: n, name: name, readOnly: readOnly}, nil
}

// Create implements FS.
func (m *MemFS) Create(name string) (File, error) {
	return m.openFile("create", name, true, true, false)
}

// Open implements FS.
func (m *MemFS) Open(name string) (File, error) { return m.openFile("open", name, false, false, true) }

// OpenReadWrite implements FS.
func (m *MemFS) OpenReadWrite(name string) (File, error) {
	return m.openFile("open", name, true, false, false)
}

// OpenDir implements FS.
func (m *MemFS) OpenDir(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupLocked("open", name)
	if err != nil {
		return nil, err
	}
	if !n.isDir {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.ENOTDIR}
	}
	return &memFile{fs: m, node: n, name: name, readOnly: true}, nil
}

// MkdirAll implements FS. New directories are durable at once.
func (m *MemFS) MkdirAll(dir string, _ fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.root
	for _, p := range splitPath(dir) {
		c, ok := n.children[p]
		if !ok {
			c = newDirNode(m.now())
			n.children[p] = c
			n.syncedChildren[p] = c
		} else if !c.isDir {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		n = c
	}
	return nil
}

// Rename implements FS.
func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	od, ob, err := m.parentLocked("rename", oldname)
	if err != nil {
		return err
	}
	n, ok := od.children[ob]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrNotExist}
	}
	nd, nb, err := m.parentLocked("rename", newname)
	if err != nil {
		return err
	}
	if old, ok := nd.children[nb]; ok && old != n {
		if old.isDir != n.isDir || (old.isDir && len(old.children) > 0) {
			return &fs.PathError{Op: "rename", Path: newname, Err: fs.ErrExist}
		}
		m.used -= int64(len(old.data))
	}
	delete(od.children, ob)
	nd.children[nb] = n
	if !m.crashable {
		delete(od.syncedChildren, ob)
		nd.syncedChildren[nb] = n
	}
	return nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parentLocked("remove", name)
	if err != nil {
		return err
	}
	n, ok := dir.children[base]
	if !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	if n.isDir && len(n.children) > 0 {
		return &fs.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
	}
	m.removeLocked(dir, base, n)
	return nil
}

func (m *MemFS) removeLocked(dir *memNode, base string, n *memNode) {
	if n.isDir {
		for b, c := range n.children {
			m.removeLocked(n, b, c)
		}
	} else {
		m.used -= int64(len(n.data))
	}
	delete(dir.children, base)
	if !m.crashable {
		delete(dir.syncedChildren, base)
	}
}

// RemoveAll implements FS.
func (m *MemFS) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parentLocked("remove", name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if n, ok := dir.children[base]; ok {
		m.removeLocked(dir, base, n)
	}
	return nil
}

// List implements FS.
func (m *MemFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupLocked("open", dir)
	if err != nil {
		return nil, err
	}
	if !n.isDir {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: syscall.ENOTDIR}
	}
	names := make([]string, 0, len(n.children))
	for k := range n.children {
		names = append(names, k)
	}
	sort.Strings(names)
	return names, nil
}

// Stat implements FS.
func (m *MemFS) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupLocked("stat", name)
	if err != nil {
		return nil, err
	}
	return memInfo{name: filepath.Base(name), size: int64(len(n.data)), dir: n.isDir, mod: n.modTime}, nil
}

// PathJoin implements FS.
func (m *MemFS) PathJoin(elem ...string) string { return filepath.Join(elem...) }

type memLock struct {
	m    *MemFS
	name string
	once sync.Once
}

func (l *memLock) Close() error {
	l.once.Do(func() {
		l.m.mu.Lock()
		delete(l.m.locks, l.name)
		l.m.mu.Unlock()
	})
	return nil
}

// Lock implements FS. A second Lock of the same path fails until the first is closed.
func (m *MemFS) Lock(name string) (io.Closer, error) {
	f, err := m.OpenReadWrite(name)
	if err != nil {
		return nil, err
	}
	_ = f.Close()
	key := filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.locks[key] {
		return nil, &fs.PathError{Op: "lock", Path: name, Err: syscall.EWOULDBLOCK}
	}
	m.locks[key] = true
	return &memLock{m: m, name: key}, nil
}

// resizeLocked sets n's size, zero-filling growth, and records the change for
// CrashClone. Callers check capacity.
func (m *MemFS) resizeLocked(n *memNode, size int64) {
	m.setSizeLocked(n, size)
	if m.crashable {
		n.unsynced = append(n.unsynced, memOp{size: size})
	}
}

// setSizeLocked is resizeLocked without recording the change.
func (m *MemFS) setSizeLocked(n *memNode, size int64) {
	old := int64(len(n.data))
	switch {
	case size < old:
		clear(n.data[size:])
		n.data = n.data[:size]
	case size > old:
		if int64(cap(n.data)) >= size {
			n.data = n.data[:size] // the tail past len is kept zeroed
		} else {
			nd := make([]byte, size, growCap(old, size))
			copy(nd, n.data)
			n.data = nd
		}
	}
	m.used += size - old
	n.modTime = m.now()
}

func growCap(old, need int64) int64 {
	c := old * 2
	if c < need {
		c = need
	}
	return c
}

func (m *MemFS) checkSpaceLocked(growth int64) error {
	if growth > 0 && m.capacity > 0 && m.used+growth > m.capacity-m.reserved {
		return syscall.ENOSPC
	}
	return nil
}

// CrashCloneOptions configures CrashClone.
type CrashCloneOptions struct {
	// UnsyncedFraction is the probability, in [0, 1], that each unsynced change
	// survives the crash: each 4 KiB page of an unsynced write, each unsynced size
	// change, and each unsynced directory entry change is kept or dropped on its own.
	UnsyncedFraction float64
	// Seed seeds the choice; the same seed on the same state gives the same clone.
	Seed uint64
}

// crashPage is the granularity at which unsynced writes survive a crash.
const crashPage = 4096

// CrashClone returns a new crashable MemFS holding what a disk could hold after a
// power cut now: all synced data, plus a random subset of the unsynced changes chosen
// by opts. Unsynced changes are applied in the order they happened; a dropped write
// leaves whatever was there (zeros for fresh space). Open files and locks are not
// carried over. It panics if m was not made by NewCrashableMem.
func (m *MemFS) CrashClone(opts CrashCloneOptions) *MemFS {
	if !m.crashable {
		panic("vfs: CrashClone of a MemFS not made by NewCrashableMem")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
	keep := func() bool { return rng.Float64() < opts.UnsyncedFraction }
	c := NewCrashableMem()
	memo := map[*memNode]*memNode{}
	var cloneNode func(n *memNode) *memNode
	cloneNode = func(n *memNode) *memNode {
		if cn, ok := memo[n]; ok {
			return cn
		}
		cn := &memNode{isDir: n.isDir, modTime: n.modTime}
		memo[n] = cn
		if n.isDir {
			cn.children = map[string]*memNode{}
			// Durable entries, then each unsynced change on its own.
			names := make([]string, 0, len(n.children)+len(n.syncedChildren))
			for k := range n.syncedChildren {
				names = append(names, k)
			}
			for k := range n.children {
				if _, ok := n.syncedChildren[k]; !ok {
					names = append(names, k)
				}
			}
			sort.Strings(names)
			for _, k := range names {
				s, inSynced := n.syncedChildren[k]
				cur, inCur := n.children[k]
				pick := s
				if !inSynced || !inCur || s != cur {
					if keep() {
						pick = cur // nil when removed
					}
				}
				if pick != nil {
					cn.children[k] = cloneNode(pick)
				}
			}
			cn.syncedChildren = maps(cn.children)
			return cn
		}
		data := append([]byte(nil), n.synced...)
		for _, op := range n.unsynced {
			if op.data == nil {
				if keep() {
					data = resizeBytes(data, op.size)
				}
				continue
			}
			for off := op.off; off < op.off+int64(len(op.data)); {
				end := (off/crashPage + 1) * crashPage
				if end > op.off+int64(len(op.data)) {
					end = op.off + int64(len(op.data))
				}
				if keep() {
					if int64(len(data)) < end {
						data = resizeBytes(data, end)
					}
					copy(data[off:end], op.data[off-op.off:end-op.off])
				}
				off = end
			}
		}
		cn.data = data
		cn.synced = append([]byte(nil), data...)
		c.used += int64(len(data))
		return cn
	}
	c.root = cloneNode(m.root)
	c.capacity = m.capacity
	c.reserved = m.reserved
	c.now = m.now
	return c
}

func maps(in map[string]*memNode) map[string]*memNode {
	out := make(map[string]*memNode, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

func resizeBytes(b []byte, size int64) []byte {
	if size <= int64(len(b)) {
		return b[:size]
	}
	nb := make([]byte, size)
	copy(nb, b)
	return nb
}

type memInfo struct {
	name string
	size int64
	dir  bool
	mod  time.Time
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64  { return i.size }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i memInfo) ModTime() time.Time { return i.mod }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }

// memFile is an open MemFS file or directory.
type memFile struct {
	fs       *MemFS
	node     *memNode
	name     string
	readOnly bool

	mu     sync.Mutex // guards pos and closed
	pos    int64
	closed bool
}

func (f *memFile) check(op string, write bool) error {
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return &fs.PathError{Op: op, Path: f.name, Err: fs.ErrClosed}
	}
	if f.node.isDir && op != "sync" && op != "stat" {
		return &fs.PathError{Op: op, Path: f.name, Err: syscall.EISDIR}
	}
	if write && f.readOnly {
		return &fs.PathError{Op: op, Path: f.name, Err: syscall.EBADF}
	}
	return nil
}

func (f *memFile) Read(p []byte) (int, error) {
	f.mu.Lock()
	off := f.pos
	f.mu.Unlock()
	n, err := f.ReadAt(p, off)
	f.mu.Lock()
	f.pos += int64(n)
	f.mu.Unlock()
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: fs.ErrInvalid}
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if off >= int64(len(f.node.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.node.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock() // serialises Write calls on this handle, as the position must
	if f.closed {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: fs.ErrClosed}
	}
	n, err := f.writeAt(p, f.pos)
	f.pos += int64(n)
	return n, err
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	return f.writeAt(p, off)
}

// writeAt writes p at off; the caller has checked that f is open.
func (f *memFile) writeAt(p []byte, off int64) (int, error) {
	if f.node.isDir {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: syscall.EISDIR}
	}
	if f.readOnly {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: syscall.EBADF}
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: fs.ErrInvalid}
	}
	if len(p) == 0 {
		// Nothing to write. Recording it would store a nil data slice, which the
		// crash model reads as a resize to 0 (emptying the file at Sync).
		return 0, nil
	}
	m := f.fs
	m.mu.Lock()
	defer m.mu.Unlock()
	n := f.node
	end := off + int64(len(p))
	if err := m.checkSpaceLocked(end - int64(len(n.data))); err != nil {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: err}
	}
	if end > int64(len(n.data)) {
		m.setSizeLocked(n, end) // growth is implied by the write op recorded below
	}
	copy(n.data[off:], p)
	n.modTime = m.now()
	if m.crashable {
		n.unsynced = append(n.unsynced, memOp{off: off, data: append([]byte(nil), p...)})
	}
	return len(p), nil
}

func (f *memFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
	}
	f.closed = true
	return nil
}

// Sync makes the file's data durable; on a directory it makes its entries durable.
func (f *memFile) Sync() error {
	if err := f.check("sync", false); err != nil {
		return err
	}
	m := f.fs
	m.mu.Lock()
	defer m.mu.Unlock()
	n := f.node
	if n.isDir {
		n.syncedChildren = maps(n.children)
		return nil
	}
	if m.crashable {
		// Replaying the changes costs what was written since the last sync,
		// not the file size.
		for _, op := range n.unsynced {
			if op.data == nil {
				n.synced = resizeBytes(n.synced, op.size)
				continue
			}
			if end := op.off + int64(len(op.data)); end > int64(len(n.synced)) {
				n.synced = resizeBytes(n.synced, end)
			}
			copy(n.synced[op.off:], op.data)
		}
		n.unsynced = nil
	}
	return nil
}

// SyncData implements DataSyncer; MemFS has no metadata to skip.
func (f *memFile) SyncData() error { return f.Sync() }

func (f *memFile) Truncate(size int64) error {
	if err := f.check("truncate", true); err != nil {
		return err
	}
	if size < 0 {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: fs.ErrInvalid}
	}
	m := f.fs
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkSpaceLocked(size - int64(len(f.node.data))); err != nil {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: err}
	}
	m.resizeLocked(f.node, size)
	return nil
}

// Preallocate implements Preallocator like fallocate(2) mode 0: the file grows to at
// least off+size bytes (zero-filled), failing with ENOSPC beyond the capacity.
func (f *memFile) Preallocate(off, size int64) error {
	if err := f.check("preallocate", true); err != nil {
		return err
	}
	m := f.fs
	m.mu.Lock()
	defer m.mu.Unlock()
	end := off + size
	if end <= int64(len(f.node.data)) {
		return nil
	}
	if err := m.checkSpaceLocked(end - int64(len(f.node.data))); err != nil {
		return &fs.PathError{Op: "preallocate", Path: f.name, Err: err}
	}
	m.resizeLocked(f.node, end)
	return nil
}

func (f *memFile) Stat() (fs.FileInfo, error) {
	if err := f.check("stat", false); err != nil {
		return nil, err
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return memInfo{name: filepath.Base(f.name), size: int64(len(f.node.data)), dir: f.node.isDir, mod: f.node.modTime}, nil
}
