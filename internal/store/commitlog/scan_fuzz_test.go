package commitlog

import (
	"testing"

	"github.com/petrelmq/petrel/pkg/message"
)

func FuzzScanSegment(f *testing.F) {
	var seg []byte
	for i := range 5 {
		rec, err := recordBytes(i, 20+i*10)
		if err != nil {
			f.Fatal(err)
		}
		message.SetPhysOffset(rec, message.PhysOffset(len(seg)))
		seg = append(seg, rec...)
	}
	f.Add(seg)
	f.Add(append(append([]byte(nil), seg...), message.AppendBlank(nil, 8)...))
	f.Add(seg[:len(seg)-3])
	f.Add([]byte{})
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, data []byte) {
		var offs []message.PhysOffset
		res, err := ScanSegment(data, 0, 1<<20, func(off message.PhysOffset, rec []byte) error {
			if int(off)+len(rec) > len(data) {
				t.Fatalf("record [%d,+%d) beyond %d bytes", off, len(rec), len(data))
			}
			offs = append(offs, off)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if int(res.End) > len(data) {
			t.Fatalf("end %d beyond %d bytes", res.End, len(data))
		}
		// Re-scanning the valid prefix gives the same records and no error.
		var again []message.PhysOffset
		res2, err := ScanSegment(data[:res.End], 0, 1<<20, func(off message.PhysOffset, _ []byte) error {
			again = append(again, off)
			return nil
		})
		if err != nil || res2.Bad || res2.End != res.End || len(again) != len(offs) {
			t.Fatalf("re-scan differs: %+v %v vs %+v (%d vs %d records)", res2, err, res, len(again), len(offs))
		}
	})
}
