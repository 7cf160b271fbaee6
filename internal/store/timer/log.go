package timer

import (
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/message"
)

// RecordSize is the size of a timer-log record. Part of the on-disk format;
// never change.
const RecordSize = 40

// DefaultSegmentSize holds one million records.
const DefaultSegmentSize = 1_000_000 * RecordSize

const (
	checkpointName    = "checkpoint"
	checkpointMagic   = "PTLC"
	checkpointVersion = 1
	checkpointSize    = 4 + 4 + 8 + 8 + 8 + 4
	noPrev            = -1
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Errors.
var (
	ErrClosed = errors.New("timer: closed")
	// ErrCorrupt marks a bad record before the checkpointed end, or a bad
	// checkpoint.
	ErrCorrupt = errors.New("timer: corrupt")
)

// Config configures a Log.
type Config struct {
	// Dir holds the segments and the checkpoint. Required.
	Dir string
	// Precision is the bucket width. Default 1 s; at least 1 ms.
	Precision time.Duration
	// SegmentSize is the segment size in bytes, a multiple of RecordSize.
	// Default DefaultSegmentSize (40 MB, one million records).
	SegmentSize int64
}

// Record is one pending timer.
type Record struct {
	DeliverAt int64              // Unix ms
	Phys      message.PhysOffset // commit-log offset of the parked message
	Size      int32              // its record size
	// Bucket is filled in by Add and by the readers: the bucket (Unix ms) the
	// record is linked into.
	Bucket int64
}

type segment struct {
	base      int64
	f         vfs.File
	maxBucket int64
	dirty     bool
}

type slot struct {
	last int64
	n    int64
}

// Log is the timer log and its in-memory bucket index. See the package doc.
type Log struct {
	fs        vfs.FS
	cfg       Config
	precision int64 // ms

	mu struct {
		sync.Mutex
		closed bool
		segs   []*segment
		end    int64
		slots  map[int64]slot
		order  bucketHeap
		cursor int64 // first bucket not fully delivered
		active int64 // bucket being delivered, or -1
		// activeLast is the newest record of the active bucket, so records
		// that join it late keep its on-disk chain whole for recovery.
		activeLast int64
		late       []Record
		enqNext    int64
		pending    int64
		durable    int64 // cursor of the last checkpoint
	}
}

// Open opens or creates the log in cfg.Dir and rebuilds the bucket index.
func Open(fsys vfs.FS, cfg Config) (*Log, error) {
	if cfg.Dir == "" {
		return nil, errors.New("timer: config: Dir is empty")
	}
	if cfg.Precision == 0 {
		cfg.Precision = time.Second
	}
	if cfg.SegmentSize == 0 {
		cfg.SegmentSize = DefaultSegmentSize
	}
	if cfg.Precision < time.Millisecond || cfg.SegmentSize < RecordSize || cfg.SegmentSize%RecordSize != 0 {
		return nil, fmt.Errorf("timer: config: Precision %v must be at least 1 ms and SegmentSize %d a positive multiple of %d",
			cfg.Precision, cfg.SegmentSize, RecordSize)
	}
	if err := fsys.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("timer: %w", err)
	}
	l := &Log{fs: fsys, cfg: cfg, precision: cfg.Precision.Milliseconds()}
	l.mu.slots = map[int64]slot{}
	l.mu.active = -1
	end, enq, cursor, err := l.readCheckpoint()
	if err != nil {
		return nil, err
	}
	l.mu.enqNext, l.mu.cursor, l.mu.durable = enq, cursor, cursor
	if err := l.openSegments(end); err != nil {
		l.closeFiles()
		return nil, err
	}
	return l, nil
}

func (l *Log) readCheckpoint() (end, enq, cursor int64, err error) {
	b, err := vfs.ReadFile(l.fs, filepath.Join(l.cfg.Dir, checkpointName))
	if err != nil {
		return 0, 0, 0, nil // none yet: an empty log
	}
	if len(b) != checkpointSize || string(b[:4]) != checkpointMagic ||
		crc32.Checksum(b[:checkpointSize-4], crcTable) != binary.BigEndian.Uint32(b[checkpointSize-4:]) {
		return 0, 0, 0, fmt.Errorf("%w: bad checkpoint in %s", ErrCorrupt, l.cfg.Dir)
	}
	if v := binary.BigEndian.Uint32(b[4:]); v != checkpointVersion {
		return 0, 0, 0, fmt.Errorf("timer: checkpoint version %d is newer than %d", v, checkpointVersion)
	}
	return int64(binary.BigEndian.Uint64(b[8:])), int64(binary.BigEndian.Uint64(b[16:])),
		int64(binary.BigEndian.Uint64(b[24:])), nil
}

