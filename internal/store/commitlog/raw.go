package commitlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/message"
)

// Raw access for replication: a master reads its log as bytes (ReadRaw) and a
// slave appends those bytes at the same offsets (AppendRaw), so both logs are
// byte-identical, segment files and blank records included. A slave whose log
// diverged from its master cuts it (Truncate) or empties it (Reset).

// Errors of the raw API.
var (
	// ErrBeforeMinOffset is returned (wrapped, together with ErrOutOfRange) by
	// ReadRaw for an offset below the oldest segment: retention deleted it.
	ErrBeforeMinOffset = errors.New("commitlog: offset before min offset")
	// ErrRawOffset is returned by AppendRaw when the bytes do not continue the
	// log exactly (or would cross a segment end).
	ErrRawOffset = errors.New("commitlog: replicated bytes do not continue the log")
	// ErrTruncating is returned by Append and AppendRaw while a Truncate or
	// Reset runs, and by Truncate and Reset when appends are in flight.
	ErrTruncating = errors.New("commitlog: truncation in progress")
)

// rawState is the Log's state for the raw API.
type rawState struct {
	// truncCh hands a Truncate or Reset to the writer goroutine, which owns the
	// segment files' write side and so runs it between two writes.
	truncCh chan truncReq
	// gen counts truncations. The flusher reads it before it picks what to
	// fsync, and an fsync that started before a truncation must not advance
	// SyncedOffset past it (see syncSegment).
	gen atomic.Uint64
	// truncating is set while a truncation runs; guarded by Log.mu.
	truncating bool
}

// truncReq is one Truncate or Reset for the writer goroutine.
type truncReq struct {
	to    message.PhysOffset
	reset bool
	done  chan error // capacity 1
}

// Empty reports whether the log has no segment at all (a new log, or one that
// Reset emptied). MinOffset and MaxOffset are then equal.
func (l *Log) Empty() bool {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	return len(l.segs) == 0
}

// ReadRaw appends to dst the log's bytes from off up to the end of readable
// data (MaxOffset), at most max bytes and never past the end of the segment
// holding off, and returns the extended slice. The bytes are those on disk:
// records, cut anywhere, and for a full segment its blank record and the
// zeros after it up to the segment's end. off == MaxOffset returns dst
// unchanged. An offset below MinOffset fails with an error matching both
// ErrBeforeMinOffset and ErrOutOfRange; one past MaxOffset with ErrOutOfRange.
// Safe for concurrent use, including with retention (the read completes on the
// open file).
func (l *Log) ReadRaw(off message.PhysOffset, max int, dst []byte) ([]byte, error) {
	written := message.PhysOffset(l.written.Load())
	switch {
	case off < 0 || off > written:
		return dst, fmt.Errorf("%w: %d beyond the end %d", ErrOutOfRange, off, written)
	case off == written || max <= 0:
		return dst, nil
	}
	s := l.lookup(off)
	if s == nil {
		if lo := l.MinOffset(); off < lo {
			return dst, fmt.Errorf("%w: %w: %d, min offset %d", ErrBeforeMinOffset, ErrOutOfRange, off, lo)
		}
		return dst, fmt.Errorf("%w: no segment holds %d", ErrOutOfRange, off)
	}
	defer s.release()
	end := min(written, s.base+message.PhysOffset(l.cfg.SegmentSize), off+message.PhysOffset(max))
	n := int(end - off)
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	m, err := s.f.ReadAt(dst[start:], int64(off-s.base))
	if m < n {
		if err != nil && !errors.Is(err, io.EOF) {
			return dst[:start], fmt.Errorf("commitlog: read %s at %d: %w", s.path, off-s.base, err)
		}
		// The file is shorter than the segment (not preallocated): the rest of
		// a full segment was never written and reads as zeros.
		clear(dst[start+m:])
	}
	return dst, nil
}

