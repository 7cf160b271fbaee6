package message

import (
	"bytes"
	"testing"
)

func FuzzDecodeMessage(f *testing.F) {
	for _, v6 := range []bool{false, true} {
		rec, _ := AppendRecord(nil, sampleExt(v6))
		f.Add(rec)
	}
	empty, _ := AppendRecord(nil, &MessageExt{})
	f.Add(empty)
	f.Add(AppendBlank(nil, 8))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, n, err := DecodeMessage(b)
		if err != nil {
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("used %d of %d bytes", n, len(b))
		}
		// Accepted input round-trips through the encoder to a record that decodes to
		// the same message (the property string may be normalised).
		enc, err := AppendRecord(nil, m)
		if err != nil {
			return // e.g. a decoded topic longer than the encoder allows
		}
		m2, n2, err := DecodeMessage(enc)
		if err != nil || n2 != len(enc) {
			t.Fatalf("re-decode: %v", err)
		}
		m.StoreSize, m2.StoreSize = 0, 0
		if m.Topic != m2.Topic || !bytes.Equal(m.Body, m2.Body) || m.PhysOffset != m2.PhysOffset ||
			m.BornHost != m2.BornHost || m.StoreHost != m2.StoreHost || len(m.Properties) != len(m2.Properties) {
			t.Fatalf("round trip differs:\n%+v\n%+v", m, m2)
		}
	})
}

func FuzzDecodeBatch(f *testing.F) {
	enc, _ := AppendBatch(nil, []*Message{{Flag: 1, Body: []byte("x"), Properties: map[string]string{"TAGS": "a"}}, {}})
	f.Add(enc)
	f.Add([]byte{})
	f.Add(make([]byte, 22))
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, err := DecodeBatch(b)
		if err != nil {
			return
		}
		enc, err := AppendBatch(nil, msgs)
		if err != nil {
			return
		}
		msgs2, err := DecodeBatch(enc)
		if err != nil || len(msgs2) != len(msgs) {
			t.Fatalf("re-decode: %v", err)
		}
		for i := range msgs {
			if msgs[i].Flag != msgs2[i].Flag || !bytes.Equal(msgs[i].Body, msgs2[i].Body) || len(msgs[i].Properties) != len(msgs2[i].Properties) {
				t.Fatalf("message %d differs", i)
			}
		}
	})
}

func FuzzDecodeProperties(f *testing.F) {
	f.Add([]byte("a\x01b\x02c\x01d"))
	f.Add([]byte("a\x01b\x02"))
	f.Add([]byte("\x01\x02\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m := DecodeProperties(b)
		if len(m) > len(b)/2+1 {
			t.Fatalf("%d properties from %d bytes", len(m), len(b))
		}
		enc, err := AppendProperties(nil, m)
		if err != nil {
			if len(b) <= MaxPropertiesLength {
				t.Fatalf("decoded properties do not re-encode: %v", err)
			}
			return
		}
		m2 := DecodeProperties(enc)
		if len(m2) != len(m) {
			t.Fatalf("round trip: %d vs %d", len(m2), len(m))
		}
		for k, v := range m {
			if m2[k] != v {
				t.Fatalf("round trip: %q: %q vs %q", k, m2[k], v)
			}
			if got, ok := LookupProperty(b, k); !ok || string(got) != v {
				t.Fatalf("LookupProperty(%q) = %q, %v; want %q", k, got, ok, v)
			}
		}
	})
}
