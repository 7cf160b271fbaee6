package store

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/petrelmq/petrel/internal/store/consumequeue"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/message"
)

// flushDerived flushes the consume queues and the index and then writes the
// checkpoint with values that the flushed data covers:
//   - logics: the store time of a record below the dispatch watermark read
//     before the flush (every entry below it is flushed);
//   - physic: the same time, if the commit log is durable up to that watermark;
//   - index: the index's last store time read before the flush, minus 1 ms.
//
// A value only moves forward. It returns the joined flush errors; the checkpoint
// is not written after an error.
func (s *Store) flushDerived() error {
	ts := s.dispatchedTs.Load() // before dispatched: see Store.dispatchedTs
	off := s.dispatched.Load()
	// The index time is read before the flush and lowered by 1 ms: after a crash
	// the index drops every file whose end time is later, so a file that a later
	// flush touched (and may have left half written) is always rebuilt, even when
	// its new entries share the millisecond of the last flushed one.
	var idxTs int64
	if s.idx != nil {
		if lu, _ := s.idx.LastUpdate(); lu > 0 {
			idxTs = lu - 1
		}
	}
	var errs []error
	for _, q := range s.queueList() {
		if err := q.Flush(); err != nil && !errors.Is(err, consumequeue.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if s.idx != nil {
		if err := s.idx.Flush(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("store: flush consume queues and index: %w", errors.Join(errs...))
	}
	// A failed checkpoint write left the values set in memory but not on disk:
	// write them again even if nothing moved since.
	changed := s.cpUnsaved.Load()
	if ts > s.cp.LogicsMsgTimestamp() {
		s.cp.SetLogicsMsgTimestamp(ts)
		changed = true
	}
	if int64(s.clog.SyncedOffset()) >= off && ts > s.cp.PhysicMsgTimestamp() {
		s.cp.SetPhysicMsgTimestamp(ts)
		changed = true
	}
	if idxTs > s.cp.IndexMsgTimestamp() {
		s.cp.SetIndexMsgTimestamp(idxTs)
		changed = true
	}
	if !changed {
		return nil
	}
	if err := s.cp.Flush(); err != nil {
		s.cpUnsaved.Store(true)
		return fmt.Errorf("store: %w", err)
	}
	s.cpUnsaved.Store(false)
	return nil
}

// flushLoop is the derived-data flusher goroutine (RocketMQ's
// FlushConsumeQueueService), started by Start and stopped by Close (stopBg):
// every FlushConsumeQueueInterval it runs flushDerived. Close runs the final
// flush itself after the dispatcher has finished.
func (s *Store) flushLoop() {
	t := s.clk.NewTicker(s.cfg.FlushConsumeQueueInterval)
	defer t.Stop()
	var failing bool
	for {
		select {
		case <-t.C():
			err := s.flushDerived()
			if err != nil && !failing {
				s.log.Error("flushing consume queues and index failed; the checkpoint stays behind", "err", err)
			} else if err == nil && failing {
				s.log.Info("flushing consume queues and index works again")
			}
			failing = err != nil
		case <-s.stopBg:
			return
		}
	}
}

// cleanLoop is the retention goroutine (RocketMQ's CleanCommitLogService), started
// by Start and stopped by Close (stopBg): every CleanResourceInterval it measures
// disk usage (the disk guard) and deletes old commit-log segments, then trims the
// consume queues and the index to the commit log's new minimum.
func (s *Store) cleanLoop() {
	t := s.clk.NewTicker(s.cfg.CleanResourceInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C():
			s.clean()
		case <-s.stopBg:
			return
		}
	}
}

// usedRatio returns the last measured used fraction of the commit-log disk.
func (s *Store) usedRatio() float64 { return math.Float64frombits(s.diskRatio.Load()) }

// checkDisk measures the commit-log filesystem (if the FS has the DiskUsage
// capability), records the ratio and sets or clears the disk-full guard, logging
// transitions only.
func (s *Store) checkDisk() float64 {
	du, ok := s.fs.(vfs.DiskUsage)
	if !ok {
		return 0
	}
	sp, err := du.Space(s.cfg.CommitLogDir)
	if err != nil || sp.Total == 0 {
		return s.usedRatio()
	}
	ratio := float64(sp.Total-min(sp.Avail, sp.Total)) / float64(sp.Total)
	s.diskRatio.Store(math.Float64bits(ratio))
	full := ratio*100 > float64(s.cfg.DiskFullRatio)
	if s.diskFull.Swap(full) != full {
		if full {
			s.log.Error("commit-log disk nearly full: refusing new messages", "used_percent", ratio*100, "limit_percent", s.cfg.DiskFullRatio)
		} else {
			s.log.Info("commit-log disk below the limit again: accepting messages", "used_percent", ratio*100, "limit_percent", s.cfg.DiskFullRatio)
		}
	}
	return ratio
}

// clean is one retention pass.
func (s *Store) clean() {
	ratio := s.checkDisk()
	segSize := message.PhysOffset(s.cfg.CommitLogSegmentSize)
	deleted := 0
	if ratio*100 > float64(s.cfg.DiskMaxUsedSpaceRatio) {
		// Above the ratio: delete the oldest segments regardless of age and hour,
		// one at a time, until usage is below it (never the active segment).
		for ratio*100 > float64(s.cfg.DiskMaxUsedSpaceRatio) {
			segs := s.clog.Segments()
			if len(segs) < 2 {
				break
			}
			n, err := s.clog.DeleteSegmentsBefore(segs[0].Base + segSize)
			if err != nil {
				s.log.Error("deleting commit-log segments failed", "err", err)
				break
			}
			if n == 0 {
				break
			}
			deleted += n
			ratio = s.checkDisk()
		}
		if deleted > 0 {
			s.log.Warn("disk usage above the limit: deleted the oldest commit-log segments regardless of age",
				"segments", deleted, "limit_percent", s.cfg.DiskMaxUsedSpaceRatio, "used_percent", ratio*100)
		}
	} else if now := s.clk.Now(); slices.Contains(s.cfg.DeleteWhen, now.Hour()) {
		n, err := s.clog.DeleteSegmentsOlderThan(now.Add(-s.cfg.FileReservedTime))
		if err != nil {
			s.log.Error("deleting expired commit-log segments failed", "err", err)
		}
		deleted += n
		if n > 0 {
			s.log.Info("deleted expired commit-log segments", "segments", n, "reserved", s.cfg.FileReservedTime)
			s.checkDisk()
		}
	}
	if deleted > 0 {
		s.trimDerived()
	}
}

// trimDerived removes consume-queue and index files below the commit log's
// minimum and moves the queues' minimum offsets up to it.
func (s *Store) trimDerived() {
	lo := s.clog.MinOffset()
	for _, q := range s.queueList() {
		if _, err := q.DeleteBelow(lo); err != nil && !errors.Is(err, consumequeue.ErrClosed) {
			s.log.Error("trimming a consume queue failed", "err", err)
		}
	}
	if s.idx != nil {
		if _, err := s.idx.DeleteBelow(lo); err != nil {
			s.log.Error("trimming the index failed", "err", err)
		}
	}
}
