package commitlog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"runtime/pprof"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
)

// Errors.
var (
	// ErrClosed is returned by calls after Close.
	ErrClosed = errors.New("commitlog: closed")
	// ErrNotStarted is returned by Append before Start.
	ErrNotStarted = errors.New("commitlog: not started")
	// ErrReadOnly marks the sticky error: after a failed write or fsync every
	// Append and Sync returns an error wrapping both ErrReadOnly and the cause.
	ErrReadOnly = errors.New("commitlog: read-only after a failed write or sync")
	// ErrMessageTooLarge is returned by Append for input longer than
	// Config.MaxMessageSize.
	ErrMessageTooLarge = errors.New("commitlog: message too large")
	// ErrInvalidRecord is returned by Append for input that is not a sequence of
	// V1 records.
	ErrInvalidRecord = errors.New("commitlog: invalid record")
	// ErrFlushTimeout is given to a Sync/SyncAsync waiter whose data was not
	// durable within Config.FlushTimeout. The data may still become durable.
	ErrFlushTimeout = errors.New("commitlog: flush timeout")
	// ErrOutOfRange is returned by reads outside [MinOffset, MaxOffset) or across
	// a segment end.
	ErrOutOfRange = errors.New("commitlog: offset out of range")
	// ErrCorrupt is matched (errors.Is) by every *CorruptionError.
	ErrCorrupt = errors.New("commitlog: corrupt")
	// ErrNoSegment is returned by Append for a record that needs a segment the
	// writer could not allocate (no space, ENOSPC or EDQUOT, or no file
	// descriptor, EMFILE or ENFILE). It wraps the cause. It is not sticky: the
	// log stays writable, records that fit in the current segment are still
	// accepted, and the writer retries the allocation (at most every
	// allocRetryInterval, when an Append needs it), so appends resume once the
	// cause is gone.
	ErrNoSegment = errors.New("commitlog: cannot allocate the next segment")
)

// allocRetryInterval is the least time, by Config.Clock, between two attempts
// to allocate a segment after one failed.
const allocRetryInterval = time.Second

