package send

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmq/petrel/internal/broker/answer"
	"github.com/petrelmq/petrel/internal/broker/dedup"
	"github.com/petrelmq/petrel/internal/broker/delay"
	"github.com/petrelmq/petrel/internal/broker/meta"
	"github.com/petrelmq/petrel/internal/broker/retry"
	"github.com/petrelmq/petrel/internal/broker/txn"
	"github.com/petrelmq/petrel/internal/lifecycle"
	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// completers is the number of goroutines that answer stored sends.
const completers = 2

// Store is what the send path needs from the store.
type Store interface {
	Put(msgs []*message.MessageExt, q *store.Completions, tag any)
}

// Producers finds a requester's connection for request-reply.
type Producers interface {
	ProducerConnByClientID(clientID string) *remoting.Conn
}

// Config configures the send path.
type Config struct {
	BrokerName  string
	ClusterName string
	RegionID    string // regionId, answered as MSG_REGION
	TraceOn     bool   // traceOn, answered as TRACE_ON
	// MaxMessageSize is maxMessageSize: bigger bodies are MESSAGE_ILLEGAL.
	MaxMessageSize int
	// RejectTransactionMessage is rejectTransactionMessage.
	RejectTransactionMessage bool
	// StoreReplyMessage is storeReplyMessageEnable.
	StoreReplyMessage bool
	// StoreHost is the advertised address written into every record.
	StoreHost netip.AddrPort
	// Slave makes every send answer SERVICE_NOT_AVAILABLE, as a RocketMQ slave
	// does (producers only ever pick masters).
	Slave bool
	// DuplicateWindow is duplicateWindowSeconds, the de-duplication window of
	// topics without their own attribute (0: off). Used only with Deps.Dedup.
	DuplicateWindow time.Duration
}

// Deps are the send path's collaborators.
type Deps struct {
	Store      Store
	Topics     *meta.Topics
	Runtime    *meta.Live
	Gate       *lifecycle.Gate
	Delay      *delay.Service
	Retry      *retry.Service
	Dedup      *dedup.Table // nil: no de-duplication (a slave)
	Producers  Producers
	Registered func() // a topic was auto-created: register soon
	// FirstUse is called with the half topic before a half message is put, so
	// the topic table lists it once used (as RocketMQ 4.9's does).
	FirstUse func(topic string)
	Clock    clock.Clock
	Log      *slog.Logger
	// Metrics hears of every stored send; nil: none.
	Metrics Metrics
}

// Metrics is the metrics hook of the send room: n messages of bytes record
// bytes were stored for topic (the topic the producer named), of msgType
// "normal", "fifo", "delay" or "transaction". Called on the completion
// goroutine; it must be quick.
type Metrics interface {
	MessagesIn(topic, msgType string, n, bytes int)
}

// Service is the send room. Lifecycle: New → Start → Close.
type Service struct {
	cfg  Config
	d    Deps
	done *store.Completions
	grp  lifecycle.Group
}

// New builds the room.
func New(cfg Config, d Deps) *Service {
	return &Service{cfg: cfg, d: d, done: store.NewCompletions()}
}

// Start launches the completion goroutines.
func (s *Service) Start(ctx context.Context) error {
	if err := s.grp.Start(ctx, "send"); err != nil {
		return err
	}
	for i := range completers {
		s.grp.Go("completions-"+strconv.Itoa(i), s.complete)
	}
	return nil
}

// Close stops answering. Call it after the write gate has drained: a send
// completed later is not answered (its connection is closed by then).
func (s *Service) Close() error {
	s.grp.Stop()
	return nil
}

// pending is the tag of a stored send.
type pending struct {
	conn  *remoting.Conn
	req   *protocol.Command
	queue int32
	batch bool
	// For metrics: the topic the producer named and the message type.
	topic, msgType string
	// De-duplicated sends (slots not empty): every message of the send, one
	// slot each, the window, and which messages this attempt put (the
	// others are duplicates).
	svc    *Service
	msgs   []*message.MessageExt
	slots  []dedup.Slot
	window time.Duration
	fresh  []int
}