// AppendRaw appends data, bytes of a master's log that start at its offset off,
// so that they land at the same offset: off must be where the log ends
// (NextOffset), or, for an Empty log, any multiple of the segment size (the
// first segment is created there). data must not cross the end of the segment
// holding off (a replication frame never does); it may end anywhere, even in
// the middle of a record: scans wait for the rest (see ScanWith). The bytes are
// not validated or patched. Otherwise ErrRawOffset.
//
// Like Append, it returns once the bytes are in the write buffer (blocking
// only for buffer space, or until ctx ends), with end = off + len(data); the
// writer writes them (creating and preallocating the segment, fsyncing the
// previous one first) and the flusher makes them durable per the flush mode:
// wait with WrittenAsync or SyncAsync(end). Errors: ErrRawOffset, ErrClosed,
// ErrNotStarted, ErrTruncating, the sticky error, or ctx's error.
func (l *Log) AppendRaw(ctx context.Context, off message.PhysOffset, data []byte) (end message.PhysOffset, err error) {
	size := message.PhysOffset(l.cfg.SegmentSize)
	if off < 0 || int64(off%size)+int64(len(data)) > int64(size) {
		return off, fmt.Errorf("%w: %d bytes at %d cross the segment end", ErrRawOffset, len(data), off)
	}
	empty := l.Empty() // read before mu: segMu is never taken while holding mu
	// Chunks of at most half the buffer, so one always fits once the writer
	// has taken the buffer.
	chunk := max(l.cfg.WriteBufferSize/2, 1)
	first := true
	for first || len(data) > 0 {
		n := min(len(data), chunk)
		l.mu.Lock()
		for {
			switch {
			case l.mu.closed:
				l.mu.Unlock()
				return off, ErrClosed
			case l.mu.err != nil:
				err := l.mu.err
				l.mu.Unlock()
				return off, err
			case !l.mu.started:
				l.mu.Unlock()
				return off, ErrNotStarted
			case l.raw.truncating:
				l.mu.Unlock()
				return off, ErrTruncating
			}
			if len(l.mu.buf)+n <= l.cfg.WriteBufferSize {
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
				return off, ctx.Err()
			}
			l.mu.Lock()
		}
		if l.mu.next != off {
			// An empty log starts wherever its master's data starts, at a
			// segment boundary; nothing is buffered then (no segment exists).
			if !(first && empty && off%size == 0 && len(l.mu.buf) == 0 &&
				message.PhysOffset(l.written.Load()) == l.mu.next) {
				next := l.mu.next
				l.mu.Unlock()
				return off, fmt.Errorf("%w: %d bytes at %d, the log ends at %d", ErrRawOffset, len(data), off, next)
			}
			l.mu.next = off
			l.written.Store(int64(off))
			l.synced.Store(int64(off))
		}
		if n > 0 {
			l.appendSpanLocked(off, data[:n])
			l.mu.next = off + message.PhysOffset(n)
		}
		l.mu.Unlock()
		l.wakeWriter()
		off += message.PhysOffset(n)
		data = data[n:]
		first = false
	}
	return off, nil
}

// Truncate makes to the end of the log: it drops every byte at and after to,
// as if it had never been written (the segment holding to is zeroed from
// there, later segments are removed), and makes that durable before it
// returns. to must lie in [MinOffset, NextOffset] and should be the end of a
// record (the log does not check; a cut inside a record leaves a torn record
// that the next append completes or recovery drops). It runs on the writer
// goroutine between two writes; appends must not run concurrently (they fail
// with ErrTruncating while it runs, and Truncate fails with ErrTruncating if
// appended bytes are waiting). Reads of the dropped range fail or see zeros;
// an fsync that began before it does not count for the dropped range. An I/O
// error makes the log read-only (sticky error). Errors: ErrOutOfRange,
// ErrTruncating, ErrClosed, ErrNotStarted, the sticky error.
func (l *Log) Truncate(ctx context.Context, to message.PhysOffset) error {
	return l.runTrunc(ctx, truncReq{to: to})
}

// Reset removes every segment: the log becomes Empty, with MinOffset ==
// MaxOffset == base, which must be a multiple of the segment size. The next
// AppendRaw may start at any segment boundary. An Empty log that is reopened
// starts at 0 again (there is no file to remember base). Same rules as
// Truncate otherwise.
func (l *Log) Reset(ctx context.Context, base message.PhysOffset) error {
	return l.runTrunc(ctx, truncReq{to: base, reset: true})
}

func (l *Log) runTrunc(ctx context.Context, r truncReq) error {
	l.mu.Lock()
	closed, started := l.mu.closed, l.mu.started
	l.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case !started:
		return ErrNotStarted
	}
	r.done = make(chan error, 1)
	select {
	case l.raw.truncCh <- r:
	case <-l.writerDone:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once taken, the writer always finishes and answers.
	return <-r.done
}

