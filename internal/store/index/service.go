package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
)

// Errors. Match them with errors.Is.
var (
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("index: closed")
	// ErrCorrupt marks index files that do not fit the format or the Config.
	ErrCorrupt = errors.New("index: corrupt")
)

// Config configures a Service.
type Config struct {
	// HashSlots is the number of hash slots per file. Default DefaultHashSlots
	// (5,000,000). Part of the file geometry: reopen with the same value.
	HashSlots int
	// MaxEntries is RocketMQ's maxIndexNum: entry numbers per file, of which
	// number 0 is unused, so a file holds MaxEntries-1 keys. Default
	// DefaultMaxEntries (20,000,000). Part of the file geometry.
	MaxEntries int
	// WriteBufferEntries is how many new entries are kept in memory before they
	// are written to the file (without fsync). Default 1024.
	WriteBufferEntries int
}

// DefaultConfig returns RocketMQ's geometry.
func DefaultConfig() Config {
	return Config{HashSlots: DefaultHashSlots, MaxEntries: DefaultMaxEntries, WriteBufferEntries: 1024}
}

// Validate reports the first bad field.
func (c Config) Validate() error {
	switch {
	case c.HashSlots <= 0:
		return fmt.Errorf("index: HashSlots %d must be positive", c.HashSlots)
	case c.MaxEntries < 2:
		return fmt.Errorf("index: MaxEntries %d must be at least 2", c.MaxEntries)
	case c.WriteBufferEntries <= 0:
		return fmt.Errorf("index: WriteBufferEntries %d must be positive", c.WriteBufferEntries)
	case fileSize(c.HashSlots, c.MaxEntries) > 1<<31-1:
		return fmt.Errorf("index: file of %d slots and %d entries exceeds 2 GiB", c.HashSlots, c.MaxEntries)
	}
	return nil
}

// slotPage is the granularity at which dirty hash slots are written back.
const slotPage = 1024 // slots (4 KiB)

// file is one index file. Sealed files are read with ReadAt; the last, writable
// file keeps its slot table in memory and buffers new entries.
type file struct {
	f    vfs.File
	path string
	hdr  Header // guarded by Service.mu; written only by the writer

	// Writable file only (slots != nil). Guarded by Service.mu; the writer
	// (holding wmu) changes them under mu.Lock.
	slots    []int32
	pend     []byte // entries [written, hdr.IndexCount)
	written  int32  // entries below are in the file
	dirty    []bool // per slot page, written back by Flush (wmu)
	hdrDirty bool   // (wmu)
	needSync bool   // (wmu)
}

// Service is the set of index files in one directory (RocketMQ's IndexService).
// See the package documentation for the format and the concurrency contract.
type Service struct {
	fs    vfs.FS
	dir   string
	cfg   Config
	clk   clock.Clock
	fsize int64

	// Lock order: syncMu → wmu → mu. syncMu: Flush's fsync versus file removal
	// and Close. wmu: the writer (Put, write-back, removal). mu: what readers see;
	// held shared while they read, so no file closes under a reader.
	syncMu sync.Mutex
	wmu    sync.Mutex
	err    error     // sticky write error (wmu)
	last   time.Time // creation time of the newest file name (wmu)
	dirty  bool      // directory entries changed since the last Flush (wmu)
	mu     struct {
		sync.RWMutex
		files  []*file
		closed bool
	}
}

// nameLayout is RocketMQ's UtilAll.timeMillisToHumanString: yyyyMMddHHmmssSSS in
// local time.
const nameLayout = "20060102150405.000"

func fileName(t time.Time) string { return strings.Replace(t.Format(nameLayout), ".", "", 1) }