// CorruptionError reports damaged data in the middle of the log: an invalid
// record at Offset followed by valid records. Open returns it unless
// RecoverOptions.Repair is set. errors.Is(err, ErrCorrupt) holds.
type CorruptionError struct {
	Path   string
	Offset message.PhysOffset
	Reason string
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("commitlog: corrupt record in %s at offset %d: %s", e.Path, e.Offset, e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }

// AppendResult describes a successful Append.
type AppendResult struct {
	// Offset is the physical offset of the first appended record.
	Offset message.PhysOffset
	// End is Offset plus the appended size: pass it to Sync/SyncAsync to wait for
	// durability.
	End message.PhysOffset
	// StoreTimestamp is the STORETIMESTAMP written into the records, ms.
	StoreTimestamp int64
	// QueueOffset is the QUEUEOFFSET of the first record (as assigned, or as
	// encoded when no assign callback was given).
	QueueOffset message.QueueOffset
	// Records is the number of records appended.
	Records int
}

// span is a run of bytes of the write buffer destined for one place in the log.
type span struct {
	off        message.PhysOffset
	start, end int // in the buffer
}

// Log is the commit log: every message of every topic, appended in one sequence
// of fixed-size segment files. See the package documentation for the format,
// concurrency and durability contract. All methods are safe for concurrent use.
type Log struct {
	fs  vfs.FS
	cfg Config
	log *slog.Logger

	// mu is the append lock: it covers offset assignment and the copy into the
	// write buffer, nothing else.
	mu struct {
		sync.Mutex
		next    message.PhysOffset // where the next record goes
		buf     []byte             // appended bytes not yet taken by the writer
		spans   []span
		space   chan struct{} // closed by the writer when it takes buf or allocates; nil if nobody waits
		err     error         // sticky; wraps ErrReadOnly
		started bool
		closed  bool
		// allocEnd is the end of the newest segment: an append may only
		// place a record below it. allocErr is the cause of the last failed
		// allocation (nil once one succeeds); while set, appends that need
		// the next segment fail with ErrNoSegment. wantAlloc: an append
		// waits for the writer to allocate the next segment.
		allocEnd  message.PhysOffset
		allocErr  error
		wantAlloc bool
	}

	// written is where readable data ends: every byte below it was handed to the
	// OS by the writer. synced is where durable data ends.
	written atomic.Int64
	synced  atomic.Int64

	segMu sync.RWMutex // guards segs; taken after (never while holding) mu
	segs  []*segment   // sorted by base; the Log holds one reference to each

	writeWake chan struct{} // cap 1: the writer has work
	syncWake  chan struct{} // cap 1: the flusher has waiters or new data to flush

	// Owned by the writer goroutine.
	spare      []byte
	spareSpans []span
	wseg       *segment  // the segment the writer last wrote to
	allocRetry time.Time // after a failed allocation, no new attempt before this

	// fmu guards the waiter queue and its timeout timer.
	fmu      sync.Mutex
	waiters  []waiter    // in arrival order, so deadlines are non-decreasing
	ftimer   clock.Timer // fires at the oldest waiter's deadline; nil until first armed
	ftimerOn bool        // ftimer is scheduled
	nwait    atomic.Int32
	maxWait  atomic.Int64 // the largest upTo ever queued
	// gatherWant is how many waiters the flusher gathers before an fsync: the
	// number the previous fsync completed plus those it left queued.
	gatherWant atomic.Int32

	// syncMu serialises fsyncs of segment data with the advance of synced and
	// the sticky-error check, so that once an fsync has failed no later fsync
	// (which the kernel may report as successful after dropping the dirty
	// pages) can advance synced.
	syncMu sync.Mutex

	// Waiters for data to be written (WrittenAsync); completed by the writer.
	wwmu       sync.Mutex
	wwaiters   []wwaiter
	wwready    []wwaiter   // reused between completions
	writerGone atomic.Bool // set by Close once the writer has drained and exited

	raw rawState // ReadRaw, AppendRaw, Truncate, Reset (raw.go)

	closeOnce   sync.Once
	stopWriter  chan struct{}
	stopFlusher chan struct{}
	writerDone  chan struct{} // closed by the writer when it has drained and exited
	wg          sync.WaitGroup
}

// RecoverOptions controls what Open checks and reports.
type RecoverOptions struct {
	// From is where recovery starts scanning: the segment holding From is scanned
	// from its start and every later one fully; earlier segments are trusted. The
	// facade passes its checkpoint. Default 0: scan everything.
	From message.PhysOffset
	// OnRecord, if set, is called during Open for every valid record at or after
	// From, in order, so the caller can rebuild consume queues and indexes. rec
	// aliases a scan buffer and is valid only during the call. An error aborts
	// Open and is returned.
	OnRecord func(off message.PhysOffset, rec []byte) error
	// Repair makes Open truncate at a corrupt record in the middle of the log
	// (dropping every record after it) instead of failing with a
	// *CorruptionError. Operators opt in after inspecting the damage.
	Repair bool
}

// Open opens the log in cfg.Dir on fsys, creating the directory if needed, and
// recovers it: it checks segment names and sizes, scans records from ro.From,
// truncates a torn tail at the last valid record (zeroing the rest of that
// segment, removing later segments, fsyncing, and logging what was dropped), and
// fails with a *CorruptionError when an invalid record has valid records after
// it, unless ro.Repair. It starts no goroutines (see Start).
func Open(fsys vfs.FS, cfg Config, ro RecoverOptions) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	l := &Log{
		fs:          fsys,
		cfg:         cfg,
		log:         cfg.Logger.With("component", "commitlog", "dir", cfg.Dir),
		writeWake:   make(chan struct{}, 1),
		syncWake:    make(chan struct{}, 1),
		stopWriter:  make(chan struct{}),
		stopFlusher: make(chan struct{}),
		writerDone:  make(chan struct{}),
	}
	l.raw.truncCh = make(chan truncReq)
	if err := fsys.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("commitlog: create %s: %w", cfg.Dir, err)
	}
	if err := l.openSegments(); err != nil {
		l.closeSegments()
		return nil, err
	}
	if err := l.recover(ro); err != nil {
		l.closeSegments()
		return nil, err
	}
	return l, nil
}

