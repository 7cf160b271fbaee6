package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// Frame limits. Part of the wire format.
const (
	// DefaultMaxFrameSize is the default cap on a frame's length field (the bytes
	// that follow it): 16 MiB, the Java server's frame limit.
	DefaultMaxFrameSize = 16 << 20

	// MaxHeaderSize is the largest header the 24-bit header-length field can carry.
	MaxHeaderSize = 1<<24 - 1

	// readChunk is the step in which FrameReader grows a frame buffer, so a peer
	// that announces a large frame and sends little costs at most about this much.
	readChunk = 64 << 10
)

// Sentinel errors. Every decode error also matches ErrMalformed; match the specific
// kind with errors.Is and the details with errors.As(*DecodeError).
var (
	// ErrMalformed matches every error caused by bad input bytes (as opposed to I/O
	// errors). A connection that sees one should be closed.
	ErrMalformed = errors.New("protocol: malformed input")
	// ErrFrameTooLarge: the length field exceeds the configured cap, or a command
	// being encoded does not fit a frame.
	ErrFrameTooLarge = errors.New("protocol: frame too large")
	// ErrBadFrame: the length field is below 4, the header length does not fit in
	// the frame, or the frame has trailing bytes.
	ErrBadFrame = errors.New("protocol: bad frame")
	// ErrUnknownSerializeType: the serialize-type byte is neither 0 nor 1.
	ErrUnknownSerializeType = errors.New("protocol: unknown serialize type")
	// ErrBadHeader: the header bytes do not decode, or a field is out of range.
	ErrBadHeader = errors.New("protocol: bad header")
)

// DecodeError describes bad input. It matches ErrMalformed and its Kind with
// errors.Is.
type DecodeError struct {
	Kind      error         // ErrFrameTooLarge, ErrBadFrame, ErrUnknownSerializeType or ErrBadHeader
	Serialize SerializeType // header serialization, for ErrBadHeader
	Offset    int           // byte offset in the header where decoding failed, or -1
	Reason    string
}

func (e *DecodeError) Error() string {
	s := e.Kind.Error()
	if e.Kind == ErrBadHeader {
		s += " (" + e.Serialize.String() + ")"
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.Offset >= 0 {
		s += " at offset " + strconv.Itoa(e.Offset)
	}
	return s
}

// Unwrap returns the kind and ErrMalformed.
func (e *DecodeError) Unwrap() []error { return []error{e.Kind, ErrMalformed} }

func frameErr(kind error, format string, args ...any) error {
	return &DecodeError{Kind: kind, Offset: -1, Reason: fmt.Sprintf(format, args...)}
}

func headerErr(st SerializeType, off int, reason string) error {
	return &DecodeError{Kind: ErrBadHeader, Serialize: st, Offset: off, Reason: reason}
}

// AppendFrame appends c as one frame (length, serialize type and header length,
// header, body) to dst and returns the extended slice. The header is written in
// c.Serialize. It fails with ErrFrameTooLarge if the header exceeds MaxHeaderSize
// or the frame exceeds math.MaxInt32 bytes, with ErrBadHeader if c has more than
// MaxExtFields extFields entries or a ROCKETMQ header field does not fit its
// length field, and with ErrUnknownSerializeType for any
// other Serialize value. On error dst is returned unchanged in length.
func AppendFrame(dst []byte, c *Command) ([]byte, error) {
	start := len(dst)
	if len(c.ExtFields) > MaxExtFields {
		return dst, fmt.Errorf("%w: %d extFields entries, max %d", ErrBadHeader, len(c.ExtFields), MaxExtFields)
	}
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
	var err error
	switch c.Serialize {
	case SerializeJSON:
		dst = AppendJSONHeader(dst, c)
	case SerializeRocketMQ:
		dst, err = AppendRocketMQHeader(dst, c)
		if err != nil {
			return dst[:start], err
		}
	default:
		return dst[:start], fmt.Errorf("%w: %d", ErrUnknownSerializeType, uint8(c.Serialize))
	}
	hdrLen := len(dst) - start - 8
	if hdrLen > MaxHeaderSize {
		return dst[:start], fmt.Errorf("%w: header is %d bytes, max %d", ErrFrameTooLarge, hdrLen, MaxHeaderSize)
	}
	length := 4 + hdrLen + len(c.Body)
	if length > math.MaxInt32 {
		return dst[:start], fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, length)
	}
	dst = append(dst, c.Body...)
	binary.BigEndian.PutUint32(dst[start:], uint32(length))
	binary.BigEndian.PutUint32(dst[start+4:], uint32(c.Serialize)<<24|uint32(hdrLen))
	return dst, nil
}

