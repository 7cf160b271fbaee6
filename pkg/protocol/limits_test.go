package protocol

import (
	"bytes"
	"encoding/binary"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// countingReader counts the bytes taken from r, to prove what a reader did not
// read.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// rawFrame builds a frame around a hand-made header, as a hostile peer would.
func rawFrame(st SerializeType, hdr, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(4+len(hdr)+len(body)))
	b = binary.BigEndian.AppendUint32(b, uint32(st)<<24|uint32(len(hdr)))
	return append(append(b, hdr...), body...)
}

// rocketMQHeader encodes a ROCKETMQ header by hand, without the encoder's checks.
func rocketMQHeader(c *Command) []byte {
	h := binary.BigEndian.AppendUint16(nil, uint16(c.Code))
	h = append(h, byte(c.Language))
	h = binary.BigEndian.AppendUint16(h, uint16(c.Version))
	h = binary.BigEndian.AppendUint32(h, uint32(c.Opaque))
	h = binary.BigEndian.AppendUint32(h, uint32(c.Flag))
	h = binary.BigEndian.AppendUint32(h, uint32(len(c.Remark)))
	h = append(h, c.Remark...)
	var ext []byte
	for _, k := range slices.Sorted(maps.Keys(c.ExtFields)) {
		ext = binary.BigEndian.AppendUint16(ext, uint16(len(k)))
		ext = append(ext, k...)
		ext = binary.BigEndian.AppendUint32(ext, uint32(len(c.ExtFields[k])))
		ext = append(ext, c.ExtFields[k]...)
	}
	h = binary.BigEndian.AppendUint32(h, uint32(len(ext)))
	return append(h, ext...)
}

func TestHeaderLimits(t *testing.T) {
	t.Parallel()
	bigExt := func(n int) map[string]string { return map[string]string{"k": strings.Repeat("v", n-1)} }
	for _, st := range []SerializeType{SerializeJSON, SerializeRocketMQ} {
		header := func(c *Command) []byte {
			if st == SerializeJSON {
				return AppendJSONHeader(nil, c)
			}
			return rocketMQHeader(c)
		}
		// At the limits: written, read back.
		for _, c := range []*Command{
			{Serialize: st, Remark: strings.Repeat("r", RemarkSizeLimit)},
			{Serialize: st, ExtFields: bigExt(ExtFieldsSizeLimit)},
		} {
			frame, err := AppendFrame(nil, c)
			require.NoError(t, err, st)
			got, err := DecodeFrame(frame, 0)
			require.NoError(t, err, st)
			require.Equal(t, c.Remark, got.Remark)
			if c.ExtFields != nil {
				require.Equal(t, c.ExtFields, got.ExtFields)
			}
		}
		// One byte over: neither written nor read.
		for name, c := range map[string]*Command{
			"remark":    {Serialize: st, Remark: strings.Repeat("r", RemarkSizeLimit+1)},
			"extFields": {Serialize: st, ExtFields: bigExt(ExtFieldsSizeLimit + 1)},
			"extFields spread over entries": {Serialize: st, ExtFields: map[string]string{
				"a": strings.Repeat("v", ExtFieldsSizeLimit/2), "b": strings.Repeat("v", ExtFieldsSizeLimit/2)}},
		} {
			_, err := AppendFrame(nil, c)
			require.ErrorIs(t, err, ErrBadHeader, "%s %s", st, name)
			if st == SerializeRocketMQ && c.ExtFields != nil {
				_, err = AppendRocketMQHeader(nil, c)
				require.ErrorIs(t, err, ErrBadHeader, "%s %s", st, name)
			}
			frame := rawFrame(st, header(c), nil)
			_, err = DecodeFrame(frame, 0)
			require.ErrorIs(t, err, ErrBadHeader, "%s %s", st, name)
			require.ErrorIs(t, err, ErrMalformed, "%s %s", st, name)
			_, err = NewFrameReader(bytes.NewReader(frame), 0).Read()
			require.ErrorIs(t, err, ErrBadHeader, "%s %s", st, name)
		}
	}
	// JSON escapes count once decoded: a remark of RemarkSizeLimit bytes that
	// are all escaped is still accepted.
	var c Command
	in := `{"remark":"` + strings.Repeat(`\u0041`, RemarkSizeLimit) + `"}`
	require.NoError(t, DecodeJSONHeader([]byte(in), &c))
	require.Len(t, c.Remark, RemarkSizeLimit)
}

// A header longer than HeaderSizeLimit is refused from the 8-byte prefix: not one
// header byte is read and nothing is allocated for it. This is the "15 MiB JSON
// remark" of issue #10, which used to cost about 300 MB.
func TestHugeHeaderRefusedFromPrefix(t *testing.T) {
	remark := strings.Repeat("r", 15<<20)
	hdr := []byte(`{"code":10,"remark":"` + remark + `"}`)
	frame := rawFrame(SerializeJSON, hdr, nil)

	_, err := DecodeFrame(frame, 0)
	require.ErrorIs(t, err, ErrBadHeader)

	cr := &countingReader{r: bytes.NewReader(frame)}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = NewFrameReader(cr, 0).Read()
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, ErrBadHeader)
	require.ErrorIs(t, err, ErrMalformed)
	require.Contains(t, err.Error(), "exceeds the limit")
	require.Less(t, cr.n, 64<<10, "bytes read before refusing (bytes.Reader hands out what is asked)")
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<10), "allocated while refusing")
}

// The header is decoded, and refused, before any body byte is read.
func TestFrameReaderChecksHeaderBeforeBody(t *testing.T) {
	t.Parallel()
	hdr := []byte(`{"code":1,"remark":` + `"` + strings.Repeat("r", RemarkSizeLimit+1) + `"}`)
	body := make([]byte, 8<<20)
	cr := &countingReader{r: bytes.NewReader(rawFrame(SerializeJSON, hdr, body))}
	fr := NewFrameReader(cr, 0)
	p, err := fr.ReadPrefix()
	require.NoError(t, err)
	require.Equal(t, FramePrefix{Length: 4 + len(hdr) + len(body), Serialize: SerializeJSON, HeaderLen: len(hdr)}, p)
	require.Equal(t, len(body), p.BodyLen())
	require.Equal(t, 8, cr.n)
	_, err = fr.ReadHeader(p)
	require.ErrorIs(t, err, ErrBadHeader)
	require.Equal(t, 8+len(hdr), cr.n, "no body byte read")

	// A good frame through the three steps, twice (the header buffer is reused).
	var stream []byte
	for i := range 2 {
		f, err := AppendFrame(nil, &Command{Code: int16(i), Remark: "ok", ExtFields: map[string]string{"k": "v"}, Body: []byte("body")})
		require.NoError(t, err)
		stream = append(stream, f...)
	}
	fr = NewFrameReader(bytes.NewReader(stream), 0)
	for i := range 2 {
		p, err := fr.ReadPrefix()
		require.NoError(t, err)
		c, err := fr.ReadHeader(p)
		require.NoError(t, err)
		require.Nil(t, c.Body)
		require.NoError(t, fr.ReadBody(c, p.BodyLen()))
		require.Equal(t, int16(i), c.Code)
		require.Equal(t, "ok", c.Remark)
		require.Equal(t, map[string]string{"k": "v"}, c.ExtFields)
		require.Equal(t, []byte("body"), c.Body)
	}
	_, err = fr.ReadPrefix()
	require.ErrorIs(t, err, io.EOF)
}