// complete answers stored sends.
func (s *Service) complete(ctx context.Context) {
	var cs []store.Completion
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.done.Ready():
		}
		cs = s.done.Drain(cs[:0])
		for _, c := range cs {
			p := c.Tag.(*pending)
			if c.Err == nil && s.d.Metrics != nil {
				// Only what this attempt stored: duplicates are not put.
				s.d.Metrics.MessagesIn(p.topic, p.msgType, c.Result.Count, c.Result.Size)
			}
			if len(p.slots) > 0 {
				s.finish(p.conn, p.req, s.completeDedup(p, c.Result, c.Err))
				continue
			}
			s.finish(p.conn, p.req, s.putAnswer(p.req, p.queue, c.Result, c.Err, p.batch))
		}
		clear(cs)
	}
}

// finish answers an admitted send (unless it is oneway) and releases it.
func (s *Service) finish(conn *remoting.Conn, req, resp *protocol.Command) {
	if !req.IsOneway() && resp != nil {
		if err := conn.Reply(resp); err != nil && !errors.Is(err, remoting.ErrConnClosed) {
			s.d.Log.Warn("send: cannot answer send", "peer", conn.RemoteAddr(), "err", err)
		}
	}
	s.d.Gate.Exit()
}

// response builds a send answer; every send answer carries MSG_REGION and
// TRACE_ON, error answers included.
func (s *Service) response(req *protocol.Command, code protocol.ResponseCode, remark string) *protocol.Command {
	return header.NewResponse(req, code, remark, &header.SendMessageResponse{Region: s.cfg.RegionID, TraceOn: s.cfg.TraceOn})
}

// putAnswer maps a store outcome to the send answer.
func (s *Service) putAnswer(req *protocol.Command, queueID int32, res store.PutResult, err error, batch bool) *protocol.Command {
	code, remark, unexpected := answer.Put(res, err)
	if unexpected {
		s.d.Log.Error("send: put failed", "topic", req.Ext("topic")+req.Ext("b"), "err", err)
	}
	if err != nil {
		return s.response(req, code, remark)
	}
	msgID := res.MsgID
	if batch && len(res.MsgIDs) > 0 {
		msgID = strings.Join(res.MsgIDs, ",")
	}
	return header.NewResponse(req, code, remark, &header.SendMessageResponse{
		MsgID: msgID, QueueID: queueID, QueueOffset: int64(res.QueueOffset),
		Region: s.cfg.RegionID, TraceOn: s.cfg.TraceOn,
	})
}

// ProcessSend serves SEND_MESSAGE, SEND_MESSAGE_V2 and SEND_BATCH_MESSAGE. It
// answers at once when it refuses the send, else later from a completion
// goroutine (nil, nil).
func (s *Service) ProcessSend(_ context.Context, conn *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	if s.cfg.Slave {
		return s.response(req, protocol.ServiceNotAvailable, slaveRemark), nil
	}
	if !s.d.Gate.Enter() {
		return s.response(req, protocol.ServiceNotAvailable, "broker "+s.cfg.BrokerName+" is shutting down"), nil
	}
	if resp := s.send(conn, req); resp != nil {
		s.finish(conn, req, resp)
	}
	return nil, nil
}

// slaveRemark is RocketMQ's answer to a send to a slave.
const slaveRemark = "service not available now. It may be caused by one of the following reasons: " +
	"the broker's disk is full, messages are put to the slave, message store has been shut down, etc."

