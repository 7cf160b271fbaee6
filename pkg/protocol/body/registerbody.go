package body

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// MaxRegisterBodySize caps the decompressed size of a compressed REGISTER_BROKER
// body (bytes): 16 MiB, the default frame cap. An uncompressed body must fit in a
// frame anyway, and the compressed text form is about a fifth of the JSON form's
// size per topic (some 400,000 topics fit), so no real broker comes near it. A
// larger cap would let one small zlib bomb make each name-server worker allocate
// several times a frame.
const MaxRegisterBodySize = 16 << 20

// ErrBadRegisterBody is matched (errors.Is) by every register-body decoding error.
var ErrBadRegisterBody = errors.New("body: bad register body")

func badBody(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRegisterBody, fmt.Sprintf(format, args...))
}

// registerBodyJSON is the uncompressed RegisterBrokerBody.
type registerBodyJSON struct {
	TopicConfigSerializeWrapper TopicConfigWrapper `json:"topicConfigSerializeWrapper"`
	FilterServerList            []string           `json:"filterServerList"`
}

// DecodeRegisterBody decodes a REGISTER_BROKER body. An empty body is an empty
// topic table with a zero DataVersion, as Java treats it.
//
// Uncompressed, the body is RegisterBrokerBody JSON:
// {"filterServerList":[...],"topicConfigSerializeWrapper":{"dataVersion":{...},
// "topicConfigTable":{...}}}. Unknown fields are ignored.
//
// Compressed (the compressed header is true), it is a zlib stream holding, all
// lengths big-endian int32: DataVersion JSON (length-prefixed), a topic count, that
// many length-prefixed topic texts "name read write perm filterType" (space
// separated; extra fields from newer brokers are ignored), and the length-prefixed
// filterServerList JSON. Every length is checked against the bytes that remain
// before anything is allocated from it, the decompressed size is capped at
// MaxRegisterBodySize, and trailing bytes are rejected.
//
// Errors match ErrBadRegisterBody.
func DecodeRegisterBody(body []byte, compressed bool) (*RegisterBody, error) {
	if len(body) == 0 {
		return &RegisterBody{Topics: TopicConfigWrapper{TopicConfigTable: map[string]TopicConfig{}}}, nil
	}
	if compressed {
		return decodeCompressedRegisterBody(body)
	}
	var j registerBodyJSON
	if err := json.Unmarshal(body, &j); err != nil {
		return nil, badBody("%v", err)
	}
	if j.TopicConfigSerializeWrapper.TopicConfigTable == nil {
		j.TopicConfigSerializeWrapper.TopicConfigTable = map[string]TopicConfig{}
	}
	return &RegisterBody{Topics: j.TopicConfigSerializeWrapper, FilterServers: j.FilterServerList}, nil
}

func decodeCompressedRegisterBody(body []byte) (*RegisterBody, error) {
	zr, err := zlib.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, badBody("zlib: %v", err)
	}
	defer zr.Close()
	raw, err := readAtMost(zr, MaxRegisterBodySize)
	if err != nil {
		return nil, err
	}
	r := &sliceReader{b: raw}

	dvJSON, err := r.chunk("dataVersion")
	if err != nil {
		return nil, err
	}
	out := &RegisterBody{Topics: TopicConfigWrapper{TopicConfigTable: map[string]TopicConfig{}}}
	if err := json.Unmarshal(dvJSON, &out.Topics.DataVersion); err != nil {
		return nil, badBody("dataVersion: %v", err)
	}
	n, err := r.int32("topic count")
	if err != nil {
		return nil, err
	}
	// Each topic takes at least its 4-byte length, so a count larger than that
	// bound is a lie; checking it first keeps the loop below honest.
	if n < 0 || int(n) > r.remaining()/4 {
		return nil, badBody("topic count %d with %d bytes left", n, r.remaining())
	}
	for i := range int(n) {
		text, err := r.chunk("topic config")
		if err != nil {
			return nil, err
		}
		tc, err := parseTopicConfigText(string(text))
		if err != nil {
			return nil, badBody("topic %d: %v", i, err)
		}
		out.Topics.TopicConfigTable[tc.TopicName] = tc
	}
	fsJSON, err := r.chunk("filterServerList")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(fsJSON, &out.FilterServers); err != nil {
		return nil, badBody("filterServerList: %v", err)
	}
	if r.remaining() != 0 {
		return nil, badBody("%d trailing bytes", r.remaining())
	}
	return out, nil
}

