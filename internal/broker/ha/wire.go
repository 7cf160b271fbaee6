package ha

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/petrelmq/petrel/pkg/message"
)

// RocketMQ 4.x classic HA wire format (store/ha/HAService.java and
// HAConnection.java). Plain TCP, no handshake, big-endian:
//
//	slave -> master  offset report, 8 bytes
//	  +-------------------------------+
//	  | int64 slave's commit-log max  |
//	  +-------------------------------+
//
//	master -> slave  transfer frame, 12-byte header then the bytes
//	  +--------------------------+----------------+----------------+
//	  | int64 offset of body[0]  | int32 size (n) | n log bytes    |
//	  +--------------------------+----------------+----------------+
//
// A frame with size 0 is a heartbeat; its offset is the master's next
// transfer offset. Part of the wire format; never change.
const (
	// ReportSize is the size of a slave's offset report.
	ReportSize = 8
	// HeaderSize is the size of a transfer frame's header.
	HeaderSize = 12
)

// AppendReport appends a slave's offset report.
func AppendReport(dst []byte, off message.PhysOffset) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(off))
}

// ParseReport decodes a report (b has at least ReportSize bytes). Any 8 bytes
// decode; the master validates the value.
func ParseReport(b []byte) message.PhysOffset {
	return message.PhysOffset(binary.BigEndian.Uint64(b))
}

// PutHeader writes a transfer frame's header into b[:HeaderSize].
func PutHeader(b []byte, off message.PhysOffset, size int32) {
	binary.BigEndian.PutUint64(b, uint64(off))
	binary.BigEndian.PutUint32(b[8:], uint32(size))
}

// ParseHeader decodes a transfer frame's header (b has at least HeaderSize
// bytes). Any 12 bytes decode; the slave validates the values.
func ParseHeader(b []byte) (off message.PhysOffset, size int32) {
	return message.PhysOffset(binary.BigEndian.Uint64(b)), int32(binary.BigEndian.Uint32(b[8:]))
}

// errBadFrame marks a frame that breaks the protocol; the slave closes the
// connection.
var errBadFrame = errors.New("ha: bad transfer frame")

// frameReader reads transfer frames from a master. Its body buffer grows to at
// most max bytes, so a hostile size field costs nothing.
type frameReader struct {
	r   io.Reader
	max int
	// confirms: controller mode; a frame of size ConfirmFrameSize is a
	// confirm frame (next reports it with confirm set and no body).
	confirms bool
	confirm  bool
	hdr      [HeaderSize]byte
	body     []byte
}

// next reads one frame. body aliases the reader's buffer until the next call.
// A negative offset or size, or a size above max, is errBadFrame.
func (fr *frameReader) next() (off message.PhysOffset, body []byte, err error) {
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		return 0, nil, err
	}
	off, size := ParseHeader(fr.hdr[:])
	fr.confirm = false
	if fr.confirms && size == ConfirmFrameSize {
		if off < -1 {
			return off, nil, fmt.Errorf("%w: confirm offset %d", errBadFrame, off)
		}
		fr.confirm = true
		return off, nil, nil
	}
	if off < 0 || size < 0 || int(size) > fr.max {
		return off, nil, fmt.Errorf("%w: offset %d, size %d (max %d)", errBadFrame, off, size, fr.max)
	}
	if cap(fr.body) < int(size) {
		fr.body = make([]byte, size, min(max(int(size), 64<<10), fr.max))
	}
	fr.body = fr.body[:size]
	if _, err := io.ReadFull(fr.r, fr.body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return off, nil, err
	}
	return off, fr.body, nil
}

// walkHeader is how much of a record's start the walker checks: TOTALSIZE,
// MAGICCODE and (for a message) PHYSICALOFFSET, at bytes 28..35.
const walkHeader = 36

// walker follows the record structure of a replicated byte stream across
// frames, so that a slave appends only bytes that look like a commit log:
// every record starts with a known magic, a message record has a plausible
// size that leaves room for the segment's blank record and carries its own
// offset, and a blank record fills its segment exactly. Bodies and CRCs are
// checked later by the store's dispatcher. It must start at a record
// boundary (a record end or a segment base).
type walker struct {
	segSize int64
	pos     message.PhysOffset // offset of the next byte
	start   message.PhysOffset // start of the record being read
	need    int64              // bytes of that record still to come, after its header
	hdr     [walkHeader]byte
	nhdr    int  // header bytes collected; 0 at a boundary
	inRec   bool // past the header of a record or blank
}

func newWalker(segSize int64, pos message.PhysOffset) *walker {
	return &walker{segSize: segSize, pos: pos, start: pos}
}

// feed checks the next bytes of the stream, which start at off. It never
// panics; after an error the walker must be reset (a new session).
func (w *walker) feed(off message.PhysOffset, b []byte) error {
	if off != w.pos {
		return fmt.Errorf("%w: bytes at %d, stream is at %d", errBadFrame, off, w.pos)
	}
	for len(b) > 0 {
		if w.inRec {
			n := int(min(w.need, int64(len(b))))
			w.need -= int64(n)
			w.pos += message.PhysOffset(n)
			b = b[n:]
			if w.need == 0 {
				w.inRec, w.nhdr = false, 0
				w.start = w.pos
			}
			continue
		}
		if w.nhdr == 0 {
			w.start = w.pos
		}
		want := message.BlankHeaderSize
		if w.nhdr >= message.BlankHeaderSize {
			want = walkHeader
		}
		n := copy(w.hdr[w.nhdr:want], b)
		w.nhdr += n
		w.pos += message.PhysOffset(n)
		b = b[n:]
		if w.nhdr < want {
			continue
		}
		if err := w.header(); err != nil {
			return err
		}
	}
	return nil
}

// header checks the collected header bytes and, when enough are in, moves
// into the record's body.
func (w *walker) header() error {
	total := int64(int32(binary.BigEndian.Uint32(w.hdr[0:])))
	magic := binary.BigEndian.Uint32(w.hdr[4:])
	left := w.segSize - int64(w.start)%w.segSize
	switch magic {
	case message.MagicBlank:
		if total != left {
			return fmt.Errorf("%w: blank record of %d bytes at %d, %d left in its segment", errBadFrame, total, w.start, left)
		}
		w.inRec, w.need = true, total-message.BlankHeaderSize
		if w.need == 0 {
			w.inRec, w.nhdr = false, 0
			w.start = w.pos
		}
		return nil
	case message.MagicV1:
		if total < message.RecordFixedSize || total+message.BlankHeaderSize > left {
			return fmt.Errorf("%w: record of %d bytes at %d, %d left in its segment", errBadFrame, total, w.start, left)
		}
		if w.nhdr < walkHeader {
			return nil // PHYSICALOFFSET still to come
		}
		if phys := message.PhysOffset(binary.BigEndian.Uint64(w.hdr[28:])); phys != w.start {
			return fmt.Errorf("%w: record at %d says it is at %d", errBadFrame, w.start, phys)
		}
		w.inRec, w.need = true, total-walkHeader
		if w.need == 0 {
			w.inRec, w.nhdr = false, 0
			w.start = w.pos
		}
		return nil
	}
	return fmt.Errorf("%w: no record at %d (size %d, magic %#08x)", errBadFrame, w.start, total, magic)
}