// send checks a send and stores it. It returns the answer that refuses it,
// or nil when the store will complete it.
func (s *Service) send(conn *remoting.Conn, req *protocol.Command) *protocol.Command {
	var h header.SendMessage
	if err := h.Decode(req); err != nil {
		return s.response(req, protocol.SystemError, err.Error())
	}
	tc, resp := s.check(req, &h)
	if resp != nil {
		return resp
	}
	if h.QueueID < 0 || h.QueueID >= tc.WriteQueueNums {
		h.QueueID = rand.Int32N(tc.WriteQueueNums)
	}
	sysFlag := message.SysFlag(h.SysFlag)
	if tc.TopicFilterType == meta.FilterTypeMultiTag {
		sysFlag |= message.SysFlagMultiTags
	}
	bornHost := ParseHost(conn.RemoteAddr())
	if h.Batch {
		return s.sendBatch(conn, req, &h, tc, sysFlag, bornHost)
	}
	if len(req.Body) > s.cfg.MaxMessageSize {
		return s.response(req, protocol.MessageIllegal,
			"the message body size "+strconv.Itoa(len(req.Body))+" is larger than the maximum "+strconv.Itoa(s.cfg.MaxMessageSize))
	}
	props := message.DecodePropertiesString(h.Properties)
	if props == nil {
		props = map[string]string{}
	}
	props[message.PropertyCluster] = s.cfg.ClusterName
	delete(props, message.PropertyWaitStoreMsgOK)
	msg := &message.MessageExt{
		Message:        message.Message{Topic: h.Topic, Flag: h.Flag, Properties: props, Body: req.Body},
		QueueID:        h.QueueID,
		SysFlag:        sysFlag,
		BornTimestamp:  h.BornTimestamp,
		BornHost:       bornHost,
		StoreHost:      s.cfg.StoreHost,
		ReconsumeTimes: h.ReconsumeTimes,
	}
	p := &pending{conn: conn, req: req, queue: h.QueueID, msgs: []*message.MessageExt{msg},
		topic: h.Topic, msgType: messageType(props)}
	if win := s.window(h.Topic, tc); win > 0 && !txn.IsPrepared(msg) {
		s.keep(p, &h, win)
	}
	if resp := s.route(req, &h, msg); resp != nil {
		return resp
	}
	return s.put(p)
}

// route applies the rules that change where a single message is stored: a
// transaction's half message goes to the half topic; a %RETRY% message whose
// retries are used up goes to its dead-letter topic; a delay level or timer
// parks it. It returns the answer that refuses the send, or nil.
func (s *Service) route(req *protocol.Command, h *header.SendMessage, msg *message.MessageExt) *protocol.Command {
	if txn.IsPrepared(msg) {
		if s.cfg.RejectTransactionMessage {
			return s.response(req, protocol.NoPermission, "the broker["+s.cfg.BrokerName+"] sending transaction message is forbidden")
		}
		txn.Half(msg)
		if s.d.FirstUse != nil {
			s.d.FirstUse(txn.TransHalfTopic)
		}
		return nil
	}
	if strings.HasPrefix(msg.Topic, meta.RetryTopicPrefix) {
		diverted, refuse := s.d.Retry.DivertToDLQ(req, h, msg)
		if refuse != nil {
			return s.response(req, refuse.ResponseCode(), refuse.Remark)
		}
		if diverted {
			return nil
		}
	}
	if refusal := s.d.Delay.Prepare(msg); refusal != "" {
		return s.response(req, protocol.MessageIllegal, refusal)
	}
	return nil
}

// sendBatch checks and stores a batch: one record per inner message with the
// inner properties plus the batch-level ones, appended as one run.
func (s *Service) sendBatch(conn *remoting.Conn, req *protocol.Command, h *header.SendMessage, tc body.TopicConfig,
	sysFlag message.SysFlag, bornHost netip.AddrPort) *protocol.Command {
	switch {
	case len(req.Body) > s.cfg.MaxMessageSize:
		return s.response(req, protocol.MessageIllegal, "the batch body size "+strconv.Itoa(len(req.Body))+
			" is larger than the maximum "+strconv.Itoa(s.cfg.MaxMessageSize))
	case strings.HasPrefix(h.Topic, meta.RetryTopicPrefix):
		return s.response(req, protocol.MessageIllegal, "batch request does not support retry group "+h.Topic)
	case sysFlag.TransactionType() != message.SysFlagTransactionNotType:
		return s.response(req, protocol.MessageIllegal, "batch message does not support transaction")
	}
	if v, ok := message.LookupProperty([]byte(h.Properties), message.PropertyDelayTimeLevel); ok {
		if lvl, _ := strconv.Atoi(string(v)); lvl > 0 {
			return s.response(req, protocol.MessageIllegal, "batch message does not support delay level")
		}
	}
	batchProps := message.DecodePropertiesString(h.Properties)
	if batchProps == nil {
		batchProps = map[string]string{}
	}
	batchProps[message.PropertyCluster] = s.cfg.ClusterName
	var msgs []*message.MessageExt
	err := message.ParseBatch(req.Body, func(flag int32, mb, props []byte) error {
		p := message.DecodeProperties(props)
		if p == nil {
			p = make(map[string]string, len(batchProps))
		}
		for k, v := range batchProps {
			p[k] = v
		}
		delete(p, message.PropertyWaitStoreMsgOK)
		msgs = append(msgs, &message.MessageExt{
			Message:        message.Message{Topic: h.Topic, Flag: flag, Properties: p, Body: mb},
			QueueID:        h.QueueID,
			SysFlag:        sysFlag,
			BornTimestamp:  h.BornTimestamp,
			BornHost:       bornHost,
			StoreHost:      s.cfg.StoreHost,
			ReconsumeTimes: h.ReconsumeTimes,
		})
		return nil
	})
	if err != nil || len(msgs) == 0 {
		return s.response(req, protocol.MessageIllegal, "the batch body is malformed or empty")
	}
	p := &pending{conn: conn, req: req, queue: h.QueueID, batch: true, msgs: msgs,
		topic: h.Topic, msgType: messageType(batchProps)}
	if win := s.window(h.Topic, tc); win > 0 {
		s.keep(p, h, win)
	}
	return s.put(p)
}

