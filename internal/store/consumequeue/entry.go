package consumequeue

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/petrelmq/petrel/pkg/message"
)

// EntrySize is the size in bytes of one consume-queue entry. Part of the on-disk
// format; never change.
const EntrySize = 20

// DefaultEntriesPerFile is the number of entries in one consume-queue file, as in
// RocketMQ (mappedFileSizeConsumeQueue = 300,000 × 20 = 6,000,000 bytes). Part of the
// on-disk format; never change the default (a store written with another value cannot
// be opened with this one).
const DefaultEntriesPerFile = 300_000

// Field positions inside an entry. Part of the on-disk format; never change.
const (
	physPos = 0  // int64 commit-log offset
	sizePos = 8  // int32 record size
	tagsPos = 12 // int64 tags code
)

// blankSize is the size field of a pre-blank padding entry: RocketMQ fills the part
// of a queue's first file below the first real entry with (0, MaxInt32, 0). Part of
// the on-disk format; never change.
const blankSize = math.MaxInt32

// ErrShortEntry is returned by DecodeEntry for input shorter than EntrySize.
var ErrShortEntry = errors.New("consumequeue: short entry")

// Entry is one consume-queue entry: where a message of the queue sits in the commit
// log and its tags code.
type Entry struct {
	// Phys is the commit-log byte offset of the stored message record.
	Phys message.PhysOffset
	// Size is the stored record size in bytes.
	Size int32
	// TagsCode is the Java String.hashCode of the TAGS property sign-extended to 64
	// bits (0 without tags); for delayed messages in SCHEDULE_TOPIC_XXXX it is the
	// delivery time in milliseconds.
	TagsCode int64
}

// Valid reports whether e is an entry as RocketMQ's recovery accepts it: a
// non-negative commit-log offset and a positive size. An all-zero entry (never
// written) is not valid and marks the end of the queue.
func (e Entry) Valid() bool { return e.Phys >= 0 && e.Size > 0 }

// IsBlank reports whether e is a pre-blank padding entry (0, MaxInt32, 0), which
// RocketMQ writes below the first real entry of a queue that starts at a non-zero
// offset. Blank entries are valid but never returned to readers: they lie below
// MinOffset.
func (e Entry) IsBlank() bool { return e.Phys == 0 && e.Size == blankSize && e.TagsCode == 0 }

var blankEntry = Entry{Size: blankSize}

// DecodeEntry decodes the first EntrySize bytes of b. It returns ErrShortEntry if b
// is shorter. It does not check validity; see Entry.Valid.
func DecodeEntry(b []byte) (Entry, error) {
	if len(b) < EntrySize {
		return Entry{}, ErrShortEntry
	}
	return decodeEntry(b), nil
}

func decodeEntry(b []byte) Entry {
	_ = b[EntrySize-1]
	return Entry{
		Phys:     message.PhysOffset(binary.BigEndian.Uint64(b[physPos:])),
		Size:     int32(binary.BigEndian.Uint32(b[sizePos:])),
		TagsCode: int64(binary.BigEndian.Uint64(b[tagsPos:])),
	}
}

// Encode writes e into the first EntrySize bytes of b, big-endian. It panics if b is
// shorter than EntrySize (a programmer error).
func (e Entry) Encode(b []byte) {
	_ = b[EntrySize-1]
	binary.BigEndian.PutUint64(b[physPos:], uint64(e.Phys))
	binary.BigEndian.PutUint32(b[sizePos:], uint32(e.Size))
	binary.BigEndian.PutUint64(b[tagsPos:], uint64(e.TagsCode))
}
