package broker

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmq/petrel/internal/filter"
	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// Pull sysFlag bits (PullSysFlag). Part of the wire format.
const (
	pullFlagCommitOffset = 0x1
	pullFlagSuspend      = 0x2
	pullFlagSubscription = 0x4
	pullFlagClassFilter  = 0x8
)

// Expression types of a subscription.
const (
	exprTag   = "TAG"
	exprSQL92 = "SQL92"
	subAll    = "*"
)

// maxPullCount caps one pull's message count (RocketMQ's
// maxTransferCountOnMessageInMemory); the store applies its byte caps.
const maxPullCount = 32

// pullHeader is the PULL_MESSAGE request header.
type pullHeader struct {
	group          string
	topic          string
	queueID        int32
	offset         int64
	maxMsgNums     int32
	sysFlag        int32
	commitOffset   int64
	suspendTimeout time.Duration
	subscription   string
	subVersion     int64
	expressionType string
}

func decodePullHeader(req *protocol.Command) (pullHeader, error) {
	r := extReader{req: req}
	h := pullHeader{
		group:          r.str("consumerGroup", true),
		topic:          r.str("topic", true),
		queueID:        r.int32("queueId", true),
		offset:         r.int64("queueOffset", true),
		maxMsgNums:     r.int32("maxMsgNums", true),
		sysFlag:        r.int32("sysFlag", true),
		commitOffset:   r.int64("commitOffset", true),
		suspendTimeout: time.Duration(r.int64("suspendTimeoutMillis", true)) * time.Millisecond,
		subscription:   r.str("subscription", false),
		subVersion:     r.int64("subVersion", true),
		expressionType: r.str("expressionType", false),
	}
	return h, r.err
}

// tagFilter is a TAG subscription as the broker applies it: on the consume-queue
// tags code. all accepts everything (the "*" subscription and class filters).
type tagFilter struct {
	all   bool
	codes map[int32]struct{}
	sql   *filter.Expr // SQL92 subscription (sqlfilter.go); nil for TAG
}

var _ store.MessageFilter = (*tagFilter)(nil)

// MatchTagsCode accepts a message whose tags hash code is in the subscription,
// comparing as Java does (the code's low 32 bits).
func (f *tagFilter) MatchTagsCode(code int64) bool {
	if f.all {
		return true
	}
	_, ok := f.codes[int32(code)]
	return ok
}

// MatchRecord accepts every record for TAG filters; SQL92 filters evaluate
// the record's properties (matchSQL).
func (f *tagFilter) MatchRecord(record []byte) bool { return f.sql == nil || f.matchSQL(record) }

var matchAll = &tagFilter{all: true}

// errSubscriptionParse reports a TAG expression without any tag.
var errSubscriptionParse = errors.New("subscription expression has no tag")

// errSQL92 reports an SQL92 subscription, which needs the property filter.
var errSQL92 = errors.New("The broker does not support consumer to filter message by SQL92")

// buildFilter makes the filter of a subscription expression. The tags codes are
// recomputed from the expression with Java's String.hashCode semantics, so
// non-ASCII tags match what producers stored.
func buildFilter(expr, exprType string) (*tagFilter, error) {
	switch exprType {
	case "", exprTag:
	case exprSQL92:
		return nil, errSQL92
	default:
		return nil, errors.New("unknown expression type " + exprType)
	}
	expr = strings.TrimSpace(expr)
	if expr == "" || expr == subAll {
		return matchAll, nil
	}
	f := &tagFilter{codes: map[int32]struct{}{}}
	found := false
	for _, tag := range strings.Split(expr, "||") {
		if tag = strings.TrimSpace(tag); tag != "" {
			f.codes[int32(message.TagsHashCode(tag))] = struct{}{}
			found = true
		}
	}
	if !found {
		return nil, errSubscriptionParse
	}
	return f, nil
}

// processPull is the PULL_MESSAGE processor (pull pool). A pull that finds
// nothing and may be suspended is held and answered later (nil, nil).
func (b *Broker) processPull(ctx context.Context, conn *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	return b.pull(ctx, conn, req, true), nil
}

