package body

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// encodeRegisterBody is EncodeRegisterBody for tests.
func encodeRegisterBody(t testing.TB, b *RegisterBody, compressed bool) []byte {
	t.Helper()
	out, err := EncodeRegisterBody(b, compressed)
	require.NoError(t, err)
	return out
}

func zlibBytes(t testing.TB, raw []byte) []byte {
	var z bytes.Buffer
	zw, err := zlib.NewWriterLevel(&z, zlib.BestCompression)
	require.NoError(t, err)
	_, err = zw.Write(raw)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return z.Bytes()
}

func sampleBody() *RegisterBody {
	return &RegisterBody{
		Topics: TopicConfigWrapper{
			DataVersion: DataVersion{Timestamp: 1700000000000, Counter: 7},
			TopicConfigTable: map[string]TopicConfig{
				"T":         {TopicName: "T", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6, TopicFilterType: "SINGLE_TAG"},
				"%RETRY%cg": {TopicName: "%RETRY%cg", ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6, TopicFilterType: "SINGLE_TAG"},
			},
		},
		FilterServers: []string{},
	}
}

func TestDecodeRegisterBodyJavaJSON(t *testing.T) {
	t.Parallel()
	// As a Java 4.9 broker writes it (fastjson, alphabetical, extra fields).
	body := `{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":7,"timestamp":1700000000000},"topicConfigTable":{"T":{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"T","topicSysFlag":2,"writeQueueNums":8}}}}`
	got, err := DecodeRegisterBody([]byte(body), false)
	require.NoError(t, err)
	require.Equal(t, DataVersion{Timestamp: 1700000000000, Counter: 7}, got.Topics.DataVersion)
	require.Equal(t, TopicConfig{TopicName: "T", ReadQueueNums: 4, WriteQueueNums: 8, Perm: 6, TopicFilterType: "SINGLE_TAG", TopicSysFlag: 2}, got.Topics.TopicConfigTable["T"])
	require.Empty(t, got.FilterServers)
}

func TestDecodeRegisterBodyRoundTrip(t *testing.T) {
	t.Parallel()
	for _, compressed := range []bool{false, true} {
		want := sampleBody()
		got, err := DecodeRegisterBody(encodeRegisterBody(t, want, compressed), compressed)
		require.NoError(t, err)
		require.Equal(t, want, got, "compressed=%t", compressed)
	}
}

func TestDecodeRegisterBodyEmpty(t *testing.T) {
	t.Parallel()
	for _, c := range []bool{false, true} {
		got, err := DecodeRegisterBody(nil, c)
		require.NoError(t, err)
		require.Equal(t, DataVersion{}, got.Topics.DataVersion)
		require.NotNil(t, got.Topics.TopicConfigTable)
	}
}

