package commitlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/petrelmq/petrel/pkg/message"
)

// checkRecord validates the record at the start of b, which sits at offset pos of
// the log: the stored-record layout (magic, every length field, TOTALSIZE), BODYCRC,
// PHYSICALOFFSET == pos, a size of at most maxSize, a non-empty topic, and no NUL
// byte in the topic or property string. The last two are not format rules but
// hold for everything a broker writes; they catch torn writes in the parts BODYCRC
// does not cover, because lost sectors read back as zeros.
func checkRecord(b []byte, pos message.PhysOffset, maxSize int, v *message.RecordView) error {
	if err := message.ParseRecord(b, v); err != nil {
		return err
	}
	switch {
	case int(v.TotalSize) > maxSize:
		return fmt.Errorf("size %d > max %d", v.TotalSize, maxSize)
	case v.PhysOffset != pos:
		return fmt.Errorf("PHYSICALOFFSET %d at position %d", v.PhysOffset, pos)
	case len(v.Topic) == 0 || bytes.IndexByte(v.Topic, 0) >= 0:
		return errors.New("empty topic or NUL in topic")
	case bytes.IndexByte(v.Properties, 0) >= 0:
		return errors.New("NUL in properties")
	}
	return v.CheckCRC()
}

// segReader reads a segment sequentially through a window, so scanning costs one
// read per window rather than per record.
type segReader struct {
	r     io.ReaderAt
	size  int64 // bytes of the segment that exist
	buf   []byte
	start int64 // segment position of buf[0]
	n     int   // valid bytes in buf
	reuse bool  // buf outlives this reader (ScanWith): allocate it full-size
	// live: size is where readable data ends in a segment still being
	// written, so a record that runs past it is not complete yet (a slave
	// appends replicated bytes cut anywhere), not invalid.
	live bool
}

const scanWindow = 1 << 20

// get returns the n bytes at pos (fewer at the end of the segment); the slice is
// valid until the next call.
func (s *segReader) get(pos int64, n int) ([]byte, error) {
	if pos >= s.size {
		return nil, nil
	}
	if int64(n) > s.size-pos {
		n = int(s.size - pos)
	}
	if pos >= s.start && pos+int64(n) <= s.start+int64(s.n) {
		return s.buf[pos-s.start : pos-s.start+int64(n)], nil
	}
	want := max(n, scanWindow)
	if int64(want) > s.size-pos {
		want = int(s.size - pos)
	}
	if cap(s.buf) < want {
		c := want
		if s.reuse {
			// Kept across scans: take the whole window at once rather than
			// growing with every call's readable amount.
			c = max(want, scanWindow)
		}
		s.buf = make([]byte, want, c)
	}
	s.buf = s.buf[:want]
	m, err := s.r.ReadAt(s.buf, pos)
	if err != nil && !(errors.Is(err, io.EOF) && m == want) {
		if errors.Is(err, io.EOF) {
			// The file is shorter than it claimed; treat the rest as absent.
			s.size = pos + int64(m)
		} else {
			return nil, err
		}
	}
	s.start, s.n = pos, m
	if n > m {
		n = m
	}
	return s.buf[:n], nil
}

// SegmentScan is the result of scanning one segment.
type SegmentScan struct {
	// End is the offset just past the last valid record (the segment's base when
	// it holds none).
	End message.PhysOffset
	// Full reports that the segment ends with a blank record (or exactly at its
	// size): the next record goes to the next segment.
	Full bool
	// Bad is set when the scan stopped at bytes that are neither a valid record,
	// a blank record nor the zeros of never-written space; BadReason says why.
	Bad       bool
	BadReason string
}

// ScanSegment walks the records of one segment held in data, whose first byte is
// at offset base of the log, calling fn for each valid record (rec aliases data).
// It stops at the first blank record, at zeros where a record header should be,
// at the first invalid record (see SegmentScan.Bad), or when fn fails (its error
// is returned). Records larger than maxSize are invalid. It never panics.
func ScanSegment(data []byte, base message.PhysOffset, maxSize int, fn func(off message.PhysOffset, rec []byte) error) (SegmentScan, error) {
	sr := &segReader{r: bytes.NewReader(data), size: int64(len(data))}
	return scanSegment(sr, base, 0, int64(len(data)), maxSize, fn)
}

