package broker

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// Transaction system topics and the checker's offset group (RocketMQ's names).
const (
	TransHalfTopic         = "RMQ_SYS_TRANS_HALF_TOPIC"
	TransOpHalfTopic       = "RMQ_SYS_TRANS_OP_HALF_TOPIC"
	TransCheckMaxTimeTopic = "TRANS_CHECK_MAX_TIME_TOPIC"
	transCheckGroup        = "CID_RMQ_SYS_TRANS"
	transOpTag             = "d"
	// transScanBatch is how many half or op records one read returns.
	transScanBatch = 32
	// transCheckTimeout bounds queueing one CHECK_TRANSACTION_STATE frame.
	transCheckTimeout = 3 * time.Second
)

// Transaction resolutions (commitOrRollback and the sysFlag transaction bits).
const (
	tranUnknown  = 0
	tranCommit   = 8
	tranRollback = 12
)

// txnService keeps the broker's transaction state. See docs/design/broker.md
// "Transactions": a transaction is named by its origin, the half-topic queue
// offset of the first half record; check-back copies carry the origin in
// TRAN_PREPARED_QUEUE_OFFSET. An op record (body: the origin in decimal)
// resolves the origin and every copy of it.
//
// Safe for concurrent use: END_TRANSACTION processors and the checker
// goroutine share it under mu; no lock is held across store or network calls.
type txnService struct {
	b *Broker
	// round serialises checker rounds (Check and the loop).
	round sync.Mutex

	mu struct {
		sync.Mutex
		// done maps a resolved origin to the queue offset of its op record, or
		// -1 while that record has not been read back (resolved in this run).
		done map[message.QueueOffset]message.QueueOffset
		// opRead is the next op-queue offset to read into done.
		opRead message.QueueOffset
	}
}

func newTxnService(b *Broker) *txnService {
	ts := &txnService{b: b}
	ts.mu.done = map[message.QueueOffset]message.QueueOffset{}
	return ts
}

// originOf returns the transaction's origin of a half record.
func originOf(v *message.RecordView) message.QueueOffset {
	if s, ok := message.LookupProperty(v.Properties, message.PropertyTransactionPreparedQueueOff); ok {
		if n, err := strconv.ParseInt(string(s), 10, 64); err == nil {
			return message.QueueOffset(n)
		}
	}
	return v.QueueOffset
}

func recordProp(v *message.RecordView, name string) string {
	s, _ := message.LookupProperty(v.Properties, name)
	return string(s)
}

// lookRecord reads the record at phys. A record whose put was just answered
// may not be readable yet (the producer's END_TRANSACTION follows the send
// answer at once), so a miss is retried for up to lookRetryFor.
func (b *Broker) lookRecord(phys message.PhysOffset) ([]byte, error) {
	const lookRetryFor, lookRetryEvery = 500 * time.Millisecond, 5 * time.Millisecond
	deadline := b.clk.Now().Add(lookRetryFor)
	for {
		rec, err := b.store.LookMessageByOffset(phys, nil)
		if err == nil || !errors.Is(err, store.ErrNotFound) || b.clk.Now().After(deadline) {
			return rec, err
		}
		t := b.clk.NewTimer(lookRetryEvery)
		<-t.C()
	}
}

// putSync stores msg and waits for the store's answer.
func (b *Broker) putSync(msg *message.MessageExt) (store.PutResult, error) {
	type result struct {
		res store.PutResult
		err error
	}
	ch := make(chan result, 1)
	b.put([]*message.MessageExt{msg}, func(res store.PutResult, err error) { ch <- result{res, err} })
	r := <-ch
	return r.res, r.err
}

// --- half messages ---------------------------------------------------------

