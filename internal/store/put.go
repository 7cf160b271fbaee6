package store

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/petrelmq/petrel/internal/store/commitlog"
	"github.com/petrelmq/petrel/pkg/message"
)

// maxPooledBuf is the largest encoding buffer kept for reuse.
const maxPooledBuf = 1 << 20

// putReq carries one append's queue-offset assignment; assign runs under the
// commit log's append lock, which orders every queue's offsets like the log.
type putReq struct {
	ctr     *atomic.Int64
	advance bool // false for transaction half and rollback records (queue offset 0)
}

func (r *putReq) assign(n int) message.QueueOffset {
	if !r.advance {
		return 0
	}
	return message.QueueOffset(r.ctr.Add(int64(n)) - int64(n))
}

// getBuf returns an encoding buffer from the pool.
func (s *Store) getBuf() *[]byte {
	if b, ok := s.bufPool.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 4096)
	return &b
}

func (s *Store) putBuf(b *[]byte) {
	if cap(*b) <= maxPooledBuf {
		*b = (*b)[:0]
		s.bufPool.Put(b)
	}
}

// Put implements MessageStore. The records are encoded outside any lock into a
// pooled buffer; the commit log's append lock covers only offset assignment and
// the copy. No goroutine is parked per request: completion comes from the
// commit log's writer (ASYNC_FLUSH) or group commit (SYNC_FLUSH), which push to
// q. A message with property WAIT=false is answered once written even with
// SYNC_FLUSH (RocketMQ's waitStoreMsgOK), while its flush is still requested.
// A single message is a batch of one: there is one put path.
func (s *Store) Put(msgs []*message.MessageExt, q *Completions, tag any) {
	start := s.clk.Now()
	fail := func(err error) { q.push(Completion{Err: err, Tag: tag}) }
	if len(msgs) == 0 {
		fail(fmt.Errorf("%w: empty", ErrBadBatch))
		return
	}
	first := msgs[0]
	for _, m := range msgs[1:] {
		if m.Topic != first.Topic || m.QueueID != first.QueueID {
			fail(ErrBadBatch)
			return
		}
	}
	if err := s.admit(); err != nil {
		fail(err)
		return
	}
	tran := first.SysFlag.TransactionType()
	req := putReq{advance: tran == message.SysFlagTransactionNotType || tran == message.SysFlagTransactionCommitType}
	if req.advance {
		req.ctr = s.counter(first.Topic, first.QueueID)
	}
	bp := s.getBuf()
	buf := (*bp)[:0]
	var sizes []int
	if len(msgs) > 1 {
		sizes = make([]int, len(msgs))
	}
	for i, m := range msgs {
		m.StoreHost = s.cfg.StoreHost
		n := len(buf)
		var err error
		buf, err = message.AppendRecord(buf, m)
		if err != nil {
			*bp = buf
			s.putBuf(bp)
			if len(msgs) > 1 {
				err = fmt.Errorf("message %d: %w", i, err)
			}
			fail(fmt.Errorf("%w: %w", ErrBadMessage, err))
			return
		}
		if sizes != nil {
			sizes[i] = len(buf) - n
		}
	}
	*bp = buf
	if len(buf) > s.cfg.MaxMessageSize {
		s.putBuf(bp)
		fail(fmt.Errorf("%w: %d bytes, max %d", ErrMessageTooLarge, len(buf), s.cfg.MaxMessageSize))
		return
	}
	res, err := s.appendRecords(buf, &req)
	s.putBuf(bp)
	if err != nil {
		fail(err)
		return
	}
	pr := PutResult{
		PhysOffset:     res.Offset,
		QueueOffset:    res.QueueOffset,
		Size:           int(res.End - res.Offset),
		StoreTimestamp: res.StoreTimestamp,
		MsgID:          s.offsetMsgID(res.Offset),
		Count:          len(msgs),
	}
	if sizes != nil {
		pr.MsgIDs = make([]string, len(msgs))
		off := res.Offset
		for i, n := range sizes {
			pr.MsgIDs[i] = s.offsetMsgID(off)
			off += message.PhysOffset(n)
		}
	}
	s.putCount.Add(int64(len(msgs)))
	s.complete(pending{pr: pr, q: q, tag: tag, start: start}, res.End, first.Properties[message.PropertyWaitStoreMsgOK] != "false")
}

// admit fails fast for a closed store or a full disk.
func (s *Store) admit() error {
	if s.closed.Load() {
		return ErrClosed
	}
	if s.diskFull.Load() {
		return s.refuseForSpace()
	}
	if f := s.fence.Load(); f != nil {
		return *f
	}
	return nil
}

