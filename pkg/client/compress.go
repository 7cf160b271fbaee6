package client

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"github.com/petrelmq/petrel/pkg/message"
)

// ErrUnsupportedCompression is returned for bodies whose sysFlag compression
// type bits (8..10) name none of ZLIB, LZ4 and ZSTD; the body is left as it is.
var ErrUnsupportedCompression = errors.New("client: unsupported compression type")

// ErrBodyTooLarge is returned when a body would decompress to more than
// MaxDecompressedSize bytes.
var ErrBodyTooLarge = errors.New("client: decompressed body too large")

// MaxDecompressedSize caps a decompressed body (bytes): 4x the largest frame
// (16 MiB). Decompression stops at the cap, so a hostile body cannot make the
// client allocate more.
const MaxDecompressedSize = 64 << 20

// Compression is a body compression algorithm, as RocketMQ 5.x marks it in the
// sysFlag compression type bits. The zero value is CompressionZLIB.
type Compression int

// Compression algorithms.
const (
	// CompressionZLIB is zlib (RFC 1950), the only algorithm RocketMQ 4.x
	// clients and brokers know. It is sent with the COMPRESSED bit alone, as
	// 4.x clients send it; readers also accept the 5.x ZLIB type bits (0x300).
	CompressionZLIB Compression = iota
	// CompressionLZ4 is the LZ4 frame format (as Java's LZ4FrameOutputStream),
	// marked 0x100. Only RocketMQ 5.x clients (and this SDK) read it.
	CompressionLZ4
	// CompressionZSTD is a Zstandard frame, marked 0x200. Only RocketMQ 5.x
	// clients (and this SDK) read it.
	CompressionZSTD
)

// String returns "ZLIB", "LZ4" or "ZSTD".
func (c Compression) String() string {
	switch c {
	case CompressionZLIB:
		return "ZLIB"
	case CompressionLZ4:
		return "LZ4"
	case CompressionZSTD:
		return "ZSTD"
	}
	return "Compression(" + strconv.Itoa(int(c)) + ")"
}

// Valid reports whether c is one of the defined algorithms.
func (c Compression) Valid() bool { return c >= CompressionZLIB && c <= CompressionZSTD }

// SysFlag returns the sysFlag bits announcing a body compressed with c: the
// COMPRESSED bit, plus the type bits for LZ4 (0x100) and ZSTD (0x200). ZLIB
// gets no type bits, as RocketMQ 4.x writes it. It returns 0 for an invalid c.
func (c Compression) SysFlag() message.SysFlag {
	switch c {
	case CompressionZLIB:
		return message.SysFlagCompressed
	case CompressionLZ4:
		return message.SysFlagCompressed | message.SysFlagCompressionLZ4
	case CompressionZSTD:
		return message.SysFlagCompressed | message.SysFlagCompressionZSTD
	}
	return 0
}

// Compress returns body compressed with zlib at the given level (1..9; RocketMQ
// 4.x clients use 5), as the COMPRESSED sysFlag bit announces.
func Compress(body []byte, level int) ([]byte, error) {
	return CompressWith(CompressionZLIB, body, level)
}

// CompressWith returns body compressed with c. level is the zlib level (1..9)
// for ZLIB and the zstd level (1..22, mapped onto the encoder's speed classes)
// for ZSTD; LZ4 uses the fast frame compressor, as the Java client, and ignores
// it. The caller sets c.SysFlag() on the message. The result is a new slice.
func CompressWith(c Compression, body []byte, level int) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(body)/2 + 64)
	var w io.WriteCloser
	switch c {
	case CompressionZLIB:
		z, err := zlib.NewWriterLevel(&buf, level)
		if err != nil {
			return nil, fmt.Errorf("client: zlib level %d: %w", level, err)
		}
		w = z
	case CompressionLZ4:
		z := lz4.NewWriter(&buf)
		if err := z.Apply(lz4.ConcurrencyOption(1)); err != nil {
			return nil, fmt.Errorf("client: lz4: %w", err)
		}
		w = z
	case CompressionZSTD:
		z, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
			zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
		if err != nil {
			return nil, fmt.Errorf("client: zstd level %d: %w", level, err)
		}
		w = z
	default:
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedCompression, c)
	}
	if _, err := w.Write(body); err != nil {
		return nil, fmt.Errorf("client: compress %s: %w", c, err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("client: compress %s: %w", c, err)
	}
	return buf.Bytes(), nil
}

// zstdDecoder is shared: DecodeAll is safe for concurrent use. Its memory cap
// refuses frames that declare (or reach) more than MaxDecompressedSize bytes.
var zstdDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(MaxDecompressedSize),
		zstd.WithDecoderMaxWindow(MaxDecompressedSize),
		zstd.WithDecoderLowmem(true))
})

// Decompress returns the body as the producer wrote it: decompressed if
// sysFlag has the COMPRESSED bit, unchanged otherwise. The compression type
// bits choose the algorithm: 0 (RocketMQ 4.x) and ZLIB mean zlib, LZ4 the LZ4
// frame format, ZSTD Zstandard. Other types give ErrUnsupportedCompression, a
// body that would exceed MaxDecompressedSize ErrBodyTooLarge, and a corrupt
// stream another error; on error the caller should keep the stored body. The
// result never aliases body when it was decompressed.
func Decompress(sysFlag message.SysFlag, body []byte) ([]byte, error) {
	if !sysFlag.Has(message.SysFlagCompressed) {
		return body, nil
	}
	var (
		r   io.Reader
		alg string
	)
	switch sysFlag.CompressionType() {
	case 0, message.SysFlagCompressionZLIB:
		alg = "zlib"
		z, err := zlib.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("client: inflate body: %w", err)
		}
		defer z.Close()
		r = z
	case message.SysFlagCompressionLZ4:
		alg = "lz4"
		r = lz4.NewReader(bytes.NewReader(body))
	case message.SysFlagCompressionZSTD:
		d, err := zstdDecoder()
		if err != nil {
			return nil, fmt.Errorf("client: zstd: %w", err)
		}
		out, err := d.DecodeAll(body, nil)
		switch {
		case errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) || len(out) > MaxDecompressedSize:
			return nil, fmt.Errorf("%w: zstd body exceeds %d bytes", ErrBodyTooLarge, MaxDecompressedSize)
		case err != nil:
			return nil, fmt.Errorf("client: zstd body: %w", err)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%w: sysFlag %#x", ErrUnsupportedCompression, int32(sysFlag))
	}
	out, err := io.ReadAll(io.LimitReader(r, MaxDecompressedSize+1))
	if err != nil {
		return nil, fmt.Errorf("client: %s body: %w", alg, err)
	}
	if len(out) > MaxDecompressedSize {
		return nil, fmt.Errorf("%w: %s body exceeds %d bytes", ErrBodyTooLarge, alg, MaxDecompressedSize)
	}
	return out, nil
}

// DecompressBody replaces m.Body with the decompressed body (see Decompress)
// and reports whether m.Body now holds the producer's bytes. When the body
// cannot be decompressed (an unknown compression type, a corrupt or oversized
// stream) m is left untouched and a warning naming the message is logged, so
// the handler sees the stored bytes with the COMPRESSED sysFlag bit still set.
func (c *Client) DecompressBody(m *message.MessageExt) bool {
	b, err := Decompress(m.SysFlag, m.Body)
	if err != nil {
		c.log.Warn("client: message body left compressed", "topic", m.Topic, "msg_id", m.MsgID(),
			"sys_flag", fmt.Sprintf("%#x", int32(m.SysFlag)), "err", err)
		return false
	}
	m.Body = b
	return true
}