// sendHalf stores a transactional PREPARED send as a half message: topic
// RMQ_SYS_TRANS_HALF_TOPIC queue 0, REAL_TOPIC/REAL_QID added, transaction
// bits cleared (so it is dispatched to the half queue, invisible to
// consumers), DELAY ignored. The answer is the half record's msgId and queue
// offset, which the producer echoes in END_TRANSACTION.
func (b *Broker) sendHalf(t *sendTask, h *sendHeader, sysFlag message.SysFlag, props map[string]string, bornHost netip.AddrPort) {
	req := t.req
	if b.cfg.RejectTransactionMessage {
		b.finishSend(t, b.sendResponse(req, protocol.NoPermission,
			"the broker["+b.cfg.BrokerName+"] sending transaction message is forbidden"))
		return
	}
	if len(req.Body) > b.cfg.Store.MaxMessageSize {
		b.finishSend(t, b.sendResponse(req, protocol.MessageIllegal,
			"the message body size "+strconv.Itoa(len(req.Body))+" is larger than the maximum "+strconv.Itoa(b.cfg.Store.MaxMessageSize)))
		return
	}
	props[message.PropertyCluster] = b.cfg.ClusterName
	props[message.PropertyRealTopic] = h.topic
	props[message.PropertyRealQueueID] = strconv.Itoa(int(h.queueID))
	delete(props, message.PropertyWaitStoreMsgOK)
	msg := &message.MessageExt{
		Message:        message.Message{Topic: TransHalfTopic, Flag: h.flag, Properties: props, Body: req.Body},
		QueueID:        0,
		SysFlag:        sysFlag.WithTransactionType(message.SysFlagTransactionNotType),
		BornTimestamp:  h.bornTimestamp,
		BornHost:       bornHost,
		StoreHost:      b.advertised,
		ReconsumeTimes: h.reconsumeTimes,
	}
	b.put([]*message.MessageExt{msg}, func(res store.PutResult, err error) {
		b.finishSend(t, b.putResponse(req, h.queueID, res, err, false))
	})
}

// --- END_TRANSACTION ---------------------------------------------------------

// processEndTransaction handles END_TRANSACTION (37). Unknown (0) gets no
// answer, as in RocketMQ. Commit and rollback find the half record by
// commitLogOffset and check it (a half record, same producer group, same
// queue offset); a transaction already resolved is answered SUCCESS without
// storing anything again, so a commit is delivered once however often it is
// sent. msgId and transactionId are only logged: the Go client v2.1.2 fills
// them unreliably on the check-back path.
func (b *Broker) processEndTransaction(_ context.Context, conn *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	r := extReader{req: req}
	group := r.str("producerGroup", true)
	tsOff := r.int64("tranStateTableOffset", true)
	clOff := r.int64("commitLogOffset", true)
	typ := r.int32("commitOrRollback", true)
	fromCheck := r.bool("fromTransactionCheck")
	if r.err != nil {
		return answerUnlessOneway(req, protocol.NewResponse(req, protocol.SystemError, r.err.Error())), nil
	}
	if typ != tranCommit && typ != tranRollback {
		b.log.Debug("broker: transaction state unknown, waiting for check-back", "group", group,
			"commitLogOffset", clOff, "msgId", req.Ext("msgId"), "fromCheck", fromCheck, "remark", req.Remark, "peer", conn.RemoteAddr())
		return nil, nil
	}
	if !b.gate.enter() { // Close waits for admitted writes
		return answerUnlessOneway(req, respond(req, protocol.ServiceNotAvailable, "broker %s is shutting down", b.cfg.BrokerName)), nil
	}
	defer b.gate.exit()
	rec, err := b.lookRecord(message.PhysOffset(clOff))
	var v message.RecordView
	if err == nil {
		err = message.ParseRecord(rec, &v)
	}
	if err != nil || string(v.Topic) != TransHalfTopic {
		return answerUnlessOneway(req, protocol.NewResponse(req, protocol.SystemError, "Find prepared transaction message failed")), nil
	}
	switch {
	case recordProp(&v, message.PropertyProducerGroup) != group:
		return answerUnlessOneway(req, protocol.NewResponse(req, protocol.SystemError, "The producer group wrong")), nil
	case int64(v.QueueOffset) != tsOff:
		return answerUnlessOneway(req, protocol.NewResponse(req, protocol.SystemError, "The transaction state table offset wrong")), nil
	case int64(v.PhysOffset) != clOff:
		return answerUnlessOneway(req, protocol.NewResponse(req, protocol.SystemError, "The commit log offset wrong")), nil
	}
	code, remark := b.txn.end(&v, typ == tranCommit)
	return answerUnlessOneway(req, protocol.NewResponse(req, code, remark)), nil
}

func answerUnlessOneway(req, resp *protocol.Command) *protocol.Command {
	if req.IsOneway() {
		return nil
	}
	return resp
}

