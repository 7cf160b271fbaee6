package commitlog

import (
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/message"
)

// segmentNameLen is the length of a segment file name: the base offset as 20
// zero-padded decimal digits. Part of the on-disk format; never change.
const segmentNameLen = 20

// SegmentName returns the file name of the segment starting at base.
func SegmentName(base message.PhysOffset) string { return fmt.Sprintf("%020d", int64(base)) }

// parseSegmentName returns the base offset of a segment file name, or false.
func parseSegmentName(name string) (message.PhysOffset, bool) {
	if len(name) != segmentNameLen {
		return 0, false
	}
	for _, c := range name {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(name, 10, 64)
	if err != nil {
		return 0, false
	}
	return message.PhysOffset(n), true
}

// segment is one open segment file. The Log's list holds one reference; each
// reader and the writer hold one while they use the file. The file is closed when
// the last reference goes, so removing a segment that a reader is using is safe.
type segment struct {
	base message.PhysOffset
	path string
	f    vfs.File
	refs atomic.Int32
}

func newSegment(base message.PhysOffset, path string, f vfs.File) *segment {
	s := &segment{base: base, path: path, f: f}
	s.refs.Store(1)
	return s
}

func (s *segment) acquire() { s.refs.Add(1) }

// release drops a reference and closes the file with the last one.
func (s *segment) release() error {
	switch n := s.refs.Add(-1); {
	case n == 0:
		return s.f.Close()
	case n < 0:
		panic("commitlog: segment released too often")
	}
	return nil
}
