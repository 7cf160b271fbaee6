package protocol

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "").Replace(s))
	require.NoError(t, err)
	return b
}

// requireSameCommand compares two commands, treating nil and empty maps and bodies
// as equal.
func requireSameCommand(t testing.TB, want, got *Command) {
	t.Helper()
	norm := func(c *Command) Command {
		n := *c
		if len(n.ExtFields) == 0 {
			n.ExtFields = nil
		}
		if len(n.Body) == 0 {
			n.Body = nil
		}
		return n
	}
	require.Equal(t, norm(want), norm(got))
}

const goldenRouteJSON = `{"code":105,"language":"GO","version":317,"opaque":1,"flag":0,"remark":"","extFields":{"topic":"T"}}`

func TestGoldenJSONRouteRequest(t *testing.T) {
	t.Parallel()
	cmd := &Command{Code: int16(GetRouteInfoByTopic), Language: LanguageGo, Version: 317, Opaque: 1,
		ExtFields: map[string]string{"topic": "T"}}

	frame, err := AppendFrame(nil, cmd)
	require.NoError(t, err)
	require.Len(t, goldenRouteJSON, 100)
	require.Equal(t, append(mustHex(t, "00000068 00000064"), goldenRouteJSON...), frame)

	got, err := DecodeFrame(frame, 0)
	require.NoError(t, err)
	requireSameCommand(t, cmd, got)
}

func TestGoldenRocketMQResponse(t *testing.T) {
	t.Parallel()
	header := mustHex(t, "0000 09 013d 00000001 00000001 00000000 0000000e 0007 71756575654964 00000001 30")
	require.Len(t, header, 35)
	cmd := &Command{Code: int16(Success), Language: LanguageGo, Version: 317, Opaque: 1, Flag: FlagResponse,
		ExtFields: map[string]string{"queueId": "0"}, Serialize: SerializeRocketMQ}

	frame, err := AppendFrame(nil, cmd)
	require.NoError(t, err)
	require.Equal(t, append(mustHex(t, "00000027 01000023"), header...), frame)

	got, err := DecodeFrame(frame, 0)
	require.NoError(t, err)
	requireSameCommand(t, cmd, got)
	require.True(t, got.IsResponse())
}

func sampleCommands() []*Command {
	return []*Command{
		{},
		{Code: -32768, Version: 32767, Opaque: -2147483648, Flag: 2147483647, Language: LanguageRust},
		{Code: int16(SendMessage), Language: LanguageJava, Version: 409, Opaque: 7, Remark: "héllo \"q\" \\ \n\t\x00\x7f",
			ExtFields: map[string]string{
				"properties": "KEYS\x01k1\x02TAGS\x01t\x02UNIQ_KEY\x01abc\x02",
				"":           "",
				"ünï":        "日本語 😀",
				"queueId":    "1",
			}, Body: []byte("message body")},
		{Code: 999, Language: 200, Body: bytes.Repeat([]byte{0xAB}, 70000)},
	}
}

func TestRoundTripBothSerializations(t *testing.T) {
	t.Parallel()
	for _, st := range []SerializeType{SerializeJSON, SerializeRocketMQ} {
		for i, c := range sampleCommands() {
			c := *c
			c.Serialize = st
			frame, err := AppendFrame([]byte("prefix"), &c)
			require.NoError(t, err, "%s #%d", st, i)
			require.Equal(t, "prefix", string(frame[:6]))
			got, err := DecodeFrame(frame[6:], 0)
			require.NoError(t, err, "%s #%d", st, i)
			requireSameCommand(t, &c, got)

			// The stream reader sees the same command.
			fr := NewFrameReader(bytes.NewReader(frame[6:]), 0)
			got, err = fr.Read()
			require.NoError(t, err)
			requireSameCommand(t, &c, got)
			_, err = fr.Read()
			require.ErrorIs(t, err, io.EOF)
		}
	}
}

