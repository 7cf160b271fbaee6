package txn

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/petrelmq/petrel/internal/broker/answer"
	"github.com/petrelmq/petrel/internal/broker/meta"
	"github.com/petrelmq/petrel/internal/lifecycle"
	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/header"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// Names of the system topics (meta's) and other constants.
const (
	TransHalfTopic         = meta.TopicTransHalf
	TransOpHalfTopic       = meta.TopicTransOpHalf
	TransCheckMaxTimeTopic = meta.TopicTransCheckMax
	transCheckGroup        = meta.GroupTransCheck
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

// Store is what transactions need from the store.
type Store interface {
	store.MessageStore
}

// Producers finds the connections of a producer group's live clients.
type Producers interface {
	ProducerConns(group string) []*remoting.Conn
}

// Config configures a Service.
type Config struct {
	BrokerName string
	// Timeout is transactionTimeOut: a half message is checked back once it is
	// this old without a commit or rollback.
	Timeout time.Duration
	// CheckMax is transactionCheckMax: check-backs before a discard.
	CheckMax int
	// CheckInterval is transactionCheckInterval.
	CheckInterval time.Duration
	// Check is true on a master: only a master checks back.
	Check bool
	// StoreHost is the advertised address (op records' born and store host).
	StoreHost netip.AddrPort
	// FirstUse, when set, is called with the op topic before each op record
	// is put, so the topic table lists it once used (as RocketMQ 4.9's does).
	FirstUse func(topic string)
}

// Service keeps the broker's transaction state. See docs/design/broker.md
// "Transactions": a transaction is named by its origin, the half-topic queue
// offset of the first half record; check-back copies carry the origin in
// TRAN_PREPARED_QUEUE_OFFSET. An op record (body: the origin in decimal)
// resolves the origin and every copy of it.
//
// Safe for concurrent use: END_TRANSACTION processors and the checker
// goroutine share it under mu; no lock is held across store or network calls.
type Service struct {
	cfg     Config
	st      Store
	offsets *meta.Offsets
	prod    Producers
	gate    *lifecycle.Gate
	clk     clock.Clock
	log     *slog.Logger
	grp     lifecycle.Group
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

// New builds the room; Load reads its state before the broker serves.
func New(cfg Config, st Store, offsets *meta.Offsets, prod Producers, gate *lifecycle.Gate,
	clk clock.Clock, log *slog.Logger) *Service {
	ts := &Service{cfg: cfg, st: st, offsets: offsets, prod: prod, gate: gate, clk: clk, log: log}
	ts.mu.done = map[message.QueueOffset]message.QueueOffset{}
	return ts
}

// Start launches the checker (on a master).
func (ts *Service) Start(ctx context.Context) error {
	if err := ts.grp.Start(ctx, "txn"); err != nil {
		return err
	}
	if ts.cfg.Check {
		ts.grp.Go("checker", ts.loop)
	}
	return nil
}

// Close stops the checker and waits for a round in progress.
func (ts *Service) Close() error {
	ts.grp.Stop()
	return nil
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
func (ts *Service) lookRecord(phys message.PhysOffset) ([]byte, error) {
	const lookRetryFor, lookRetryEvery = 500 * time.Millisecond, 5 * time.Millisecond
	deadline := ts.clk.Now().Add(lookRetryFor)
	for {
		rec, err := ts.st.LookMessageByOffset(phys, nil)
		if err == nil || !errors.Is(err, store.ErrNotFound) || ts.clk.Now().After(deadline) {
			return rec, err
		}
		t := ts.clk.NewTimer(lookRetryEvery)
		<-t.C()
	}
}

// putSync stores msg and waits for the store's answer.
func (ts *Service) putSync(msg *message.MessageExt) (store.PutResult, error) {
	return store.PutWait(context.Background(), ts.st, msg)
}

// --- half messages ---------------------------------------------------------

// Half turns a transactional PREPARED send into its half message: topic
// RMQ_SYS_TRANS_HALF_TOPIC queue 0, REAL_TOPIC/REAL_QID added, transaction
// bits cleared (so it is dispatched to the half queue, invisible to
// consumers), DELAY ignored. The send's answer is the half record's msgId and
// queue offset, which the producer echoes in END_TRANSACTION.
func Half(msg *message.MessageExt) {
	msg.Properties[message.PropertyRealTopic] = msg.Topic
	msg.Properties[message.PropertyRealQueueID] = strconv.Itoa(int(msg.QueueID))
	msg.Topic, msg.QueueID = TransHalfTopic, 0
	msg.SysFlag = msg.SysFlag.WithTransactionType(message.SysFlagTransactionNotType)
}

// IsPrepared reports whether a send is a transaction's half message.
func IsPrepared(msg *message.MessageExt) bool {
	return msg.Properties[message.PropertyTransactionPrepared] == "true" ||
		msg.SysFlag.TransactionType() == message.SysFlagTransactionPreparedType
}

// --- END_TRANSACTION ---------------------------------------------------------

// ProcessEndTransaction handles END_TRANSACTION (37). Unknown (0) gets no
// answer, as in RocketMQ. Commit and rollback find the half record by
// commitLogOffset and check it (a half record, same producer group, same
// queue offset); a transaction already resolved is answered SUCCESS without
// storing anything again, so a commit is delivered once however often it is
// sent. msgId and transactionId are only logged: the Go client v2.1.2 fills
// them unreliably on the check-back path.
func (ts *Service) ProcessEndTransaction(_ context.Context, conn *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	var h header.EndTransaction
	if err := h.Decode(req); err != nil {
		return answer.UnlessOneway(req, protocol.NewResponse(req, protocol.SystemError, err.Error())), nil
	}
	group, tsOff, clOff, typ, fromCheck := h.ProducerGroup, h.TranStateTableOffset, h.CommitLogOffset, h.CommitOrRollback, h.FromTransactionCheck
	if typ != tranCommit && typ != tranRollback {
		ts.log.Debug("txn: transaction state unknown, waiting for check-back", "group", group,
			"commitLogOffset", clOff, "msgId", h.MsgID, "fromCheck", fromCheck, "remark", req.Remark, "peer", conn.RemoteAddr())
		return nil, nil
	}
	if !ts.gate.Enter() { // Close waits for admitted writes
		return answer.UnlessOneway(req, answer.Respond(req, protocol.ServiceNotAvailable, "broker %s is shutting down", ts.cfg.BrokerName)), nil
	}
	defer ts.gate.Exit()
	rec, err := ts.lookRecord(message.PhysOffset(clOff))
	var v message.RecordView
	if err == nil {
		err = message.ParseRecord(rec, &v)
	}
	if err != nil || string(v.Topic) != TransHalfTopic {
		return answer.UnlessOneway(req, protocol.NewResponse(req, protocol.SystemError, "Find prepared transaction message failed")), nil
	}
	switch {
	case recordProp(&v, message.PropertyProducerGroup) != group:
		return answer.UnlessOneway(req, protocol.NewResponse(req, protocol.SystemError, "The producer group wrong")), nil
	case int64(v.QueueOffset) != tsOff:
		return answer.UnlessOneway(req, protocol.NewResponse(req, protocol.SystemError, "The transaction state table offset wrong")), nil
	case int64(v.PhysOffset) != clOff:
		return answer.UnlessOneway(req, protocol.NewResponse(req, protocol.SystemError, "The commit log offset wrong")), nil
	}
	code, remark := ts.end(&v, typ == tranCommit)
	return answer.UnlessOneway(req, protocol.NewResponse(req, code, remark)), nil
}

// claim marks origin resolved in memory; false if it already was.
func (ts *Service) claim(origin message.QueueOffset) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if _, ok := ts.mu.done[origin]; ok {
		return false
	}
	ts.mu.done[origin] = -1
	return true
}

func (ts *Service) unclaim(origin message.QueueOffset) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.mu.done[origin] == -1 {
		delete(ts.mu.done, origin)
	}
}

func (ts *Service) isDone(origin message.QueueOffset) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	_, ok := ts.mu.done[origin]
	return ok
}

