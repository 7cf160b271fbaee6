package store

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

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
// is not written after an error. A queue or the index left with a sticky error
// (a failed fsync) is handed to the dispatcher for repair, since no later
// flush can succeed before it is repaired.
func (s *Store) flushDerived() error {
	ts := s.dispatchedTs.Load() // before dispatched: see Store.dispatchedTs
	off := s.dispatched.Load()
	var errs []error
	for _, k := range s.queueKeys() {
		q := s.lookupQueue(k.Topic, k.QueueID)
		if q == nil {
			continue
		}
		if err := q.Flush(); err != nil && !errors.Is(err, consumequeue.ErrClosed) {
			errs = append(errs, err)
			if qerr := q.Err(); qerr != nil && !errors.Is(qerr, consumequeue.ErrClosed) {
				s.requestRepair(repairKey{topic: k.Topic, queueID: k.QueueID}, qerr)
			}
		}
	}
	s.idxMu.RLock()
	// The index time is read before the flush and lowered by 1 ms: after a crash
	// the index drops every file whose end time is later, so a file that a later
	// flush touched (and may have left half written) is always rebuilt, even when
	// its new entries share the millisecond of the last flushed one.
	var idxTs int64
	if s.idx != nil {
		if lu, _ := s.idx.LastUpdate(); lu > 0 {
			idxTs = lu - 1
		}
		if err := s.idx.Flush(); err != nil {
			errs = append(errs, err)
			s.requestRepair(repairKey{index: true}, err)
		}
	}
	s.idxMu.RUnlock()
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
// flush itself after the dispatcher has finished. While flushes fail the store
// reports the problem "flush" (the checkpoint stays behind, so a crash now
// would re-dispatch from further back).
func (s *Store) flushLoop() {
	t := s.clk.NewTicker(s.cfg.FlushConsumeQueueInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C():
			err := s.flushDerived()
			if err != nil {
				if s.health.set("flush", s.clk.Now(), err) {
					s.log.Error("flushing consume queues and index failed; the checkpoint stays behind", "err", err)
				}
			} else if s.health.clear("flush") {
				s.log.Info("flushing consume queues and index works again")
			}
		case <-s.stopBg:
			return
		}
	}
}

// cleanLoop is the retention goroutine (RocketMQ's CleanCommitLogService), started
// by Start and stopped by Close (stopBg): every CleanResourceInterval it runs a
// retention pass (clean). Between passes it measures the disk whenever it is
// woken on spaceWake: after every spaceCheckBytes written to the commit log,
// after each segment allocation, and when a put was refused for space, so the
// guard cannot be outrun by a fast writer and lifts as soon as space is back.
func (s *Store) cleanLoop() {
	t := s.clk.NewTicker(s.cfg.CleanResourceInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C():
			s.clean()
		case <-s.spaceWake:
			s.checkDisk()
		case <-s.stopBg:
			return
		}
	}
}

// Disk-guard tuning.
const (
	// minSpaceCheckBytes and maxSpaceCheckBytes bound spaceCheckBytes, the
	// commit-log bytes written between two disk measurements (an eighth of a
	// segment).
	minSpaceCheckBytes = 1 << 20
	maxSpaceCheckBytes = 64 << 20
	// refusedCheckInterval is the least time between two disk measurements
	// asked for by refused puts.
	refusedCheckInterval = 100 * time.Millisecond
	// maxForcedPerPass is how many unexpired segments one retention pass may
	// delete (RocketMQ deletes at most 10 files per pass).
	maxForcedPerPass = 10
)

// spaceCheckBytes is how many commit-log bytes are written between two disk
// measurements: an eighth of a segment, within [1 MiB, 64 MiB].
func (s *Store) spaceCheckBytes() int64 {
	return min(max(s.cfg.CommitLogSegmentSize/8, minSpaceCheckBytes), maxSpaceCheckBytes)
}