func parseFileName(name string) (time.Time, bool) {
	if len(name) != 17 {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation(nameLayout, name[:14]+"."+name[14:], time.Local)
	return t, err == nil
}

// Open opens (creating dir if needed) the index files in dir, in name order. The
// last file, if not full, becomes the writable one and its slot table is read into
// memory (HashSlots×4 bytes, 20 MB by default). clk names new files.
//
// Open trusts what it finds; after a crash the store must call DropNewerThan and
// TruncateTo (see the package documentation). Files of the wrong size or with
// unexpected names are an error wrapping ErrCorrupt.
func Open(fsys vfs.FS, dir string, cfg Config, clk clock.Clock) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{fs: fsys, dir: dir, cfg: cfg, clk: clk, fsize: fileSize(cfg.HashSlots, cfg.MaxEntries)}
	if _, err := fsys.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := fsys.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("index: create %s: %w", dir, err)
		}
		s.dirty = true
	} else if err != nil {
		return nil, fmt.Errorf("index: stat %s: %w", dir, err)
	}
	names, err := fsys.List(dir)
	if err != nil {
		return nil, fmt.Errorf("index: list %s: %w", dir, err)
	}
	for _, name := range names {
		path := fsys.PathJoin(dir, name)
		t, ok := parseFileName(name)
		if !ok {
			s.closeFiles()
			return nil, fmt.Errorf("%w: %s: unexpected file name", ErrCorrupt, path)
		}
		f, err := s.openFile(path)
		if err != nil {
			s.closeFiles()
			return nil, err
		}
		s.mu.files = append(s.mu.files, f)
		s.last = t
	}
	if n := len(s.mu.files); n > 0 {
		if last := s.mu.files[n-1]; !s.full(last) {
			if err := s.loadSlots(last); err != nil {
				s.closeFiles()
				return nil, err
			}
		}
	}
	return s, nil
}

