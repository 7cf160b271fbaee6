package producer

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/header"
)

// TransactionState is the outcome of a local transaction.
type TransactionState int

// Transaction states. On the wire (END_TRANSACTION commitOrRollback) they are
// 8, 12 and 0.
const (
	TransactionUnknown  TransactionState = iota // undecided: the broker checks back later
	TransactionCommit                           // deliver the message
	TransactionRollback                         // drop the message
)

func (s TransactionState) String() string {
	switch s {
	case TransactionUnknown:
		return "UNKNOWN"
	case TransactionCommit:
		return "COMMIT"
	case TransactionRollback:
		return "ROLLBACK"
	}
	return "TransactionState(" + strconv.Itoa(int(s)) + ")"
}

func (s TransactionState) wire() int32 {
	switch s {
	case TransactionCommit:
		return int32(message.SysFlagTransactionCommitType)
	case TransactionRollback:
		return int32(message.SysFlagTransactionRollbackType)
	}
	return int32(message.SysFlagTransactionNotType)
}

// LocalTransactionFunc runs the local transaction of a half message that the
// broker has stored, and says whether to commit it. msg carries the UNIQ_KEY
// (the transaction id). A panic counts as TransactionUnknown.
type LocalTransactionFunc func(ctx context.Context, msg *message.Message) TransactionState

// CheckTransactionFunc answers a broker's check of a half message whose
// transaction ended unknown or whose END_TRANSACTION was lost. It runs on a
// goroutine of the client, one per check. A panic counts as TransactionUnknown.
type CheckTransactionFunc func(ctx context.Context, msg *message.MessageExt) TransactionState

type txListener struct {
	execute LocalTransactionFunc
	check   CheckTransactionFunc
}

// TransactionListener sets the functions of a transactional producer (only
// NewTransactional accepts it). Both are required.
func TransactionListener(execute LocalTransactionFunc, check CheckTransactionFunc) client.ProducerOption {
	return opt(func(c *config) {
		if execute == nil || check == nil {
			c.fail("TransactionListener: both functions are required")
		}
		c.tx = &txListener{execute: execute, check: check}
	})
}

// ErrEndTransaction is matched when a half message was stored and the local
// transaction ran, but END_TRANSACTION could not be sent; the broker will check
// back.
var ErrEndTransaction = errors.New("producer: END_TRANSACTION not sent")

// TransactionalProducer sends transactional (half) messages. It is a Producer
// (Send and the others work as usual) that also answers the broker's
// transaction checks for its group.
type TransactionalProducer struct {
	*Producer
}

// NewTransactional returns a transactional producer. TransactionListener is
// required; use a Group of its own, since brokers send checks to any live
// producer of the group.
func NewTransactional(opts ...client.ProducerOption) (*TransactionalProducer, error) {
	p, err := newProducer(opts)
	if err != nil {
		return nil, err
	}
	if p.cfg.tx == nil {
		_ = p.core.Close()
		return nil, errors.New("producer: NewTransactional needs a TransactionListener")
	}
	p.core.Handle(protocol.CheckTransactionState, p.handleCheck)
	return &TransactionalProducer{p}, nil
}

// TransactionResult is the outcome of SendInTransaction.
type TransactionResult struct {
	SendResult
	// State is what END_TRANSACTION told the broker.
	State TransactionState
}

// SendInTransaction sends msg as a half message (TRAN_MSG=true, PGROUP set;
// consumers do not see it yet), runs the local transaction, and tells the
// broker to commit or roll back with END_TRANSACTION (oneway, to the master
// that stored the half message). A half message stored with a flush or
// replication timeout is rolled back without running the local transaction.
// DELAY is removed: transactional messages cannot be delayed.
//
// Errors: as for Send when the half message was not stored (the local
// transaction did not run); an error matching ErrEndTransaction together with a
// result when only END_TRANSACTION failed.
func (tp *TransactionalProducer) SendInTransaction(ctx context.Context, msg *message.Message) (*TransactionResult, error) {
	p := tp.Producer
	if err := p.checkRunning(); err != nil {
		return nil, err
	}
	if msg == nil {
		return nil, badMessage("nil message")
	}
	m := *msg
	m.Properties = make(map[string]string, len(msg.Properties)+2)
	for k, v := range msg.Properties {
		m.Properties[k] = v
	}
	delete(m.Properties, message.PropertyDelayTimeLevel)
	m.Properties[message.PropertyTransactionPrepared] = "true"
	m.Properties[message.PropertyProducerGroup] = p.group
	o, err := p.prepare(&m)
	if err != nil {
		return nil, err
	}
	m.Properties[message.PropertyUniqKey] = o.ids[0]
	sctx, cancel := p.sendCtx(ctx)
	res, err := p.sendSync(sctx, o, nil)
	cancel()
	if err != nil {
		return nil, err
	}
	tr := &TransactionResult{SendResult: *res, State: TransactionRollback}
	if res.Status == SendOK {
		if res.TransactionID != "" {
			m.Properties[message.PropertyTransactionID] = res.TransactionID
		}
		tr.State = runListener(func() TransactionState { return p.cfg.tx.execute(ctx, &m) })
	}
	if err := p.endTransaction(ctx, res, o.ids[0], tr.State); err != nil {
		return tr, err
	}
	if p.core.TraceOn() {
		addr, _ := p.core.MasterAddr(res.Queue.BrokerName)
		txID := res.TransactionID
		if txID == "" {
			txID = o.ids[0]
		}
		p.traceEnd(msg, o.ids[0], txID, res.RegionID, addr, tr.State, false)
	}
	return tr, nil
}

