package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/petrelmq/petrel/internal/store/consumequeue"
	"github.com/petrelmq/petrel/pkg/message"
)

// getBatch is how many consume-queue entries GetMessages reads at a time.
const getBatch = 32

// GetMessages implements MessageStore with RocketMQ 4.9's getMessage rules (see
// the package documentation, "Reads"). It reads consume-queue entries in batches
// into a stack buffer, filters on the tags code, reads each accepted record from
// the commit log straight into dst (records written back to back in one read,
// see readAhead) and filters it again with MatchRecord. The
// answer is capped by maxMsgs and by the transfer limits (bytes and count, in
// memory or on disk; the first message always goes), and scans at most
// max(16000, 20·maxMsgs) bytes of entries. group is not used by the store.
func (s *Store) GetMessages(ctx context.Context, group, topic string, queueID int32, offset message.QueueOffset,
	maxMsgs int, filter MessageFilter, dst []byte) (GetResult, error) {
	if s.closed.Load() {
		return GetResult{Body: dst}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return GetResult{Body: dst}, err
	}
	r := GetResult{Body: dst, NextBeginOffset: offset}
	q := s.lookupQueue(topic, queueID)
	if q == nil {
		r.Status, r.NextBeginOffset = GetNoMatchedLogicQueue, 0
		return r, nil
	}
	r.MinOffset, r.MaxOffset = q.MinOffset(), q.MaxOffset()
	switch {
	case r.MaxOffset == 0:
		r.Status, r.NextBeginOffset = GetNoMessageInQueue, 0
		return r, nil
	case offset < r.MinOffset:
		r.Status, r.NextBeginOffset = GetOffsetTooSmall, r.MinOffset
		return r, nil
	case offset == r.MaxOffset:
		r.Status = GetOffsetOverflowOne
		return r, nil
	case offset > r.MaxOffset:
		r.Status, r.NextBeginOffset = GetOffsetOverflowBadly, r.MaxOffset
		if r.MinOffset == 0 {
			r.NextBeginOffset = 0
		}
		return r, nil
	}

	maxPy := s.clog.MaxOffset()
	memLimit := int64(float64(s.cfg.PhysicalMemorySize) * float64(s.cfg.AccessMessageInMemoryMaxRatio) / 100)
	segSize := message.PhysOffset(s.cfg.CommitLogSegmentSize)
	maxScan := max(16000, maxMsgs*consumequeue.EntrySize) / consumequeue.EntrySize
	var buf [getBatch]consumequeue.Entry
	var ra readAhead
	var (
		scanned     int                     // entries consumed (counted in NextBeginOffset)
		bodyBytes   int                     // bytes appended to dst
		count       int                     // records appended
		nextFileOff message.PhysOffset = -1 // after a removed record: skip to this segment start
		maxPulled   message.PhysOffset      // phys of the last entry looked at
		status      = GetNoMatchedMessage
	)
scan:
	for scanned < maxScan {
		want := min(getBatch, maxScan-scanned)
		n, err := q.Read(offset+message.QueueOffset(scanned), want, buf[:])
		if err != nil || n == 0 {
			if scanned == 0 {
				// The entry is gone (trimmed meanwhile) or the queue was closed.
				r.Status = GetOffsetFoundNull
				per := message.QueueOffset(s.cfg.ConsumeQueueEntriesPerFile)
				r.NextBeginOffset = offset + per - offset%per
				return r, nil
			}
			break
		}
		for i, e := range buf[:n] {
			maxPulled = e.Phys
			if nextFileOff >= 0 && e.Phys < nextFileOff {
				scanned++
				continue
			}
			if e.Size < message.RecordFixedSize || int(e.Size) > s.cfg.MaxMessageSize {
				// A damaged entry (consume-queue recovery checks only the last
				// files): never allocate or return its size. Skip it.
				s.log.Warn("skipping a consume-queue entry with an impossible size", "topic", topic, "queue", queueID,
					"offset", offset+message.QueueOffset(scanned), "phys", e.Phys, "size", e.Size)
				scanned++
				continue
			}
			inDisk := int64(maxPy-e.Phys) > memLimit
			if s.batchFull(int(e.Size), maxMsgs, bodyBytes, count, inDisk) {
				break scan
			}
			if filter != nil && !filter.MatchTagsCode(e.TagsCode) {
				if bodyBytes == 0 {
					status = GetNoMatchedMessage
				}
				scanned++
				continue
			}
			start := len(dst)
			if cap(dst)-start < int(e.Size) {
				// Room for the rest of the answer at this record's size (within
				// the transfer cap), so dst grows once or twice, not per record.
				limit := s.cfg.MaxTransferBytesInMemory
				if inDisk {
					limit = s.cfg.MaxTransferBytesOnDisk
				}
				dst = slices.Grow(dst, max(int(e.Size), min((maxMsgs-count)*int(e.Size), limit-bodyBytes)))
				ra.n = 0
			}
			dst = dst[:start+int(e.Size)]
			if err := ra.read(s, dst, start, e.Phys, buf[i+1:n], segSize); err != nil {
				dst = dst[:start]
				if bodyBytes == 0 {
					status = GetMessageWasRemoving
				}
				nextFileOff = e.Phys - e.Phys%segSize + segSize
				scanned++
				continue
			}
			if total, magic, _ := message.PeekHeader(dst[start:]); total != e.Size || magic != message.MagicV1 {
				// The entry does not point at a record of its size: never hand
				// out bytes that are not exactly one stored record.
				dst = dst[:start]
				s.log.Warn("skipping a consume-queue entry that does not match the commit log", "topic", topic, "queue", queueID,
					"offset", offset+message.QueueOffset(scanned), "phys", e.Phys, "size", e.Size, "record_size", total)
				scanned++
				continue
			}
			if filter != nil && !filter.MatchRecord(dst[start:]) {
				dst = dst[:start]
				if bodyBytes == 0 {
					status = GetNoMatchedMessage
				}
				scanned++
				continue
			}
			bodyBytes += int(e.Size)
			count++
			status = GetFound
			nextFileOff = -1
			scanned++
		}
		if n < want {
			break // reached the queue's end
		}
	}
	r.Status = status
	r.Body = dst
	r.Count = count
	r.NextBeginOffset = offset + message.QueueOffset(scanned)
	r.SuggestPullFromSlave = int64(maxPy-maxPulled) > memLimit
	s.getCount.Add(int64(count))
	return r, nil
}