func (l *Log) segPath(base message.PhysOffset) string {
	return l.fs.PathJoin(l.cfg.Dir, SegmentName(base))
}

func (l *Log) openSegments() error {
	names, err := l.fs.List(l.cfg.Dir)
	if err != nil {
		return fmt.Errorf("commitlog: list %s: %w", l.cfg.Dir, err)
	}
	size := l.cfg.SegmentSize
	for _, name := range names {
		base, ok := parseSegmentName(name)
		if !ok {
			continue // not ours
		}
		path := l.segPath(base)
		if int64(base)%size != 0 {
			return &CorruptionError{Path: path, Offset: base, Reason: fmt.Sprintf("segment name is not a multiple of the segment size %d", size)}
		}
		if n := len(l.segs); n > 0 && l.segs[n-1].base+message.PhysOffset(size) != base {
			return &CorruptionError{Path: path, Offset: l.segs[n-1].base + message.PhysOffset(size), Reason: "missing segment before this one"}
		}
		f, err := l.fs.OpenReadWrite(path)
		if err != nil {
			return fmt.Errorf("commitlog: open segment %s: %w", path, err)
		}
		st, err := f.Stat()
		if err == nil && st.Size() > size {
			err = &CorruptionError{Path: path, Offset: base, Reason: fmt.Sprintf("file is %d bytes, segment size %d", st.Size(), size)}
		}
		if err != nil {
			f.Close()
			return err
		}
		l.segs = append(l.segs, newSegment(base, path, f))
	}
	return nil
}

func (l *Log) fileSize(s *segment) (int64, error) {
	st, err := s.f.Stat()
	if err != nil {
		return 0, fmt.Errorf("commitlog: stat %s: %w", s.path, err)
	}
	return st.Size(), nil
}

// recover scans from ro.From and sets the write position; see Open.
func (l *Log) recover(ro RecoverOptions) error {
	size := l.cfg.SegmentSize
	maxRec := l.cfg.MaxMessageSize
	if len(l.segs) == 0 {
		start := ro.From - ro.From%message.PhysOffset(size)
		l.setPosition(start)
		return nil
	}
	first := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base+message.PhysOffset(size) > ro.From })
	if first == len(l.segs) {
		first = len(l.segs) - 1
	}
	fn := func(off message.PhysOffset, rec []byte) error {
		if ro.OnRecord != nil && off >= ro.From {
			return ro.OnRecord(off, rec)
		}
		return nil
	}
	for i := first; i < len(l.segs); i++ {
		s := l.segs[i]
		fsz, err := l.fileSize(s)
		if err != nil {
			return err
		}
		sr := &segReader{r: s.f, size: fsz}
		res, err := scanSegment(sr, s.base, 0, size, maxRec, fn)
		if err != nil {
			return fmt.Errorf("commitlog: recover %s: %w", s.path, err)
		}
		if res.Full && !res.Bad {
			if i == len(l.segs)-1 {
				l.setPosition(s.base + message.PhysOffset(size))
				return l.syncActive()
			}
			continue
		}
		// The data of this segment ends at res.End. Anything valid after it?
		pos := int64(res.End - s.base)
		reason := res.BadReason
		corrupt := false
		if later, err := l.laterSegmentHasData(i); err != nil {
			return err
		} else if later >= 0 {
			// A segment is fsynced before the next one is written, so valid data
			// in a later segment means this one was complete once.
			corrupt = true
			if reason == "" {
				reason = "unexpected end of segment data"
			}
			reason += fmt.Sprintf("; valid records follow in segment %s", SegmentName(l.segs[later].base))
		} else if res.Bad {
			q, err := resync(sr, s.base, pos, size, maxRec)
			if err != nil {
				return fmt.Errorf("commitlog: recover %s: %w", s.path, err)
			}
			if q >= 0 {
				torn, err := looksTorn(sr, pos, q)
				if err != nil {
					return fmt.Errorf("commitlog: recover %s: %w", s.path, err)
				}
				if !torn {
					corrupt = true
					reason += fmt.Sprintf("; a valid record follows at offset %d", s.base+message.PhysOffset(q))
				}
			}
		}
		if corrupt {
			cerr := &CorruptionError{Path: s.path, Offset: res.End, Reason: reason}
			if !ro.Repair {
				return cerr
			}
			l.log.Warn("repairing corrupt commit log: truncating", "offset", res.End, "err", cerr)
		}
		return l.truncateAt(i, res.End, res.Bad, reason)
	}
	return nil
}