// onWritten is the commit log's OnWritten hook (writer goroutine): it wakes
// the dispatcher and, every spaceCheckBytes, the disk guard.
func (s *Store) onWritten(off message.PhysOffset) {
	s.wakeDispatcher()
	if next := s.nextSpaceCheck.Load(); int64(off) >= next {
		s.nextSpaceCheck.Store(int64(off) + s.spaceCheckBytes())
		s.wakeSpaceCheck()
	}
}

// onAllocated is the commit log's OnAllocated hook (writer goroutine): a
// segment took its space, or could not, so measure the disk now.
func (s *Store) onAllocated(_ message.PhysOffset, err error) {
	if err == nil {
		s.allocFailSince.Store(0)
	} else {
		s.allocFailSince.CompareAndSwap(0, s.clk.Now().UnixMilli())
	}
	s.wakeSpaceCheck()
}

func (s *Store) wakeSpaceCheck() {
	select {
	case s.spaceWake <- struct{}{}:
	default:
	}
}

// measure reads the used fraction of the filesystem holding path into *dst
// (math.Float64bits) and returns it; on error it keeps and returns the last
// value.
func (s *Store) measure(du vfs.DiskUsage, path string, dst *atomic.Uint64) float64 {
	sp, err := du.Space(path)
	if err != nil || sp.Total == 0 {
		if err != nil && s.statfsFailing.CompareAndSwap(false, true) {
			s.log.Warn("cannot measure disk usage; the disk guard uses the last figure", "path", path, "err", err)
		}
		return math.Float64frombits(dst.Load())
	}
	s.statfsFailing.Store(false)
	r := sp.UsedRatio()
	dst.Store(math.Float64bits(r))
	return r
}

// checkDisk is the disk guard. It measures the commit-log and consume-queue
// filesystems (if the FS has the DiskUsage capability) as df does, used ÷
// (used + available), records the ratios, and refuses puts (ErrDiskFull)
// while either is above DiskFullRatio (RocketMQ's diskSpaceWarningLevelRatio),
// logging transitions only. It returns the larger ratio.
func (s *Store) checkDisk() float64 {
	du, ok := s.fs.(vfs.DiskUsage)
	if !ok {
		return 0
	}
	cl := s.measure(du, s.cfg.CommitLogDir, &s.diskRatio)
	cq := cl
	if s.cfg.ConsumeQueueDir != s.cfg.CommitLogDir {
		cq = s.measure(du, s.cfg.ConsumeQueueDir, &s.cqDiskRatio)
	} else {
		s.cqDiskRatio.Store(math.Float64bits(cl))
	}
	path, ratio := s.cfg.CommitLogDir, cl
	if cq > cl {
		path, ratio = s.cfg.ConsumeQueueDir, cq
	}
	full := ratio*100 > float64(s.cfg.DiskFullRatio)
	if full {
		reason := fmt.Sprintf("%s: disk %.1f%% used, above diskSpaceWarningLevelRatio %d%%",
			path, ratio*100, s.cfg.DiskFullRatio)
		s.diskFullWhy.Store(&reason)
	}
	if s.diskFull.Load() != full {
		if full {
			s.diskFullSince.Store(s.clk.Now().UnixMilli())
		}
		if s.diskFull.Swap(full) != full {
			if full {
				s.log.Error("disk nearly full: refusing new messages", "path", path, "used_percent", ratio*100,
					"limit_percent", s.cfg.DiskFullRatio)
			} else {
				s.log.Info("disk below the limit again: accepting messages", "path", path, "used_percent", ratio*100,
					"limit_percent", s.cfg.DiskFullRatio)
			}
		}
	}
	return ratio
}

// diskFullReason says why puts are refused, for ErrDiskFull and Stats.
func (s *Store) diskFullReason() string {
	if r := s.diskFullWhy.Load(); r != nil {
		return *r
	}
	return "disk full"
}

// refuseForSpace is admit's answer while the guard is on: it asks the cleaner
// to measure again (at most every refusedCheckInterval), so writes resume as
// soon as space is back, and returns ErrDiskFull.
func (s *Store) refuseForSpace() error {
	now := s.clk.Now().UnixNano()
	if at := s.refusedCheckAt.Load(); now >= at && s.refusedCheckAt.CompareAndSwap(at, now+int64(refusedCheckInterval)) {
		s.wakeSpaceCheck()
	}
	return fmt.Errorf("%w: %s", ErrDiskFull, s.diskFullReason())
}

