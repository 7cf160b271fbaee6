package txn

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/header"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// --- checker -----------------------------------------------------------------

// Load reads the op records from the persisted op progress into done. Start
// calls it before serving.
func (ts *Service) Load() {
	from := max(ts.offsets.Query(transCheckGroup, TransOpHalfTopic, 0), 0)
	ts.mu.Lock()
	ts.mu.opRead = message.QueueOffset(from)
	ts.mu.Unlock()
	ts.readOps(context.Background())
}

// readOps reads op records from opRead to the op queue's end into done.
func (ts *Service) readOps(ctx context.Context) {
	ts.mu.Lock()
	off := ts.mu.opRead
	ts.mu.Unlock()
	ts.scan(ctx, TransOpHalfTopic, off, func(v *message.RecordView, _ []byte) {
		n, err := strconv.ParseInt(string(v.Body), 10, 64)
		if err != nil {
			ts.log.Warn("txn: bad transaction op record", "offset", v.QueueOffset)
			return
		}
		ts.mu.Lock()
		ts.mu.done[message.QueueOffset(n)] = v.QueueOffset
		ts.mu.Unlock()
	}, func(next message.QueueOffset) {
		ts.mu.Lock()
		ts.mu.opRead = next
		ts.mu.Unlock()
	})
}

// scan calls f for every record of queue 0 of topic from offset on (rec is
// the record's bytes, owned by f), then end with the offset after the last
// one read.
func (ts *Service) scan(ctx context.Context, topic string, offset message.QueueOffset,
	f func(v *message.RecordView, rec []byte), end func(message.QueueOffset)) {
	for ctx.Err() == nil {
		res, err := ts.st.GetMessages(ctx, transCheckGroup, topic, 0, offset, transScanBatch, nil, nil)
		if err != nil {
			ts.log.Warn("txn: read transaction queue", "topic", topic, "offset", offset, "err", err)
			break
		}
		if res.Status == store.GetOffsetTooSmall {
			offset = res.MinOffset
			continue
		}
		body := res.Body
		for len(body) > 0 {
			var v message.RecordView
			if err := message.ParseRecord(body, &v); err != nil {
				ts.log.Error("txn: bad record in transaction queue", "topic", topic, "err", err)
				break
			}
			f(&v, body[:v.TotalSize:v.TotalSize])
			body = body[v.TotalSize:]
		}
		if res.NextBeginOffset <= offset {
			break
		}
		offset = res.NextBeginOffset
		if res.Status != store.GetFound && res.Status != store.GetNoMatchedMessage {
			break
		}
	}
	end(offset)
}

// loop is the transaction checker goroutine: started by Start (through goFunc),
// stopped by Close through ctx. Every TransactionCheckInterval it runs one
// round (Check).
func (ts *Service) loop(ctx context.Context) {
	t := ts.clk.NewTicker(ts.cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			ts.check(ctx)
		}
	}
}

// halfRecord is the latest record of a pending transaction found by a round.
type halfRecord struct {
	origin     message.QueueOffset
	offset     message.QueueOffset
	storeTime  int64
	checkTimes int
	rec        []byte
}

// check runs one checker round: it reads new op records, walks the half queue
// from the persisted progress, and for each unresolved transaction whose
// latest record is older than transactionTimeOut either discards it (checked
// transactionCheckMax times), resolves it (its commit is already stored), or
// appends a copy with TRANSACTION_CHECK_TIMES+1 and sends
// CHECK_TRANSACTION_STATE for the copy to one live producer of its group. It
// then persists the progress (half and op offsets under CID_RMQ_SYS_TRANS).
func (ts *Service) check(ctx context.Context) {
	ts.round.Lock()
	defer ts.round.Unlock()
	ts.readOps(ctx)

	start := message.QueueOffset(max(ts.offsets.Query(transCheckGroup, TransHalfTopic, 0), 0))
	latest := map[message.QueueOffset]*halfRecord{}
	var end message.QueueOffset
	ts.scan(ctx, TransHalfTopic, start, func(v *message.RecordView, rec []byte) {
		o := originOf(v)
		n, _ := strconv.Atoi(recordProp(v, message.PropertyTransactionCheckTimes))
		latest[o] = &halfRecord{origin: o, offset: v.QueueOffset, storeTime: v.StoreTimestamp, checkTimes: n, rec: rec}
	}, func(next message.QueueOffset) { end = next })
	if ctx.Err() != nil {
		return
	}

	var pending []*halfRecord
	for o, h := range latest {
		if !ts.isDone(o) {
			pending = append(pending, h)
		}
	}
	slices.SortFunc(pending, func(a, c *halfRecord) int { return int(a.offset - c.offset) })
	progress := end
	if len(pending) > 0 {
		progress = pending[0].offset
	}

	now := ts.clk.Now().UnixMilli()
	copies := message.QueueOffset(-1) // past the last check copy written this round
	defer func() { ts.waitDispatched(ctx, copies) }()
	for _, h := range pending {
		if ctx.Err() != nil {
			return
		}
		if qo := ts.checkOne(ctx, h, now); qo >= 0 {
			copies = max(copies, qo+1)
		}
	}

	// Persist the progress. Keep the done entries a record at or after the
	// progress may still name; the op progress is the first op record of
	// those (or the read position).
	ts.mu.Lock()
	opProgress := ts.mu.opRead
	for o, opOff := range ts.mu.done {
		h, seen := latest[o]
		if o < progress && (!seen || h.offset < progress) {
			delete(ts.mu.done, o)
			continue
		}
		if opOff >= 0 && opOff < opProgress {
			opProgress = opOff
		}
	}
	ts.mu.Unlock()
	ts.offsets.Commit(transCheckGroup, TransHalfTopic, 0, int64(progress))
	ts.offsets.Commit(transCheckGroup, TransOpHalfTopic, 0, int64(opProgress))
}

