package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func fuzzSeedFrames(f *testing.F) {
	f.Helper()
	for _, st := range []SerializeType{SerializeJSON, SerializeRocketMQ} {
		for _, c := range sampleCommands() {
			c.Serialize = st
			c.Body = c.Body[:min(len(c.Body), 64)]
			frame, err := AppendFrame(nil, c)
			require.NoError(f, err)
			f.Add(frame)
		}
	}
	for _, s := range []string{
		"00000068 00000064" + "7b22636f6465223a3130352c226c616e6775616765223a22474f222c2276657273696f6e223a3331372c226f7061717565223a312c22666c6167223a302c2272656d61726b223a22222c226578744669656c6473223a7b22746f706963223a2254227d7d",
		"00000027 01000023 0000 09 013d 00000001 00000001 00000000 0000000e 0007 71756575654964 00000001 30",
		"", "00", "00000000", "00000003 000000", "ffffffff", "7fffffff 00000000", "80000000",
		"00000006 00000003 7b7d", "00000006 02000002 7b7d", "00000006 00000002 7b22", "00000004 01000000",
		"00000006 00000002 7b7d", "00000019 01000015 000000000000000000000000000000000000000000",
	} {
		f.Add(mustHex(f, s))
	}
}

// allocBudget is what decoding len(input) bytes may allocate: a small multiple of
// the input (strings are copied once, escapes are decoded into a scratch buffer)
// plus a constant for the map of at most MaxExtFields entries.
func allocBudget(n int) uint64 { return uint64(8*n) + 256<<10 }

// allocated returns the bytes the heap allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func FuzzDecodeFrame(f *testing.F) {
	fuzzSeedFrames(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeFrame(data, 1<<20)
		// The stream reader agrees with the whole-frame decoder on valid input.
		sc, serr := NewFrameReader(bytes.NewReader(data), 1<<20).Read()
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			return
		}
		require.NoError(t, serr)
		requireSameCommand(t, c, sc)

		frame, err := AppendFrame(nil, c)
		if errors.Is(err, ErrFrameTooLarge) {
			return // JSON escaping can grow a header past the cap
		}
		require.NoError(t, err)
		c2, err := DecodeFrame(frame, 0)
		require.NoError(t, err)
		requireSameCommand(t, c, c2)
		frame2, err := AppendFrame(nil, c2)
		require.NoError(t, err)
		require.Equal(t, frame, frame2, "encoding is deterministic")
	})
}