// appendRecords appends under the put gate, so Close can wait for it.
func (s *Store) appendRecords(recs []byte, req *putReq) (commitlog.AppendResult, error) {
	s.putGate.RLock()
	defer s.putGate.RUnlock()
	if s.closed.Load() {
		return commitlog.AppendResult{}, ErrClosed
	}
	res, err := s.clog.Append(s.ctx, recs, req.assign)
	if err != nil {
		return res, s.mapAppendErr(err)
	}
	return res, nil
}

// mapAppendErr maps a commit-log error to the api sentinels.
func (s *Store) mapAppendErr(err error) error {
	switch {
	case errors.Is(err, commitlog.ErrMessageTooLarge):
		return fmt.Errorf("%w: %w", ErrMessageTooLarge, err)
	case errors.Is(err, commitlog.ErrClosed):
		return ErrClosed
	case errors.Is(err, commitlog.ErrNoSegment):
		// Not sticky: the commit log retries the allocation.
		if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
			s.wakeSpaceCheck()
			return fmt.Errorf("%w: %w", ErrDiskFull, err)
		}
		return fmt.Errorf("%w: %w", ErrNotWritable, err)
	case errors.Is(err, commitlog.ErrNotStarted):
		return fmt.Errorf("%w: store not started", ErrNotWritable)
	case errors.Is(err, commitlog.ErrReadOnly):
		if errors.Is(err, syscall.ENOSPC) {
			return fmt.Errorf("%w: %w: %w", ErrNotWritable, ErrDiskFull, err)
		}
		return fmt.Errorf("%w: %w", ErrNotWritable, err)
	case errors.Is(err, commitlog.ErrInvalidRecord):
		return fmt.Errorf("%w: %w", ErrBadMessage, err)
	case s.ctx.Err() != nil:
		return ErrClosed
	}
	return err
}

// pending is a stored put waiting to be as durable as configured.
type pending struct {
	pr    PutResult
	q     *Completions
	tag   any
	start time.Time
}

// done records the put's latency and pushes its completion: the result when
// err is nil, the result with PutFlushDiskTimeout for a sync flush that timed
// out, else the mapped error.
func (s *Store) done(p *pending, err error) {
	s.recordLatency(p.start)
	switch {
	case err == nil:
		p.q.push(Completion{Result: p.pr, Tag: p.tag})
	case errors.Is(err, commitlog.ErrFlushTimeout):
		p.pr.Status = PutFlushDiskTimeout
		p.q.push(Completion{Result: p.pr, Tag: p.tag})
	default:
		p.q.push(Completion{Err: s.mapAppendErr(err), Tag: p.tag})
	}
}

// complete finishes a stored put per the flush mode: SYNC_FLUSH once the group
// commit covering it has fsynced; ASYNC_FLUSH (and a SYNC_FLUSH message sent
// with WAIT=false) once the commit log's writer has handed it to the OS, so a
// crash of the broker process never loses an acknowledged message. The commit
// log runs the closures below on its own goroutines; they only push to p.q.
func (s *Store) complete(p pending, end message.PhysOffset, wait bool) {
	if r := s.replicator(); r != nil && wait {
		s.completeReplicated(p, end, r) // replica.go
		return
	}
	if s.cfg.FlushDiskType == SyncFlush {
		if wait {
			s.clog.SyncAsync(end, func(err error) { s.done(&p, err) })
			return
		}
		s.clog.SyncAsync(end, func(error) {})
	}
	s.clog.WrittenAsync(end, func(err error) { s.done(&p, err) })
}

// offsetMsgID is message.OffsetMsgID(StoreHost, off) with the host part
// precomputed: one allocation.
func (s *Store) offsetMsgID(off message.PhysOffset) string {
	const hexUpper = "0123456789ABCDEF"
	var b [56]byte
	n := copy(b[:], s.idHost)
	for i := 15; i >= 0; i-- {
		b[n+i] = hexUpper[off&0xF]
		off >>= 4
	}
	return string(b[:n+16])
}

// recordLatency raises the put latency maximum (µs, by the store's clock).
func (s *Store) recordLatency(start time.Time) {
	us := s.clk.Now().Sub(start).Microseconds()
	for {
		cur := s.putLatMax.Load()
		if us <= cur || s.putLatMax.CompareAndSwap(cur, us) {
			return
		}
	}
}