// checkOne handles one pending transaction in a round.
func (ts *Service) checkOne(ctx context.Context, h *halfRecord, now int64) message.QueueOffset {
	var v message.RecordView
	if err := message.ParseRecord(h.rec, &v); err != nil {
		return -1
	}
	timeout := ts.cfg.Timeout
	if h.checkTimes == 0 {
		if s := recordProp(&v, message.PropertyCheckImmunityTimeInSeconds); s != "" {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
				timeout = time.Duration(n) * time.Second
			}
		}
	}
	if now-h.storeTime < timeout.Milliseconds() {
		return -1
	}
	if h.checkTimes >= ts.cfg.CheckMax {
		ts.discard(&v, h)
		return -1
	}
	if ts.committedBefore(&v, h.origin) {
		if ts.claim(h.origin) {
			if err := ts.putOp(h.origin); err != nil {
				ts.unclaim(h.origin)
			}
		}
		return -1
	}
	group := recordProp(&v, message.PropertyProducerGroup)
	conns := ts.prod.ProducerConns(group)
	if len(conns) == 0 {
		ts.log.Debug("txn: no live producer for transaction check-back", "group", group, "origin", h.origin)
		return -1
	}
	// Append a copy that counts this check, so the count survives restarts.
	cp := v.MessageExt()
	cp.Properties[message.PropertyTransactionCheckTimes] = strconv.Itoa(h.checkTimes + 1)
	cp.Properties[message.PropertyTransactionPreparedQueueOff] = strconv.FormatInt(int64(h.origin), 10)
	cp.QueueOffset, cp.PhysOffset, cp.StoreTimestamp, cp.StoreSize = 0, 0, 0, 0
	res, err := ts.putSync(cp)
	copied := res.QueueOffset
	if err != nil {
		ts.log.Warn("txn: store transaction check copy", "origin", h.origin, "err", err)
		return -1
	}
	// The body is the copy as stored, shown with its real topic and queue, as
	// RocketMQ sends it.
	cp.PhysOffset, cp.QueueOffset, cp.StoreTimestamp = res.PhysOffset, res.QueueOffset, res.StoreTimestamp
	m := *cp
	m.Topic = cp.Properties[message.PropertyRealTopic]
	qid, _ := strconv.Atoi(cp.Properties[message.PropertyRealQueueID])
	m.QueueID = int32(qid)
	bodyRec, err := message.AppendRecord(nil, &m)
	if err != nil {
		ts.log.Warn("txn: encode transaction check body", "origin", h.origin, "err", err)
		return copied
	}
	uniq := cp.Properties[message.PropertyUniqKey]
	req := header.NewRequest(protocol.CheckTransactionState, &header.CheckTransactionState{
		TranStateTableOffset: int64(res.QueueOffset),
		CommitLogOffset:      int64(res.PhysOffset),
		MsgID:                uniq,
		TransactionID:        uniq,
		OffsetMsgID:          message.OffsetMsgID(cp.StoreHost, res.PhysOffset),
	})
	req.Body = bodyRec
	conn := conns[rand.IntN(len(conns))]
	sctx, cancel := context.WithTimeout(ctx, transCheckTimeout)
	defer cancel()
	if err := conn.InvokeOneway(sctx, req); err != nil && !errors.Is(err, remoting.ErrConnClosed) {
		ts.log.Warn("txn: send CHECK_TRANSACTION_STATE", "group", group, "peer", conn.RemoteAddr(), "err", err)
	}
	return copied
}

// waitDispatched waits (up to a few seconds) until the half queue holds
// every record below end, so that the next round reads the check copies this
// round wrote: a round that missed one would check the same transaction again
// with a stale count.
func (ts *Service) waitDispatched(ctx context.Context, end message.QueueOffset) {
	if end < 0 {
		return
	}
	deadline := ts.clk.Now().Add(5 * time.Second)
	for ts.st.MaxOffsetInQueue(TransHalfTopic, 0) < end && ctx.Err() == nil && ts.clk.Now().Before(deadline) {
		t := ts.clk.NewTimer(5 * time.Millisecond)
		<-t.C()
	}
}

// discard gives up on a transaction checked transactionCheckMax times: the
// half goes to TRANS_CHECK_MAX_TIME_TOPIC (for operators) and an op record
// resolves it.
func (ts *Service) discard(v *message.RecordView, h *halfRecord) {
	if !ts.claim(h.origin) {
		return
	}
	m := v.MessageExt()
	m.Topic, m.QueueID = TransCheckMaxTimeTopic, 0
	m.QueueOffset, m.PhysOffset, m.StoreTimestamp, m.StoreSize = 0, 0, 0, 0
	if _, err := ts.putSync(m); err != nil {
		ts.log.Warn("txn: store discarded transaction", "origin", h.origin, "err", err)
	}
	if err := ts.putOp(h.origin); err != nil {
		ts.unclaim(h.origin)
		ts.log.Error("txn: write op record of discarded transaction", "origin", h.origin, "err", err)
		return
	}
	ts.log.Warn("txn: transaction discarded after too many check-backs", "checks", h.checkTimes,
		"transactionCheckMax", ts.cfg.CheckMax, "producerGroup", recordProp(v, message.PropertyProducerGroup),
		"topic", recordProp(v, message.PropertyRealTopic), "msgId", recordProp(v, message.PropertyUniqKey), "origin", h.origin)
}