// pull runs one pass of a pull. first is false for the re-run of a held pull:
// it is never held again and does not commit offsets. It returns nil when the
// request was held.
func (b *Broker) pull(ctx context.Context, conn *remoting.Conn, req *protocol.Command, first bool) *protocol.Command {
	h, err := decodePullHeader(req)
	if err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error())
	}
	rt := b.runtime()
	if rt.BrokerPermission&body.PermRead == 0 {
		return respond(req, protocol.NoPermission, "the broker[%s] pulling message is forbidden", b.cfg.BrokerName)
	}
	group, ok, err := b.groups.findOrCreate(h.group, rt.AutoCreateSubscriptionGroup)
	if err != nil {
		b.log.Error("broker: persist subscription group", "group", h.group, "err", err)
	}
	if !ok {
		return respond(req, protocol.SubscriptionGroupNotExist, "subscription group [%s] does not exist", h.group)
	}
	if !group.ConsumeEnable {
		return respond(req, protocol.NoPermission, "subscription group no permission, %s", h.group)
	}
	tc, ok := b.topics.get(h.topic)
	if !ok {
		return respond(req, protocol.TopicNotExist, "topic[%s] not exist, apply first please!", h.topic)
	}
	if tc.Perm&body.PermRead == 0 {
		return respond(req, protocol.NoPermission, "the topic[%s] pulling message is forbidden", h.topic)
	}
	if h.queueID < 0 || h.queueID >= tc.ReadQueueNums {
		return respond(req, protocol.SystemError, "queueId[%d] is illegal, topic:[%s] topicConfig.readQueueNums:[%d] consumer:[%s]",
			h.queueID, h.topic, tc.ReadQueueNums, conn.RemoteAddr())
	}
	filter, resp := b.pullFilter(req, &h, &group)
	if resp != nil {
		return resp
	}

	maxMsgs := min(max(int(h.maxMsgNums), 1), maxPullCount)
	res, err := b.store.GetMessages(ctx, h.group, h.topic, h.queueID, message.QueueOffset(h.offset), maxMsgs, filter, nil)
	if err != nil {
		if errors.Is(err, store.ErrClosed) {
			return respond(req, protocol.ServiceNotAvailable, "broker is shutting down")
		}
		return respond(req, protocol.SystemError, "read queue %s:%d: %v", h.topic, h.queueID, err)
	}
	code := pullCode(res.Status, h.offset)
	if code == protocol.PullNotFound && first && h.sysFlag&pullFlagSuspend != 0 {
		hold := h.suspendTimeout
		if !rt.LongPollingEnable {
			hold = rt.ShortPollingTime
		}
		if hold > 0 {
			b.commitPullOffset(&h, first)
			switch b.holds.hold(conn, req, h.topic, h.queueID, message.QueueOffset(h.offset), filter, b.clk.Now().Add(hold)) {
			case nil:
				if mo := b.store.MaxOffsetInQueue(h.topic, h.queueID); mo > message.QueueOffset(h.offset) {
					// A message may have arrived between the read and the hold,
					// before the hold could hear of it: re-run at once.
					b.holds.wakeQueue(h.topic, h.queueID, mo)
				}
				return nil
			case errHoldsFull:
				return respond(req, protocol.SystemBusy, "[OVERLOAD] too many pulls held (max %d), try again later", b.cfg.MaxHeldPulls)
			}
			// Holds closed: answer now.
		}
	}
	b.commitPullOffset(&h, first)
	b.stats.pulled(h.topic, h.group, code == protocol.Success, res.Count, b.clk.Now())

	resp = protocol.NewResponse(req, code, statusName(res.Status))
	resp.SetExt("suggestWhichBrokerId", strconv.FormatInt(body.MasterID, 10))
	resp.SetExt("nextBeginOffset", strconv.FormatInt(int64(res.NextBeginOffset), 10))
	resp.SetExt("minOffset", strconv.FormatInt(int64(res.MinOffset), 10))
	resp.SetExt("maxOffset", strconv.FormatInt(int64(res.MaxOffset), 10))
	if code == protocol.Success {
		resp.Body = res.Body
	}
	return resp
}

// commitPullOffset stores the pull's commitOffset when the flag asks for it, on
// the first pass only. The hold path calls it before holding; the caller skips
// it then by clearing the flag.
func (b *Broker) commitPullOffset(h *pullHeader, first bool) {
	if first && h.sysFlag&pullFlagCommitOffset != 0 {
		b.offsets.commit(h.group, h.topic, h.queueID, h.commitOffset)
		h.sysFlag &^= pullFlagCommitOffset
	}
}