// truncate runs a Truncate or Reset on the writer goroutine, after the writer
// wrote everything appended before it.
func (l *Log) truncate(r truncReq) error {
	size := message.PhysOffset(l.cfg.SegmentSize)
	// syncMu: no fsync runs while segments change; gen (below) keeps an fsync
	// that read its target before from advancing synced afterwards.
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	lo := l.MinOffset()
	l.mu.Lock()
	next := l.mu.next
	switch {
	case l.mu.closed:
		l.mu.Unlock()
		return ErrClosed
	case l.mu.err != nil:
		err := l.mu.err
		l.mu.Unlock()
		return err
	case len(l.mu.buf) > 0:
		l.mu.Unlock()
		return fmt.Errorf("%w: appends in flight", ErrTruncating)
	case r.reset && (r.to < 0 || r.to%size != 0):
		l.mu.Unlock()
		return fmt.Errorf("%w: reset base %d is not a multiple of the segment size %d", ErrOutOfRange, r.to, size)
	case !r.reset && (r.to < lo || r.to > next):
		l.mu.Unlock()
		return fmt.Errorf("%w: truncate to %d outside [%d, %d]", ErrOutOfRange, r.to, lo, next)
	}
	l.raw.truncating = true
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.raw.truncating = false
		l.mu.Unlock()
	}()

	// Hide the dropped range from readers before touching files.
	l.raw.gen.Add(1)
	l.written.Store(min(l.written.Load(), int64(r.to)))
	l.synced.Store(min(l.synced.Load(), int64(r.to)))
	if l.wseg != nil {
		_ = l.wseg.release()
		l.wseg = nil
	}

	l.segMu.Lock()
	// Keep the segments that start before the cut; the one holding it is
	// zeroed from there. A cut at the very first segment's base keeps that
	// segment, emptied, so the log still starts there after a reopen.
	keep := 0
	if !r.reset {
		for keep < len(l.segs) && l.segs[keep].base < r.to {
			keep++
		}
		if keep == 0 && len(l.segs) > 0 && l.segs[0].base == r.to {
			keep = 1
		}
	}
	removed := append([]*segment(nil), l.segs[keep:]...)
	l.segs = l.segs[:keep]
	var cut *segment
	if keep > 0 {
		if c := l.segs[keep-1]; r.to < c.base+size {
			cut = c
			cut.acquire()
		}
	}
	l.segMu.Unlock()

	fail := func(err error) error {
		l.fail(err)
		return l.Err()
	}
	for _, s := range removed {
		l.log.Warn("removing commit log segment past the truncation point", "path", s.path, "to", r.to)
		if err := l.fs.Remove(s.path); err != nil {
			_ = s.release()
			return fail(fmt.Errorf("commitlog: remove %s: %w", s.path, err))
		}
		if err := s.release(); err != nil {
			return fail(fmt.Errorf("commitlog: close %s: %w", s.path, err))
		}
	}
	if len(removed) > 0 {
		if err := vfs.SyncDir(l.fs, l.cfg.Dir); err != nil {
			return fail(fmt.Errorf("commitlog: %w", err))
		}
	}
	if cut != nil {
		err := l.zeroFrom(cut, int64(r.to-cut.base))
		_ = cut.release()
		if err != nil {
			return fail(err)
		}
	} else if !r.reset && r.to > 0 {
		// The cut is at the end of a full segment: make sure it is durable.
		if s := l.lookup(r.to - 1); s != nil {
			err := vfs.SyncData(s.f)
			_ = s.release()
			if err != nil {
				return fail(fmt.Errorf("commitlog: sync %s: %w", s.path, err))
			}
		}
	}
	l.mu.Lock()
	l.mu.next = r.to
	l.mu.Unlock()
	l.written.Store(int64(r.to))
	l.synced.Store(int64(r.to))
	l.maxWait.Store(int64(r.to))
	what := "truncated commit log"
	if r.reset {
		what = "reset commit log"
	}
	l.log.Warn(what, "to", r.to, "was", next, "segments_removed", len(removed))
	return nil
}

// zeroFrom drops the bytes of s from pos on (truncate, then reserve again, so
// the tail reads as zeros) and fsyncs s.
func (l *Log) zeroFrom(s *segment, pos int64) error {
	fsz, err := l.fileSize(s)
	if err != nil {
		return err
	}
	if fsz > pos {
		if err := s.f.Truncate(pos); err != nil {
			return fmt.Errorf("commitlog: truncate %s: %w", s.path, err)
		}
		if p, ok := s.f.(vfs.Preallocator); ok {
			if err := p.Preallocate(pos, l.cfg.SegmentSize-pos); err != nil {
				return fmt.Errorf("commitlog: preallocate %s: %w", s.path, err)
			}
		}
	}
	if err := vfs.SyncData(s.f); err != nil {
		return fmt.Errorf("commitlog: sync %s: %w", s.path, err)
	}
	return nil
}
