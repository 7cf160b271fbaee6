package consumequeue

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/message"
)

// Errors returned by Queue. Match them with errors.Is.
var (
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("consumequeue: closed")
	// ErrGap is returned by Append for an offset past MaxOffset of a non-empty queue.
	ErrGap = errors.New("consumequeue: gap in queue offsets")
	// ErrConflict is returned by Append for an offset below MaxOffset whose stored
	// entry differs from the one given.
	ErrConflict = errors.New("consumequeue: conflicting entry at existing offset")
	// ErrOffsetTooSmall is returned by reads below MinOffset.
	ErrOffsetTooSmall = errors.New("consumequeue: offset below min offset")
	// ErrOffsetOverflow is returned by reads at or past MaxOffset (Get) or past
	// MaxOffset (Read).
	ErrOffsetOverflow = errors.New("consumequeue: offset past max offset")
	// ErrCorrupt marks an on-disk state the queue cannot open; it wraps the detail.
	ErrCorrupt = errors.New("consumequeue: corrupt")
)

// Config configures a Queue.
type Config struct {
	// EntriesPerFile is the number of EntrySize-byte entries per file. Default
	// DefaultEntriesPerFile (300,000, RocketMQ's value); part of the on-disk format:
	// a store must always be reopened with the value it was written with. Small
	// values are for tests.
	EntriesPerFile int
	// WriteBufferEntries is how many appended entries are kept in memory before they
	// are written to the file (without fsync). Default 256. Buffered entries are
	// visible to readers at once; they reach the disk on Flush, on a file roll or
	// when the buffer is full.
	WriteBufferEntries int
}

// DefaultConfig returns the default configuration.
func DefaultConfig() Config {
	return Config{EntriesPerFile: DefaultEntriesPerFile, WriteBufferEntries: 256}
}

// Validate reports the first bad field.
func (c Config) Validate() error {
	if c.EntriesPerFile <= 0 || int64(c.EntriesPerFile)*EntrySize > 1<<31-1 {
		return fmt.Errorf("consumequeue: EntriesPerFile %d out of range", c.EntriesPerFile)
	}
	if c.WriteBufferEntries <= 0 {
		return fmt.Errorf("consumequeue: WriteBufferEntries %d must be positive", c.WriteBufferEntries)
	}
	return nil
}

// segment is one consume-queue file.
type segment struct {
	f    vfs.File
	path string
	base int64 // logical (queue) offset of the file's first entry
	// dirty: written since the last fsync. Guarded by Queue.wmu.
	dirty bool
}

// Queue is the consume queue of one (topic, queue id): an append-only array of
// entries indexed by queue offset, stored in fixed-size files. See the package
// documentation for the format and the concurrency contract.
type Queue struct {
	fs       vfs.FS
	dir      string
	cfg      Config
	fileSize int64 // bytes per file

	// Lock order: syncMu → wmu → mu.
	//
	// syncMu serialises Flush (which fsyncs outside wmu) with anything that closes
	// or removes files (TruncateTo, DeleteBelow, Close). Append never takes it.
	syncMu sync.Mutex
	// wmu serialises the mutators (Append, the write-out in Flush, TruncateTo,
	// DeleteBelow, Close). Guards the fields below and segment.dirty.
	wmu sync.Mutex
	// err is the sticky error: a failed fsync (or a failed file removal or
	// truncation), after which the files may not hold what the queue shows;
	// later mutations return it until Resync. A failed write or file creation
	// is not sticky: it changes nothing, and the next call tries again.
	err     error
	dirDirs []string // directories whose entries changed since the last Flush
	// synced: entries below it were in the files when the last successful
	// Flush fsynced them (Resync rewrites from there).
	synced int64

	// mu guards what readers see. Readers hold it shared while they copy bytes
	// (from pend, or with ReadAt from a file), so a file is never closed under a
	// reader.
	mu struct {
		sync.RWMutex
		segs    []*segment
		min     int64  // first readable queue offset
		max     int64  // next queue offset to write
		written int64  // entries below written are in the files
		pend    []byte // entries [written, max), all in the last segment
		maxPhys int64  // Phys+Size of the last entry; 0 if none
		closed  bool
	}
}

// fileName is the name of the file whose first entry has logical offset base: the
// 20-digit zero-padded byte offset base×EntrySize.
func fileName(base int64) string {
	return fmt.Sprintf("%020d", base*EntrySize)
}