// claim marks origin resolved in memory; false if it already was.
func (ts *txnService) claim(origin message.QueueOffset) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if _, ok := ts.mu.done[origin]; ok {
		return false
	}
	ts.mu.done[origin] = -1
	return true
}

func (ts *txnService) unclaim(origin message.QueueOffset) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.mu.done[origin] == -1 {
		delete(ts.mu.done, origin)
	}
}

func (ts *txnService) isDone(origin message.QueueOffset) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	_, ok := ts.mu.done[origin]
	return ok
}

// end commits or rolls back the transaction of half record v and returns the
// answer's code and remark.
func (ts *txnService) end(v *message.RecordView, commit bool) (protocol.ResponseCode, string) {
	b := ts.b
	origin := originOf(v)
	if !ts.claim(origin) {
		b.log.Debug("broker: transaction already resolved", "origin", origin, "commit", commit)
		return protocol.Success, ""
	}
	if commit && !ts.committedBefore(v, origin) {
		res, err := b.putSync(committedMessage(v, origin))
		if err != nil {
			ts.unclaim(origin)
			resp := b.putResponse(protocol.NewRequest(protocol.EndTransaction, nil), 0, res, err, false)
			return resp.ResponseCode(), resp.Remark
		}
		if err := ts.putOp(origin); err != nil {
			// The message is committed; without the op record a restart may
			// check the half again, and committedBefore finds this commit.
			b.log.Error("broker: write transaction op record after commit", "origin", origin, "err", err)
		}
		switch res.Status {
		case store.PutFlushDiskTimeout:
			return protocol.FlushDiskTimeout, ""
		case store.PutFlushSlaveTimeout:
			return protocol.FlushSlaveTimeout, ""
		case store.PutSlaveNotAvailable:
			return protocol.SlaveNotAvailable, ""
		}
		return protocol.Success, ""
	}
	if err := ts.putOp(origin); err != nil {
		ts.unclaim(origin)
		return protocol.SystemError, "write transaction op record: " + err.Error()
	}
	return protocol.Success, ""
}

// committedMessage builds the message a commit stores in the real topic from
// half record v: REAL_TOPIC/REAL_QID restored, transaction bits COMMIT,
// PREPARED_TRANSACTION_OFFSET = the half record's commit-log offset,
// REAL_TOPIC, REAL_QID and TRANSACTION_CHECK_TIMES removed; TRAN_MSG, PGROUP
// and UNIQ_KEY kept (the Go consumer sets TransactionId from them), and
// TRAN_PREPARED_QUEUE_OFFSET = origin, which committedBefore looks for.
func committedMessage(v *message.RecordView, origin message.QueueOffset) *message.MessageExt {
	m := v.MessageExt()
	m.Topic = m.Properties[message.PropertyRealTopic]
	qid, _ := strconv.Atoi(m.Properties[message.PropertyRealQueueID])
	m.QueueID = int32(qid)
	delete(m.Properties, message.PropertyRealTopic)
	delete(m.Properties, message.PropertyRealQueueID)
	delete(m.Properties, message.PropertyTransactionCheckTimes)
	m.Properties[message.PropertyTransactionPreparedQueueOff] = strconv.FormatInt(int64(origin), 10)
	m.SysFlag = m.SysFlag.WithTransactionType(message.SysFlagTransactionCommitType)
	m.PreparedTransactionOffset = v.PhysOffset
	m.QueueOffset, m.PhysOffset, m.StoreTimestamp, m.StoreSize = 0, 0, 0, 0
	return m
}

// committedBefore reports whether the real topic already holds the commit of
// origin: the case of a commit stored just before a crash that lost its op
// record. It looks the half's UNIQ_KEY up in the index.
func (ts *txnService) committedBefore(v *message.RecordView, origin message.QueueOffset) bool {
	b := ts.b
	topic, key := recordProp(v, message.PropertyRealTopic), recordProp(v, message.PropertyUniqKey)
	if topic == "" || key == "" {
		return false
	}
	qr, err := b.store.QueryMessage(topic, key, 64, 0, b.clk.Now().UnixMilli()+1)
	if err != nil {
		return false
	}
	want := strconv.FormatInt(int64(origin), 10)
	for _, rec := range qr.Records {
		var c message.RecordView
		if message.ParseRecord(rec, &c) == nil && c.SysFlag.TransactionType() == message.SysFlagTransactionCommitType &&
			recordProp(&c, message.PropertyTransactionPreparedQueueOff) == want {
			return true
		}
	}
	return false
}