// check applies RocketMQ's send checks in order and returns the topic's
// config, or the answer that refuses the send.
func (s *Service) check(req *protocol.Command, h *header.SendMessage) (body.TopicConfig, *protocol.Command) {
	rt := s.d.Runtime.Get()
	if rt.BrokerPermission&body.PermWrite == 0 {
		return body.TopicConfig{}, s.response(req, protocol.NoPermission,
			"the broker["+s.cfg.BrokerName+"] sending message is forbidden")
	}
	if err := meta.ValidateTopicName(h.Topic); err != nil {
		return body.TopicConfig{}, s.response(req, protocol.SystemError, "topic["+h.Topic+"]: "+err.Error())
	}
	if meta.IsSendForbidden(h.Topic) {
		return body.TopicConfig{}, s.response(req, protocol.NoPermission,
			"Sending message to topic["+h.Topic+"] is forbidden.")
	}
	tc, created, ok, err := s.d.Topics.CreateOnSend(h.Topic, h.DefaultTopic, h.DefaultTopicQueueNums, rt.AutoCreateTopicEnable)
	if err != nil {
		s.d.Log.Error("send: persist auto-created topic", "topic", h.Topic, "err", err)
	}
	if !ok && strings.HasPrefix(h.Topic, meta.RetryTopicPrefix) {
		tc, created, err = s.d.Topics.CreateIfAbsent(meta.NewTopicConfig(h.Topic, 1, body.PermRead|body.PermWrite))
		ok = err == nil
		if err != nil {
			s.d.Log.Error("send: persist retry topic", "topic", h.Topic, "err", err)
		}
	}
	if !ok {
		return body.TopicConfig{}, s.response(req, protocol.TopicNotExist,
			"topic["+h.Topic+"] not exist, apply first please!")
	}
	if created {
		s.d.Log.Info("send: auto-created topic", "topic", h.Topic, "queues", tc.WriteQueueNums, "perm", tc.Perm,
			"producerGroup", h.ProducerGroup)
		s.d.Registered()
	}
	if tc.Perm&body.PermWrite == 0 {
		return tc, s.response(req, protocol.NoPermission, "the topic["+h.Topic+"] sending message is forbidden")
	}
	if tc.WriteQueueNums <= 0 {
		return tc, s.response(req, protocol.SystemError, "topic["+h.Topic+"] has no write queues")
	}
	return tc, nil
}

// ParseHost parses a connection's remote "ip:port"; an unparsable one gives
// the zero AddrPort (written as 0.0.0.0:0).
func ParseHost(s string) netip.AddrPort {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// messageType is RocketMQ 5.x's message_type of a send, from its properties
// before routing: a transaction's half message, a message with a sharding
// key (FIFO), one with a delay level or timer, else normal.
func messageType(props map[string]string) string {
	switch {
	case props[message.PropertyTransactionPrepared] == "true":
		return "transaction"
	case props[message.PropertyShardingKey] != "":
		return "fifo"
	case props[message.PropertyDelayTimeLevel] != "" && props[message.PropertyDelayTimeLevel] != "0",
		props[message.PropertyTimerDeliverMS] != "", props["TIMER_DELAY_SEC"] != "", props["TIMER_DELAY_MS"] != "",
		props["__STARTDELIVERTIME"] != "":
		return "delay"
	}
	return "normal"
}