// laterSegmentHasData returns the index of the first segment after i whose first
// record is valid, or -1.
func (l *Log) laterSegmentHasData(i int) (int, error) {
	var v message.RecordView
	for j := i + 1; j < len(l.segs); j++ {
		s := l.segs[j]
		fsz, err := l.fileSize(s)
		if err != nil {
			return -1, err
		}
		sr := &segReader{r: s.f, size: fsz}
		hdr, err := sr.get(0, message.BlankHeaderSize)
		if err != nil {
			return -1, fmt.Errorf("commitlog: read %s: %w", s.path, err)
		}
		total, _, ok := message.PeekHeader(hdr)
		if !ok || total < message.RecordFixedSize || int(total) > l.cfg.MaxMessageSize {
			continue
		}
		rec, err := sr.get(0, int(total))
		if err != nil {
			return -1, fmt.Errorf("commitlog: read %s: %w", s.path, err)
		}
		if checkRecord(rec, s.base, l.cfg.MaxMessageSize, &v) == nil {
			return j, nil
		}
	}
	return -1, nil
}

// truncateAt makes end the end of the log: it zeroes segment i from end, removes
// every later segment, and makes that durable.
func (l *Log) truncateAt(i int, end message.PhysOffset, bad bool, reason string) error {
	s := l.segs[i]
	pos := int64(end - s.base)
	fsz, err := l.fileSize(s)
	if err != nil {
		return err
	}
	if bad {
		l.log.Warn("truncating torn commit log tail", "offset", end, "dropped_to", s.base+message.PhysOffset(fsz), "reason", reason)
	}
	if fsz > pos {
		// Truncate then re-reserve: the tail reads as zeros, so stale bytes can
		// never be mistaken for records later.
		if err := s.f.Truncate(pos); err != nil {
			return fmt.Errorf("commitlog: truncate %s: %w", s.path, err)
		}
		if p, ok := s.f.(vfs.Preallocator); ok {
			if err := p.Preallocate(pos, l.cfg.SegmentSize-pos); err != nil {
				return fmt.Errorf("commitlog: preallocate %s: %w", s.path, err)
			}
		}
	}
	for _, t := range l.segs[i+1:] {
		l.log.Warn("removing commit log segment past the recovered end", "path", t.path)
		if err := t.release(); err != nil {
			return fmt.Errorf("commitlog: close %s: %w", t.path, err)
		}
		if err := l.fs.Remove(t.path); err != nil {
			return fmt.Errorf("commitlog: remove %s: %w", t.path, err)
		}
	}
	removed := len(l.segs) > i+1
	l.segs = l.segs[:i+1]
	if removed {
		if err := vfs.SyncDir(l.fs, l.cfg.Dir); err != nil {
			return fmt.Errorf("commitlog: %w", err)
		}
	}
	l.setPosition(end)
	return l.syncActive()
}