func (s *Service) openFile(path string) (*file, error) {
	f, err := s.fs.OpenReadWrite(path)
	if err != nil {
		return nil, fmt.Errorf("index: open %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("index: stat %s: %w", path, err)
	}
	if st.Size() < s.fsize {
		// Created but never flushed (Flush fsyncs the size with the entries),
		// so nothing in it is durable: its header reads as empty. Give it its
		// size back.
		if err := f.Truncate(s.fsize); err != nil {
			f.Close()
			return nil, fmt.Errorf("index: extend %s: %w", path, err)
		}
		s.dirty = true
	} else if st.Size() > s.fsize {
		f.Close()
		return nil, fmt.Errorf("%w: %s: size %d, want %d (HashSlots/MaxEntries mismatch?)", ErrCorrupt, path, st.Size(), s.fsize)
	}
	var b [HeaderSize]byte
	if _, err := f.ReadAt(b[:], 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("index: read %s: %w", path, err)
	}
	h, _ := DecodeHeader(b[:])
	if h.IndexCount > int32(s.cfg.MaxEntries) {
		f.Close()
		return nil, fmt.Errorf("%w: %s: index count %d > %d", ErrCorrupt, path, h.IndexCount, s.cfg.MaxEntries)
	}
	return &file{f: f, path: path, hdr: h}, nil
}

// loadSlots makes fl the writable file: its slot table moves to memory.
func (s *Service) loadSlots(fl *file) error {
	raw := make([]byte, s.cfg.HashSlots*SlotSize)
	if _, err := fl.f.ReadAt(raw, HeaderSize); err != nil {
		return fmt.Errorf("index: read slots %s: %w", fl.path, err)
	}
	slots := make([]int32, s.cfg.HashSlots)
	for i := range slots {
		slots[i] = int32(uint32(raw[4*i])<<24 | uint32(raw[4*i+1])<<16 | uint32(raw[4*i+2])<<8 | uint32(raw[4*i+3]))
	}
	s.mu.Lock()
	fl.slots = slots
	fl.dirty = make([]bool, (s.cfg.HashSlots+slotPage-1)/slotPage)
	fl.written = fl.hdr.IndexCount
	s.mu.Unlock()
	return nil
}

func (s *Service) full(fl *file) bool { return int(fl.hdr.IndexCount) >= s.cfg.MaxEntries }

func (s *Service) entryPos(idx int32) int64 {
	return HeaderSize + int64(s.cfg.HashSlots)*SlotSize + int64(idx)*EntrySize
}

// PutMessage indexes one dispatched message as RocketMQ's IndexService.buildIndex:
// under BuildKey(topic, uniqKey) when uniqKey is not empty, and under BuildKey(topic,
// k) for each non-empty k of keys split on single spaces. Messages below the last
// indexed commit-log offset (EndPhysOffset) are skipped, so re-dispatch after
// recovery does not index twice. The caller skips rolled-back transactional
// messages, which RocketMQ does not index. It keeps none of the strings (the
// dispatcher passes views of the record's bytes) and builds no key: it hashes
// the parts (keyHash).
func (s *Service) PutMessage(topic, uniqKey, keys string, phys message.PhysOffset, storeMillis int64) error {
	if phys < s.EndPhysOffset() {
		return nil
	}
	if uniqKey != "" {
		if err := s.put(keyHash(topic, uniqKey), phys, storeMillis); err != nil {
			return err
		}
	}
	for k := range strings.SplitSeq(keys, " ") {
		if k == "" {
			continue
		}
		if err := s.put(keyHash(topic, k), phys, storeMillis); err != nil {
			return err
		}
	}
	return nil
}

// Put adds one key (already built, e.g. with BuildKey) pointing at the message at
// phys stored at storeMillis. It rolls to a new file when the current one is full.
// Called by one writer goroutine; visible to Query at once, durable after Flush.
// After a write error every later Put returns it.
func (s *Service) Put(key string, phys message.PhysOffset, storeMillis int64) error {
	return s.put(KeyHash(key), phys, storeMillis)
}

// put is Put of a key's hash.
func (s *Service) put(hash int32, phys message.PhysOffset, storeMillis int64) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.mu.RLock()
	closed := s.mu.closed
	var cur *file
	if n := len(s.mu.files); n > 0 {
		cur = s.mu.files[n-1]
	}
	s.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if cur == nil || s.full(cur) {
		var err error
		if cur, err = s.rollLocked(cur); err != nil {
			s.err = err
			return err
		}
	}
	if len(cur.pend) >= s.cfg.WriteBufferEntries*EntrySize {
		if err := s.writeEntriesLocked(cur); err != nil {
			s.err = err
			return err
		}
	}

	slot := int(hash) % s.cfg.HashSlots
	h := cur.hdr
	prev := cur.slots[slot]
	if prev <= 0 || prev > h.IndexCount {
		prev = 0
	}
	var b [EntrySize]byte
	Entry{KeyHash: hash, Phys: phys, TimeDiff: timeDiff(storeMillis, h.BeginTimestamp), Prev: prev}.Encode(b[:])
	idx := h.IndexCount
	if h.IndexCount <= 1 {
		h.BeginPhys, h.BeginTimestamp = phys, storeMillis
	}
	h.HashSlotCount++
	h.IndexCount++
	h.EndPhys, h.EndTimestamp = phys, storeMillis

	s.mu.Lock()
	if cur.pend == nil {
		cur.pend = make([]byte, 0, s.cfg.WriteBufferEntries*EntrySize)
	}
	cur.pend = append(cur.pend, b[:]...)
	cur.slots[slot] = idx
	cur.hdr = h
	s.mu.Unlock()
	cur.dirty[slot/slotPage] = true
	cur.hdrDirty = true
	return nil
}