// openSegments opens the segments, drops what lies past end and rebuilds the
// index from the rest.
func (l *Log) openSegments(end int64) error {
	names, err := l.fs.List(l.cfg.Dir)
	if err != nil {
		return fmt.Errorf("timer: %w", err)
	}
	for _, name := range names {
		base, err := strconv.ParseInt(name, 10, 64)
		if err != nil || len(name) != 20 {
			continue
		}
		path := filepath.Join(l.cfg.Dir, name)
		if base >= end {
			if err := l.fs.Remove(path); err != nil {
				return fmt.Errorf("timer: %w", err)
			}
			continue
		}
		f, err := l.fs.OpenReadWrite(path)
		if err != nil {
			return fmt.Errorf("timer: %w", err)
		}
		l.mu.segs = append(l.mu.segs, &segment{base: base, f: f, maxBucket: math.MinInt64})
	}
	if len(l.mu.segs) == 0 {
		if end > 0 {
			return fmt.Errorf("%w: checkpoint covers %d bytes but no segment exists", ErrCorrupt, end)
		}
		return nil
	}
	last := l.mu.segs[len(l.mu.segs)-1]
	if err := last.f.Truncate(end - last.base); err != nil {
		return fmt.Errorf("timer: truncate: %w", err)
	}
	l.mu.end = end
	buf := make([]byte, 64<<10/RecordSize*RecordSize)
	for i, s := range l.mu.segs {
		segEnd := l.mu.end
		if i+1 < len(l.mu.segs) {
			segEnd = l.mu.segs[i+1].base
		}
		for pos := s.base; pos < segEnd; {
			n := min(int64(len(buf)), segEnd-pos)
			if _, err := s.f.ReadAt(buf[:n], pos-s.base); err != nil {
				return fmt.Errorf("%w: read %d bytes at %d: %v", ErrCorrupt, n, pos, err)
			}
			for off := int64(0); off < n; off += RecordSize {
				r, _, ok := decode(buf[off : off+RecordSize])
				if !ok {
					return fmt.Errorf("%w: bad record at position %d", ErrCorrupt, pos+off)
				}
				s.maxBucket = max(s.maxBucket, r.Bucket)
				if r.Bucket >= l.mu.cursor {
					l.linkLocked(r.Bucket, pos+off)
				}
			}
			pos += n
		}
	}
	return nil
}

func encode(dst []byte, r Record, prev int64) {
	binary.BigEndian.PutUint64(dst[0:], uint64(r.DeliverAt))
	binary.BigEndian.PutUint64(dst[8:], uint64(r.Bucket))
	binary.BigEndian.PutUint64(dst[16:], uint64(r.Phys))
	binary.BigEndian.PutUint64(dst[24:], uint64(prev))
	binary.BigEndian.PutUint32(dst[32:], uint32(r.Size))
	binary.BigEndian.PutUint32(dst[36:], crc32.Checksum(dst[:36], crcTable))
}

func decode(b []byte) (Record, int64, bool) {
	if crc32.Checksum(b[:36], crcTable) != binary.BigEndian.Uint32(b[36:]) {
		return Record{}, 0, false
	}
	return Record{
		DeliverAt: int64(binary.BigEndian.Uint64(b[0:])),
		Bucket:    int64(binary.BigEndian.Uint64(b[8:])),
		Phys:      message.PhysOffset(binary.BigEndian.Uint64(b[16:])),
		Size:      int32(binary.BigEndian.Uint32(b[32:])),
	}, int64(binary.BigEndian.Uint64(b[24:])), true
}

// linkLocked makes pos the newest record of bucket.
func (l *Log) linkLocked(bucket, pos int64) {
	s, ok := l.mu.slots[bucket]
	if !ok {
		heap.Push(&l.mu.order, bucket)
	}
	s.last, s.n = pos, s.n+1
	l.mu.slots[bucket] = s
	l.mu.pending++
}

// bucketOf rounds ms down to the precision.
func (l *Log) bucketOf(ms int64) int64 {
	b := ms - ms%l.precision
	if ms < 0 && ms%l.precision != 0 {
		b -= l.precision
	}
	return b
}

