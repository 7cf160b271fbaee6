package store

import (
	"github.com/petrelmq/petrel/pkg/message"
)

// ScanSince calls fn for every record of the commit log from the segment
// that holds the first record stored at or after sinceMillis (Unix ms) to
// the end, oldest first: it starts at the newest segment whose first record
// is older than sinceMillis (store times follow the log's order only
// roughly, so records older than sinceMillis come too; fn filters). rec is
// valid only during the call. The broker rebuilds its de-duplication window
// with it before it serves (docs/design/dedup.md).
func (s *Store) ScanSince(sinceMillis int64, fn func(off message.PhysOffset, rec []byte) error) error {
	segs := s.clog.Segments()
	start := s.clog.MinOffset()
	var buf []byte
	var v message.RecordView
	for i := len(segs) - 1; i >= 0; i-- {
		base := max(segs[i].Base, start)
		rec, err := s.clog.ReadRecord(buf[:0], base)
		buf = rec
		if err != nil || message.ParseRecord(rec, &v) != nil {
			continue // an empty or unreadable head: look at an older segment
		}
		if v.StoreTimestamp < sinceMillis {
			start = base
			break
		}
	}
	_, err := s.clog.Scan(start, fn)
	return err
}