// syncActive fsyncs the last segment, so that what recovery found (possibly only
// in the page cache after a process crash) is durable before it counts as synced.
func (l *Log) syncActive() error {
	if len(l.segs) == 0 {
		return nil
	}
	s := l.segs[len(l.segs)-1]
	if err := vfs.SyncData(s.f); err != nil {
		return fmt.Errorf("commitlog: sync %s: %w", s.path, err)
	}
	return nil
}

func (l *Log) setPosition(off message.PhysOffset) {
	l.mu.next = off
	l.written.Store(int64(off))
	l.synced.Store(int64(off))
	l.mu.allocEnd = off - off%message.PhysOffset(l.cfg.SegmentSize) // the segment holding off is allocated below
	if n := len(l.segs); n > 0 {
		l.mu.allocEnd = l.segs[n-1].base + message.PhysOffset(l.cfg.SegmentSize)
	}
}

func (l *Log) closeSegments() {
	l.segMu.Lock()
	defer l.segMu.Unlock()
	for _, s := range l.segs {
		_ = s.release()
	}
	l.segs = nil
}

// Start launches the writer and flusher goroutines. They run until Close; ctx
// only supplies values (pprof labels are added). Start after Close returns
// ErrClosed; a second Start does nothing.
func (l *Log) Start(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return ErrClosed
	}
	if l.mu.started {
		return nil
	}
	l.mu.started = true
	// Both halves of the double buffer get their full size now, so appends never
	// grow (allocate) them.
	l.mu.buf = make([]byte, 0, l.cfg.WriteBufferSize)
	l.spare = make([]byte, 0, l.cfg.WriteBufferSize)
	ctx = context.WithoutCancel(ctx)
	l.goFunc(ctx, "commitlog-writer", l.writeLoop)
	l.goFunc(ctx, "commitlog-flusher", l.flushLoop)
	return nil
}

func (l *Log) goFunc(ctx context.Context, name string, fn func()) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		pprof.Do(ctx, pprof.Labels("loop", name, "dir", l.cfg.Dir), func(context.Context) { fn() })
	}()
}

// Close stops accepting appends, writes and fsyncs everything appended, completes
// every waiter (with nil if its data became durable, else an error), waits for the
// goroutines and closes the files (a segment a reader still uses is closed when
// the reader finishes). It returns the sticky error, if any. Idempotent; safe
// before Start.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.mu.closed = true
		started := l.mu.started
		if l.mu.space != nil {
			close(l.mu.space)
			l.mu.space = nil
		}
		l.mu.Unlock()
		if started {
			close(l.stopWriter) // the writer drains the buffer first
			<-l.writerDone
			close(l.stopFlusher)
			l.wg.Wait()
		}
		l.writerGone.Store(true)
		l.completeWritten(ErrClosed)
		l.completeWaiters(ErrClosed, true)
		l.fmu.Lock()
		if l.ftimer != nil {
			l.ftimer.Stop()
			l.ftimerOn = false
		}
		l.fmu.Unlock()
		l.closeSegments()
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.err
}

// fail makes the log read-only with cause err and fails every waiter.
func (l *Log) fail(err error) {
	sticky := l.setSticky(err)
	l.completeWritten(sticky)
	l.completeWaiters(sticky, true)
}

// setSticky records err as the sticky error (the first one wins), releases
// appends waiting for buffer space, and returns the sticky error.
func (l *Log) setSticky(err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.err == nil {
		l.mu.err = fmt.Errorf("%w: %w", ErrReadOnly, err)
		l.log.Error("commit log is read-only after an I/O error", "err", err)
	}
	if l.mu.space != nil {
		close(l.mu.space)
		l.mu.space = nil
	}
	return l.mu.err
}