// EnqueueOffset is the next queue offset of the parking topic not yet added.
func (l *Log) EnqueueOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.enqNext
}

// Add appends recs (DeliverAt, Phys, Size) and links them into their buckets,
// then records enqNext as the enqueue offset. A record whose bucket is being
// delivered, or already was, joins the bucket being delivered (and is returned
// by TakeLate) or, when none is, the cursor's bucket. After a write error the
// log must be reopened.
func (l *Log) Add(recs []Record, enqNext int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return ErrClosed
	}
	buf := make([]byte, RecordSize)
	for _, r := range recs {
		b := l.bucketOf(r.DeliverAt)
		switch {
		case l.mu.active >= 0 && b <= l.mu.active:
			b = l.mu.active
		case b < l.mu.cursor:
			b = l.mu.cursor
		}
		r.Bucket = b
		prev := int64(noPrev)
		if s, ok := l.mu.slots[b]; ok {
			prev = s.last
		}
		if b == l.mu.active {
			// The active bucket's chain was read already: the record is
			// delivered from the late list, and linked only on disk.
			prev = l.mu.activeLast
			l.mu.activeLast = l.mu.end
		}
		seg, err := l.segmentForAppendLocked()
		if err != nil {
			return err
		}
		encode(buf, r, prev)
		if _, err := seg.f.WriteAt(buf, l.mu.end-seg.base); err != nil {
			return fmt.Errorf("timer: append: %w", err)
		}
		seg.dirty = true
		seg.maxBucket = max(seg.maxBucket, b)
		if b == l.mu.active {
			l.mu.late = append(l.mu.late, r)
		} else {
			l.linkLocked(b, l.mu.end)
		}
		l.mu.end += RecordSize
	}
	l.mu.enqNext = enqNext
	return nil
}

func (l *Log) segmentForAppendLocked() (*segment, error) {
	if n := len(l.mu.segs); n > 0 && l.mu.end < l.mu.segs[n-1].base+l.cfg.SegmentSize {
		return l.mu.segs[n-1], nil
	}
	path := filepath.Join(l.cfg.Dir, fmt.Sprintf("%020d", l.mu.end))
	f, err := l.fs.Create(path)
	if err != nil {
		return nil, fmt.Errorf("timer: new segment: %w", err)
	}
	s := &segment{base: l.mu.end, f: f, maxBucket: math.MinInt64, dirty: true}
	l.mu.segs = append(l.mu.segs, s)
	return s, nil
}

// NextBucket returns the earliest bucket with pending records, if any.
func (l *Log) NextBucket() (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.mu.order) == 0 {
		return 0, false
	}
	return l.mu.order[0], true
}

// ClaimDue takes the earliest bucket if it starts at or before now: it
// returns its records sorted by delivery time and makes it the active bucket
// until Finish. Otherwise ok is false and next is the earliest bucket's start
// (math.MaxInt64 if there is none). Only one bucket is active at a time.
func (l *Log) ClaimDue(now int64) (bucket int64, recs []Record, next int64, ok bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return 0, nil, 0, false, ErrClosed
	}
	if l.mu.active >= 0 {
		panic("timer: ClaimDue while a bucket is active")
	}
	if len(l.mu.order) == 0 {
		return 0, nil, math.MaxInt64, false, nil
	}
	bucket = l.mu.order[0]
	if bucket > now {
		return 0, nil, bucket, false, nil
	}
	heap.Pop(&l.mu.order)
	s := l.mu.slots[bucket]
	delete(l.mu.slots, bucket)
	recs = make([]Record, 0, s.n)
	var b [RecordSize]byte
	first := l.mu.segs[0].base
	for pos := s.last; pos >= first && pos != noPrev; {
		seg := l.segmentAtLocked(pos)
		if _, err := seg.f.ReadAt(b[:], pos-seg.base); err != nil {
			return 0, nil, 0, false, fmt.Errorf("timer: read record at %d: %w", pos, err)
		}
		r, prev, ok := decode(b[:])
		if !ok {
			return 0, nil, 0, false, fmt.Errorf("%w: bad record at position %d", ErrCorrupt, pos)
		}
		recs = append(recs, r)
		pos = prev
	}
	l.mu.pending -= s.n
	slices.SortStableFunc(recs, func(a, b Record) int {
		switch {
		case a.DeliverAt < b.DeliverAt:
			return -1
		case a.DeliverAt > b.DeliverAt:
			return 1
		}
		return int(a.Phys - b.Phys)
	})
	l.mu.active, l.mu.activeLast = bucket, s.last
	l.mu.cursor = max(l.mu.cursor, bucket)
	return bucket, recs, 0, true, nil
}