// rollLocked creates the next file after prev (which is full), with a header that
// starts at prev's end as in RocketMQ. prev's buffered entries are written out; its
// slot table stays in memory until a Flush has made it durable. s.wmu is held.
func (s *Service) rollLocked(prev *file) (*file, error) {
	var h Header
	if prev != nil {
		if err := s.writeEntriesLocked(prev); err != nil {
			return nil, err
		}
		h.BeginPhys, h.EndPhys = prev.hdr.EndPhys, prev.hdr.EndPhys
		h.BeginTimestamp, h.EndTimestamp = prev.hdr.EndTimestamp, prev.hdr.EndTimestamp
	}
	h.IndexCount = 1
	t := s.clk.Now().Truncate(time.Millisecond)
	if !t.After(s.last) {
		t = s.last.Add(time.Millisecond) // names must be unique and ordered
	}
	path := s.fs.PathJoin(s.dir, fileName(t))
	f, err := s.fs.Create(path)
	if err != nil {
		return nil, fmt.Errorf("index: create %s: %w", path, err)
	}
	if err := f.Truncate(s.fsize); err != nil {
		f.Close()
		return nil, fmt.Errorf("index: size %s: %w", path, err)
	}
	fl := &file{
		f: f, path: path, hdr: h,
		slots:    make([]int32, s.cfg.HashSlots),
		dirty:    make([]bool, (s.cfg.HashSlots+slotPage-1)/slotPage),
		written:  1,
		hdrDirty: true,
		needSync: true,
	}
	s.last = t
	s.dirty = true
	s.mu.Lock()
	s.mu.files = append(s.mu.files, fl)
	s.mu.Unlock()
	return fl, nil
}

// writeEntriesLocked writes fl's buffered entries to the file (no fsync). Entries
// past the header's IndexCount on disk are ignored by readers, so this is safe at
// any time. s.wmu is held; readers keep using pend until written moves.
func (s *Service) writeEntriesLocked(fl *file) error {
	s.mu.RLock()
	pend, written := fl.pend, fl.written
	s.mu.RUnlock()
	if len(pend) == 0 {
		return nil
	}
	if _, err := fl.f.WriteAt(pend, s.entryPos(written)); err != nil {
		return fmt.Errorf("index: write %s: %w", fl.path, err)
	}
	fl.needSync = true
	s.mu.Lock()
	fl.written += int32(len(pend) / EntrySize)
	fl.pend = fl.pend[:0]
	s.mu.Unlock()
	return nil
}

// pageWrite is a slot page to write back: its file offset and bytes.
type pageWrite struct {
	off  int64
	data []byte
}

// flushWork is what one Flush makes durable for one file, snapshotted under wmu.
type flushWork struct {
	fl     *file
	hdr    []byte // header image to write, or nil
	pages  []pageWrite
	sync   bool
	sealed bool // not the writable file: drop its slot table once durable
}

// Flush makes every key put before it durable and leaves the files consistent at
// every step, so a crash in the middle loses only keys of this Flush:
//
//  1. write buffered entries; fsync (entries past the on-disk IndexCount are
//     ignored by readers);
//  2. write the header (IndexCount now covers them); fsync;
//  3. write the dirty slot pages; fsync. A slot holds either its old value or the
//     new one, and both point at durable entries below IndexCount.
//
// The header and slot images are snapshotted under the writer lock and written
// without it, so Put is not blocked by the fsyncs. After a failed write or fsync
// the Service is read-only: later Put and Flush calls return the error (an fsync is
// never retried).
func (s *Service) Flush() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	return s.flushSyncLocked()
}