func parseFileName(name string) (int64, bool) {
	if len(name) != 20 {
		return 0, false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < '0' || name[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(name, 10, 64)
	return v, err == nil
}

// Open opens the queue stored in dir, creating dir if needed, and recovers its end:
// like RocketMQ it scans the last three files (or from the first short file, if
// earlier), and the first entry that is not Valid ends the queue; files after it are removed and a non-zero tail after it in its file
// (a torn write) is zeroed, so a later crash cannot resurrect it. MinOffset is the
// first non-blank entry; the caller corrects it to the commit log's minimum with
// DeleteBelow. Errors wrapping ErrCorrupt report files that do not fit the format or
// cfg.EntriesPerFile.
func Open(fsys vfs.FS, dir string, cfg Config) (*Queue, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	q := &Queue{fs: fsys, dir: dir, cfg: cfg, fileSize: int64(cfg.EntriesPerFile) * EntrySize}
	if _, err := fsys.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := fsys.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("consumequeue: create %s: %w", dir, err)
		}
		// The new directory, its topic directory and the root must be synced for
		// the queue to survive a crash; Flush does it.
		q.dirDirs = []string{dir, filepath.Dir(dir), filepath.Dir(filepath.Dir(dir))}
	} else if err != nil {
		return nil, fmt.Errorf("consumequeue: stat %s: %w", dir, err)
	}
	if err := q.load(); err != nil {
		q.closeFiles()
		return nil, err
	}
	// Make repairs and new directories durable before anyone relies on them.
	if err := q.Flush(); err != nil {
		q.closeFiles()
		return nil, err
	}
	return q, nil
}

func (q *Queue) corrupt(path string, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrCorrupt, path, fmt.Sprintf(format, args...))
}

func (q *Queue) load() error {
	names, err := q.fs.List(q.dir)
	if err != nil {
		return fmt.Errorf("consumequeue: list %s: %w", q.dir, err)
	}
	var segs []*segment
	var orphans []string // files after a hole in the sequence
	for _, name := range names {
		path := q.fs.PathJoin(q.dir, name)
		byteOff, ok := parseFileName(name)
		if !ok {
			q.mu.segs = segs
			return q.corrupt(path, "unexpected file name")
		}
		if byteOff%q.fileSize != 0 {
			q.mu.segs = segs
			return q.corrupt(path, "file offset is not a multiple of the file size %d (EntriesPerFile mismatch?)", q.fileSize)
		}
		base := byteOff / EntrySize
		// Files are created in order and removed only from the front (retention)
		// or the back (truncation), and one directory fsync covers every entry
		// created before it. So a hole means the files after it were created after
		// the last Flush and lost their predecessor in a crash: they hold nothing
		// durable.
		if n := len(segs); len(orphans) > 0 || n > 0 && segs[n-1].base+int64(q.cfg.EntriesPerFile) != base {
			orphans = append(orphans, path)
			continue
		}
		f, err := q.fs.OpenReadWrite(path)
		if err != nil {
			q.mu.segs = segs
			return fmt.Errorf("consumequeue: open %s: %w", path, err)
		}
		segs = append(segs, &segment{f: f, path: path, base: base})
	}
	q.mu.segs = segs
	for _, path := range orphans {
		if err := q.fs.Remove(path); err != nil {
			return fmt.Errorf("consumequeue: remove %s: %w", path, err)
		}
		q.dirDirs = appendDir(q.dirDirs, q.dir)
	}
	// Files must have the full size. A short file is a crash between create and
	// resize, or a lost unsynced size change: the file was created or resized
	// after the last Flush (Flush fsyncs the size with the data), so none of its
	// entries is known durable. Its missing tail reads as zeros, as it would have
	// been, and the scan for the end starts at it even if it lies before the last
	// three files (many files created between two flushes).
	start := max(0, len(segs)-3)
	for i, s := range segs {
		st, err := s.f.Stat()
		if err != nil {
			return fmt.Errorf("consumequeue: stat %s: %w", s.path, err)
		}
		switch {
		case st.Size() == q.fileSize:
		case st.Size() < q.fileSize:
			if err := s.f.Truncate(q.fileSize); err != nil {
				return fmt.Errorf("consumequeue: extend %s: %w", s.path, err)
			}
			s.dirty = true
			start = min(start, i)
		default:
			return q.corrupt(s.path, "size %d, want %d (EntriesPerFile mismatch?)", st.Size(), q.fileSize)
		}
	}
	if len(segs) == 0 {
		return nil
	}

	// Find the end: the first invalid entry from the scan start (the last three
	// files, or the first short file).
	c := getChunk()
	defer putChunk(c)
	buf := c[:]
	end := segs[start].base
	endSeg := start
	var maxPhys int64
	prevEnd := int64(-1) // Phys+Size of the previous real entry, -1 before the first
	if start > 0 {
		// The entry before the window: MaxPhysOffset if the window holds none.
		prev := segs[start-1]
		if _, err := prev.f.ReadAt(buf[:EntrySize], q.fileSize-EntrySize); err != nil {
			return fmt.Errorf("consumequeue: read %s: %w", prev.path, err)
		}
		if e := decodeEntry(buf); e.Valid() && !e.IsBlank() {
			maxPhys = int64(e.Phys) + int64(e.Size)
			prevEnd = maxPhys
		}
	}
	found := false
	for i := start; i < len(segs) && !found; i++ {
		s := segs[i]
		endSeg = i
		for off := int64(0); off < q.fileSize && !found; off += int64(len(buf)) {
			n := min(int64(len(buf)), q.fileSize-off)
			if _, err := s.f.ReadAt(buf[:n], off); err != nil {
				return fmt.Errorf("consumequeue: read %s: %w", s.path, err)
			}
			for p := int64(0); p < n; p += EntrySize {
				e := decodeEntry(buf[p:])
				// An entry pointing below the end of the previous one is torn:
				// an unsynced write of which the page holding its first bytes
				// was lost keeps a small phys with a valid size.
				if !e.Valid() || !e.IsBlank() && int64(e.Phys) < prevEnd {
					found = true
					break
				}
				end++
				if !e.IsBlank() {
					maxPhys = int64(e.Phys) + int64(e.Size)
					prevEnd = maxPhys
				}
			}
		}
	}
	if found {
		s := segs[endSeg]
		// Zero anything after the end in its file.
		if err := q.zeroTail(s, (end-s.base)*EntrySize, buf); err != nil {
			return err
		}
		// Remove the files after it (RocketMQ: truncateDirtyFiles).
		for _, d := range segs[endSeg+1:] {
			if err := d.f.Close(); err != nil {
				return fmt.Errorf("consumequeue: close %s: %w", d.path, err)
			}
			if err := q.fs.Remove(d.path); err != nil {
				return fmt.Errorf("consumequeue: remove %s: %w", d.path, err)
			}
			q.dirDirs = appendDir(q.dirDirs, q.dir)
		}
		segs = segs[:endSeg+1]
		q.mu.segs = segs
	}
	// A queue whose files hold no entry at all (a crash right after its first file
	// was created) is a fresh queue: remove the files so that the first Append may
	// choose the start again.
	if end == segs[0].base {
		for _, d := range segs {
			if err := d.f.Close(); err != nil {
				return fmt.Errorf("consumequeue: close %s: %w", d.path, err)
			}
			if err := q.fs.Remove(d.path); err != nil {
				return fmt.Errorf("consumequeue: remove %s: %w", d.path, err)
			}
		}
		q.mu.segs = nil
		q.dirDirs = appendDir(q.dirDirs, q.dir)
		return nil
	}
	q.mu.max, q.mu.written, q.mu.maxPhys = end, end, maxPhys

	// MinOffset: the first non-blank entry of the first file.
	first := segs[0]
	lowest := first.base
scan:
	for off := int64(0); off < q.fileSize && lowest < end; off += int64(len(buf)) {
		n := min64(int64(len(buf)), q.fileSize-off)
		if _, err := first.f.ReadAt(buf[:n], off); err != nil {
			return fmt.Errorf("consumequeue: read %s: %w", first.path, err)
		}
		for p := int64(0); p < n && lowest < end; p += EntrySize {
			if !decodeEntry(buf[p:]).IsBlank() {
				break scan
			}
			lowest++
		}
	}
	q.mu.min = lowest
	return nil
}

