package message

import (
	"strconv"
	"testing"
)

func benchExt(size int) *MessageExt {
	m := sampleExt(false)
	m.Body = make([]byte, size)
	return m
}

func BenchmarkAppendRecord(b *testing.B) {
	for _, size := range []int{128, 1024, 16 << 10} {
		b.Run(sizeName(size), func(b *testing.B) {
			m := benchExt(size)
			buf := make([]byte, 0, size+512)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				var err error
				if buf, err = AppendRecord(buf[:0], m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseRecord(b *testing.B) {
	for _, size := range []int{128, 1024, 16 << 10} {
		b.Run(sizeName(size), func(b *testing.B) {
			rec, _ := AppendRecord(nil, benchExt(size))
			var v RecordView
			b.ReportAllocs()
			b.SetBytes(int64(len(rec)))
			for b.Loop() {
				if err := ParseRecord(rec, &v); err != nil {
					b.Fatal(err)
				}
				if err := v.CheckCRC(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeMessage(b *testing.B) {
	rec, _ := AppendRecord(nil, benchExt(1024))
	b.ReportAllocs()
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		if _, _, err := DecodeMessage(rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeBatch(b *testing.B) {
	msgs := make([]*Message, 32)
	for i := range msgs {
		msgs[i] = &Message{Body: make([]byte, 256), Properties: map[string]string{PropertyTags: "t", PropertyUniqKey: "0A00000200002A9F0000000000001234"}}
	}
	enc, _ := AppendBatch(nil, msgs)
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := DecodeBatch(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func sizeName(n int) string {
	if n >= 1<<10 && n%(1<<10) == 0 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

// benchProps is a send's property string from the Go client: keys, a unique
// key, WAIT and a tag, with the trailing separator.
const benchProps = "KEYS\x01order-42\x02UNIQ_KEY\x017F0000010001ABCDEF0123456789\x02WAIT\x01true\x02TAGS\x01TagA\x02"

func BenchmarkDecodeProperties(b *testing.B) {
	in := []byte(benchProps)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if m := DecodeProperties(in); len(m) != 4 {
			b.Fatal(m)
		}
	}
}

func BenchmarkDecodePropertiesString(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchProps)))
	for b.Loop() {
		if m := DecodePropertiesString(benchProps); len(m) != 4 {
			b.Fatal(m)
		}
	}
}
