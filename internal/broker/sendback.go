package broker

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// Retry and dead letters (docs/design/timer.md): a consumer that fails a
// message sends it back with CONSUMER_SEND_MSG_BACK; the broker re-stores it in
// %RETRY%<group> behind a delay level, or in %DLQ%<group> once it has been
// retried maxReconsumeTimes times.

// retryBaseDelayLevel is added to the reconsume count when the consumer lets
// the broker pick the delay (delayLevel 0): 10 s, 30 s, 1 m, ... by default.
const retryBaseDelayLevel = 3

// sendBackHeader is CONSUMER_SEND_MSG_BACK's request header.
type sendBackHeader struct {
	offset            int64
	group             string
	delayLevel        int32
	originMsgID       string
	originTopic       string
	maxReconsumeTimes int32
	hasMax            bool
}

func decodeSendBackHeader(req *protocol.Command) (sendBackHeader, error) {
	r := extReader{req: req}
	h := sendBackHeader{
		offset:      r.int64("offset", true),
		group:       r.str("group", true),
		delayLevel:  r.int32("delayLevel", true),
		originMsgID: r.str("originMsgId", false),
		originTopic: r.str("originTopic", false),
	}
	if _, ok := r.get("maxReconsumeTimes", false); ok {
		h.maxReconsumeTimes, h.hasMax = r.int32("maxReconsumeTimes", false), true
	}
	r.bool("unitMode")
	return h, r.err
}

// processSendBack serves CONSUMER_SEND_MSG_BACK (36). It answers once the new
// record is stored (asynchronously, like a send), and counts as an admitted
// write so Close waits for it.
func (b *Broker) processSendBack(_ context.Context, conn *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	if !b.gate.enter() {
		return respond(req, protocol.ServiceNotAvailable, "broker %s is shutting down", b.cfg.BrokerName), nil
	}
	msg, resp := b.buildSendBack(req)
	if resp != nil {
		b.gate.exit()
		return resp, nil
	}
	if msg == nil { // retryQueueNums <= 0: dropped on purpose
		b.gate.exit()
		return protocol.NewResponse(req, protocol.Success, ""), nil
	}
	b.put([]*message.MessageExt{msg}, func(res store.PutResult, err error) {
		defer b.gate.exit()
		resp := protocol.NewResponse(req, protocol.Success, "")
		switch {
		case err != nil:
			resp = respond(req, protocol.SystemError, "%v", err)
		case res.Status != store.PutOK:
			// Stored, but not as durably as configured: RocketMQ answers
			// SYSTEM_ERROR with the status name, and the client falls back to
			// a plain send (a duplicate rather than a loss).
			resp = respond(req, protocol.SystemError, "%s", putStatusName(res.Status))
		}
		if req.IsOneway() {
			return
		}
		if err := conn.Reply(resp); err != nil && !errors.Is(err, remoting.ErrConnClosed) {
			b.log.Warn("broker: cannot answer send-back", "peer", conn.RemoteAddr(), "err", err)
		}
	})
	return nil, nil
}

func putStatusName(s store.PutStatus) string {
	switch s {
	case store.PutFlushDiskTimeout:
		return "FLUSH_DISK_TIMEOUT"
	case store.PutFlushSlaveTimeout:
		return "FLUSH_SLAVE_TIMEOUT"
	case store.PutSlaveNotAvailable:
		return "SLAVE_NOT_AVAILABLE"
	}
	return "PUT_OK"
}