// Err returns the sticky error (wrapping ErrReadOnly), or nil.
func (l *Log) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.err
}

// AllocErr returns why the next segment could not be allocated (wrapping
// ErrNoSegment and the cause), or nil when the last allocation succeeded. While
// it is set, appends that need the next segment fail; it clears by itself once
// an allocation succeeds.
func (l *Log) AllocErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.allocErr == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrNoSegment, l.mu.allocErr)
}

// validateBatch checks that recs is one or more V1 records back to back and
// returns their count.
func (l *Log) validateBatch(recs []byte) (int, error) {
	if len(recs) > l.cfg.MaxMessageSize {
		return 0, fmt.Errorf("%w: %d bytes, max %d", ErrMessageTooLarge, len(recs), l.cfg.MaxMessageSize)
	}
	n := 0
	for p := 0; p < len(recs); n++ {
		total, magic, ok := message.PeekHeader(recs[p:])
		if !ok || magic != message.MagicV1 || total < message.RecordFixedSize || int(total) > len(recs)-p {
			return 0, fmt.Errorf("%w at byte %d", ErrInvalidRecord, p)
		}
		f := message.SysFlag(uint32(recs[p+message.PosSysFlag])<<24 | uint32(recs[p+message.PosSysFlag+1])<<16 |
			uint32(recs[p+message.PosSysFlag+2])<<8 | uint32(recs[p+message.PosSysFlag+3]))
		if message.PosStoreTimestamp(f)+8 > int(total) {
			return 0, fmt.Errorf("%w at byte %d: too short for its hosts", ErrInvalidRecord, p)
		}
		p += int(total)
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: empty", ErrInvalidRecord)
	}
	return n, nil
}