func TestJSONHeaderIsValidJSONForStrictReaders(t *testing.T) {
	t.Parallel()
	c := sampleCommands()[2]
	c.Remark += "\xff\xfe bad utf8"
	hdr := AppendJSONHeader(nil, c)
	require.True(t, json.Valid(hdr), "%s", hdr)
	require.Contains(t, string(hdr), `KEYS\u0001k1\u0002TAGS`)

	// What the Go client does: decode extFields into map[string]string.
	var std struct {
		Code      int16             `json:"code"`
		Language  string            `json:"language"`
		Version   int16             `json:"version"`
		Opaque    int32             `json:"opaque"`
		Flag      int32             `json:"flag"`
		Remark    string            `json:"remark"`
		ExtFields map[string]string `json:"extFields"`
	}
	require.NoError(t, json.Unmarshal(hdr, &std))
	require.Equal(t, c.ExtFields, std.ExtFields)
	require.Equal(t, "JAVA", std.Language)
	require.Equal(t, strings.Replace(c.Remark, "\xff\xfe", "\uFFFD\uFFFD", 1), std.Remark)
}

func TestDecodeJSONHeaderAccepts(t *testing.T) {
	t.Parallel()
	f := func(in string, want Command) {
		t.Helper()
		var got Command
		require.NoError(t, DecodeJSONHeader([]byte(in), &got), in)
		if want.ExtFields == nil {
			want.ExtFields = map[string]string{}
		}
		want.Serialize = SerializeJSON
		require.Equal(t, want, got, in)
	}
	// Java (fastjson) response: alphabetical keys, serializeTypeCurrentRPC, no remark.
	f(`{"code":0,"extFields":{"msgId":"0A00","queueId":"1","queueOffset":"42","TRACE_ON":"true"},"flag":1,"language":"JAVA","opaque":17,"serializeTypeCurrentRPC":"JSON","version":409}`,
		Command{Flag: 1, Language: LanguageJava, Opaque: 17, Version: 409,
			ExtFields: map[string]string{"msgId": "0A00", "queueId": "1", "queueOffset": "42", "TRACE_ON": "true"}})
	// Language as a number, as an unknown name, missing; remark null; no extFields.
	f(`{"code":34,"language":9,"remark":null}`, Command{Code: 34, Language: LanguageGo})
	f(`{"code":34,"language":"COBOL"}`, Command{Code: 34, Language: LanguageOther})
	f(`{"language":300}`, Command{Language: LanguageOther})
	f(`{"language":1.5}`, Command{Language: LanguageOther})
	f(`{"language":null,"extFields":null,"code":null}`, Command{})
	// Lenient extFields: numbers and booleans by their text, null drops the key.
	f(`{"extFields":{"queueId":1,"big":-12.5e3,"ok":true,"no":false,"gone":null}}`,
		Command{ExtFields: map[string]string{"queueId": "1", "big": "-12.5e3", "ok": "true", "no": "false"}})
	// Escapes: control characters, surrogate pairs, lone surrogates, \/.
	f(`{"remark":"a\u0001b\u0002c\/\"\\\b\f\n\r\t\ud83d\ude00\ud800x"}`,
		Command{Remark: "a\x01b\x02c/\"\\\b\f\n\r\t😀\uFFFDx"})
	// Escaped keys and invalid UTF-8 in a raw string.
	f("{\"ext\\u0046ields\":{\"k\\u00e9\":\"v\xff\"}}", Command{ExtFields: map[string]string{"ké": "v\uFFFD"}})
	// Unknown keys with nested values, whitespace everywhere, extremes of int16/int32.
	f(" {\n\"x\" : [1, {\"y\":[true,null,\"s\"]}, -0.5e+2] , \"code\" : -32768 , \"version\":32767,\"opaque\":-2147483648,\"flag\":2147483647 } \n",
		Command{Code: -32768, Version: 32767, Opaque: -2147483648, Flag: 2147483647})
	// A repeated key keeps its last value.
	f(`{"code":1,"code":2}`, Command{Code: 2})
	// So does a repeated extFields: the last object replaces, it does not merge.
	f(`{"extFields":{"a":"1"},"extFields":{"b":"2"}}`, Command{ExtFields: map[string]string{"b": "2"}})
	f(`{"extFields":{"a":"1"},"extFields":null}`, Command{})
}

func TestDecodeJSONHeaderRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		``, `null`, `[]`, `{`, `{"code":1`, `{"code":1,}`, `{"code" 1}`, `{code:1}`,
		`{"code":32768}`, `{"code":-32769}`, `{"version":40000}`, `{"opaque":2147483648}`,
		`{"flag":-2147483649}`, `{"code":99999999999999999999}`, `{"code":1.0}`, `{"code":1e2}`, `{"code":"1"}`,
		`{"code":01}`, `{"code":-}`, `{"code":1.}`, `{"code":1e}`, `{"code":true}`,
		`{"remark":1}`, `{"remark":"abc`, "{\"remark\":\"a\x01\"}", `{"remark":"\x"}`, `{"remark":"\u12"}`,
		`{"remark":"\`, `{"language":true}`, `{"language":{}}`,
		`{"extFields":1}`, `{"extFields":{"a":{}}}`, `{"extFields":{"a":[]}}`, `{"extFields":{1:2}}`,
		`{"extFields":{"a":tru}}`, `{} x`, `{}{}`, `{"x":[1 2]}`, `{"x":nul}`,
		// A NUL byte is not the end of the input: trailing bytes after it are rejected.
		"{\"code\":1}\x00", "{\"code\":1}\x00garbage", "{\"code\":1} \x00{}",
		`{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
	} {
		var c Command
		err := DecodeJSONHeader([]byte(in), &c)
		require.Error(t, err, "%q", in)
		require.ErrorIs(t, err, ErrBadHeader, "%q", in)
		require.ErrorIs(t, err, ErrMalformed, "%q", in)
		var de *DecodeError
		require.ErrorAs(t, err, &de)
		require.GreaterOrEqual(t, de.Offset, 0)
		require.LessOrEqual(t, de.Offset, len(in))
	}
}

func TestDecodeRocketMQHeaderRejects(t *testing.T) {
	t.Parallel()
	valid := mustHex(t, "0000 09 013d 00000001 00000001 00000000 0000000e 0007 71756575654964 00000001 30")
	for name, in := range map[string][]byte{
		"empty":            nil,
		"short fixed":      valid[:20],
		"remark too long":  mustHex(t, "0000 09 013d 00000001 00000001 00000005 00000000"),
		"negative remark":  mustHex(t, "0000 09 013d 00000001 00000001 ffffffff 00000000"),
		"ext too long":     mustHex(t, "0000 09 013d 00000001 00000001 00000000 00000001"),
		"ext negative":     mustHex(t, "0000 09 013d 00000001 00000001 00000000 80000000"),
		"trailing":         append(append([]byte{}, valid...), 0),
		"key too long":     mustHex(t, "0000 09 013d 00000001 00000001 00000000 00000003 0005 6162"),
		"key negative":     mustHex(t, "0000 09 013d 00000001 00000001 00000000 00000002 8000"),
		"key len cut":      mustHex(t, "0000 09 013d 00000001 00000001 00000000 00000001 00"),
		"value len cut":    mustHex(t, "0000 09 013d 00000001 00000001 00000000 00000005 0001 61 0000"),
		"value too long":   mustHex(t, "0000 09 013d 00000001 00000001 00000000 00000008 0001 61 00000002 30"),
		"value negative":   mustHex(t, "0000 09 013d 00000001 00000001 00000000 00000007 0001 61 ffffffff"),
		"huge value claim": mustHex(t, "0000 09 013d 00000001 00000001 00000000 00000007 0001 61 7fffffff"),
	} {
		var c Command
		err := DecodeRocketMQHeader(in, &c)
		require.ErrorIs(t, err, ErrBadHeader, name)
		require.ErrorIs(t, err, ErrMalformed, name)
	}
	// Empty key and value survive.
	var c Command
	require.NoError(t, DecodeRocketMQHeader(mustHex(t, "0000 09 013d 00000001 00000001 00000000 00000006 0000 00000000"), &c))
	require.Equal(t, map[string]string{"": ""}, c.ExtFields)
}