func runListener(f func() TransactionState) (s TransactionState) {
	defer func() {
		if r := recover(); r != nil {
			s = TransactionUnknown
		}
	}()
	return f()
}

func (p *Producer) endTransaction(ctx context.Context, res *SendResult, uniq string, s TransactionState) error {
	_, off, err := message.ParseOffsetMsgID(res.OffsetMsgID)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrEndTransaction, err)
	}
	addr, ok := p.core.MasterAddr(res.Queue.BrokerName)
	if !ok {
		return fmt.Errorf("%w: %w %q", ErrEndTransaction, ErrNoBroker, res.Queue.BrokerName)
	}
	txID := res.TransactionID
	if txID == "" {
		txID = uniq
	}
	req := header.NewRequest(protocol.EndTransaction, &header.EndTransaction{
		ProducerGroup:        p.group,
		TranStateTableOffset: int64(res.QueueOffset),
		CommitLogOffset:      int64(off),
		CommitOrRollback:     s.wire(),
		MsgID:                uniq,
		TransactionID:        txID,
		BrokerName:           res.Queue.BrokerName,
	})
	if err := p.core.InvokeOneway(ctx, addr, req); err != nil {
		return fmt.Errorf("%w: %w", ErrEndTransaction, err)
	}
	return nil
}

// handleCheck answers CHECK_TRANSACTION_STATE (39): it decodes the half
// message, ignores checks for other groups, runs the check function and sends
// END_TRANSACTION (fromTransactionCheck=true) back on the same connection. It
// sends no response to the check itself.
func (p *Producer) handleCheck(ctx context.Context, req *client.ServerRequest) *protocol.Command {
	var h header.CheckTransactionState
	if err := h.Decode(req.Cmd); err != nil {
		p.core.Logger().Warn("producer: bad transaction check header", "peer", req.Addr(), "err", err)
		return nil
	}
	var v message.RecordView
	if err := message.ParseRecord(req.Cmd.Body, &v); err != nil {
		p.core.Logger().Warn("producer: undecodable transaction check", "peer", req.Addr(), "err", err)
		return nil
	}
	m := v.MessageExt()
	p.core.DecompressBody(m)
	if g := m.Property(message.PropertyProducerGroup); g != p.group {
		p.core.Logger().Debug("producer: transaction check for another group ignored", "group", g)
		return nil
	}
	if rt := m.Property(message.PropertyRealTopic); rt != "" {
		m.Topic = rt
	}
	m.Topic = p.core.Unwrap(m.Topic)
	state := runListener(func() TransactionState { return p.cfg.tx.check(ctx, m) })
	uniq := m.Property(message.PropertyUniqKey)
	if uniq == "" {
		uniq = h.MsgID
	}
	txID := m.Property(message.PropertyTransactionID)
	if txID == "" {
		txID = h.TransactionID
	}
	if txID == "" {
		txID = uniq
	}
	end := header.NewRequest(protocol.EndTransaction, &header.EndTransaction{
		ProducerGroup:        p.group,
		TranStateTableOffset: h.TranStateTableOffset,
		CommitLogOffset:      h.CommitLogOffset,
		CommitOrRollback:     state.wire(),
		FromTransactionCheck: true,
		MsgID:                uniq,
		TransactionID:        txID,
	})
	cctx, cancel := context.WithTimeout(ctx, p.core.CallTimeout())
	defer cancel()
	if err := req.SendOneway(cctx, end); err != nil {
		p.core.Logger().Warn("producer: cannot answer transaction check", "peer", req.Addr(), "err", err)
		return nil
	}
	p.traceEnd(&m.Message, uniq, txID, m.Property(message.PropertyMsgRegion), req.Addr(), state, true)
	return nil
}
