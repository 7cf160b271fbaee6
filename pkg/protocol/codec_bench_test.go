package protocol

import (
	"bytes"
	"encoding/json"
	"testing"
)

// benchSendRequest is a typical SEND_MESSAGE_V2 request from the Go client: short
// header names, properties with 0x01/0x02 separators, a 1 KiB body.
func benchSendRequest(st SerializeType) *Command {
	return &Command{
		Code: int16(SendMessageV2), Language: LanguageGo, Version: 317, Opaque: 123456, Serialize: st,
		ExtFields: map[string]string{
			"a": "ProducerGroupName", "b": "BenchmarkTopic", "c": "TBW102", "d": "4", "e": "3",
			"f": "0", "g": "1700000000000", "h": "0", "i": "KEYS\x01order-42\x02UNIQ_KEY\x017F0000010001ABCDEF0123456789\x02WAIT\x01true\x02TAGS\x01TagA\x02",
			"j": "0", "k": "false", "m": "false", "n": "broker-a",
		},
		Body: bytes.Repeat([]byte("x"), 1024),
	}
}

func BenchmarkAppendJSONHeader(b *testing.B) {
	c := benchSendRequest(SerializeJSON)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendJSONHeader(buf[:0], c)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkAppendJSONHeaderStdlib is the reflection-based baseline the hand-written
// writer replaces.
func BenchmarkAppendJSONHeaderStdlib(b *testing.B) {
	c := benchSendRequest(SerializeJSON)
	type hdr struct {
		Code      int16             `json:"code"`
		Language  string            `json:"language"`
		Version   int16             `json:"version"`
		Opaque    int32             `json:"opaque"`
		Flag      int32             `json:"flag"`
		Remark    string            `json:"remark"`
		ExtFields map[string]string `json:"extFields"`
	}
	h := hdr{c.Code, c.Language.String(), c.Version, c.Opaque, c.Flag, c.Remark, c.ExtFields}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(&h); err != nil {
			b.Fatal(err)
		}
	}
}

func benchEncode(b *testing.B, st SerializeType) {
	c := benchSendRequest(st)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendFrame(buf[:0], c); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func benchDecode(b *testing.B, st SerializeType) {
	frame, err := AppendFrame(nil, benchSendRequest(st))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeFrame(frame, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeFrameJSON(b *testing.B)     { benchEncode(b, SerializeJSON) }
func BenchmarkEncodeFrameRocketMQ(b *testing.B) { benchEncode(b, SerializeRocketMQ) }
func BenchmarkDecodeFrameJSON(b *testing.B)     { benchDecode(b, SerializeJSON) }
func BenchmarkDecodeFrameRocketMQ(b *testing.B) { benchDecode(b, SerializeRocketMQ) }
