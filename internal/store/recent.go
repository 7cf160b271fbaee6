package store

import (
	"errors"
	"iter"

	"github.com/petrelmq/petrel/pkg/message"
)

// errStopRecords ends a scan early when the caller's loop breaks.
var errStopRecords = errors.New("store: scan stopped")

// RecordsSince iterates over the commit log's records from the segment that
// holds the first record stored at or after sinceMillis (Unix ms) to the
// end, oldest first: it starts at the newest segment whose first record is
// older than sinceMillis (store times follow the log's order only roughly,
// so records older than sinceMillis come too; the caller filters). Each
// record is valid only until the next iteration; a read error is yielded
// once, last. The scan runs on the caller's goroutine, in its range loop.
// The broker rebuilds its de-duplication window with it before it serves
// (docs/design/dedup.md).
func (s *Store) RecordsSince(sinceMillis int64) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
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
		_, err := s.clog.Scan(start, func(_ message.PhysOffset, rec []byte) error {
			if !yield(rec, nil) {
				return errStopRecords
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopRecords) {
			yield(nil, err)
		}
	}
}