// putOp writes the op record that resolves origin.
func (ts *txnService) putOp(origin message.QueueOffset) error {
	b := ts.b
	_, err := b.putSync(&message.MessageExt{
		Message: message.Message{
			Topic:      TransOpHalfTopic,
			Properties: map[string]string{message.PropertyTags: transOpTag},
			Body:       strconv.AppendInt(nil, int64(origin), 10),
		},
		BornTimestamp: b.clk.Now().UnixMilli(),
		BornHost:      b.advertised,
		StoreHost:     b.advertised,
	})
	return err
}

// --- checker -----------------------------------------------------------------

// load reads the op records from the persisted op progress into done. Start
// calls it before serving.
func (ts *txnService) load() {
	b := ts.b
	from := max(b.offsets.query(transCheckGroup, TransOpHalfTopic, 0), 0)
	ts.mu.Lock()
	ts.mu.opRead = message.QueueOffset(from)
	ts.mu.Unlock()
	ts.readOps(context.Background())
}

// readOps reads op records from opRead to the op queue's end into done.
func (ts *txnService) readOps(ctx context.Context) {
	b := ts.b
	ts.mu.Lock()
	off := ts.mu.opRead
	ts.mu.Unlock()
	ts.scan(ctx, TransOpHalfTopic, off, func(v *message.RecordView, _ []byte) {
		n, err := strconv.ParseInt(string(v.Body), 10, 64)
		if err != nil {
			b.log.Warn("broker: bad transaction op record", "offset", v.QueueOffset)
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
func (ts *txnService) scan(ctx context.Context, topic string, offset message.QueueOffset,
	f func(v *message.RecordView, rec []byte), end func(message.QueueOffset)) {
	b := ts.b
	for ctx.Err() == nil {
		res, err := b.store.GetMessages(ctx, transCheckGroup, topic, 0, offset, transScanBatch, nil, nil)
		if err != nil {
			b.log.Warn("broker: read transaction queue", "topic", topic, "offset", offset, "err", err)
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
				b.log.Error("broker: bad record in transaction queue", "topic", topic, "err", err)
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
func (ts *txnService) loop(ctx context.Context) {
	ts.b.every(ctx, ts.b.cfg.TransactionCheckInterval, func() { ts.check(ctx) })
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
func (ts *txnService) check(ctx context.Context) {
	ts.round.Lock()
	defer ts.round.Unlock()
	b := ts.b
	ts.readOps(ctx)

	start := message.QueueOffset(max(b.offsets.query(transCheckGroup, TransHalfTopic, 0), 0))
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

	now := b.clk.Now().UnixMilli()
	for _, h := range pending {
		if ctx.Err() != nil {
			return
		}
		ts.checkOne(ctx, h, now)
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
	b.offsets.commit(transCheckGroup, TransHalfTopic, 0, int64(progress))
	b.offsets.commit(transCheckGroup, TransOpHalfTopic, 0, int64(opProgress))
}

// checkOne handles one pending transaction in a round.
func (ts *txnService) checkOne(ctx context.Context, h *halfRecord, now int64) {
	b := ts.b
	var v message.RecordView
	if err := message.ParseRecord(h.rec, &v); err != nil {
		return
	}
	timeout := b.cfg.TransactionTimeOut
	if h.checkTimes == 0 {
		if s := recordProp(&v, message.PropertyCheckImmunityTimeInSeconds); s != "" {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
				timeout = time.Duration(n) * time.Second
			}
		}
	}
	if now-h.storeTime < timeout.Milliseconds() {
		return
	}
	if h.checkTimes >= b.cfg.TransactionCheckMax {
		ts.discard(&v, h)
		return
	}
	if ts.committedBefore(&v, h.origin) {
		if ts.claim(h.origin) {
			if err := ts.putOp(h.origin); err != nil {
				ts.unclaim(h.origin)
			}
		}
		return
	}
	group := recordProp(&v, message.PropertyProducerGroup)
	conns := b.clients.ProducerConns(group)
	if len(conns) == 0 {
		b.log.Debug("broker: no live producer for transaction check-back", "group", group, "origin", h.origin)
		return
	}
	// Append a copy that counts this check, so the count survives restarts.
	cp := v.MessageExt()
	cp.Properties[message.PropertyTransactionCheckTimes] = strconv.Itoa(h.checkTimes + 1)
	cp.Properties[message.PropertyTransactionPreparedQueueOff] = strconv.FormatInt(int64(h.origin), 10)
	cp.QueueOffset, cp.PhysOffset, cp.StoreTimestamp, cp.StoreSize = 0, 0, 0, 0
	res, err := b.putSync(cp)
	if err != nil {
		b.log.Warn("broker: store transaction check copy", "origin", h.origin, "err", err)
		return
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
		b.log.Warn("broker: encode transaction check body", "origin", h.origin, "err", err)
		return
	}
	uniq := cp.Properties[message.PropertyUniqKey]
	req := protocol.NewRequest(protocol.CheckTransactionState, map[string]string{
		"tranStateTableOffset": strconv.FormatInt(int64(res.QueueOffset), 10),
		"commitLogOffset":      strconv.FormatInt(int64(res.PhysOffset), 10),
		"msgId":                uniq,
		"transactionId":        uniq,
		"offsetMsgId":          message.OffsetMsgID(cp.StoreHost, res.PhysOffset),
	})
	req.Body = bodyRec
	conn := conns[rand.IntN(len(conns))]
	sctx, cancel := context.WithTimeout(ctx, transCheckTimeout)
	defer cancel()
	if err := conn.InvokeOneway(sctx, req); err != nil && !errors.Is(err, remoting.ErrConnClosed) {
		b.log.Warn("broker: send CHECK_TRANSACTION_STATE", "group", group, "peer", conn.RemoteAddr(), "err", err)
	}
}

// discard gives up on a transaction checked transactionCheckMax times: the
// half goes to TRANS_CHECK_MAX_TIME_TOPIC (for operators) and an op record
// resolves it.
func (ts *txnService) discard(v *message.RecordView, h *halfRecord) {
	b := ts.b
	if !ts.claim(h.origin) {
		return
	}
	m := v.MessageExt()
	m.Topic, m.QueueID = TransCheckMaxTimeTopic, 0
	m.QueueOffset, m.PhysOffset, m.StoreTimestamp, m.StoreSize = 0, 0, 0, 0
	if _, err := b.putSync(m); err != nil {
		b.log.Warn("broker: store discarded transaction", "origin", h.origin, "err", err)
	}
	if err := ts.putOp(h.origin); err != nil {
		ts.unclaim(h.origin)
		b.log.Error("broker: write op record of discarded transaction", "origin", h.origin, "err", err)
		return
	}
	b.log.Warn("broker: transaction discarded after too many check-backs", "checks", h.checkTimes,
		"transactionCheckMax", b.cfg.TransactionCheckMax, "producerGroup", recordProp(v, message.PropertyProducerGroup),
		"topic", recordProp(v, message.PropertyRealTopic), "msgId", recordProp(v, message.PropertyUniqKey), "origin", h.origin)
}

// registerTxnQueryReply registers END_TRANSACTION and the reply codes on
// pools of their own (they wait for the store or for a client), and the query
// codes on the admin pool.
func (b *Broker) registerTxnQueryReply(srv *remoting.Server, adminPool *remoting.Pool) {
	txPool := remoting.NewPool("transaction", 4, 10000)
	srv.Register(protocol.EndTransaction, remoting.ProcessorFunc(b.processEndTransaction), txPool)
	replyPool := remoting.NewPool("reply", 4, 10000)
	for _, code := range []protocol.RequestCode{protocol.SendReplyMessage, protocol.SendReplyMessageV2} {
		srv.Register(code, remoting.ProcessorFunc(b.processSendReply), replyPool)
	}
	srv.Register(protocol.QueryMessage, remoting.ProcessorFunc(b.processQueryMessage), adminPool)
	srv.Register(protocol.ViewMessageByID, remoting.ProcessorFunc(b.processViewMessageByID), adminPool)
	srv.Register(protocol.QueryConsumeTimeSpan, remoting.ProcessorFunc(b.processQueryConsumeTimeSpan), adminPool)
}