func (s *Service) flushSyncLocked() error {
	s.wmu.Lock()
	if s.err != nil {
		s.wmu.Unlock()
		return s.err
	}
	var work []flushWork
	files := s.mu.files
	for i, fl := range files {
		if err := s.writeEntriesLocked(fl); err != nil {
			s.err = err
			s.wmu.Unlock()
			return err
		}
		w := flushWork{fl: fl, sync: fl.needSync, sealed: i < len(files)-1}
		fl.needSync = false
		if fl.hdrDirty {
			w.hdr = make([]byte, HeaderSize)
			fl.hdr.Encode(w.hdr)
			fl.hdrDirty = false
		}
		for p, d := range fl.dirty {
			if !d {
				continue
			}
			lo, hi := p*slotPage, min((p+1)*slotPage, len(fl.slots))
			page := make([]byte, 0, (hi-lo)*SlotSize)
			for _, v := range fl.slots[lo:hi] {
				page = binary.BigEndian.AppendUint32(page, uint32(v))
			}
			w.pages = append(w.pages, pageWrite{off: HeaderSize + int64(lo)*SlotSize, data: page})
			fl.dirty[p] = false
		}
		if w.sync || w.hdr != nil || len(w.pages) > 0 || (w.sealed && fl.slots != nil) {
			work = append(work, w)
		}
	}
	dirDirty := s.dirty
	s.dirty = false
	s.wmu.Unlock()

	err := s.writeWork(work, dirDirty)
	if err != nil {
		s.wmu.Lock()
		if s.err == nil {
			s.err = err
		}
		s.wmu.Unlock()
		return err
	}
	// Sealed files are durable now: readers switch to the file.
	s.wmu.Lock()
	s.mu.Lock()
	for _, w := range work {
		if w.sealed && !w.fl.hdrDirty && !anyTrue(w.fl.dirty) {
			w.fl.slots, w.fl.dirty = nil, nil
		}
	}
	s.mu.Unlock()
	s.wmu.Unlock()
	return nil
}

func anyTrue(b []bool) bool {
	for _, v := range b {
		if v {
			return true
		}
	}
	return false
}

// writeWork runs the three phases of Flush. s.syncMu is held, so no file closes.
func (s *Service) writeWork(work []flushWork, dirDirty bool) error {
	syncAll := func(pred func(flushWork) bool) error {
		for _, w := range work {
			if pred(w) {
				if err := vfs.SyncData(w.fl.f); err != nil {
					return fmt.Errorf("index: sync %s: %w", w.fl.path, err)
				}
			}
		}
		return nil
	}
	if err := syncAll(func(w flushWork) bool { return w.sync }); err != nil {
		return err
	}
	if dirDirty {
		if err := vfs.SyncDir(s.fs, s.dir); err != nil {
			return err
		}
	}
	for _, w := range work {
		if w.hdr != nil {
			if _, err := w.fl.f.WriteAt(w.hdr, 0); err != nil {
				return fmt.Errorf("index: write header %s: %w", w.fl.path, err)
			}
		}
	}
	if err := syncAll(func(w flushWork) bool { return w.hdr != nil }); err != nil {
		return err
	}
	for _, w := range work {
		for _, p := range w.pages {
			if _, err := w.fl.f.WriteAt(p.data, p.off); err != nil {
				return fmt.Errorf("index: write slots %s: %w", w.fl.path, err)
			}
		}
	}
	return syncAll(func(w flushWork) bool { return len(w.pages) > 0 })
}

// Query returns up to maxNum commit-log offsets of messages indexed under
// BuildKey(topic, key) whose store time is in [beginMillis, endMillis], newest file
// first and, within a file, newest entry first; as RocketMQ's queryOffset. It stops
// early once a file begins before beginMillis. Hash collisions are possible: the
// caller checks the messages' keys. Safe for concurrent use with Put.
func (s *Service) Query(topic, key string, maxNum int, beginMillis, endMillis int64) ([]message.PhysOffset, error) {
	if maxNum <= 0 {
		return nil, nil
	}
	k := BuildKey(topic, key)
	hash := KeyHash(k)
	slot := int(hash) % s.cfg.HashSlots
	var out []message.PhysOffset
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.mu.closed {
		return nil, ErrClosed
	}
	for i := len(s.mu.files) - 1; i >= 0; i-- {
		fl := s.mu.files[i]
		if fl.hdr.timeMatched(beginMillis, endMillis) {
			var err error
			if out, err = s.selectRLocked(fl, out, hash, slot, maxNum, beginMillis, endMillis); err != nil {
				return out, err
			}
		}
		if fl.hdr.BeginTimestamp < beginMillis || len(out) >= maxNum {
			break
		}
	}
	return out, nil
}

