package index

import (
	"bytes"
	"math"
	"testing"

	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/clock"
)

// FuzzDecodeIndex decodes arbitrary bytes as a header and an entry (never panic,
// round trip), then opens them as an index file and queries it: a corrupt file must
// neither panic nor loop.
func FuzzDecodeIndex(f *testing.F) {
	cfg := Config{HashSlots: 3, MaxEntries: 4, WriteBufferEntries: 1}
	size := int(fileSize(cfg.HashSlots, cfg.MaxEntries))
	valid := make([]byte, size)
	Header{BeginTimestamp: 1000, EndTimestamp: 3000, BeginPhys: 1, EndPhys: 3, HashSlotCount: 3, IndexCount: 4}.Encode(valid)
	f.Add(valid)
	f.Add(make([]byte, size))
	f.Add(bytes.Repeat([]byte{0xff}, size))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		if h, err := DecodeHeader(data); err == nil {
			var b [HeaderSize]byte
			h.Encode(b[:])
			h2, _ := DecodeHeader(b[:])
			if h2 != h {
				t.Fatalf("header round trip %+v %+v", h, h2)
			}
		}
		if e, err := DecodeEntry(data); err == nil {
			var b [EntrySize]byte
			e.Encode(b[:])
			if !bytes.Equal(b[:], data[:EntrySize]) {
				t.Fatalf("entry round trip")
			}
		}
		if len(data) > size {
			data = data[:size]
		}
		fsys := vfs.NewMem()
		if err := fsys.MkdirAll("/i", 0o755); err != nil {
			t.Fatal(err)
		}
		w, err := fsys.Create("/i/20240101000000000")
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
		s, err := Open(fsys, "/i", cfg, clock.Real{})
		if err != nil {
			return
		}
		defer s.Close()
		for _, k := range []string{"a", "b", "c", "d"} {
			if _, err := s.Query("T", k, 100, math.MinInt64, math.MaxInt64); err != nil {
				return
			}
		}
	})
}

// FuzzKeyHashParts: hashing a message key's parts (PutMessage) gives the
// hash of the built key (Put, Query), whatever the bytes.
func FuzzKeyHashParts(f *testing.F) {
	f.Add("TopicTest", "key1")
	f.Add("主题", "键😀")
	f.Add("T\xe4\xb8", "\xb8k")
	f.Fuzz(func(t *testing.T, topic, key string) {
		if got, want := keyHash(topic, key), KeyHash(BuildKey(topic, key)); got != want {
			t.Fatalf("keyHash(%q, %q) = %d, KeyHash(BuildKey) = %d", topic, key, got, want)
		}
	})
}
