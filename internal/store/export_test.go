package store

import "github.com/petrelmq/petrel/pkg/message"

// FlushDerivedForTest runs one consume-queue/index flush and checkpoint write,
// as the periodic flusher does.
func (s *Store) FlushDerivedForTest() error { return s.flushDerived() }

// CleanForTest runs one retention pass, as the cleaner goroutine does.
func (s *Store) CleanForTest() { s.clean() }

// DispatchedForTest returns the dispatch watermark.
func (s *Store) DispatchedForTest() int64 { return s.dispatched.Load() }

// ScanForTest calls fn for every record of the commit log, oldest first.
func (s *Store) ScanForTest(fn func(off message.PhysOffset, rec []byte) error) error {
	_, err := s.clog.Scan(s.clog.MinOffset(), fn)
	return err
}

// CommitLogForTest returns the commit log's min and max offsets.
func (s *Store) CommitLogForTest() (lo, hi message.PhysOffset) {
	return s.clog.MinOffset(), s.clog.MaxOffset()
}

// CheckDiskForTest runs the disk guard's usage check and returns the ratio.
func (s *Store) CheckDiskForTest() float64 { return s.checkDisk() }

// DeleteSegmentsForTest deletes commit-log segments below off without trimming
// the consume queues (as if retention ran and the trim had not yet).
func (s *Store) DeleteSegmentsForTest(off message.PhysOffset) (int, error) {
	return s.clog.DeleteSegmentsBefore(off)
}

// TrimDerivedForTest trims consume queues and index to the commit log's minimum,
// as retention does after deleting segments.
func (s *Store) TrimDerivedForTest() { s.trimDerived() }