func min64(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}

func appendDir(dirs []string, d string) []string {
	for _, x := range dirs {
		if x == d {
			return dirs
		}
	}
	return append(dirs, d)
}

// zeroTail makes bytes [from, fileSize) of s zero, writing only where they are not.
func (q *Queue) zeroTail(s *segment, from int64, buf []byte) error {
	for off := from; off < q.fileSize; {
		n := min64(int64(len(buf)), q.fileSize-off)
		if _, err := s.f.ReadAt(buf[:n], off); err != nil {
			return fmt.Errorf("consumequeue: read %s: %w", s.path, err)
		}
		if !allZero(buf[:n]) {
			clear(buf[:n])
			if _, err := s.f.WriteAt(buf[:n], off); err != nil {
				return fmt.Errorf("consumequeue: zero %s: %w", s.path, err)
			}
			s.dirty = true
		}
		off += n
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// chunk buffers for reads: pooled so that Get and Read do not allocate.
const chunkEntries = 204 // 4,080 bytes

type chunk = [chunkEntries * EntrySize]byte

var chunkPool = sync.Pool{New: func() any { return new(chunk) }}

func getChunk() *chunk  { return chunkPool.Get().(*chunk) }
func putChunk(c *chunk) { chunkPool.Put(c) }

// MinOffset returns the first readable queue offset. Entries below it were removed
// by retention or are pre-blank padding. Never blocks on I/O.
func (q *Queue) MinOffset() message.QueueOffset {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return message.QueueOffset(q.mu.min)
}

// MaxOffset returns the next queue offset to be written (one past the last entry);
// MinOffset == MaxOffset means the queue has no readable entry.
func (q *Queue) MaxOffset() message.QueueOffset {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return message.QueueOffset(q.mu.max)
}

// MaxPhysOffset returns the commit-log offset just past the last entry's record
// (Phys+Size), or 0 if the queue has no entry. Recovery uses it to know how far the
// queue has been built.
func (q *Queue) MaxPhysOffset() message.PhysOffset {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return message.PhysOffset(q.mu.maxPhys)
}

// Get returns the entry at queue offset off. It returns ErrOffsetTooSmall below
// MinOffset, ErrOffsetOverflow at or past MaxOffset, ErrClosed after Close. Safe for
// concurrent use with the writer and other readers; it does not allocate.
func (q *Queue) Get(qoff message.QueueOffset) (Entry, error) {
	off := int64(qoff)
	buf := getChunk()
	defer putChunk(buf)
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.mu.closed {
		return Entry{}, ErrClosed
	}
	if off < q.mu.min {
		return Entry{}, ErrOffsetTooSmall
	}
	if off >= q.mu.max {
		return Entry{}, ErrOffsetOverflow
	}
	if err := q.readRLocked(off, 1, buf[:]); err != nil {
		return Entry{}, err
	}
	return decodeEntry(buf[:]), nil
}

// Read copies up to min(maxN, len(buf)) entries starting at queue offset from into
// buf and returns how many it copied. It returns (0, nil) at MaxOffset,
// ErrOffsetTooSmall below MinOffset and ErrOffsetOverflow past MaxOffset. It reads
// across file boundaries, does not allocate, and is safe for concurrent use with the
// writer and other readers.
func (q *Queue) Read(qfrom message.QueueOffset, maxN int, buf []Entry) (int, error) {
	from := int64(qfrom)
	want := min(maxN, len(buf))
	chunk := getChunk()
	defer putChunk(chunk)
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.mu.closed {
		return 0, ErrClosed
	}
	if from < q.mu.min {
		return 0, ErrOffsetTooSmall
	}
	if from > q.mu.max {
		return 0, ErrOffsetOverflow
	}
	if avail := q.mu.max - from; int64(want) > avail {
		want = int(avail)
	}
	n := 0
	for n < want {
		k := min(want-n, chunkEntries)
		if err := q.readRLocked(from+int64(n), k, chunk[:]); err != nil {
			return n, err
		}
		for i := 0; i < k; i++ {
			buf[n+i] = decodeEntry(chunk[i*EntrySize:])
		}
		n += k
	}
	return n, nil
}

// readRLocked reads entries [off, off+n) (within [min, max)) into dst. The caller
// holds q.mu (shared or exclusive).
func (q *Queue) readRLocked(off int64, n int, dst []byte) error {
	for n > 0 {
		s := q.segForRLocked(off)
		k := min(int64(n), s.base+int64(q.cfg.EntriesPerFile)-off)
		// The part below written comes from the file, the rest from pend.
		fromFile := min64(k, max(0, q.mu.written-off))
		if fromFile > 0 {
			b := dst[:fromFile*EntrySize]
			if _, err := s.f.ReadAt(b, (off-s.base)*EntrySize); err != nil {
				return fmt.Errorf("consumequeue: read %s at offset %d: %w", s.path, off, err)
			}
		}
		if rest := k - fromFile; rest > 0 {
			p := (off + fromFile - q.mu.written) * EntrySize
			copy(dst[fromFile*EntrySize:k*EntrySize], q.mu.pend[p:p+rest*EntrySize])
		}
		dst = dst[k*EntrySize:]
		off += k
		n -= int(k)
	}
	return nil
}

// segForRLocked returns the segment holding off, which must lie in a file.
func (q *Queue) segForRLocked(off int64) *segment {
	segs := q.mu.segs
	i := int((off - segs[0].base) / int64(q.cfg.EntriesPerFile))
	return segs[i]
}

// Append stores the entry for queue offset off. It is called by the one dispatcher
// goroutine, in queue-offset order:
//
//   - off == MaxOffset appends.
//   - off < MaxOffset is a re-dispatch: a no-op if the stored entry is identical (or
//     lies below MinOffset, where the commit log no longer holds the message),
//     ErrConflict otherwise.
//   - off > MaxOffset is ErrGap, unless the queue has no file yet: then, as in
//     RocketMQ, the queue starts at off, and the part of its first file below off is
//     filled with blank entries and MinOffset becomes off.
//
// The entry is visible to readers when Append returns and durable after Flush.
// A failed write or file creation returns the error and changes nothing (the
// entry is not appended; calling again retries). After a sticky error (see
// Err) every mutation returns it until Resync.
func (q *Queue) Append(qoff message.QueueOffset, phys message.PhysOffset, size int32, tagsCode int64) error {
	off := int64(qoff)
	e := Entry{Phys: phys, Size: size, TagsCode: tagsCode}
	if !e.Valid() || e.IsBlank() {
		return fmt.Errorf("consumequeue: append invalid entry %+v at %d", e, off)
	}
	q.wmu.Lock()
	defer q.wmu.Unlock()
	if q.err != nil {
		return q.err
	}
	q.mu.RLock()
	closed, curMax, curMin, nsegs := q.mu.closed, q.mu.max, q.mu.min, len(q.mu.segs)
	q.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	switch {
	case off < curMax:
		if off < curMin {
			return nil
		}
		got, err := q.Get(qoff)
		if err != nil {
			return err
		}
		if got != e {
			return fmt.Errorf("%w: offset %d holds %+v, re-dispatch gave %+v", ErrConflict, off, got, e)
		}
		return nil
	case off > curMax && nsegs > 0:
		return fmt.Errorf("%w: append at %d, max offset %d", ErrGap, off, curMax)
	}
	return q.appendLocked(off, e)
}

// AppendGone appends entries for the queue offsets [MaxOffset, qoff) whose
// messages are gone from the commit log: retention deleted them before they
// were dispatched, so the queue must skip them. Entry i points at from +
// i·RecordFixedSize with size RecordFixedSize, where records were: readers
// treat them as removed messages (the commit log has nothing there), and the
// entries keep the queue's phys order, so from must be at or past the end of
// the last entry and the last of them must end at or before the next real
// entry. Only for a queue that has files (otherwise Append starts anywhere);
// failures are as Append's.
func (q *Queue) AppendGone(qoff message.QueueOffset, from message.PhysOffset) error {
	q.wmu.Lock()
	defer q.wmu.Unlock()
	if q.err != nil {
		return q.err
	}
	q.mu.RLock()
	closed, curMax, maxPhys, nsegs := q.mu.closed, q.mu.max, q.mu.maxPhys, len(q.mu.segs)
	q.mu.RUnlock()
	switch {
	case closed:
		return ErrClosed
	case nsegs == 0 || int64(qoff) <= curMax:
		return nil
	case int64(from) < maxPhys:
		return fmt.Errorf("consumequeue: gone entries from %d would start before the last entry's end %d", from, maxPhys)
	}
	for off := curMax; off < int64(qoff); off++ {
		e := Entry{Phys: from + message.PhysOffset(off-curMax)*message.RecordFixedSize, Size: message.RecordFixedSize}
		if err := q.appendLocked(off, e); err != nil {
			return err
		}
	}
	return nil
}

// appendLocked appends e at off; q.wmu is held. off == max, or there is no file.
func (q *Queue) appendLocked(off int64, e Entry) error {
	segs := q.mu.segs // only the writer changes segs; reading it under wmu is safe
	if len(segs) == 0 || off >= segs[len(segs)-1].base+int64(q.cfg.EntriesPerFile) {
		if err := q.writeOutLocked(); err != nil {
			return err
		}
		if err := q.rollLocked(off); err != nil {
			return err
		}
	}
	if len(q.mu.pend) >= q.cfg.WriteBufferEntries*EntrySize {
		if err := q.writeOutLocked(); err != nil {
			return err
		}
	}
	var b [EntrySize]byte
	e.Encode(b[:])
	q.mu.Lock()
	if q.mu.pend == nil {
		q.mu.pend = make([]byte, 0, q.cfg.WriteBufferEntries*EntrySize)
	}
	q.mu.pend = append(q.mu.pend, b[:]...)
	q.mu.max = off + 1
	q.mu.maxPhys = int64(e.Phys) + int64(e.Size)
	q.mu.Unlock()
	return nil
}

// rollLocked creates the file that will hold off. With no file yet, off may be any
// offset; the part of the new file below it is filled with blank entries.
func (q *Queue) rollLocked(off int64) error {
	per := int64(q.cfg.EntriesPerFile)
	base := off / per * per
	path := q.fs.PathJoin(q.dir, fileName(base))
	f, err := q.fs.Create(path)
	if err != nil {
		return fmt.Errorf("consumequeue: create %s: %w", path, err)
	}
	if err := f.Truncate(q.fileSize); err != nil {
		f.Close()
		return fmt.Errorf("consumequeue: size %s: %w", path, err)
	}
	s := &segment{f: f, path: path, base: base, dirty: true}
	q.dirDirs = appendDir(q.dirDirs, q.dir)
	empty := len(q.mu.segs) == 0
	if empty && off > base {
		blanks := make([]byte, (off-base)*EntrySize)
		for p := 0; p < len(blanks); p += EntrySize {
			blankEntry.Encode(blanks[p:])
		}
		if _, err := f.WriteAt(blanks, 0); err != nil {
			f.Close()
			return fmt.Errorf("consumequeue: write blanks %s: %w", path, err)
		}
	}
	q.mu.Lock()
	q.mu.segs = append(q.mu.segs, s)
	if empty {
		q.mu.min, q.mu.max, q.mu.written = off, off, off
	}
	q.mu.Unlock()
	return nil
}

// writeOutLocked writes the buffered entries to the last file (no fsync); q.wmu is
// held. Readers keep reading pend until written moves.
func (q *Queue) writeOutLocked() error {
	q.mu.RLock()
	pend, written, segs := q.mu.pend, q.mu.written, q.mu.segs
	q.mu.RUnlock()
	if len(pend) == 0 {
		return nil
	}
	s := segs[len(segs)-1]
	if _, err := s.f.WriteAt(pend, (written-s.base)*EntrySize); err != nil {
		return fmt.Errorf("consumequeue: write %s: %w", s.path, err)
	}
	s.dirty = true
	q.mu.Lock()
	q.mu.written += int64(len(pend) / EntrySize)
	q.mu.pend = q.mu.pend[:0]
	q.mu.Unlock()
	return nil
}

// Flush writes the buffered entries to the files and makes every change so far
// (entries, new and removed files, truncations) durable with fsync. The fsync runs
// without holding the append lock, so Append is not blocked by it. Safe to call from
// any goroutine. A failed write leaves the entries buffered for the next call. A
// failed fsync is sticky (see Err): the kernel may have dropped the pages it
// could not write and would report the next fsync of them as successful, so
// the queue refuses mutations until Resync has written them again.
func (q *Queue) Flush() error {
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	return q.flushSyncLocked()
}

// flushSyncLocked is Flush with q.syncMu held.
func (q *Queue) flushSyncLocked() error {
	q.wmu.Lock()
	if q.err != nil {
		q.wmu.Unlock()
		return q.err
	}
	if err := q.writeOutLocked(); err != nil {
		q.wmu.Unlock()
		return err
	}
	q.mu.RLock()
	upTo := q.mu.written
	q.mu.RUnlock()
	var dirty []*segment
	for _, s := range q.mu.segs {
		if s.dirty {
			dirty = append(dirty, s)
			s.dirty = false
		}
	}
	dirs := q.dirDirs
	q.dirDirs = nil
	q.wmu.Unlock()

	// syncMu keeps these files open; wmu is free for Append.
	var err error
	for _, s := range dirty {
		if err = vfs.SyncData(s.f); err != nil {
			err = fmt.Errorf("consumequeue: sync %s: %w", s.path, err)
			break
		}
	}
	if err == nil {
		for _, d := range dirs {
			if err = vfs.SyncDir(q.fs, d); err != nil {
				break
			}
		}
	}
	q.wmu.Lock()
	if err != nil {
		if q.err == nil {
			q.err = err
		}
	} else {
		q.mu.RLock()
		q.synced = min64(upTo, q.mu.written) // a truncation meanwhile moved written back
		q.mu.RUnlock()
	}
	q.wmu.Unlock()
	return err
}

// Err returns the sticky error (a failed fsync, file removal or truncation),
// or nil. ErrClosed after Close.
func (q *Queue) Err() error {
	q.wmu.Lock()
	defer q.wmu.Unlock()
	return q.err
}

// Resync clears the sticky error of a failed fsync so the queue can be used
// again without reopening it, which would lose nothing but would make
// MaxOffset go back for readers. It writes the entries since the last
// successful Flush again, from the files (the page cache keeps what a failed
// writeback could not write), marks every file and the queue's directories
// for the next Flush, and that Flush fsyncs them all. If the kernel had
// evicted such a page, the entry reads back as what the disk held before; the
// store's recovery after a crash compares entries with the commit log.
// Resync does nothing without a sticky error and returns ErrClosed after
// Close.
func (q *Queue) Resync() error {
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	q.wmu.Lock()
	defer q.wmu.Unlock()
	switch {
	case q.err == nil:
		return nil
	case errors.Is(q.err, ErrClosed):
		return q.err
	}
	q.mu.RLock()
	segs, lo, written := q.mu.segs, q.mu.min, q.mu.written
	q.mu.RUnlock()
	per := int64(q.cfg.EntriesPerFile)
	for _, sg := range segs {
		from := max(q.synced, lo, sg.base)
		to := min64(written, sg.base+per)
		for from < to {
			n := min64(to-from, chunkEntries)
			buf := make([]byte, n*EntrySize)
			if _, err := sg.f.ReadAt(buf, (from-sg.base)*EntrySize); err != nil {
				return fmt.Errorf("consumequeue: resync %s: %w", sg.path, err)
			}
			if _, err := sg.f.WriteAt(buf, (from-sg.base)*EntrySize); err != nil {
				return fmt.Errorf("consumequeue: resync %s: %w", sg.path, err)
			}
			from += n
		}
		sg.dirty = true
	}
	q.dirDirs = appendDir(appendDir(appendDir(q.dirDirs, q.dir), filepath.Dir(q.dir)), filepath.Dir(filepath.Dir(q.dir)))
	q.err = nil
	return nil
}

// Sync is Flush.
func (q *Queue) Sync() error { return q.Flush() }

// TruncateTo drops every entry whose commit-log offset is at or past phys (recovery,
// after the commit log was cut at phys). Entries are monotonic in Phys, so this cuts
// a suffix: files that would start empty are removed, the dropped part of the last
// kept file is zeroed, and MaxOffset moves back. If the whole queue is dropped its
// files are removed and MinOffset == MaxOffset == the first dropped offset; the next
// Append may then start anywhere. Changes are durable after the next Flush.
func (q *Queue) TruncateTo(phys message.PhysOffset) error {
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	q.wmu.Lock()
	defer q.wmu.Unlock()
	if q.err != nil {
		return q.err
	}
	q.mu.RLock()
	closed, lo, hi := q.mu.closed, q.mu.min, q.mu.max
	q.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	// First offset in [lo, hi) whose Phys >= phys.
	cut, err := q.searchPhys(lo, hi, int64(phys))
	if err != nil {
		return err
	}
	if cut == hi {
		return nil
	}
	if err := q.truncateLocked(cut); err != nil {
		q.err = err
		return err
	}
	return nil
}

// TruncateAt drops every entry at or past queue offset qoff (recovery, when the
// entry at qoff differs from the commit log). Unlike TruncateTo it does not rely
// on the entries' Phys being monotonic, so it also cuts a queue whose middle was
// lost in a crash. An offset at or past MaxOffset is a no-op; one below MinOffset
// drops every entry. Changes are durable after the next Flush.
func (q *Queue) TruncateAt(qoff message.QueueOffset) error {
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	q.wmu.Lock()
	defer q.wmu.Unlock()
	if q.err != nil {
		return q.err
	}
	q.mu.RLock()
	closed, lo, hi := q.mu.closed, q.mu.min, q.mu.max
	q.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	cut := max(int64(qoff), lo)
	if cut >= hi {
		return nil
	}
	if err := q.truncateLocked(cut); err != nil {
		q.err = err
		return err
	}
	return nil
}

// searchPhys returns the first offset in [lo, hi) whose entry has Phys >= phys, or
// hi. Caller holds q.wmu (so the range stays valid).
func (q *Queue) searchPhys(lo, hi, phys int64) (int64, error) {
	for lo < hi {
		mid := lo + (hi-lo)/2
		e, err := q.Get(message.QueueOffset(mid))
		if err != nil {
			return 0, err
		}
		if int64(e.Phys) >= phys {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}

// truncateLocked cuts the queue at cut (min <= cut < max). q.syncMu and q.wmu held.
func (q *Queue) truncateLocked(cut int64) error {
	var maxPhys int64
	q.mu.RLock()
	lo := q.mu.min
	q.mu.RUnlock()
	if cut > lo {
		e, err := q.Get(message.QueueOffset(cut - 1))
		if err != nil {
			return err
		}
		maxPhys = int64(e.Phys) + int64(e.Size)
	}

	q.mu.Lock()
	segs := q.mu.segs
	// Drop buffered entries at or past cut.
	if cut >= q.mu.written {
		q.mu.pend = q.mu.pend[:(cut-q.mu.written)*EntrySize]
	} else {
		q.mu.pend = q.mu.pend[:0]
	}
	oldWritten := q.mu.written
	keep := len(segs)
	for keep > 0 && segs[keep-1].base >= cut {
		keep--
	}
	removed := append([]*segment(nil), segs[keep:]...)
	q.mu.segs = segs[:keep]
	q.mu.max = cut
	q.mu.written = min64(oldWritten, cut)
	q.synced = min64(q.synced, cut)
	if keep == 0 {
		q.mu.min = cut
	}
	q.mu.maxPhys = maxPhys
	q.mu.Unlock()

	// Zero the dropped on-file part of the last kept file, so a reopen does not
	// see the dropped entries again.
	if keep > 0 && cut < oldWritten && cut < segs[keep-1].base+int64(q.cfg.EntriesPerFile) {
		s := segs[keep-1]
		end := min64(oldWritten, s.base+int64(q.cfg.EntriesPerFile))
		zeros := make([]byte, (end-cut)*EntrySize)
		if _, err := s.f.WriteAt(zeros, (cut-s.base)*EntrySize); err != nil {
			return fmt.Errorf("consumequeue: truncate %s: %w", s.path, err)
		}
		s.dirty = true
	}
	return q.removeFiles(removed)
}

// removeFiles closes and deletes segments already unlinked from q.mu.segs.
func (q *Queue) removeFiles(segs []*segment) error {
	for _, s := range segs {
		if err := s.f.Close(); err != nil {
			return fmt.Errorf("consumequeue: close %s: %w", s.path, err)
		}
		if err := q.fs.Remove(s.path); err != nil {
			return fmt.Errorf("consumequeue: remove %s: %w", s.path, err)
		}
		q.dirDirs = appendDir(q.dirDirs, q.dir)
	}
	return nil
}

// DeleteBelow applies retention after the commit log's minimum offset moved to phys:
// it removes every file except the last whose entries all point below phys (checked
// on the file's last entry, as RocketMQ does), then moves MinOffset to the first entry
// with Phys >= phys (MaxOffset if none). It returns how many files it removed.
// Removals are durable after the next Flush.
func (q *Queue) DeleteBelow(phys message.PhysOffset) (int, error) {
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	q.wmu.Lock()
	defer q.wmu.Unlock()
	if q.err != nil {
		return 0, q.err
	}
	q.mu.RLock()
	closed, segs, lo, hi := q.mu.closed, q.mu.segs, q.mu.min, q.mu.max
	q.mu.RUnlock()
	if closed {
		return 0, ErrClosed
	}
	per := int64(q.cfg.EntriesPerFile)
	drop := 0
	for drop < len(segs)-1 {
		last := segs[drop].base + per - 1 // full file: its last entry is below max
		if last < lo {
			drop++ // wholly below MinOffset already
			continue
		}
		e, err := q.Get(message.QueueOffset(last))
		if err != nil {
			return 0, err
		}
		if e.Phys >= phys {
			break
		}
		drop++
	}
	if drop > 0 {
		lo = max(lo, segs[drop].base)
	}
	newMin, err := q.searchPhys(lo, hi, int64(phys))
	if err != nil {
		return 0, err
	}
	q.mu.Lock()
	removed := append([]*segment(nil), q.mu.segs[:drop]...)
	q.mu.segs = q.mu.segs[drop:]
	q.mu.min = newMin
	q.mu.Unlock()
	if err := q.removeFiles(removed); err != nil {
		q.err = err
		return drop, err
	}
	return drop, nil
}

// SearchOffset returns the queue offset of the message stored closest in time to
// targetMillis, the answer to SEARCH_OFFSET_BY_TIMESTAMP. Store times are not in the
// consume queue: storeTimeOf reads the store timestamp of the record at (phys, size)
// from the commit log; its error is returned wrapped. Store times are non-decreasing
// along the queue, so this is a binary search over [MinOffset, MaxOffset):
//
//   - the first entry with exactly targetMillis, if any (RocketMQ returns any
//     matching one);
//   - otherwise the nearer of the two neighbours, the earlier one on a tie;
//   - MinOffset before the first message, the last message's offset (not
//     MaxOffset) after the last one, and 0 for an empty queue, as RocketMQ.
func (q *Queue) SearchOffset(targetMillis int64, storeTimeOf func(phys message.PhysOffset, size int32) (int64, error)) (message.QueueOffset, error) {
	lo, hi := q.MinOffset(), q.MaxOffset()
	if lo >= hi {
		return 0, nil
	}
	timeAt := func(off message.QueueOffset) (int64, error) {
		e, err := q.Get(off)
		if err != nil {
			return 0, err
		}
		t, err := storeTimeOf(e.Phys, e.Size)
		if err != nil {
			return 0, fmt.Errorf("consumequeue: store time of offset %d (phys %d): %w", off, e.Phys, err)
		}
		return t, nil
	}
	first, last := lo, hi-1
	// Lower bound: first offset with time >= target.
	for lo < hi {
		mid := lo + (hi-lo)/2
		t, err := timeAt(mid)
		if err != nil {
			return 0, err
		}
		if t >= targetMillis {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	switch {
	case lo > last:
		return last, nil
	case lo == first:
		return first, nil
	}
	right, err := timeAt(lo)
	if err != nil {
		return 0, err
	}
	if right == targetMillis {
		return lo, nil
	}
	left, err := timeAt(lo - 1)
	if err != nil {
		return 0, err
	}
	if targetMillis-left <= right-targetMillis {
		return lo - 1, nil
	}
	return lo, nil
}

// Close writes out and fsyncs buffered entries (as Flush) and closes the files.
// Idempotent; later calls return nil and other methods return ErrClosed. It returns
// the first error from the flush or a close.
func (q *Queue) Close() error {
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	q.mu.RLock()
	closed := q.mu.closed
	q.mu.RUnlock()
	if closed {
		return nil
	}
	err := q.flushSyncLocked()
	q.wmu.Lock()
	defer q.wmu.Unlock()
	q.mu.Lock()
	q.mu.closed = true
	q.mu.Unlock()
	if cerr := q.closeFiles(); err == nil {
		err = cerr
	}
	if q.err == nil {
		q.err = ErrClosed
	}
	return err
}

func (q *Queue) closeFiles() error {
	var err error
	for _, s := range q.mu.segs {
		if cerr := s.f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("consumequeue: close %s: %w", s.path, cerr)
		}
	}
	return err
}
