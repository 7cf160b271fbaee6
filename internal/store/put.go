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

// Put implements MessageStore. The record is encoded outside any lock into a
// pooled buffer; the commit log's append lock covers only offset assignment and
// the copy. No goroutine is parked per request: SYNC_FLUSH completion comes from
// the commit log's group commit. A message with property WAIT=false is answered
// at once even with SYNC_FLUSH (RocketMQ's waitStoreMsgOK), while its flush is
// still requested.
func (s *Store) Put(msg *message.MessageExt, done func(PutResult, error)) {
	start := s.clk.Now()
	if err := s.admit(); err != nil {
		done(PutResult{}, err)
		return
	}
	tran := msg.SysFlag.TransactionType()
	req := putReq{advance: tran == message.SysFlagTransactionNotType || tran == message.SysFlagTransactionCommitType}
	if req.advance {
		req.ctr = s.counter(msg.Topic, msg.QueueID)
	}
	msg.StoreHost = s.cfg.StoreHost
	bp := s.getBuf()
	rec, err := message.AppendRecord((*bp)[:0], msg)
	*bp = rec
	if err != nil {
		s.putBuf(bp)
		done(PutResult{}, fmt.Errorf("%w: %w", ErrBadMessage, err))
		return
	}
	if len(rec) > s.cfg.MaxMessageSize {
		s.putBuf(bp)
		done(PutResult{}, fmt.Errorf("%w: %d bytes, max %d", ErrMessageTooLarge, len(rec), s.cfg.MaxMessageSize))
		return
	}
	res, err := s.appendRecords(rec, &req)
	s.putBuf(bp)
	if err != nil {
		done(PutResult{}, err)
		return
	}
	pr := PutResult{
		PhysOffset:     res.Offset,
		QueueOffset:    res.QueueOffset,
		Size:           int(res.End - res.Offset),
		StoreTimestamp: res.StoreTimestamp,
		MsgID:          s.offsetMsgID(res.Offset),
		Count:          1,
	}
	s.putCount.Add(1)
	s.complete(pr, res.End, msg.Properties[message.PropertyWaitStoreMsgOK] != "false", start, done)
}

// PutBatch implements MessageStore: every message must have the same topic and
// queue id (else ErrBadBatch); they are encoded back to back and appended at
// once, so they get consecutive physical and queue offsets.
func (s *Store) PutBatch(msgs []*message.MessageExt, done func(PutResult, error)) {
	start := s.clk.Now()
	if len(msgs) == 0 {
		done(PutResult{}, fmt.Errorf("%w: empty", ErrBadBatch))
		return
	}
	first := msgs[0]
	for _, m := range msgs[1:] {
		if m.Topic != first.Topic || m.QueueID != first.QueueID {
			done(PutResult{}, ErrBadBatch)
			return
		}
	}
	if err := s.admit(); err != nil {
		done(PutResult{}, err)
		return
	}
	tran := first.SysFlag.TransactionType()
	req := putReq{advance: tran == message.SysFlagTransactionNotType || tran == message.SysFlagTransactionCommitType}
	if req.advance {
		req.ctr = s.counter(first.Topic, first.QueueID)
	}
	bp := s.getBuf()
	buf := (*bp)[:0]
	sizes := make([]int, len(msgs))
	for i, m := range msgs {
		m.StoreHost = s.cfg.StoreHost
		n := len(buf)
		var err error
		buf, err = message.AppendRecord(buf, m)
		if err != nil {
			*bp = buf
			s.putBuf(bp)
			done(PutResult{}, fmt.Errorf("%w: message %d: %w", ErrBadMessage, i, err))
			return
		}
		sizes[i] = len(buf) - n
	}
	*bp = buf
	if len(buf) > s.cfg.MaxMessageSize {
		s.putBuf(bp)
		done(PutResult{}, fmt.Errorf("%w: batch of %d bytes, max %d", ErrMessageTooLarge, len(buf), s.cfg.MaxMessageSize))
		return
	}
	res, err := s.appendRecords(buf, &req)
	s.putBuf(bp)
	if err != nil {
		done(PutResult{}, err)
		return
	}
	pr := PutResult{
		PhysOffset:     res.Offset,
		QueueOffset:    res.QueueOffset,
		Size:           int(res.End - res.Offset),
		StoreTimestamp: res.StoreTimestamp,
		MsgIDs:         make([]string, len(msgs)),
		Count:          len(msgs),
	}
	off := res.Offset
	for i, n := range sizes {
		pr.MsgIDs[i] = s.offsetMsgID(off)
		off += message.PhysOffset(n)
	}
	pr.MsgID = pr.MsgIDs[0]
	s.putCount.Add(int64(len(msgs)))
	s.complete(pr, res.End, first.Properties[message.PropertyWaitStoreMsgOK] != "false", start, done)
}

// admit fails fast for a closed store or a full disk.
func (s *Store) admit() error {
	if s.closed.Load() {
		return ErrClosed
	}
	if s.diskFull.Load() {
		return s.refuseForSpace()
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

// complete answers a stored put per the flush mode: SYNC_FLUSH once the group
// commit covering it has fsynced; ASYNC_FLUSH (and a SYNC_FLUSH message sent with
// WAIT=false) once the commit log's writer has handed it to the OS, so a crash of
// the broker process never loses an acknowledged message.
func (s *Store) complete(pr PutResult, end message.PhysOffset, wait bool, start time.Time, done func(PutResult, error)) {
	if s.cfg.FlushDiskType == SyncFlush {
		if wait {
			s.completeSync(pr, end, start, done)
			return
		}
		s.clog.SyncAsync(end, func(error) {})
	}
	s.completeWritten(pr, end, start, done)
}

// completeWritten answers once the record is written to the OS.
func (s *Store) completeWritten(pr PutResult, end message.PhysOffset, start time.Time, done func(PutResult, error)) {
	s.clog.WrittenAsync(end, func(err error) {
		s.recordLatency(start)
		if err != nil {
			done(PutResult{}, s.mapAppendErr(err))
			return
		}
		done(pr, nil)
	})
}

// completeSync answers from the group commit. It is separate from complete so
// that the closure (and pr) is allocated on this path only.
func (s *Store) completeSync(pr PutResult, end message.PhysOffset, start time.Time, done func(PutResult, error)) {
	s.clog.SyncAsync(end, func(err error) {
		s.recordLatency(start)
		switch {
		case err == nil:
			done(pr, nil)
		case errors.Is(err, commitlog.ErrFlushTimeout):
			pr.Status = PutFlushDiskTimeout
			done(pr, nil)
		default:
			done(PutResult{}, s.mapAppendErr(err))
		}
	})
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