func TestAppendRocketMQHeaderRejectsLongKey(t *testing.T) {
	t.Parallel()
	c := &Command{Serialize: SerializeRocketMQ, ExtFields: map[string]string{strings.Repeat("k", 40000): "v"}}
	out, err := AppendFrame([]byte("x"), c)
	require.ErrorIs(t, err, ErrBadHeader)
	require.Equal(t, "x", string(out))
}

func TestAppendFrameRejects(t *testing.T) {
	t.Parallel()
	_, err := AppendFrame(nil, &Command{Serialize: 7})
	require.ErrorIs(t, err, ErrUnknownSerializeType)
	_, err = AppendFrame(nil, &Command{Remark: strings.Repeat("r", MaxHeaderSize)})
	require.ErrorIs(t, err, ErrBadHeader, "remark over RemarkSizeLimit")
	// Within the extFields limit, but JSON escapes make the header over 1 MiB.
	_, err = AppendFrame(nil, &Command{ExtFields: map[string]string{"k": strings.Repeat("\x01", 200<<10)}})
	require.ErrorIs(t, err, ErrFrameTooLarge)
}

func TestDecodeFrameRejects(t *testing.T) {
	t.Parallel()
	f := func(name string, frame []byte, max int, kind error) {
		t.Helper()
		_, err := DecodeFrame(frame, max)
		require.ErrorIs(t, err, kind, name)
		require.ErrorIs(t, err, ErrMalformed, name)

		// The stream reader reports the same error for the length checks, or
		// after reading the payload for the rest.
		_, err = NewFrameReader(bytes.NewReader(frame), max).Read()
		if len(frame) >= 4 {
			require.ErrorIs(t, err, kind, name)
		}
	}
	f("no length", []byte{0, 0}, 0, ErrBadFrame)
	f("length 0", mustHex(t, "00000000"), 0, ErrBadFrame)
	f("length 3", mustHex(t, "00000003 000000"), 0, ErrBadFrame)
	f("negative length", mustHex(t, "ffffffff 00000000"), 0, ErrBadFrame)
	f("2 GiB", mustHex(t, "7fffffff 00000000"), 0, ErrFrameTooLarge)
	f("over cap", mustHex(t, "00000009 00000000 7b7d 0000 00"), 8, ErrFrameTooLarge)
	f("header longer than frame", mustHex(t, "00000006 00000003 7b7d"), 0, ErrBadFrame)
	f("unknown serialize type", mustHex(t, "00000006 02000002 7b7d"), 0, ErrUnknownSerializeType)
	f("truncated json", mustHex(t, "00000006 00000002 7b22"), 0, ErrBadHeader)

	_, err := DecodeFrame(mustHex(t, "00000006 00000002 7b7d 00"), 0)
	require.ErrorIs(t, err, ErrBadFrame, "trailing byte")
	_, err = DecodeFrame(mustHex(t, "00000006 00000002 7b"), 0)
	require.ErrorIs(t, err, ErrBadFrame, "short frame")

	// At the cap exactly is fine.
	c, err := DecodeFrame(mustHex(t, "00000008 00000002 7b7d 0102"), 8)
	require.NoError(t, err)
	require.Equal(t, []byte{1, 2}, c.Body)
}

func TestFrameReaderTruncated(t *testing.T) {
	t.Parallel()
	frame, err := AppendFrame(nil, sampleCommands()[3])
	require.NoError(t, err)
	for _, n := range []int{1, 3, 4, 7, 8, 100, 65536 + 8, len(frame) - 1} {
		_, err := NewFrameReader(bytes.NewReader(frame[:n]), 0).Read()
		require.ErrorIs(t, err, io.ErrUnexpectedEOF, "cut at %d", n)
	}
}