// DecodeFrame decodes one complete frame: b must hold exactly the 4-byte length
// field and the length bytes it announces. maxFrameSize caps the length field;
// 0 means DefaultMaxFrameSize. The returned command's Body aliases b; header
// strings are copied. Errors match ErrMalformed.
func DecodeFrame(b []byte, maxFrameSize int) (*Command, error) {
	if len(b) < 4 {
		return nil, frameErr(ErrBadFrame, "%d bytes, need at least 4 for the length field", len(b))
	}
	length := int32(binary.BigEndian.Uint32(b))
	if err := checkLength(length, maxFrameSize); err != nil {
		return nil, err
	}
	if int(length) != len(b)-4 {
		return nil, frameErr(ErrBadFrame, "length field %d, but %d bytes follow it", length, len(b)-4)
	}
	return DecodePayload(b[4:])
}

func checkLength(length int32, maxFrameSize int) error {
	if maxFrameSize <= 0 {
		maxFrameSize = DefaultMaxFrameSize
	}
	if length < 4 {
		return frameErr(ErrBadFrame, "length field %d is below 4", length)
	}
	if int64(length) > int64(maxFrameSize) {
		return frameErr(ErrFrameTooLarge, "length field %d exceeds limit %d", length, maxFrameSize)
	}
	return nil
}

// DecodePayload decodes the part of a frame after the length field: the serialize
// type and header length word, the header and the body. The body aliases p.
func DecodePayload(p []byte) (*Command, error) {
	if len(p) < 4 {
		return nil, frameErr(ErrBadFrame, "payload of %d bytes has no header-length word", len(p))
	}
	word := binary.BigEndian.Uint32(p)
	st := SerializeType(word >> 24)
	hdrLen := int(word & MaxHeaderSize)
	if hdrLen > len(p)-4 {
		return nil, frameErr(ErrBadFrame, "header length %d exceeds the %d bytes left in the frame", hdrLen, len(p)-4)
	}
	hdr := p[4 : 4+hdrLen]
	c := &Command{}
	var err error
	switch st {
	case SerializeJSON:
		err = DecodeJSONHeader(hdr, c)
	case SerializeRocketMQ:
		err = DecodeRocketMQHeader(hdr, c)
	default:
		return nil, frameErr(ErrUnknownSerializeType, "serialize type %d", uint8(st))
	}
	if err != nil {
		return nil, err
	}
	if body := p[4+hdrLen:]; len(body) > 0 {
		c.Body = body
	}
	return c, nil
}

// FrameReader reads frames from a stream. It checks the length field before
// reading on and grows the frame buffer in steps of at most 64 KiB as bytes
// arrive, so memory follows what the peer actually sent, not what it announced.
// A FrameReader is not safe for concurrent use.
type FrameReader struct {
	r            io.Reader
	maxFrameSize int
	word         [4]byte
}

// NewFrameReader returns a reader of frames from r whose length field is at most
// maxFrameSize (0 means DefaultMaxFrameSize). Wrap a net.Conn in a bufio.Reader
// first: FrameReader makes one small read for the length field.
func NewFrameReader(r io.Reader, maxFrameSize int) *FrameReader {
	if maxFrameSize <= 0 {
		maxFrameSize = DefaultMaxFrameSize
	}
	return &FrameReader{r: r, maxFrameSize: maxFrameSize}
}

// ReadPayload reads the next frame and returns the bytes after its length field,
// freshly allocated (the caller owns them). It returns io.EOF if the stream ends
// cleanly between frames, io.ErrUnexpectedEOF if it ends inside one, another
// reader error as is, or a *DecodeError (ErrBadFrame, ErrFrameTooLarge) for a bad
// length field. It never allocates more than about twice the bytes received plus
// 64 KiB.
func (fr *FrameReader) ReadPayload() ([]byte, error) {
	if _, err := io.ReadFull(fr.r, fr.word[:]); err != nil {
		return nil, err
	}
	length := int32(binary.BigEndian.Uint32(fr.word[:]))
	if err := checkLength(length, fr.maxFrameSize); err != nil {
		return nil, err
	}
	n := int(length)
	if n <= readChunk {
		buf := make([]byte, n)
		if _, err := io.ReadFull(fr.r, buf); err != nil {
			return nil, unexpected(err)
		}
		return buf, nil
	}
	buf := make([]byte, 0, readChunk)
	for len(buf) < n {
		step := min(n-len(buf), readChunk)
		if cap(buf)-len(buf) < step {
			// Grow geometrically (append's policy), so copies stay amortised,
			// but never beyond the announced length.
			newCap := min(max(2*cap(buf), len(buf)+step), n)
			nb := make([]byte, len(buf), newCap)
			copy(nb, buf)
			buf = nb
		}
		if _, err := io.ReadFull(fr.r, buf[len(buf):len(buf)+step]); err != nil {
			return nil, unexpected(err)
		}
		buf = buf[:len(buf)+step]
	}
	return buf, nil
}

// Read reads and decodes the next frame. Errors are those of ReadPayload and
// DecodePayload.
func (fr *FrameReader) Read() (*Command, error) {
	p, err := fr.ReadPayload()
	if err != nil {
		return nil, err
	}
	return DecodePayload(p)
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