// selectRLocked walks the chain of slot in fl (RocketMQ selectPhyOffset).
func (s *Service) selectRLocked(fl *file, out []message.PhysOffset, hash int32, slot, maxNum int, begin, end int64) ([]message.PhysOffset, error) {
	h := fl.hdr
	var cur int32
	if fl.slots != nil {
		cur = fl.slots[slot]
	} else {
		var b [SlotSize]byte
		if _, err := fl.f.ReadAt(b[:], HeaderSize+int64(slot)*SlotSize); err != nil {
			return out, fmt.Errorf("index: read %s: %w", fl.path, err)
		}
		cur = int32(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))
	}
	if cur <= 0 || cur > h.IndexCount || h.IndexCount <= 1 {
		return out, nil
	}
	// Every entry number visited is in [1, IndexCount) and strictly decreasing
	// except for a self-loop, which ends the walk; so the walk is bounded even on
	// a corrupt file. (RocketMQ only stops on a self-loop.)
	for steps := int32(0); len(out) < maxNum && steps < h.IndexCount; steps++ {
		var b [EntrySize]byte
		if err := s.readEntryRLocked(fl, cur, b[:]); err != nil {
			return out, err
		}
		e := decodeEntry(b[:])
		if e.TimeDiff < 0 {
			break
		}
		t := h.BeginTimestamp + int64(e.TimeDiff)*1000
		if e.KeyHash == hash && t >= begin && t <= end {
			out = append(out, e.Phys)
		}
		if e.Prev <= 0 || e.Prev > h.IndexCount || e.Prev == cur || t < begin {
			break
		}
		cur = e.Prev
	}
	return out, nil
}

func (s *Service) readEntryRLocked(fl *file, idx int32, dst []byte) error {
	if fl.slots != nil && idx >= fl.written {
		p := int(idx-fl.written) * EntrySize
		if p+EntrySize > len(fl.pend) {
			return fmt.Errorf("%w: %s: entry %d past the end", ErrCorrupt, fl.path, idx)
		}
		copy(dst, fl.pend[p:p+EntrySize])
		return nil
	}
	if _, err := fl.f.ReadAt(dst, s.entryPos(idx)); err != nil {
		return fmt.Errorf("index: read %s entry %d: %w", fl.path, idx, err)
	}
	return nil
}

// EndPhysOffset returns the commit-log offset of the last indexed message (the
// last file's EndPhys; 0 without files). Everything below it is indexed.
func (s *Service) EndPhysOffset() message.PhysOffset {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if n := len(s.mu.files); n > 0 {
		return s.mu.files[n-1].hdr.EndPhys
	}
	return 0
}

// LastUpdate returns the last file's end timestamp and end commit-log offset:
// QUERY_MESSAGE's indexLastUpdateTimestamp and indexLastUpdatePhyoffset.
func (s *Service) LastUpdate() (millis int64, phys message.PhysOffset) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if n := len(s.mu.files); n > 0 {
		h := s.mu.files[n-1].hdr
		return h.EndTimestamp, h.EndPhys
	}
	return 0, 0
}

// Headers returns the headers of all files, oldest first.
func (s *Service) Headers() []Header {
	s.mu.RLock()
	defer s.mu.RUnlock()
	hs := make([]Header, len(s.mu.files))
	for i, fl := range s.mu.files {
		hs[i] = fl.hdr
	}
	return hs
}

