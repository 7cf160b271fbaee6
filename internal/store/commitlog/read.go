package commitlog

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/petrelmq/petrel/pkg/message"
)

// ReadAt fills p with the log's bytes at off. The range must lie within
// [MinOffset, MaxOffset) and within one segment, else ErrOutOfRange. The bytes are
// those stored, never re-encoded. It may run concurrently with anything, including
// deletion of the segment (the read completes on the open file).
func (l *Log) ReadAt(p []byte, off message.PhysOffset) error {
	end := off + message.PhysOffset(len(p))
	if off < 0 || end > message.PhysOffset(l.written.Load()) {
		return fmt.Errorf("%w: [%d, %d) beyond %d", ErrOutOfRange, off, end, l.written.Load())
	}
	s := l.lookup(off)
	if s == nil {
		return fmt.Errorf("%w: %d is below the oldest segment", ErrOutOfRange, off)
	}
	defer s.release()
	if end > s.base+message.PhysOffset(l.cfg.SegmentSize) {
		return fmt.Errorf("%w: [%d, %d) crosses the end of segment %s", ErrOutOfRange, off, end, SegmentName(s.base))
	}
	n, err := s.f.ReadAt(p, int64(off-s.base))
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("commitlog: read %s at %d: %w", s.path, off-s.base, err)
}

// Read returns a new slice holding the size bytes at off; see ReadAt.
func (l *Log) Read(off message.PhysOffset, size int) ([]byte, error) {
	p := make([]byte, size)
	if err := l.ReadAt(p, off); err != nil {
		return nil, err
	}
	return p, nil
}

// ReadRecord appends the record at off (which must be a record's start) to dst
// and returns the extended slice. It fails with ErrOutOfRange as ReadAt does, and
// with ErrInvalidRecord when off holds no record (for example a blank record).
func (l *Log) ReadRecord(dst []byte, off message.PhysOffset) ([]byte, error) {
	// The header is read into dst's tail: a local array would escape through the
	// File interface and cost an allocation per read.
	start := len(dst)
	dst = append(dst, make([]byte, message.BlankHeaderSize)...)
	if err := l.ReadAt(dst[start:], off); err != nil {
		return dst[:start], err
	}
	total, magic, _ := message.PeekHeader(dst[start:])
	if magic != message.MagicV1 || total < message.RecordFixedSize || int(total) > l.cfg.MaxMessageSize {
		return dst[:start], fmt.Errorf("%w at offset %d: magic %#08x size %d", ErrInvalidRecord, off, magic, total)
	}
	dst = append(dst, make([]byte, int(total)-message.BlankHeaderSize)...)
	if err := l.ReadAt(dst[start+message.BlankHeaderSize:], off+message.BlankHeaderSize); err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// Scan walks the readable records from off (a record start, or a segment base)
// up to MaxOffset, calling fn with each record's offset and bytes (rec is valid
// only during the call), and skipping blank records to the next segment. It
// returns the offset after the last record it visited, where the next Scan should
// start, and fn's error, or a *CorruptionError for an invalid record.
//
// Scan allocates its read window (up to 1 MiB) on every call; a caller that
// scans repeatedly, like the dispatcher, uses ScanWith.
func (l *Log) Scan(off message.PhysOffset, fn func(off message.PhysOffset, rec []byte) error) (message.PhysOffset, error) {
	return l.ScanWith(nil, off, fn)
}

// ScanBuffer is a read window that ScanWith reuses across calls, so repeated
// scans do not allocate. Its zero value is ready; it grows to at most the larger
// of 1 MiB and the largest record scanned. It is not safe for concurrent use:
// give each scanning goroutine its own.
type ScanBuffer struct {
	buf []byte
}

// ScanWith is Scan reading through sb (nil: a fresh window, as Scan). Only the
// memory is reused, never its contents: every call reads from the files again,
// so bytes cached by an earlier call (for example zeros read past a then
// smaller MaxOffset) are never returned.
func (l *Log) ScanWith(sb *ScanBuffer, off message.PhysOffset, fn func(off message.PhysOffset, rec []byte) error) (message.PhysOffset, error) {
	return l.ScanUpTo(sb, off, math.MaxInt64, fn)
}

// ScanUpTo is ScanWith that stops before the first record that does not end
// at or below upTo (a record cut by upTo is left for a later scan, as one
// cut by the written end is).
func (l *Log) ScanUpTo(sb *ScanBuffer, off, upTo message.PhysOffset, fn func(off message.PhysOffset, rec []byte) error) (message.PhysOffset, error) {
	size := message.PhysOffset(l.cfg.SegmentSize)
	var local ScanBuffer
	if sb == nil {
		sb = &local
	}
	for {
		limit := min(message.PhysOffset(l.written.Load()), upTo)
		if off >= limit {
			return off, nil
		}
		s := l.lookup(off)
		if s == nil {
			return off, fmt.Errorf("%w: %d is below the oldest segment", ErrOutOfRange, off)
		}
		avail := min(limit-s.base, size)
		sr := segReader{r: s.f, size: int64(avail), buf: sb.buf[:0], reuse: sb != &local, live: true}
		res, err := scanSegment(&sr, s.base, int64(off-s.base), int64(size), l.cfg.MaxMessageSize, fn)
		sb.buf = sr.buf
		_ = s.release()
		if err != nil {
			return res.End, err
		}
		if res.Bad {
			return res.End, &CorruptionError{Path: s.path, Offset: res.End, Reason: res.BadReason}
		}
		if !res.Full {
			return res.End, nil
		}
		off = s.base + size
	}
}