// clean is one retention pass, RocketMQ 4.9's policy:
//
//   - at a DeleteWhen hour, or at any hour while a store disk is above
//     DiskMaxUsedSpaceRatio, delete the expired segments (last modified more
//     than FileReservedTime ago), oldest first;
//   - while a store disk is above DiskSpaceCleanForciblyRatio, delete the
//     oldest segments even if they have not expired, one at a time until it
//     is not (at most maxForcedPerPass per pass), each logged at ERROR with
//     its time range and the unconsumed messages it took per consumer group.
//
// The commit log never deletes its last segment or one not yet durable. The
// consume queues and the index are then trimmed to the commit log's new
// minimum. Passes are serialised (cleanMu).
func (s *Store) clean() {
	s.cleanMu.Lock()
	defer s.cleanMu.Unlock()
	ratio := s.checkDisk()
	now := s.clk.Now()
	cutoff := now.Add(-s.cfg.FileReservedTime)
	timeUp := slices.Contains(s.cfg.DeleteWhen, now.Hour())
	spaceFull := ratio*100 > float64(s.cfg.DiskMaxUsedSpaceRatio)
	forcibly := func() bool { return ratio*100 > float64(s.cfg.DiskSpaceCleanForciblyRatio) }
	if timeUp || spaceFull || forcibly() {
		n, err := s.clog.DeleteSegmentsOlderThan(cutoff)
		if err != nil {
			s.log.Error("deleting expired commit-log segments failed", "err", err)
		}
		if n > 0 {
			s.expiredDeletions.Add(int64(n))
			if timeUp {
				s.log.Info("deleted expired commit-log segments", "segments", n, "reserved", s.cfg.FileReservedTime)
			} else {
				s.log.Warn("disk above diskMaxUsedSpaceRatio: deleted expired commit-log segments before deleteWhen",
					"segments", n, "reserved", s.cfg.FileReservedTime, "used_percent", ratio*100,
					"limit_percent", s.cfg.DiskMaxUsedSpaceRatio)
			}
			s.trimIfMoved()
			ratio = s.checkDisk()
		}
	}
	for i := 0; i < maxForcedPerPass && forcibly(); i++ {
		if !s.deleteOldestForcibly(ratio, cutoff) {
			break
		}
		s.trimIfMoved()
		ratio = s.checkDisk()
	}
	s.trimIfMoved()
}

// trimIfMoved trims the consume queues and the index when the commit log's
// minimum moved since the last trim that worked (by this pass, an earlier one
// whose trim failed, or a concurrent one). cleanMu is held.
func (s *Store) trimIfMoved() {
	if lo := s.clog.MinOffset(); lo > s.trimmedTo {
		if s.trimDerived() {
			s.trimmedTo = lo
		}
	}
}

// deleteOldestForcibly deletes the oldest segment whatever its age, logging
// what it took, and reports whether it deleted one. cleanMu is held.
func (s *Store) deleteOldestForcibly(ratio float64, cutoff time.Time) bool {
	segs := s.clog.Segments()
	if len(segs) < 2 {
		return false
	}
	seg := segs[0]
	end := seg.Base + message.PhysOffset(s.cfg.CommitLogSegmentSize)
	loss := s.segmentLoss(seg.Base, end)
	n, err := s.clog.DeleteSegmentsBefore(end)
	if err != nil {
		s.log.Error("deleting a commit-log segment failed", "path", seg.Path, "err", err)
		return false
	}
	if n == 0 {
		return false // not yet durable
	}
	if !seg.ModTime.Before(cutoff) {
		s.forcedDeletions.Add(1)
		s.forcedMessages.Add(loss.messages)
	} else {
		s.expiredDeletions.Add(1)
	}
	attrs := []any{"segment", seg.Path, "first_message", loss.first, "last_message", loss.last,
		"messages", loss.messages, "unconsumed", loss.unconsumedString(),
		"used_percent", ratio * 100, "limit_percent", s.cfg.DiskSpaceCleanForciblyRatio,
		"modified", seg.ModTime, "reserved", s.cfg.FileReservedTime.String()}
	if seg.ModTime.Before(cutoff) {
		s.log.Warn("disk above diskSpaceCleanForciblyRatio: deleted an expired commit-log segment", attrs...)
	} else {
		s.log.Error("disk above diskSpaceCleanForciblyRatio: deleted a commit-log segment before its retention time; its messages are gone", attrs...)
	}
	return true
}