func FuzzDecodeJSONHeader(f *testing.F) {
	for _, s := range []string{
		goldenRouteJSON,
		`{"code":0,"extFields":{"msgId":"0A00","queueId":"1"},"flag":1,"language":"JAVA","opaque":17,"serializeTypeCurrentRPC":"JSON","version":409}`,
		`{"code":34,"language":9,"remark":null}`, `{"language":"COBOL","extFields":null}`,
		`{"extFields":{"queueId":1,"big":-12.5e3,"ok":true,"no":false,"gone":null}}`,
		`{"remark":"a\u0001b\u0002c\/\"\\\b\f\n\r\t\ud83d\ude00\ud800x"}`,
		"{\"remark\":\"\xff\xfe\"}", `{"x":[1,{"y":[true,null,"s"]},-0.5e+2]}`,
		`{"code":32768}`, `{"code":1.0}`, `{`, ``, `{"a":[[[[[[]]]]]]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Command
		var err error
		n := allocated(func() { err = DecodeJSONHeader(data, &c) })
		require.LessOrEqual(t, n, allocBudget(len(data)), "allocation bounded by input size")
		if err != nil {
			require.ErrorIs(t, err, ErrBadHeader)
			var de *DecodeError
			require.ErrorAs(t, err, &de)
			require.True(t, de.Offset >= 0 && de.Offset <= len(data))
			return
		}
		out := AppendJSONHeader(nil, &c)
		var c2 Command
		require.NoError(t, DecodeJSONHeader(out, &c2), "%q", out)
		require.Equal(t, c, c2)
		require.Equal(t, out, AppendJSONHeader(nil, &c2))
	})
}

func FuzzDecodeRocketMQHeader(f *testing.F) {
	for _, s := range []string{
		"0000 09 013d 00000001 00000001 00000000 0000000e 0007 71756575654964 00000001 30",
		"0000 09 013d 00000001 00000001 00000000 00000006 0000 00000000",
		"0000 09 013d 00000001 00000001 00000003 616263 00000000",
		"0000 09 013d 00000001 00000001 00000000 00000003 0005 6162",
		"0000 09 013d 00000001 00000001 00000000 00000007 0001 61 7fffffff",
		"0000 09 013d 00000001 00000001 ffffffff 00000000", "00",
	} {
		f.Add(mustHex(f, s))
	}
	// Beyond SharedHeaderLimit: every string is copied on its own.
	big, err := AppendRocketMQHeader(nil, &Command{ExtFields: map[string]string{"a": strings.Repeat("v", SharedHeaderLimit), "b": "c"}})
	require.NoError(f, err)
	f.Add(big)
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Command
		var err error
		n := allocated(func() { err = DecodeRocketMQHeader(data, &c) })
		require.LessOrEqual(t, n, allocBudget(len(data)), "allocation bounded by input size")
		if err != nil {
			require.ErrorIs(t, err, ErrBadHeader)
			return
		}
		out, err := AppendRocketMQHeader(nil, &c)
		require.NoError(t, err)
		require.LessOrEqual(t, len(out), len(data), "re-encoding never grows (duplicates collapse)")
		var c2 Command
		require.NoError(t, DecodeRocketMQHeader(out, &c2))
		require.Equal(t, c, c2)
	})
}

// FuzzDecodeJSONHeaderStdlib checks the strings DecodeJSONHeader returns (cut
// from one copy of the input, or decoded from escapes) against encoding/json's
// reading of the same input, wherever both accept it.
func FuzzDecodeJSONHeaderStdlib(f *testing.F) {
	for _, s := range []string{
		goldenRouteJSON,
		`{"code":310,"language":"GO","version":317,"opaque":7,"flag":0,"remark":"","extFields":{"a":"PG","b":"TopicTest","e":"12","g":"1700000000000","i":"KEYS\u0001k1\u0002UNIQ_KEY\u0001AB\u0002","n":"broker-a"}}`,
		`{"remark":"x\ty","extFields":{"k":"v","k":"w","n":12,"t":true,"z":null,"e\u0041":"\ud83d\ude00\ud800"}}`,
		"{\"extFields\":{\"a\":\"\xff\",\"b\":\"plain\"},\"extFields\":{\"c\":\"d\"}}",
		`{ "extFields" : { "a" : "1" , "b" : -2.5e3 } , "remark" : "r" }`,
		// Beyond SharedHeaderLimit: every string is copied on its own.
		`{"remark":"` + strings.Repeat("r", SharedHeaderLimit) + `","extFields":{"k":"v\n","n":7,"l":"` + strings.Repeat("x", 300) + `"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Command
		if DecodeJSONHeader(data, &c) != nil {
			return
		}
		var top map[string]json.RawMessage
		if json.Unmarshal(data, &top) != nil {
			return
		}
		if raw, ok := top["remark"]; ok && len(raw) > 0 && raw[0] == '"' {
			var want string
			require.NoError(t, json.Unmarshal(raw, &want))
			require.Equal(t, want, c.Remark)
		}
		var ext map[string]json.RawMessage
		if raw, ok := top["extFields"]; ok {
			require.NoError(t, json.Unmarshal(raw, &ext))
		}
		want := map[string]string{}
		for k, raw := range ext {
			switch {
			case string(raw) == "null":
			case raw[0] == '"':
				var v string
				require.NoError(t, json.Unmarshal(raw, &v))
				want[k] = v
			default: // numbers and booleans by their text
				want[k] = string(raw)
			}
		}
		require.Equal(t, want, c.ExtFields)
	})
}