// buildSendBack applies RocketMQ's send-back rules and returns the record to
// store, nil to drop the message (the group has no retry queues), or the
// answer that refuses the request.
func (b *Broker) buildSendBack(req *protocol.Command) (*message.MessageExt, *protocol.Command) {
	h, err := decodeSendBackHeader(req)
	if err != nil {
		return nil, respond(req, protocol.SystemError, "%v", err)
	}
	rt := b.runtime()
	g, ok, err := b.groups.findOrCreate(h.group, rt.AutoCreateSubscriptionGroup)
	if err != nil {
		b.log.Error("broker: persist subscription group", "group", h.group, "err", err)
	}
	if !ok {
		return nil, respond(req, protocol.SubscriptionGroupNotExist, "subscription group not exist, %s", h.group)
	}
	if rt.BrokerPermission&body.PermWrite == 0 {
		return nil, respond(req, protocol.NoPermission, "the broker[%s] sending message is forbidden", b.cfg.BrokerName)
	}
	if g.RetryQueueNums <= 0 {
		return nil, nil
	}
	retryTC, created, err := b.topics.createRetryTopic(h.group, g.RetryQueueNums)
	if err != nil {
		b.log.Error("broker: persist retry topic", "group", h.group, "err", err)
	}
	if created {
		b.reg.trigger()
	}
	if retryTC.Perm&body.PermWrite == 0 {
		return nil, respond(req, protocol.NoPermission, "the topic[%s] sending message is forbidden", retryTC.TopicName)
	}

	rec, err := b.store.LookMessageByOffset(message.PhysOffset(h.offset), nil)
	if err != nil {
		return nil, respond(req, protocol.SystemError, "look message by offset failed, %d", h.offset)
	}
	orig, _, err := message.DecodeMessage(rec)
	if err != nil {
		return nil, respond(req, protocol.SystemError, "look message by offset failed, %d: %v", h.offset, err)
	}
	props := orig.Properties
	if props == nil {
		props = map[string]string{}
	}
	if props[message.PropertyRetryTopic] == "" {
		props[message.PropertyRetryTopic] = orig.Topic
	}
	if props[message.PropertyOriginMessageID] == "" {
		props[message.PropertyOriginMessageID] = orig.OffsetMsgID()
	}
	for _, k := range parkedProperties {
		delete(props, k)
	}

	maxTimes := g.RetryMaxTimes
	if h.hasMax {
		maxTimes = h.maxReconsumeTimes
	}
	msg := &message.MessageExt{
		Message:        message.Message{Flag: orig.Flag, Properties: props, Body: orig.Body},
		SysFlag:        orig.SysFlag,
		BornTimestamp:  orig.BornTimestamp,
		BornHost:       orig.BornHost,
		StoreHost:      b.advertised,
		ReconsumeTimes: orig.ReconsumeTimes + 1,
	}
	delayLevel := int(h.delayLevel)
	if orig.ReconsumeTimes >= maxTimes || delayLevel < 0 {
		dlq, resp := b.ensureDLQ(req, h.group)
		if resp != nil {
			return nil, resp
		}
		msg.Topic, msg.QueueID = dlq.TopicName, rand.Int32N(max(dlq.WriteQueueNums, 1))
		return msg, nil
	}
	if delayLevel == 0 {
		delayLevel = retryBaseDelayLevel + int(orig.ReconsumeTimes)
	}
	msg.Topic, msg.QueueID = retryTC.TopicName, rand.Int32N(max(retryTC.WriteQueueNums, 1))
	b.parkDelayed(msg, delayLevel)
	return msg, nil
}

// ensureDLQ creates %DLQ%<group> if missing (1 queue, perm 2: write-only, as
// RocketMQ 4.x creates it, so consumers do not read it until an operator
// changes the permission) and checks that it may be written.
func (b *Broker) ensureDLQ(req *protocol.Command, group string) (body.TopicConfig, *protocol.Command) {
	tc, created, err := b.topics.createDLQTopic(group)
	if err != nil {
		b.log.Error("broker: persist dead-letter topic", "group", group, "err", err)
	}
	if created {
		b.log.Info("broker: created dead-letter topic", "topic", tc.TopicName)
		b.reg.trigger()
	}
	if tc.Perm&body.PermWrite == 0 {
		return tc, respond(req, protocol.NoPermission, "the topic[%s] sending message is forbidden", tc.TopicName)
	}
	return tc, nil
}

// divertRetryToDLQ applies SEND_MESSAGE's retry-topic rule to a message for
// %RETRY%<group> (what the Go client sends when CONSUMER_SEND_MSG_BACK fails):
// once its reconsume count reaches maxReconsumeTimes (from the request, else
// the group's retryMaxTimes) it goes to %DLQ%<group> without delay.
func (b *Broker) divertRetryToDLQ(req *protocol.Command, msg *message.MessageExt) *protocol.Command {
	group := strings.TrimPrefix(msg.Topic, RetryTopicPrefix)
	g, ok, err := b.groups.findOrCreate(group, b.runtime().AutoCreateSubscriptionGroup)
	if err != nil {
		b.log.Error("broker: persist subscription group", "group", group, "err", err)
	}
	if !ok {
		return b.sendResponse(req, protocol.SubscriptionGroupNotExist, "subscription group not exist, "+group)
	}
	maxTimes := g.RetryMaxTimes
	for _, k := range []string{"maxReconsumeTimes", "k"} {
		if v, ok := req.ExtFields[k]; ok && v != "" {
			if n, err := strconv.ParseInt(v, 10, 32); err == nil {
				maxTimes = int32(n)
			}
			break
		}
	}
	if msg.ReconsumeTimes < maxTimes {
		return nil
	}
	dlq, resp := b.ensureDLQ(req, group)
	if resp != nil {
		return b.sendResponse(req, resp.ResponseCode(), resp.Remark)
	}
	msg.Topic, msg.QueueID = dlq.TopicName, rand.Int32N(max(dlq.WriteQueueNums, 1))
	for _, k := range parkedProperties {
		delete(msg.Properties, k)
	}
	return nil
}