func (l *Log) segmentAtLocked(pos int64) *segment {
	i, found := slices.BinarySearchFunc(l.mu.segs, pos, func(s *segment, p int64) int {
		switch {
		case s.base < p:
			return -1
		case s.base > p:
			return 1
		}
		return 0
	})
	if !found {
		i--
	}
	return l.mu.segs[i]
}

// TakeLate returns and forgets the records that joined the active bucket after
// it was claimed.
func (l *Log) TakeLate() []Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	late := l.mu.late
	l.mu.late = nil
	return late
}

// Finish ends delivery of the active bucket: the cursor moves past it (made
// durable by the next Sync).
func (l *Log) Finish(bucket int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.active != bucket {
		panic("timer: Finish of a bucket that is not active")
	}
	l.mu.active = -1
	l.mu.cursor = bucket + l.precision
}

// Precision returns the bucket width in ms.
func (l *Log) Precision() int64 { return l.precision }

// Stats are figures for metrics and tests.
type Stats struct {
	Pending   int64 // records linked into buckets not yet claimed
	Buckets   int   // non-empty buckets
	DiskBytes int64 // bytes in segments
	Cursor    int64 // first bucket not fully delivered (Unix ms)
}

// Stats reports the log's figures.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := Stats{Pending: l.mu.pending, Buckets: len(l.mu.slots), Cursor: l.mu.cursor}
	if len(l.mu.segs) > 0 {
		st.DiskBytes = l.mu.end - l.mu.segs[0].base
	}
	return st
}

// Sync fsyncs the appended records, writes the checkpoint (log end, enqueue
// offset, cursor) and then removes segments whose records all lie before the
// durable cursor. The mutex is not held during the fsyncs.
func (l *Log) Sync() error {
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	end, enq, cursor := l.mu.end, l.mu.enqNext, l.mu.cursor
	if l.mu.active >= 0 {
		cursor = min(cursor, l.mu.active)
	}
	var files []vfs.File
	for _, s := range l.mu.segs {
		if s.dirty {
			files = append(files, s.f)
			s.dirty = false
		}
	}
	l.mu.Unlock()
	for _, f := range files {
		if err := vfs.SyncData(f); err != nil {
			return fmt.Errorf("timer: sync: %w", err)
		}
	}
	b := make([]byte, checkpointSize)
	copy(b, checkpointMagic)
	binary.BigEndian.PutUint32(b[4:], checkpointVersion)
	binary.BigEndian.PutUint64(b[8:], uint64(end))
	binary.BigEndian.PutUint64(b[16:], uint64(enq))
	binary.BigEndian.PutUint64(b[24:], uint64(cursor))
	binary.BigEndian.PutUint32(b[checkpointSize-4:], crc32.Checksum(b[:checkpointSize-4], crcTable))
	if err := vfs.WriteFileAtomic(l.fs, filepath.Join(l.cfg.Dir, checkpointName), b); err != nil {
		return fmt.Errorf("timer: checkpoint: %w", err)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.durable = cursor
	for len(l.mu.segs) > 1 && l.mu.segs[0].maxBucket < cursor && l.mu.segs[1].base <= end {
		s := l.mu.segs[0]
		_ = s.f.Close()
		if err := l.fs.Remove(filepath.Join(l.cfg.Dir, fmt.Sprintf("%020d", s.base))); err != nil {
			return fmt.Errorf("timer: remove segment: %w", err)
		}
		l.mu.segs = l.mu.segs[1:]
	}
	return nil
}

// Close syncs and closes the log. Idempotent.
func (l *Log) Close() error {
	l.mu.Lock()
	closed := l.mu.closed
	l.mu.Unlock()
	if closed {
		return nil
	}
	err := l.Sync()
	l.mu.Lock()
	l.mu.closed = true
	l.mu.Unlock()
	l.closeFiles()
	return err
}

func (l *Log) closeFiles() {
	for _, s := range l.mu.segs {
		_ = s.f.Close()
	}
}

// bucketHeap is a min-heap of bucket start times.
type bucketHeap []int64

func (h bucketHeap) Len() int           { return len(h) }
func (h bucketHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h bucketHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *bucketHeap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *bucketHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