// readAtMost reads r to its end into one buffer that doubles as it fills, and
// fails once more than limit bytes arrive. Unlike io.ReadAll, whose intermediate
// chunks cost several times the result (more under -race), it allocates at most
// about twice limit, whatever the stream holds.
func readAtMost(r io.Reader, limit int) ([]byte, error) {
	buf := make([]byte, 0, min(4<<10, limit+1))
	for {
		if len(buf) == cap(buf) {
			// One byte over limit detects an oversize stream; jump straight to
			// that size rather than to limit and then limit+1.
			newCap := 2 * cap(buf)
			if newCap >= limit {
				newCap = limit + 1
			}
			nb := make([]byte, len(buf), newCap)
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return nil, badBody("decompressed size over %d bytes", limit)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, badBody("zlib: %v", err)
		}
	}
}

// parseTopicConfigText parses TopicConfig's text form
// "name readQueueNums writeQueueNums perm filterType". It carries no sysFlag and
// no order flag; both stay zero.
func parseTopicConfigText(s string) (TopicConfig, error) {
	f := strings.Split(s, " ")
	if len(f) < 5 {
		return TopicConfig{}, fmt.Errorf("want 5 space-separated fields, got %d", len(f))
	}
	if f[0] == "" {
		return TopicConfig{}, errors.New("empty topic name")
	}
	var nums [3]int32
	for i := range nums {
		v, err := strconv.ParseInt(f[i+1], 10, 32)
		if err != nil {
			return TopicConfig{}, fmt.Errorf("field %d: %v", i+2, err)
		}
		nums[i] = int32(v)
	}
	return TopicConfig{
		TopicName:       f[0],
		ReadQueueNums:   nums[0],
		WriteQueueNums:  nums[1],
		Perm:            nums[2],
		TopicFilterType: f[4],
	}, nil
}

// sliceReader reads big-endian length-prefixed fields from a byte slice, checking
// every length against what remains.
type sliceReader struct {
	b   []byte
	off int
}

func (r *sliceReader) remaining() int { return len(r.b) - r.off }

func (r *sliceReader) int32(what string) (int32, error) {
	if r.remaining() < 4 {
		return 0, badBody("%s: truncated", what)
	}
	v := int32(binary.BigEndian.Uint32(r.b[r.off:]))
	r.off += 4
	return v, nil
}

// chunk reads an int32 length and that many bytes, returned as a sub-slice (no
// allocation).
func (r *sliceReader) chunk(what string) ([]byte, error) {
	n, err := r.int32(what + " length")
	if err != nil {
		return nil, err
	}
	if n < 0 || int(n) > r.remaining() {
		return nil, badBody("%s length %d with %d bytes left", what, n, r.remaining())
	}
	b := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return b, nil
}

// EncodeRegisterBody writes a REGISTER_BROKER body as a Java broker does: the
// RegisterBrokerBody JSON, or with compressed the zlib form DecodeRegisterBody
// describes (topic texts in name order).
func EncodeRegisterBody(b *RegisterBody, compressed bool) ([]byte, error) {
	fs := b.FilterServers
	if fs == nil {
		fs = []string{}
	}
	if !compressed {
		return json.Marshal(registerBodyJSON{TopicConfigSerializeWrapper: b.Topics, FilterServerList: fs})
	}
	var raw bytes.Buffer
	chunk := func(p []byte) {
		_ = binary.Write(&raw, binary.BigEndian, int32(len(p)))
		raw.Write(p)
	}
	dv, err := json.Marshal(b.Topics.DataVersion)
	if err != nil {
		return nil, err
	}
	chunk(dv)
	_ = binary.Write(&raw, binary.BigEndian, int32(len(b.Topics.TopicConfigTable)))
	for _, name := range slices.Sorted(maps.Keys(b.Topics.TopicConfigTable)) {
		tc := b.Topics.TopicConfigTable[name]
		chunk(fmt.Appendf(nil, "%s %d %d %d %s", tc.TopicName, tc.ReadQueueNums, tc.WriteQueueNums, tc.Perm, tc.TopicFilterType))
	}
	fsj, err := json.Marshal(fs)
	if err != nil {
		return nil, err
	}
	chunk(fsj)
	var z bytes.Buffer
	zw, err := zlib.NewWriterLevel(&z, zlib.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return z.Bytes(), nil
}