// scanSegment scans sr from segment position from; segSize is the segment's
// full size (data past sr.size reads as never written).
func scanSegment(sr *segReader, base message.PhysOffset, from, segSize int64, maxSize int, fn func(off message.PhysOffset, rec []byte) error) (SegmentScan, error) {
	pos := from
	var v message.RecordView
	for {
		res := SegmentScan{End: base + message.PhysOffset(pos)}
		if segSize-pos < message.BlankHeaderSize {
			res.Full = true
			return res, nil
		}
		hdr, err := sr.get(pos, message.BlankHeaderSize)
		if err != nil {
			return res, err
		}
		if len(hdr) < message.BlankHeaderSize {
			return res, nil // the file ends: never written
		}
		total, magic, _ := message.PeekHeader(hdr)
		switch {
		case total == 0 && magic == 0:
			return res, nil // zeros: never written (or lost)
		case magic == message.MagicBlank:
			if int64(total) != segSize-pos {
				res.Bad, res.BadReason = true, fmt.Sprintf("blank record of %d bytes, %d left in segment", total, segSize-pos)
				return res, nil
			}
			res.Full = true
			return res, nil
		case magic != message.MagicV1:
			res.Bad, res.BadReason = true, fmt.Sprintf("magic %#08x", magic)
			return res, nil
		case total < message.RecordFixedSize || int(total) > maxSize || int64(total) > segSize-pos:
			res.Bad, res.BadReason = true, fmt.Sprintf("total size %d", total)
			return res, nil
		}
		rec, err := sr.get(pos, int(total))
		if err != nil {
			return res, err
		}
		if sr.live && len(rec) < int(total) {
			return res, nil // the rest is not written yet
		}
		if err := checkRecord(rec, res.End, maxSize, &v); err != nil {
			res.Bad, res.BadReason = true, err.Error()
			return res, nil
		}
		if fn != nil {
			if err := fn(res.End, rec); err != nil {
				return res, err
			}
		}
		pos += int64(total)
	}
}

// resync looks for the first valid record after the invalid position bad in the
// segment, returning its segment position or -1.
func resync(sr *segReader, base message.PhysOffset, bad, segSize int64, maxSize int) (int64, error) {
	var v message.RecordView
	for pos := bad + 1; pos+message.RecordFixedSize <= segSize; {
		win, err := sr.get(pos, scanWindow)
		if err != nil {
			return -1, err
		}
		if len(win) < message.BlankHeaderSize {
			return -1, nil
		}
		// A record starts with its magic at +4; look for it, skipping the rest.
		i := bytes.Index(win[min(4, len(win)):], magicV1Bytes[:])
		if i < 0 {
			pos += int64(len(win)) - 7
			continue
		}
		cand := pos + int64(i)
		hdr, err := sr.get(cand, message.BlankHeaderSize)
		if err != nil {
			return -1, err
		}
		total, _, _ := message.PeekHeader(hdr)
		if total >= message.RecordFixedSize && int(total) <= maxSize && int64(total) <= segSize-cand {
			rec, err := sr.get(cand, int(total))
			if err != nil {
				return -1, err
			}
			if checkRecord(rec, base+message.PhysOffset(cand), maxSize, &v) == nil {
				return cand, nil
			}
		}
		pos = cand + 1
	}
	return -1, nil
}

var magicV1Bytes = [4]byte{0xDA, 0xA3, 0x20, 0xA7}

// sectorSize is the unit in which a disk loses unsynced data on power loss.
const sectorSize = 512

// looksTorn reports whether the bytes [from, to) of a segment, which lie between
// an invalid position and the next valid record, look like a write that did not
// fully reach the disk rather than like damage to written data. Lost sectors of
// fresh (preallocated or appended) space read back as zeros, so it looks for a
// sector-aligned piece of the range that is entirely zero: a whole sector, a
// first piece of at least 4 bytes (TOTALSIZE is never 0) or a last piece of at
// least 3 bytes (a record never ends in three zero bytes: its topic is non-empty
// and its properties hold no NUL).
func looksTorn(sr *segReader, from, to int64) (bool, error) {
	for pos := from; pos < to; {
		end := min((pos/sectorSize+1)*sectorSize, to)
		piece, err := sr.get(pos, int(end-pos))
		if err != nil {
			return false, err
		}
		n := len(piece)
		first, last := pos == from, end == to
		whole := !first && !last
		if allZero(piece) && (whole || (first && n >= 4) || (last && !first && n >= 3)) {
			return true, nil
		}
		pos = end
	}
	return false, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