// segmentCost is what deleting a commit-log segment takes away.
type segmentCost struct {
	first, last time.Time // store times of its first and last message (zero if unknown)
	messages    int64     // consume-queue entries pointing into it
	// unconsumed: per consumer group, entries at or past the group's
	// committed offset; nil without a ConsumerProgress.
	unconsumed map[string]int64
}

// unconsumedString renders the per-group counts sorted by group.
func (c segmentCost) unconsumedString() string {
	if c.unconsumed == nil {
		return "unknown (no consumer progress)"
	}
	if len(c.unconsumed) == 0 {
		return "none"
	}
	groups := make([]string, 0, len(c.unconsumed))
	for g := range c.unconsumed {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	var b strings.Builder
	for i, g := range groups {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", g, c.unconsumed[g])
	}
	return b.String()
}

// segmentLoss measures the consume-queue entries pointing into [base, end)
// (binary search in each queue: entries are ordered by commit-log offset),
// their time range, and per consumer group how many of them it has not
// consumed.
func (s *Store) segmentLoss(base, end message.PhysOffset) segmentCost {
	var c segmentCost
	progress := s.consumerProgress()
	if progress != nil {
		c.unconsumed = make(map[string]int64)
	}
	if ts, err := s.storeTimeAt(base); err == nil {
		c.first = time.UnixMilli(ts)
	}
	lastPhys := message.PhysOffset(-1)
	for _, k := range s.queueKeys() {
		q := s.lookupQueue(k.Topic, k.QueueID)
		if q == nil {
			continue
		}
		a, b := searchPhys(q, base), searchPhys(q, end)
		if b <= a {
			continue
		}
		c.messages += int64(b - a)
		if e, err := q.Get(b - 1); err == nil {
			lastPhys = max(lastPhys, e.Phys)
		}
		if progress == nil {
			continue
		}
		for g, off := range progress.CommittedOffsets(k.Topic, k.QueueID) {
			if n := b - max(off, a); n > 0 {
				c.unconsumed[g] += int64(n)
			}
		}
	}
	if lastPhys >= 0 {
		if ts, err := s.storeTimeAt(lastPhys); err == nil {
			c.last = time.UnixMilli(ts)
		}
	}
	return c
}

// searchPhys returns the first queue offset in [MinOffset, MaxOffset) whose
// entry points at or past phys, or MaxOffset (entries are ordered by phys). A
// read error ends the search where it is.
func searchPhys(q *consumequeue.Queue, phys message.PhysOffset) message.QueueOffset {
	lo, hi := q.MinOffset(), q.MaxOffset()
	for lo < hi {
		mid := lo + (hi-lo)/2
		e, err := q.Get(mid)
		if err != nil {
			return lo
		}
		if e.Phys >= phys {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// trimDerived removes consume-queue and index files below the commit log's
// minimum and moves the queues' minimum offsets up to it. It reports whether
// every trim worked.
func (s *Store) trimDerived() bool {
	lo := s.clog.MinOffset()
	ok := true
	for _, q := range s.queueList() {
		if _, err := q.DeleteBelow(lo); err != nil && !errors.Is(err, consumequeue.ErrClosed) {
			s.log.Error("trimming a consume queue failed", "err", err)
			ok = false
		}
	}
	s.idxMu.RLock()
	defer s.idxMu.RUnlock()
	if s.idx != nil {
		if _, err := s.idx.DeleteBelow(lo); err != nil {
			s.log.Error("trimming the index failed", "err", err)
			ok = false
		}
	}
	return ok
}
