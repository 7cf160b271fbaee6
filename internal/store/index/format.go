package index

import (
	"encoding/binary"
	"errors"
	"math"
	"unicode/utf16"

	"github.com/petrelmq/petrel/pkg/message"
)

// On-disk format of an index file. Part of the on-disk format; never change.
const (
	// HeaderSize is the size of the file header.
	HeaderSize = 40
	// SlotSize is the size of one hash slot (int32 index number, 0 = empty).
	SlotSize = 4
	// EntrySize is the size of one index entry.
	EntrySize = 20
	// DefaultHashSlots is RocketMQ's maxHashSlotNum.
	DefaultHashSlots = 5_000_000
	// DefaultMaxEntries is RocketMQ's maxIndexNum. Entry number 0 is never used,
	// so a file holds DefaultMaxEntries-1 entries.
	DefaultMaxEntries = 20_000_000

	// Header field offsets (big-endian).
	hdrBeginTimestamp = 0  // int64 ms, store time of the first entry
	hdrEndTimestamp   = 8  // int64 ms, store time of the last entry
	hdrBeginPhys      = 16 // int64, commit-log offset of the first entry
	hdrEndPhys        = 24 // int64, commit-log offset of the last entry
	hdrHashSlotCount  = 32 // int32, number of puts (RocketMQ counts puts, not slots)
	hdrIndexCount     = 36 // int32, next entry number (starts at 1)

	// Entry field offsets (big-endian).
	entKeyHash  = 0  // int32
	entPhys     = 4  // int64
	entTimeDiff = 12 // int32, seconds since the header's begin timestamp
	entPrev     = 16 // int32, previous entry number in the slot's chain, 0 = none
)

// fileSize returns the size of an index file with the given geometry.
func fileSize(slots, maxEntries int) int64 {
	return HeaderSize + int64(slots)*SlotSize + int64(maxEntries)*EntrySize
}

// Header is the 40-byte header of an index file.
type Header struct {
	BeginTimestamp int64 // ms
	EndTimestamp   int64 // ms
	BeginPhys      message.PhysOffset
	EndPhys        message.PhysOffset
	HashSlotCount  int32
	IndexCount     int32 // next entry number; entries are 1..IndexCount-1
}

// ErrShort is returned by the decoders for input shorter than the structure.
var ErrShort = errors.New("index: short input")

// DecodeHeader decodes a header. Like RocketMQ it reads an IndexCount <= 0 as 1
// (a file that was created but never written has zeros).
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, ErrShort
	}
	be := binary.BigEndian
	h := Header{
		BeginTimestamp: int64(be.Uint64(b[hdrBeginTimestamp:])),
		EndTimestamp:   int64(be.Uint64(b[hdrEndTimestamp:])),
		BeginPhys:      message.PhysOffset(be.Uint64(b[hdrBeginPhys:])),
		EndPhys:        message.PhysOffset(be.Uint64(b[hdrEndPhys:])),
		HashSlotCount:  int32(be.Uint32(b[hdrHashSlotCount:])),
		IndexCount:     int32(be.Uint32(b[hdrIndexCount:])),
	}
	if h.IndexCount <= 0 {
		h.IndexCount = 1
	}
	return h, nil
}

// Encode writes h into the first HeaderSize bytes of b.
func (h Header) Encode(b []byte) {
	_ = b[HeaderSize-1]
	be := binary.BigEndian
	be.PutUint64(b[hdrBeginTimestamp:], uint64(h.BeginTimestamp))
	be.PutUint64(b[hdrEndTimestamp:], uint64(h.EndTimestamp))
	be.PutUint64(b[hdrBeginPhys:], uint64(h.BeginPhys))
	be.PutUint64(b[hdrEndPhys:], uint64(h.EndPhys))
	be.PutUint32(b[hdrHashSlotCount:], uint32(h.HashSlotCount))
	be.PutUint32(b[hdrIndexCount:], uint32(h.IndexCount))
}

// timeMatched is RocketMQ's IndexFile.isTimeMatched: the file's time range
// [BeginTimestamp, EndTimestamp] and [begin, end] overlap.
func (h Header) timeMatched(begin, end int64) bool {
	return (begin < h.BeginTimestamp && end > h.EndTimestamp) ||
		(begin >= h.BeginTimestamp && begin <= h.EndTimestamp) ||
		(end >= h.BeginTimestamp && end <= h.EndTimestamp)
}

// Entry is one index entry.
type Entry struct {
	KeyHash  int32
	Phys     message.PhysOffset
	TimeDiff int32 // seconds since the file's BeginTimestamp
	Prev     int32 // previous entry number in the chain; 0 = none
}

// DecodeEntry decodes the first EntrySize bytes of b.
func DecodeEntry(b []byte) (Entry, error) {
	if len(b) < EntrySize {
		return Entry{}, ErrShort
	}
	return decodeEntry(b), nil
}

func decodeEntry(b []byte) Entry {
	_ = b[EntrySize-1]
	be := binary.BigEndian
	return Entry{
		KeyHash:  int32(be.Uint32(b[entKeyHash:])),
		Phys:     message.PhysOffset(be.Uint64(b[entPhys:])),
		TimeDiff: int32(be.Uint32(b[entTimeDiff:])),
		Prev:     int32(be.Uint32(b[entPrev:])),
	}
}

// Encode writes e into the first EntrySize bytes of b.
func (e Entry) Encode(b []byte) {
	_ = b[EntrySize-1]
	be := binary.BigEndian
	be.PutUint32(b[entKeyHash:], uint32(e.KeyHash))
	be.PutUint64(b[entPhys:], uint64(e.Phys))
	be.PutUint32(b[entTimeDiff:], uint32(e.TimeDiff))
	be.PutUint32(b[entPrev:], uint32(e.Prev))
}

// KeyHash is RocketMQ's indexKeyHashMethod: |String.hashCode(key)| over UTF-16,
// with Math.abs(MinInt32) (still negative) mapped to 0.
func KeyHash(key string) int32 {
	return absHash(int32(message.TagsHashCode(key))) // Java String.hashCode
}

// keyHash is KeyHash(BuildKey(topic, key)) without building the key: Java's
// String.hashCode of a concatenation continues the hash of its first part.
func keyHash(topic, key string) int32 {
	return absHash(hashOn(hashOn(hashOn(0, topic), "#"), key))
}

// hashOn continues Java's String.hashCode h over s's UTF-16 code units
// (message.TagsHashCode is hashOn(0, s)).
func hashOn(h int32, s string) int32 {
	for _, r := range s {
		if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			h = 31*h + hi
			h = 31*h + lo
			continue
		}
		h = 31*h + r
	}
	return h
}

func absHash(h int32) int32 {
	if h < 0 {
		h = -h // MinInt32 stays MinInt32
	}
	if h < 0 {
		return 0
	}
	return h
}

// timeDiff is RocketMQ's time-difference rule: seconds from begin, 0 if the file
// has no begin time yet, clamped to [0, MaxInt32].
func timeDiff(storeMillis, beginMillis int64) int32 {
	if beginMillis <= 0 {
		return 0
	}
	d := (storeMillis - beginMillis) / 1000
	switch {
	case d > math.MaxInt32:
		return math.MaxInt32
	case d < 0:
		return 0
	}
	return int32(d)
}

// BuildKey is the index key of a message key: topic + "#" + key, as RocketMQ's
// IndexService.buildKey.
func BuildKey(topic, key string) string { return topic + "#" + key }