// removeLocked unlinks files [lo, hi) from the list and deletes them.
// s.syncMu and s.wmu are held.
func (s *Service) removeLocked(lo, hi int) error {
	s.mu.Lock()
	removed := append([]*file(nil), s.mu.files[lo:hi]...)
	s.mu.files = append(s.mu.files[:lo:lo], s.mu.files[hi:]...)
	s.mu.Unlock()
	for _, fl := range removed {
		if err := fl.f.Close(); err != nil {
			return fmt.Errorf("index: close %s: %w", fl.path, err)
		}
		if err := s.fs.Remove(fl.path); err != nil {
			return fmt.Errorf("index: remove %s: %w", fl.path, err)
		}
		s.dirty = true
	}
	return nil
}

// TruncateTo is recovery after the commit log was cut at phys: it removes every
// file (from the newest back) whose EndPhys is at or past phys, since such a file
// may point at records that no longer exist, as RocketMQ drops index files past the
// recovered end. It returns the commit-log offset from which the caller must
// re-dispatch to rebuild the removed keys: the EndPhysOffset after removal. Removal
// is durable after the next Flush.
func (s *Service) TruncateTo(phys message.PhysOffset) (rebuildFrom message.PhysOffset, err error) {
	return s.dropSuffix(func(h Header) bool { return h.EndPhys >= phys })
}

// DropNewerThan is RocketMQ's load rule after a crash: it removes every file (from
// the newest back) whose EndTimestamp is after indexMsgTimestamp, the checkpoint's
// index watermark, because such a file may have been written only partly. It
// returns the commit-log offset from which to re-dispatch, like TruncateTo.
func (s *Service) DropNewerThan(indexMsgTimestamp int64) (rebuildFrom message.PhysOffset, err error) {
	return s.dropSuffix(func(h Header) bool { return h.EndTimestamp > indexMsgTimestamp })
}

func (s *Service) dropSuffix(drop func(Header) bool) (message.PhysOffset, error) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	s.mu.RLock()
	closed, files := s.mu.closed, s.mu.files
	s.mu.RUnlock()
	if closed {
		return 0, ErrClosed
	}
	keep := len(files)
	for keep > 0 && drop(files[keep-1].hdr) {
		keep--
	}
	if keep < len(files) {
		if err := s.removeLocked(keep, len(files)); err != nil {
			s.err = err
			return 0, err
		}
		// As in RocketMQ, Puts continue in the last kept file if it is not full:
		// it becomes the writable file again.
		if keep > 0 {
			if last := files[keep-1]; last.slots == nil && !s.full(last) {
				if err := s.loadSlots(last); err != nil {
					s.err = err
					return 0, err
				}
			}
		}
	}
	return s.EndPhysOffset(), nil
}

// DeleteBelow is retention after the commit log's minimum moved to phys: it removes
// the oldest files whose EndPhys is below phys, never the newest file (RocketMQ
// deleteExpiredFile). It returns how many it removed. Durable after the next Flush.
func (s *Service) DeleteBelow(phys message.PhysOffset) (int, error) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	s.mu.RLock()
	closed, files := s.mu.closed, s.mu.files
	s.mu.RUnlock()
	if closed {
		return 0, ErrClosed
	}
	n := 0
	for n < len(files)-1 && files[n].hdr.EndPhys < phys {
		n++
	}
	if n == 0 {
		return 0, nil
	}
	if err := s.removeLocked(0, n); err != nil {
		s.err = err
		return 0, err
	}
	return n, nil
}

// Close flushes (as Flush) and closes the files. Idempotent; other methods return
// ErrClosed afterwards.
func (s *Service) Close() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.RLock()
	closed := s.mu.closed
	s.mu.RUnlock()
	if closed {
		return nil
	}
	err := s.flushSyncLocked()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	s.mu.closed = true
	s.mu.Unlock()
	if cerr := s.closeFiles(); err == nil {
		err = cerr
	}
	if s.err == nil {
		s.err = ErrClosed
	}
	return err
}

func (s *Service) closeFiles() error {
	var err error
	for _, fl := range s.mu.files {
		if cerr := fl.f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("index: close %s: %w", fl.path, cerr)
		}
	}
	return err
}
