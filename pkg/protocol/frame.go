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
	// Decoders and AppendFrame refuse far smaller headers: see HeaderSizeLimit.
	MaxHeaderSize = 1<<24 - 1

	// headerScratch is the largest header a FrameReader reads into the buffer
	// it keeps between frames; bigger ones get a buffer of their own, so an
	// idle connection never holds more than this for headers.
	headerScratch = 4 << 10

	// readChunk is the step in which FrameReader grows a frame buffer, so a peer
	// that announces a large frame and sends little costs at most about this much.
	readChunk = 64 << 10
)

// Header limits. Decoders refuse a header beyond any of them with ErrBadHeader, and
// AppendFrame refuses to encode one (so Petrel never writes what it would refuse to
// read). Real clients stay far below them: RocketMQ's largest header field is the
// message properties string of a send, which the broker caps at 32 767 bytes, and
// a topic name has at most 127 characters; remarks are short error texts.
//
// They exist because a header is decoded into Go strings and a map before anything
// else happens, and a request queued for a worker keeps it: without them a 15 MiB
// remark or a header of a million tiny entries cost hundreds of megabytes.
const (
	// HeaderSizeLimit caps the header-length field (the encoded header, in
	// bytes): 1 MiB. Checked before any header byte is read.
	HeaderSizeLimit = 1 << 20
	// RemarkSizeLimit caps the decoded remark, in bytes: 64 KiB.
	RemarkSizeLimit = 64 << 10
	// ExtFieldsSizeLimit caps the decoded extFields, in bytes: the sum of the
	// lengths of every key and value, 512 KiB. MaxExtFields caps their number.
	ExtFieldsSizeLimit = 512 << 10
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

func extFieldsTooLarge(n int) error {
	return fmt.Errorf("%w: extFields of %d bytes, max %d", ErrBadHeader, n, ExtFieldsSizeLimit)
}

func frameErr(kind error, format string, args ...any) error {
	return &DecodeError{Kind: kind, Offset: -1, Reason: fmt.Sprintf(format, args...)}
}

func headerErr(st SerializeType, off int, reason string) error {
	return &DecodeError{Kind: ErrBadHeader, Serialize: st, Offset: off, Reason: reason}
}

// AppendFrame appends c as one frame (length, serialize type and header length,
// header, body) to dst and returns the extended slice. The header is written in
// c.Serialize. It fails with ErrFrameTooLarge if the encoded header exceeds
// HeaderSizeLimit or the frame exceeds math.MaxInt32 bytes, with ErrBadHeader if
// c has more than MaxExtFields extFields entries, a remark longer than
// RemarkSizeLimit, extFields larger than ExtFieldsSizeLimit, or a ROCKETMQ header
// field that does not fit its length field, and with ErrUnknownSerializeType for
// any other Serialize value. On error dst is returned unchanged in length.
func AppendFrame(dst []byte, c *Command) ([]byte, error) {
	start := len(dst)
	if len(c.ExtFields) > MaxExtFields {
		return dst, fmt.Errorf("%w: %d extFields entries, max %d", ErrBadHeader, len(c.ExtFields), MaxExtFields)
	}
	if len(c.Remark) > RemarkSizeLimit {
		return dst, fmt.Errorf("%w: remark of %d bytes, max %d", ErrBadHeader, len(c.Remark), RemarkSizeLimit)
	}
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
	var err error
	switch c.Serialize {
	case SerializeJSON:
		var extBytes int
		if dst, extBytes = appendJSONHeader(dst, c); extBytes > ExtFieldsSizeLimit {
			return dst[:start], extFieldsTooLarge(extBytes)
		}
	case SerializeRocketMQ:
		dst, err = AppendRocketMQHeader(dst, c)
		if err != nil {
			return dst[:start], err
		}
	default:
		return dst[:start], fmt.Errorf("%w: %d", ErrUnknownSerializeType, uint8(c.Serialize))
	}
	hdrLen := len(dst) - start - 8
	if hdrLen > HeaderSizeLimit {
		return dst[:start], fmt.Errorf("%w: header is %d bytes, max %d", ErrFrameTooLarge, hdrLen, HeaderSizeLimit)
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
	pre, err := parseWord(len(p), binary.BigEndian.Uint32(p))
	if err != nil {
		return nil, err
	}
	c, err := decodeHeader(pre.Serialize, p[4:4+pre.HeaderLen])
	if err != nil {
		return nil, err
	}
	if body := p[4+pre.HeaderLen:]; len(body) > 0 {
		c.Body = body
	}
	return c, nil
}

// FramePrefix is the checked start of a frame: its length field and the
// serialize-type and header-length word that follows it.
type FramePrefix struct {
	// Length is the length field: the bytes of the frame after it, that is
	// 4 + HeaderLen + the body length.
	Length    int
	Serialize SerializeType // SerializeJSON or SerializeRocketMQ
	HeaderLen int           // at most HeaderSizeLimit and Length - 4
}

// BodyLen returns the body length the prefix announces.
func (p FramePrefix) BodyLen() int { return p.Length - 4 - p.HeaderLen }

// parseWord checks the serialize-type and header-length word of a frame whose
// length field is length, in the order DecodeFrame documents.
func parseWord(length int, word uint32) (FramePrefix, error) {
	p := FramePrefix{Length: length, Serialize: SerializeType(word >> 24), HeaderLen: int(word & MaxHeaderSize)}
	switch {
	case p.HeaderLen > length-4:
		return p, frameErr(ErrBadFrame, "header length %d exceeds the %d bytes left in the frame", p.HeaderLen, length-4)
	case p.Serialize != SerializeJSON && p.Serialize != SerializeRocketMQ:
		return p, frameErr(ErrUnknownSerializeType, "serialize type %d", uint8(p.Serialize))
	case p.HeaderLen > HeaderSizeLimit:
		return p, &DecodeError{Kind: ErrBadHeader, Serialize: p.Serialize, Offset: -1,
			Reason: fmt.Sprintf("header length %d exceeds the limit of %d", p.HeaderLen, HeaderSizeLimit)}
	}
	return p, nil
}

func decodeHeader(st SerializeType, hdr []byte) (*Command, error) {
	c := &Command{}
	var err error
	if st == SerializeJSON {
		err = DecodeJSONHeader(hdr, c)
	} else {
		err = DecodeRocketMQHeader(hdr, c)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// FrameReader reads frames from a stream, one part at a time: ReadPrefix checks
// the length field and the header length before anything else is read,
// ReadHeader reads and decodes the header (checking its limits), and ReadBody
// reads the body. A server can so refuse a bad header, or wait for memory, before
// it reads a body. Read does all three.
//
// Buffers grow in steps of at most 64 KiB as bytes arrive, so memory follows what
// the peer actually sent, not what it announced. Headers of up to 4 KiB are read
// into a buffer the reader keeps (header strings are copied when decoded); the
// body is a fresh buffer the caller owns. A FrameReader is not safe for concurrent
// use.
type FrameReader struct {
	r            io.Reader
	maxFrameSize int
	word         [8]byte
	scratch      []byte // header buffer kept between frames, at most headerScratch
}

// NewFrameReader returns a reader of frames from r whose length field is at most
// maxFrameSize (0 means DefaultMaxFrameSize). Wrap a net.Conn in a bufio.Reader
// first: FrameReader makes small reads for the length field and the header.
func NewFrameReader(r io.Reader, maxFrameSize int) *FrameReader {
	if maxFrameSize <= 0 {
		maxFrameSize = DefaultMaxFrameSize
	}
	return &FrameReader{r: r, maxFrameSize: maxFrameSize}
}

// ReadPrefix reads the next frame's length field and serialize-type word, and
// checks them: the length (ErrBadFrame below 4, ErrFrameTooLarge above the cap),
// the header length against the frame (ErrBadFrame), the serialize type
// (ErrUnknownSerializeType) and the header length against HeaderSizeLimit
// (ErrBadHeader). It returns io.EOF if the stream ends cleanly before the frame,
// io.ErrUnexpectedEOF if it ends inside the prefix, and other reader errors as is.
// Follow it with ReadHeader and ReadBody.
func (fr *FrameReader) ReadPrefix() (FramePrefix, error) {
	if _, err := io.ReadFull(fr.r, fr.word[:4]); err != nil {
		return FramePrefix{}, err
	}
	length := int32(binary.BigEndian.Uint32(fr.word[:4]))
	if err := checkLength(length, fr.maxFrameSize); err != nil {
		return FramePrefix{}, err
	}
	if _, err := io.ReadFull(fr.r, fr.word[4:]); err != nil {
		return FramePrefix{}, unexpected(err)
	}
	return parseWord(int(length), binary.BigEndian.Uint32(fr.word[4:]))
}

// ReadHeader reads the header p announces and decodes it into a new Command with
// no body. Errors: io.ErrUnexpectedEOF if the stream ends first, a reader error,
// or a *DecodeError (ErrBadHeader) from the header decoder.
func (fr *FrameReader) ReadHeader(p FramePrefix) (*Command, error) {
	var hdr []byte
	if p.HeaderLen <= headerScratch {
		if cap(fr.scratch) < p.HeaderLen {
			fr.scratch = make([]byte, max(p.HeaderLen, 512))
		}
		hdr = fr.scratch[:p.HeaderLen]
		if _, err := io.ReadFull(fr.r, hdr); err != nil {
			return nil, unexpected(err)
		}
	} else {
		var err error
		if hdr, err = fr.readN(p.HeaderLen); err != nil {
			return nil, err
		}
	}
	return decodeHeader(p.Serialize, hdr)
}

// ReadBody reads the n body bytes that follow the header (p.BodyLen()) into a new
// buffer and sets c.Body to it (nil when n is 0). Errors: io.ErrUnexpectedEOF if
// the stream ends first, or a reader error.
func (fr *FrameReader) ReadBody(c *Command, n int) error {
	if n <= 0 {
		c.Body = nil
		return nil
	}
	b, err := fr.readN(n)
	if err != nil {
		return err
	}
	c.Body = b
	return nil
}

// Read reads and decodes the next frame: ReadPrefix, ReadHeader and ReadBody.
func (fr *FrameReader) Read() (*Command, error) {
	p, err := fr.ReadPrefix()
	if err != nil {
		return nil, err
	}
	c, err := fr.ReadHeader(p)
	if err != nil {
		return nil, err
	}
	if err := fr.ReadBody(c, p.BodyLen()); err != nil {
		return nil, err
	}
	return c, nil
}

// ReadPayload reads the next frame whole, without decoding it, and returns the
// bytes after its length field, freshly allocated (the caller owns them). Only
// the length field is checked. It returns io.EOF if the stream ends cleanly
// between frames, io.ErrUnexpectedEOF if it ends inside one, another reader error
// as is, or a *DecodeError (ErrBadFrame, ErrFrameTooLarge) for a bad length
// field. It never allocates more than about twice the bytes received plus 64 KiB.
// Servers should prefer ReadPrefix and ReadHeader, which check the header before
// reading the body.
func (fr *FrameReader) ReadPayload() ([]byte, error) {
	if _, err := io.ReadFull(fr.r, fr.word[:4]); err != nil {
		return nil, err
	}
	length := int32(binary.BigEndian.Uint32(fr.word[:4]))
	if err := checkLength(length, fr.maxFrameSize); err != nil {
		return nil, err
	}
	return fr.readN(int(length))
}

// readN reads exactly n bytes into a new buffer: of exactly n bytes when n is at
// most one chunk, else grown geometrically (never beyond n) as chunks arrive.
func (fr *FrameReader) readN(n int) ([]byte, error) {
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

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