// end commits or rolls back the transaction of half record v and returns the
// answer's code and remark.
func (ts *Service) end(v *message.RecordView, commit bool) (protocol.ResponseCode, string) {
	origin := originOf(v)
	if !ts.claim(origin) {
		ts.log.Debug("txn: transaction already resolved", "origin", origin, "commit", commit)
		return protocol.Success, ""
	}
	if commit && !ts.committedBefore(v, origin) {
		res, err := ts.putSync(committedMessage(v, origin))
		if err != nil {
			ts.unclaim(origin)
			code, remark, unexpected := answer.Put(res, err)
			if unexpected {
				ts.log.Error("txn: store committed message", "origin", origin, "err", err)
			}
			return code, remark
		}
		if err := ts.putOp(origin); err != nil {
			// The message is committed; without the op record a restart may
			// check the half again, and committedBefore finds this commit.
			ts.log.Error("txn: write transaction op record after commit", "origin", origin, "err", err)
		}
		code, _, _ := answer.Put(res, nil)
		return code, ""
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
func (ts *Service) committedBefore(v *message.RecordView, origin message.QueueOffset) bool {
	topic, key := recordProp(v, message.PropertyRealTopic), recordProp(v, message.PropertyUniqKey)
	if topic == "" || key == "" {
		return false
	}
	qr, err := ts.st.QueryMessage(topic, key, 64, 0, ts.clk.Now().UnixMilli()+1)
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
func (ts *Service) putOp(origin message.QueueOffset) error {
	if ts.cfg.FirstUse != nil {
		ts.cfg.FirstUse(TransOpHalfTopic)
	}
	_, err := ts.putSync(&message.MessageExt{
		Message: message.Message{
			Topic:      TransOpHalfTopic,
			Properties: map[string]string{message.PropertyTags: transOpTag},
			Body:       strconv.AppendInt(nil, int64(origin), 10),
		},
		BornTimestamp: ts.clk.Now().UnixMilli(),
		BornHost:      ts.cfg.StoreHost,
		StoreHost:     ts.cfg.StoreHost,
	})
	return err
}