// pullFilter returns the pull's filter: from the request when it carries its
// subscription, else from the group's last heartbeat, with RocketMQ's checks.
func (b *Broker) pullFilter(req *protocol.Command, h *pullHeader, group *body.SubscriptionGroupConfig) (*tagFilter, *protocol.Command) {
	if h.sysFlag&pullFlagClassFilter != 0 {
		return matchAll, nil
	}
	if h.sysFlag&pullFlagSubscription != 0 {
		f, err := b.subscriptionFilter(h.group, h.topic, h.subVersion, h.subscription, h.expressionType)
		switch {
		case errors.Is(err, errSQL92):
			return nil, protocol.NewResponse(req, protocol.SystemError, err.Error())
		case err != nil:
			return nil, respond(req, protocol.SubscriptionParseFailed, "parse the consumer's subscription[%s] failed, group: %s: %v",
				h.subscription, h.group, err)
		}
		return f, nil
	}
	info, ok := b.clients.ConsumerGroup(h.group)
	if !ok {
		return nil, respond(req, protocol.SubscriptionNotExist, "the consumer's group info not exist, group: %s", h.group)
	}
	if !group.ConsumeBroadcastEnable && info.MessageModel == "BROADCASTING" {
		return nil, respond(req, protocol.NoPermission, "the consumer group[%s] can not consume by broadcast way", h.group)
	}
	sub, ok := b.clients.Subscription(h.group, h.topic)
	if !ok {
		return nil, respond(req, protocol.SubscriptionNotExist, "the consumer's subscription not exist, group: %s, topic: %s",
			h.group, h.topic)
	}
	if sub.SubVersion < h.subVersion {
		return nil, respond(req, protocol.SubscriptionNotLatest, "the consumer's subscription not latest, group: %s, topic: %s",
			h.group, h.topic)
	}
	if sub.ClassFilterMode {
		return matchAll, nil
	}
	f, err := b.subscriptionFilter(h.group, h.topic, sub.SubVersion, sub.SubString, sub.ExpressionType)
	switch {
	case errors.Is(err, errSQL92):
		return nil, protocol.NewResponse(req, protocol.SystemError, err.Error())
	case err != nil:
		return nil, respond(req, protocol.SubscriptionParseFailed, "parse the consumer's subscription[%s] failed, group: %s: %v",
			sub.SubString, h.group, err)
	}
	return f, nil
}

// pullCode maps a store status to the pull answer code (RocketMQ 4.9.8).
func pullCode(s store.GetStatus, offset int64) protocol.ResponseCode {
	switch s {
	case store.GetFound:
		return protocol.Success
	case store.GetNoMatchedMessage, store.GetMessageWasRemoving:
		return protocol.PullRetryImmediately
	case store.GetNoMatchedLogicQueue, store.GetNoMessageInQueue:
		if offset != 0 {
			return protocol.PullOffsetMoved
		}
		return protocol.PullNotFound
	case store.GetOffsetFoundNull, store.GetOffsetOverflowOne:
		return protocol.PullNotFound
	case store.GetOffsetOverflowBadly, store.GetOffsetTooSmall:
		return protocol.PullOffsetMoved
	}
	return protocol.SystemError
}

// statusName is RocketMQ's GetMessageStatus name, the pull answer's remark.
func statusName(s store.GetStatus) string {
	switch s {
	case store.GetFound:
		return "FOUND"
	case store.GetNoMatchedMessage:
		return "NO_MATCHED_MESSAGE"
	case store.GetMessageWasRemoving:
		return "MESSAGE_WAS_REMOVING"
	case store.GetOffsetFoundNull:
		return "OFFSET_FOUND_NULL"
	case store.GetOffsetOverflowBadly:
		return "OFFSET_OVERFLOW_BADLY"
	case store.GetOffsetOverflowOne:
		return "OFFSET_OVERFLOW_ONE"
	case store.GetOffsetTooSmall:
		return "OFFSET_TOO_SMALL"
	case store.GetNoMatchedLogicQueue:
		return "NO_MATCHED_LOGIC_QUEUE"
	case store.GetNoMessageInQueue:
		return "NO_MESSAGE_IN_QUEUE"
	}
	return "UNKNOWN"
}

// rerunHeld re-runs a held pull and answers it (hold runners and Close).
func (b *Broker) rerunHeld(ctx context.Context, p *heldPull) {
	select {
	case <-p.conn.Closed():
		return
	default:
	}
	resp := b.pull(ctx, p.conn, p.req, false)
	if resp == nil || p.req.IsOneway() {
		return
	}
	if err := p.conn.Reply(resp); err != nil && !errors.Is(err, remoting.ErrConnClosed) {
		b.log.Warn("broker: cannot answer held pull", "peer", p.conn.RemoteAddr(), "err", err)
	}
}
