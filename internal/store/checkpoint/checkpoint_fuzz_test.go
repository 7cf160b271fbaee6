package checkpoint

import (
	"bytes"
	"testing"
)

// FuzzDecodeCheckpoint: Decode never panics, and whatever it accepts re-encodes to
// an image that decodes to the same values.
func FuzzDecodeCheckpoint(f *testing.F) {
	f.Add(Encode(Values{1, 2, 3}))
	f.Add(rocketMQFile(1_700_000_000_000, 1_700_000_000_000, 0))
	f.Add(make([]byte, 24))
	f.Add([]byte{1, 2, 3})
	f.Add(bytes.Repeat([]byte{0xff}, FileSize))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Decode(data)
		if err != nil {
			return
		}
		v2, err := Decode(Encode(v))
		if err != nil || v2 != v {
			t.Fatalf("round trip %+v -> %+v, %v", v, v2, err)
		}
	})
}
