package consumequeue

import (
	"testing"

	"github.com/petrelmq/petrel/internal/vfs"
)

// BenchmarkAppend measures Append with the default configuration (300,000 entries
// per file, 256-entry write buffer); no fsync.
func BenchmarkAppend(b *testing.B) {
	q, err := Open(vfs.OS, b.TempDir(), DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	b.ReportAllocs()
	b.SetBytes(EntrySize)
	var off queueOffset
	for b.Loop() {
		if err := q.Append(off, physOffset(off)*100, 100, int64(off)); err != nil {
			b.Fatal(err)
		}
		off++
	}
}

func benchQueue(b *testing.B, n queueOffset) *Queue {
	b.Helper()
	q, err := Open(vfs.OS, b.TempDir(), DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	for off := queueOffset(0); off < n; off++ {
		if err := q.Append(off, physOffset(off)*100, 100, int64(off)); err != nil {
			b.Fatal(err)
		}
	}
	if err := q.Flush(); err != nil {
		b.Fatal(err)
	}
	return q
}

// BenchmarkGet measures one-entry lookups by queue offset over 1,000,000 entries
// (4 files) in the page cache. One op = one entry.
func BenchmarkGet(b *testing.B) {
	const n = 1_000_000
	q := benchQueue(b, n)
	defer q.Close()
	b.ReportAllocs()
	var off queueOffset
	for b.Loop() {
		if _, err := q.Get(off); err != nil {
			b.Fatal(err)
		}
		off = (off + 7919) % n
	}
}

// BenchmarkRead32 measures batch reads of 32 entries (a pull of 32 messages). One op
// = 32 entries; entries/s = 32e9 / (ns/op).
func BenchmarkRead32(b *testing.B) {
	const n = 1_000_000
	q := benchQueue(b, n)
	defer q.Close()
	buf := make([]Entry, 32)
	b.ReportAllocs()
	b.SetBytes(32 * EntrySize)
	var off queueOffset
	for b.Loop() {
		if _, err := q.Read(off, 32, buf); err != nil {
			b.Fatal(err)
		}
		off = (off + 7919) % (n - 32)
	}
}