// Append appends recs, one or more encoded V1 records laid back to back (a batch
// stays in one segment), copying them into the log. Under the append lock it
// assigns the physical offset, writes PHYSICALOFFSET and STORETIMESTAMP (the
// Clock's now, ms) into the copy, and, if assign is non-nil, calls assign(n) for
// the n records and writes the returned queue offset and its successors into
// their QUEUEOFFSET fields; assign runs only when the append will succeed, must be
// quick and must not call the Log. recs is not modified or retained.
//
// Append does no I/O: it returns once the bytes are in the write buffer. The data
// becomes readable shortly after (see MaxOffset) and durable per the flush mode;
// use SyncAsync or Sync with AppendResult.End to wait for durability. Append
// blocks only when the write buffer is full, until the writer drains it or ctx
// ends (ctx.Err() is returned).
//
// Append blocks also while the record waits for its segment to be allocated
// (only when the writer has not allocated it ahead of need), and fails with
// ErrNoSegment if that allocation failed.
//
// Errors: ErrMessageTooLarge, ErrInvalidRecord, ErrNotStarted, ErrClosed,
// ErrNoSegment (not sticky), or the sticky error (wrapping ErrReadOnly and the
// I/O cause).
func (l *Log) Append(ctx context.Context, recs []byte, assign func(n int) message.QueueOffset) (AppendResult, error) {
	n, err := l.validateBatch(recs)
	if err != nil {
		return AppendResult{}, err
	}
	size := message.PhysOffset(len(recs))
	segSize := message.PhysOffset(l.cfg.SegmentSize)
	l.mu.Lock()
	for {
		switch {
		case l.mu.closed:
			l.mu.Unlock()
			return AppendResult{}, ErrClosed
		case l.mu.err != nil:
			err := l.mu.err
			l.mu.Unlock()
			return AppendResult{}, err
		case !l.mu.started:
			l.mu.Unlock()
			return AppendResult{}, ErrNotStarted
		case l.raw.truncating:
			l.mu.Unlock()
			return AppendResult{}, ErrTruncating
		}
		fits := len(l.mu.buf)+len(recs)+message.BlankHeaderSize <= l.cfg.WriteBufferSize
		if recEnd := l.placeLocked(size) + size; recEnd > l.mu.allocEnd {
			// The record needs a segment that is not allocated yet: the
			// writer allocates it (normally ahead of need, when the current
			// one is half written), or it could not.
			if err := l.mu.allocErr; err != nil {
				l.mu.Unlock()
				l.wakeWriter() // may retry the allocation
				return AppendResult{}, fmt.Errorf("%w: %w", ErrNoSegment, err)
			}
			l.mu.wantAlloc = true
			fits = false
		}
		if fits {
			break
		}
		if l.mu.space == nil {
			l.mu.space = make(chan struct{})
		}
		space := l.mu.space
		l.mu.Unlock()
		l.wakeWriter()
		select {
		case <-space:
		case <-ctx.Done():
			return AppendResult{}, ctx.Err()
		}
		l.mu.Lock()
	}
	off := l.mu.next
	if segEnd := off - off%segSize + segSize; off+size+message.BlankHeaderSize > segEnd {
		var blank [message.BlankHeaderSize]byte
		message.AppendBlank(blank[:0], int32(segEnd-off))
		l.appendSpanLocked(off, blank[:])
		off = segEnd
	}
	start := len(l.mu.buf)
	l.appendSpanLocked(off, recs)
	now := l.cfg.Clock.Now().UnixMilli()
	res := AppendResult{Offset: off, End: off + size, StoreTimestamp: now, Records: n}
	var qoff message.QueueOffset
	if assign != nil {
		qoff = assign(n)
	}
	b := l.mu.buf[start:]
	for p, i := 0, 0; p < len(b); i++ {
		rec := b[p:]
		total := int(uint32(rec[0])<<24 | uint32(rec[1])<<16 | uint32(rec[2])<<8 | uint32(rec[3]))
		message.SetPhysOffset(rec, off+message.PhysOffset(p))
		message.SetStoreTimestamp(rec, now)
		if assign != nil {
			message.SetQueueOffset(rec, qoff+message.QueueOffset(i))
		}
		if i == 0 {
			res.QueueOffset = message.QueueOffset(int64(rec[20])<<56 | int64(rec[21])<<48 | int64(rec[22])<<40 | int64(rec[23])<<32 |
				int64(rec[24])<<24 | int64(rec[25])<<16 | int64(rec[26])<<8 | int64(rec[27]))
		}
		p += total
	}
	l.mu.next = off + size
	l.mu.Unlock()
	l.wakeWriter()
	return res, nil
}

// placeLocked returns where a record of size bytes appended now would start:
// the next offset, or the start of the next segment when the current one has
// not room for it and a blank record. l.mu is held.
func (l *Log) placeLocked(size message.PhysOffset) message.PhysOffset {
	segSize := message.PhysOffset(l.cfg.SegmentSize)
	off := l.mu.next
	if segEnd := off - off%segSize + segSize; off+size+message.BlankHeaderSize > segEnd {
		return segEnd
	}
	return off
}

// releaseSpaceLocked wakes the appends waiting for the writer. l.mu is held.
func (l *Log) releaseSpaceLocked() {
	if l.mu.space != nil {
		close(l.mu.space)
		l.mu.space = nil
	}
}

func (l *Log) appendSpanLocked(off message.PhysOffset, data []byte) {
	start := len(l.mu.buf)
	l.mu.buf = append(l.mu.buf, data...)
	// A span never crosses a segment boundary: the writer writes each span into
	// one file.
	if n := len(l.mu.spans); n > 0 && int64(off)%l.cfg.SegmentSize != 0 {
		last := &l.mu.spans[n-1]
		if last.off+message.PhysOffset(last.end-last.start) == off {
			last.end = len(l.mu.buf)
			return
		}
	}
	l.mu.spans = append(l.mu.spans, span{off: off, start: start, end: len(l.mu.buf)})
}

func (l *Log) wakeWriter() {
	select {
	case l.writeWake <- struct{}{}:
	default:
	}
}

