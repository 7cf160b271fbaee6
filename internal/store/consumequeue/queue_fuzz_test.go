package consumequeue

import (
	"bytes"
	"testing"
)

// FuzzConsumeQueueEntry decodes arbitrary bytes as a consume-queue entry: it must
// never panic, must reject short input, and an accepted entry must re-encode to the
// same 20 bytes.
func FuzzConsumeQueueEntry(f *testing.F) {
	var b [EntrySize]byte
	entryAt(3).Encode(b[:])
	f.Add(b[:])
	blankEntry.Encode(b[:])
	f.Add(b[:])
	f.Add(make([]byte, EntrySize))
	f.Add(make([]byte, EntrySize-1))
	f.Add(bytes.Repeat([]byte{0xff}, EntrySize+3))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEntry(data)
		if len(data) < EntrySize {
			if err == nil {
				t.Fatalf("short input %d accepted", len(data))
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		var out [EntrySize]byte
		e.Encode(out[:])
		if !bytes.Equal(out[:], data[:EntrySize]) {
			t.Fatalf("round trip: %x -> %+v -> %x", data[:EntrySize], e, out)
		}
		if e.IsBlank() && !e.Valid() {
			t.Fatalf("blank entry %+v not valid", e)
		}
		_ = e.Valid()
	})
}