func TestDecodeRegisterBodyRejects(t *testing.T) {
	t.Parallel()
	be32 := func(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	dv := []byte(`{"counter":1,"timestamp":2}`)
	good := cat(be32(int32(len(dv))), dv, be32(1), be32(16), []byte("T 4 4 6 SINGLE_T"[:16]), be32(2), []byte("[]"))
	_, err := DecodeRegisterBody(zlibBytes(t, good), true)
	require.NoError(t, err)

	cases := map[string][]byte{
		"huge dv length":     cat(be32(1<<30), dv),
		"negative dv length": cat(be32(-1), dv),
		"truncated dv":       be32(int32(len(dv)))[:3],
		"bad dv json":        cat(be32(3), []byte("{x}")),
		"huge topic count":   cat(be32(int32(len(dv))), dv, be32(1<<30)),
		"negative count":     cat(be32(int32(len(dv))), dv, be32(-5)),
		"short topic text":   cat(be32(int32(len(dv))), dv, be32(1), be32(5), []byte("T 4 4"), be32(2), []byte("[]")),
		"bad queue num":      cat(be32(int32(len(dv))), dv, be32(1), be32(12), []byte("T x 4 6 TAGS"), be32(2), []byte("[]")),
		"topic past end":     cat(be32(int32(len(dv))), dv, be32(1), be32(100), []byte("T 4 4 6 S")),
		"missing filters":    cat(be32(int32(len(dv))), dv, be32(0)),
		"bad filters":        cat(be32(int32(len(dv))), dv, be32(0), be32(2), []byte("{}")),
		"trailing bytes":     cat(good, []byte{0}),
	}
	for name, raw := range cases {
		_, err := DecodeRegisterBody(zlibBytes(t, raw), true)
		require.ErrorIs(t, err, ErrBadRegisterBody, name)
	}
	_, err = DecodeRegisterBody([]byte("not zlib"), true)
	require.ErrorIs(t, err, ErrBadRegisterBody)
	_, err = DecodeRegisterBody([]byte("{"), false)
	require.ErrorIs(t, err, ErrBadRegisterBody)
}

// A zlib bomb is cut off at MaxRegisterBodySize without inflating it all.
func TestDecodeRegisterBodyBomb(t *testing.T) {
	t.Parallel()
	var z bytes.Buffer
	zw, err := zlib.NewWriterLevel(&z, zlib.BestCompression)
	require.NoError(t, err)
	zero := make([]byte, 1<<20)
	for range MaxRegisterBodySize/len(zero) + 1 {
		_, err = zw.Write(zero)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	require.Less(t, z.Len(), 1<<20)
	_, err = DecodeRegisterBody(z.Bytes(), true)
	require.ErrorIs(t, err, ErrBadRegisterBody)
	require.True(t, strings.Contains(err.Error(), "decompressed size"), err.Error())
}

// A bomb that inflates far past a frame costs the decoder no more memory than a
// few frames' worth: the name server decodes on several workers at once, so a
// peer must not turn one 16 MiB frame into many times that in heap. Not parallel:
// it measures the heap.
func TestDecodeRegisterBodyBombAllocation(t *testing.T) {
	const frameCap = 16 << 20 // protocol.DefaultMaxFrameSize
	var z bytes.Buffer
	zw, err := zlib.NewWriterLevel(&z, zlib.BestCompression)
	require.NoError(t, err)
	zero := make([]byte, 1<<20)
	for range 4*frameCap/len(zero) + 1 {
		_, err = zw.Write(zero)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	bomb := z.Bytes()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = DecodeRegisterBody(bomb, true)
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, ErrBadRegisterBody)
	allocated := after.TotalAlloc - before.TotalAlloc
	require.LessOrEqual(t, allocated, uint64(3*frameCap), "decoding a %d-byte bomb allocated %d bytes", len(bomb), allocated)
	require.LessOrEqual(t, MaxRegisterBodySize, frameCap)
}

// FuzzDecodeRegisterBody feeds arbitrary bytes to both decoders. They must not
// panic, and anything the compressed decoder accepts must survive an
// encode/decode round trip unchanged.
func FuzzDecodeRegisterBody(f *testing.F) {
	for _, c := range []bool{false, true} {
		f.Add(encodeRegisterBody(f, sampleBody(), c), c)
	}
	f.Add([]byte(`{"topicConfigSerializeWrapper":{"topicConfigTable":{"T":{}}}}`), false)
	f.Add([]byte{}, true)
	f.Add(zlibBytes(f, []byte{0, 0, 0, 2, '{', '}', 0x7f, 0xff, 0xff, 0xff}), true)
	f.Fuzz(func(t *testing.T, data []byte, compressed bool) {
		got, err := DecodeRegisterBody(data, compressed)
		if err != nil {
			if !errors.Is(err, ErrBadRegisterBody) {
				t.Fatalf("error %v does not match ErrBadRegisterBody", err)
			}
			return
		}
		if !compressed {
			return
		}
		// Topic text cannot carry spaces in names or empty filter types;
		// anything that parsed has neither, since fields split on ' '.
		again, err := DecodeRegisterBody(encodeRegisterBody(t, got, true), true)
		require.NoError(t, err)
		if got.FilterServers == nil {
			got.FilterServers = []string{}
		}
		require.Equal(t, got, again)
	})
}