func (l *Log) wakeFlusher() {
	select {
	case l.syncWake <- struct{}{}:
	default:
	}
}

// MinOffset returns the first offset still in the log (the base of the oldest
// segment), or MaxOffset when there are no segments.
func (l *Log) MinOffset() message.PhysOffset {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	if len(l.segs) > 0 {
		return l.segs[0].base
	}
	return message.PhysOffset(l.written.Load())
}

// MaxOffset returns the end of readable data: every record below it can be read.
// It is the end of a record or of a segment.
func (l *Log) MaxOffset() message.PhysOffset { return message.PhysOffset(l.written.Load()) }

// SyncedOffset returns the end of durable data.
func (l *Log) SyncedOffset() message.PhysOffset { return message.PhysOffset(l.synced.Load()) }

// NextOffset returns where the next Append would start if it fits in the current
// segment (the end of everything appended, readable or not).
func (l *Log) NextOffset() message.PhysOffset {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.next
}

// SegmentSize returns the configured segment size in bytes.
func (l *Log) SegmentSize() int64 { return l.cfg.SegmentSize }

// SegmentInfo describes one segment file.
type SegmentInfo struct {
	Base    message.PhysOffset
	Path    string
	ModTime time.Time
}

// Segments lists the segments, oldest first.
func (l *Log) Segments() []SegmentInfo {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	out := make([]SegmentInfo, 0, len(l.segs))
	for _, s := range l.segs {
		si := SegmentInfo{Base: s.base, Path: s.path}
		if st, err := l.fs.Stat(s.path); err == nil {
			si.ModTime = st.ModTime()
		}
		out = append(out, si)
	}
	return out
}

// DeleteSegmentsBefore removes the segments that end at or before off, oldest
// first, never one that is not yet fully durable and never the last one. It
// returns how many it removed. Readers using a removed segment finish safely.
func (l *Log) DeleteSegmentsBefore(off message.PhysOffset) (int, error) {
	return l.deleteWhile(func(s *segment, _ fs.FileInfo) bool {
		return s.base+message.PhysOffset(l.cfg.SegmentSize) <= off
	})
}

// DeleteSegmentsOlderThan removes, oldest first, the segments whose file was
// last modified before cutoff, stopping at the first newer one; the same limits as
// DeleteSegmentsBefore apply.
func (l *Log) DeleteSegmentsOlderThan(cutoff time.Time) (int, error) {
	return l.deleteWhile(func(_ *segment, st fs.FileInfo) bool { return st.ModTime().Before(cutoff) })
}

func (l *Log) deleteWhile(pred func(*segment, fs.FileInfo) bool) (int, error) {
	removed := 0
	for {
		l.segMu.Lock()
		if len(l.segs) < 2 {
			l.segMu.Unlock()
			break
		}
		s := l.segs[0]
		st, err := l.fs.Stat(s.path)
		if err != nil {
			l.segMu.Unlock()
			return removed, fmt.Errorf("commitlog: stat %s: %w", s.path, err)
		}
		end := s.base + message.PhysOffset(l.cfg.SegmentSize)
		if end > l.SyncedOffset() || !pred(s, st) {
			l.segMu.Unlock()
			break
		}
		l.segs = l.segs[1:]
		l.segMu.Unlock()
		if err := l.fs.Remove(s.path); err != nil {
			_ = s.release()
			return removed, fmt.Errorf("commitlog: remove %s: %w", s.path, err)
		}
		if err := s.release(); err != nil {
			return removed, fmt.Errorf("commitlog: close %s: %w", s.path, err)
		}
		l.log.Info("removed commit log segment", "path", s.path)
		removed++
	}
	if removed > 0 {
		if err := vfs.SyncDir(l.fs, l.cfg.Dir); err != nil {
			return removed, fmt.Errorf("commitlog: %w", err)
		}
	}
	return removed, nil
}