// batchFull is RocketMQ's isTheBatchFull: the first message always fits.
func (s *Store) batchFull(size, maxMsgs, bodyBytes, count int, inDisk bool) bool {
	if bodyBytes == 0 || count == 0 {
		return false
	}
	if count >= maxMsgs {
		return true
	}
	if inDisk {
		return bodyBytes+size > s.cfg.MaxTransferBytesOnDisk || count > s.cfg.MaxTransferCountOnDisk-1
	}
	return bodyBytes+size > s.cfg.MaxTransferBytesInMemory || count > s.cfg.MaxTransferCountInMemory-1
}

// MaxOffsetInQueue implements MessageStore: the queue's next offset to be
// dispatched (0 for an unknown queue).
func (s *Store) MaxOffsetInQueue(topic string, queueID int32) message.QueueOffset {
	if q := s.lookupQueue(topic, queueID); q != nil {
		return q.MaxOffset()
	}
	return 0
}

// MinOffsetInQueue implements MessageStore: the first offset whose record is
// still in the commit log. Entries below the commit log's minimum that retention
// has not trimmed yet are skipped (binary search: entries are ordered by commit-log
// offset).
func (s *Store) MinOffsetInQueue(topic string, queueID int32) message.QueueOffset {
	q := s.lookupQueue(topic, queueID)
	if q == nil {
		return 0
	}
	lo, hi := q.MinOffset(), q.MaxOffset()
	clogMin := s.clog.MinOffset()
	if e, err := q.Get(lo); err != nil || e.Phys >= clogMin {
		return lo
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		e, err := q.Get(mid)
		if err != nil {
			return q.MinOffset()
		}
		if e.Phys >= clogMin {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// OffsetByTime implements MessageStore with consumequeue.SearchOffset (the
// nearest message in time, RocketMQ 4.9's rule), reading store times from the
// commit log. An unknown queue or an error gives 0.
func (s *Store) OffsetByTime(topic string, queueID int32, millis int64) message.QueueOffset {
	q := s.lookupQueue(topic, queueID)
	if q == nil {
		return 0
	}
	off, err := q.SearchOffset(millis, func(phys message.PhysOffset, size int32) (int64, error) { return s.storeTimeAt(phys) })
	if err != nil {
		s.log.Warn("search offset by time failed", "topic", topic, "queue", queueID, "err", err)
		return q.MinOffset()
	}
	return off
}

// storeTimeAt reads the store time of the record at phys.
func (s *Store) storeTimeAt(phys message.PhysOffset) (int64, error) {
	var b [message.PosBornHost + 20 + 8]byte
	n := int64(len(b))
	if rest := int64(s.clog.MaxOffset() - phys); rest < n {
		n = rest
	}
	if n < message.PosBornHost+16 { // IPv4 born host and the store time
		return 0, fmt.Errorf("%w: no record at %d", ErrNotFound, phys)
	}
	if err := s.clog.ReadAt(b[:n], phys); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	ts, ok := recordStoreTime(b[:n])
	if !ok {
		return 0, fmt.Errorf("%w: no record at %d", ErrNotFound, phys)
	}
	return ts, nil
}

// EarliestMessageTime implements MessageStore; ErrNotFound for an unknown or
// empty queue.
func (s *Store) EarliestMessageTime(topic string, queueID int32) (int64, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	q := s.lookupQueue(topic, queueID)
	if q == nil {
		return 0, fmt.Errorf("%w: queue %s/%d", ErrNotFound, topic, queueID)
	}
	return s.MessageStoreTime(topic, queueID, s.MinOffsetInQueue(topic, queueID))
}

// MessageStoreTime implements MessageStore; ErrNotFound when the offset has no
// readable message.
func (s *Store) MessageStoreTime(topic string, queueID int32, offset message.QueueOffset) (int64, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	q := s.lookupQueue(topic, queueID)
	if q == nil {
		return 0, fmt.Errorf("%w: queue %s/%d", ErrNotFound, topic, queueID)
	}
	e, err := q.Get(offset)
	if err != nil {
		return 0, fmt.Errorf("%w: %s/%d offset %d: %w", ErrNotFound, topic, queueID, offset, err)
	}
	return s.storeTimeAt(e.Phys)
}

// LookMessageByOffset implements MessageStore; ErrNotFound when phys holds no
// readable record (deleted, past the end, or not a record start).
func (s *Store) LookMessageByOffset(phys message.PhysOffset, dst []byte) ([]byte, error) {
	if s.closed.Load() {
		return dst, ErrClosed
	}
	out, err := s.clog.ReadRecord(dst, phys)
	if err != nil {
		return dst, fmt.Errorf("%w: offset %d: %w", ErrNotFound, phys, err)
	}
	var v message.RecordView
	if err := message.ParseRecord(out[len(dst):], &v); err != nil || v.PhysOffset != phys {
		return dst, fmt.Errorf("%w: no record starts at offset %d", ErrNotFound, phys)
	}
	return out, nil
}

// QueryMessage implements MessageStore: index lookups of topic#key (both keys
// and unique keys are indexed that way), newest first, at most maxNum records,
// each commit-log offset once. Hash collisions are possible; callers check the
// keys, as RocketMQ's clients do. Without an index the result is empty.
func (s *Store) QueryMessage(topic, key string, maxNum int, beginMillis, endMillis int64) (QueryResult, error) {
	if s.closed.Load() {
		return QueryResult{}, ErrClosed
	}
	s.idxMu.RLock()
	defer s.idxMu.RUnlock()
	if s.idx == nil || maxNum <= 0 {
		return QueryResult{}, nil
	}
	var r QueryResult
	r.IndexLastUpdateTime, r.IndexLastUpdatePhys = s.idx.LastUpdate()
	offs, err := s.idx.Query(topic, key, maxNum, beginMillis, endMillis)
	if err != nil {
		return r, fmt.Errorf("store: query index: %w", err)
	}
	seen := make(map[message.PhysOffset]bool, len(offs))
	for _, off := range offs {
		if seen[off] || len(r.Records) >= maxNum {
			continue
		}
		seen[off] = true
		rec, err := s.clog.ReadRecord(nil, off)
		if err != nil {
			continue // deleted by retention
		}
		r.Records = append(r.Records, rec)
	}
	return r, nil
}

// ConsumeQueueEntries reads up to n entries of a queue starting at offset
// from, for inspection (QUERY_CONSUME_QUEUE): fewer at the end of the queue,
// none past it. ok is false for a queue the store does not have.
func (s *Store) ConsumeQueueEntries(topic string, queueID int32, from message.QueueOffset, n int) (entries []consumequeue.Entry, ok bool, err error) {
	if s.closed.Load() {
		return nil, false, ErrClosed
	}
	q := s.lookupQueue(topic, queueID)
	if q == nil {
		return nil, false, nil
	}
	if n <= 0 || from >= q.MaxOffset() {
		return nil, true, nil
	}
	buf := make([]consumequeue.Entry, min(n, 1024))
	got, err := q.Read(from, len(buf), buf)
	if err != nil {
		return nil, true, fmt.Errorf("store: read %s/%d from %d: %w", topic, queueID, from, err)
	}
	return buf[:got], true, nil
}

// readAheadMax bounds one read-ahead: 32 records of 8 KiB.
const readAheadMax = 256 << 10

// readAhead serves a GetMessages call's commit-log reads. A record that the
// entries after it continue back to back (a batch send, a queue written
// alone) is read together with them, in one pread, into dst's spare capacity
// where they are about to go; each is then moved into place (usually where it
// already is) instead of being read on its own.
type readAhead struct {
	off  message.PhysOffset // commit-log offset of the bytes read ahead
	at   int                // their index in the caller's dst, at or beyond its length
	n    int                // their length; 0: none
	from message.PhysOffset // only reads from here on are served: bytes below may be overwritten
}

// read fills dst[start:] (the record at off) with the commit log's bytes, as
// Log.ReadAt. When off was not read ahead it reads, in one call, the record
// and those of next that follow it without a gap, in the same segment, within
// dst's capacity and readAheadMax; if that read fails it reads the record
// alone, so an error is the record's own. Bytes of dst beyond start are
// scratch until read returns.
func (ra *readAhead) read(s *Store, dst []byte, start int, off message.PhysOffset, next []consumequeue.Entry,
	segSize message.PhysOffset) error {
	size := message.PhysOffset(len(dst) - start)
	if ra.n > 0 && off >= ra.from && off+size <= ra.off+message.PhysOffset(ra.n) {
		// The bytes are at or after start (records only move down), and
		// nothing was written over them: every record placed so far ended
		// before them.
		from := ra.at + int(off-ra.off)
		copy(dst[start:], dst[:cap(dst)][from:from+int(size)])
		ra.from = off + size
		return nil
	}
	ra.n = 0
	end := off + size
	limit := off + min(readAheadMax, message.PhysOffset(cap(dst)-start))
	segEnd := off - off%segSize + segSize
	for _, e := range next {
		if e.Phys != end || e.Size < message.RecordFixedSize {
			break
		}
		if next := end + message.PhysOffset(e.Size); next <= segEnd && next <= limit {
			end = next
			continue
		}
		break
	}
	if end == off+size {
		return s.clog.ReadAt(dst[start:], off)
	}
	if err := s.clog.ReadAt(dst[start:start+int(end-off)], off); err != nil {
		return s.clog.ReadAt(dst[start:], off)
	}
	ra.off, ra.at, ra.n, ra.from = off, start, int(end-off), off+size
	return nil
}