// A peer that announces 16 MiB and sends 10 bytes must cost about one read chunk.
func TestFrameReaderMemoryFollowsReceivedBytes(t *testing.T) {
	in := append(mustHex(t, "01000000 00000002 7b7d"), make([]byte, 10)...)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := NewFrameReader(bytes.NewReader(in), DefaultMaxFrameSize).ReadPayload()
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(2*readChunk))

	// A frame that does arrive in full is read whole and correctly.
	body := bytes.Repeat([]byte("0123456789"), 300_000) // 3 MB
	frame, err := AppendFrame(nil, &Command{Code: 1, Body: body})
	require.NoError(t, err)
	c, err := NewFrameReader(io.MultiReader(bytes.NewReader(frame[:100]), bytes.NewReader(frame[100:])), 0).Read()
	require.NoError(t, err)
	require.Equal(t, body, c.Body)
}

func TestDecodeErrorMessage(t *testing.T) {
	t.Parallel()
	var c Command
	err := DecodeJSONHeader([]byte(`{"code":70000}`), &c)
	require.EqualError(t, err, "protocol: bad header (JSON): integer 70000 out of range at offset 8")
	require.False(t, errors.Is(err, ErrBadFrame))
	_, err = DecodeFrame(mustHex(t, "7fffffff"), 0)
	require.EqualError(t, err, "protocol: frame too large: length field 2147483647 exceeds limit 16777216")
}

func TestDecodeDoesNotAliasHeaderStrings(t *testing.T) {
	t.Parallel()
	frame, err := AppendFrame(nil, &Command{Remark: "abc", ExtFields: map[string]string{"k": "v"}, Body: []byte("b")})
	require.NoError(t, err)
	c, err := DecodeFrame(frame, 0)
	require.NoError(t, err)
	want := maps.Clone(c.ExtFields)
	for i := 8; i < len(frame)-1; i++ {
		frame[i] = 'X'
	}
	require.Equal(t, "abc", c.Remark)
	require.Equal(t, want, c.ExtFields)
	require.Equal(t, []byte("b"), c.Body) // the body aliases the frame, by contract
}

// A header of many tiny distinct extFields entries would cost about ten times its
// size in map memory (a 16 MiB frame became 167 MB of heap), and a queued request
// keeps it. Both decoders cap the entry count, and AppendFrame refuses to write
// what the peer would refuse to read.
func TestExtFieldsCountIsCapped(t *testing.T) {
	t.Parallel()
	ext := func(n int) map[string]string {
		m := make(map[string]string, n)
		for i := range n {
			m[strconv.Itoa(i)] = ""
		}
		return m
	}
	for _, st := range []SerializeType{SerializeJSON, SerializeRocketMQ} {
		ok := &Command{Serialize: st, ExtFields: ext(MaxExtFields)}
		frame, err := AppendFrame(nil, ok)
		require.NoError(t, err, st)
		got, err := DecodeFrame(frame, 0)
		require.NoError(t, err, st)
		require.Len(t, got.ExtFields, MaxExtFields)

		tooMany := &Command{Serialize: st, ExtFields: ext(MaxExtFields + 1)}
		_, err = AppendFrame(nil, tooMany)
		require.ErrorIs(t, err, ErrBadHeader, st)

		// Hand-encode the oversize header, as a hostile peer would.
		var hdr []byte
		if st == SerializeJSON {
			hdr = AppendJSONHeader(nil, tooMany)
			err = DecodeJSONHeader(hdr, &Command{})
		} else {
			tooMany.ExtFields = ext(MaxExtFields)
			hdr, err = AppendRocketMQHeader(nil, tooMany)
			require.NoError(t, err)
			// One more entry: key "x", empty value; patch the block length.
			hdr = append(hdr, 0, 1, 'x', 0, 0, 0, 0)
			extLen := binary.BigEndian.Uint32(hdr[17:])
			binary.BigEndian.PutUint32(hdr[17:], extLen+7)
			err = DecodeRocketMQHeader(hdr, &Command{})
		}
		require.ErrorIs(t, err, ErrBadHeader, st)
		require.ErrorIs(t, err, ErrMalformed, st)
	}
	// Repeated keys do not count twice.
	var c Command
	in := `{"extFields":{` + strings.Repeat(`"k":"v",`, 2*MaxExtFields) + `"k":"w"}}`
	require.NoError(t, DecodeJSONHeader([]byte(in), &c))
	require.Equal(t, map[string]string{"k": "w"}, c.ExtFields)
}
