package broker

import (
	"context"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// replyPushTimeout bounds the PUSH_REPLY_MESSAGE_TO_CLIENT call (RocketMQ
// waits up to 10 s; a requester that does not answer in 3 s has most likely
// timed out its request anyway, and a shorter bound frees the worker).
const replyPushTimeout = 3 * time.Second

// processSendReply handles SEND_REPLY_MESSAGE (324, long header names, sent by
// the Go client for MSG_TYPE=reply) and SEND_REPLY_MESSAGE_V2 (325, short
// names, Java). It pushes the reply synchronously to the requester's
// connection, found by the REPLY_TO_CLIENT client id among registered
// producers, and also stores it in its topic (normally
// <cluster>_REPLY_TOPIC) when storeReplyMessageEnable. The answer is SUCCESS
// if the push worked, else SYSTEM_ERROR naming the reason; storing does not
// change the code (RocketMQ 4.9's ReplyMessageProcessor).
func (b *Broker) processSendReply(_ context.Context, conn *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	if !b.gate.enter() { // Close waits for admitted writes
		return b.sendResponse(req, protocol.ServiceNotAvailable, "broker "+b.cfg.BrokerName+" is shutting down"), nil
	}
	defer b.gate.exit()
	hreq := *req
	if req.RequestCode() == protocol.SendReplyMessageV2 {
		hreq.Code = int16(protocol.SendMessageV2) // same one-letter names
	} else {
		hreq.Code = int16(protocol.SendMessage)
	}
	h, err := decodeSendHeader(&hreq)
	if err != nil {
		return b.sendResponse(req, protocol.SystemError, err.Error()), nil
	}
	tc, resp := b.checkSend(req, &h)
	if resp != nil {
		return resp, nil
	}
	if h.queueID < 0 || h.queueID >= tc.WriteQueueNums {
		h.queueID = rand.Int32N(tc.WriteQueueNums)
	}
	if len(req.Body) > b.cfg.Store.MaxMessageSize {
		return b.sendResponse(req, protocol.MessageIllegal, "the reply body size "+strconv.Itoa(len(req.Body))+
			" is larger than the maximum "+strconv.Itoa(b.cfg.Store.MaxMessageSize)), nil
	}
	props := message.DecodeProperties([]byte(h.properties))
	if props == nil {
		props = map[string]string{}
	}
	props[message.PropertyCluster] = b.cfg.ClusterName
	delete(props, message.PropertyWaitStoreMsgOK)
	now := b.clk.Now().UnixMilli()
	msg := &message.MessageExt{
		Message:        message.Message{Topic: h.topic, Flag: h.flag, Properties: props, Body: req.Body},
		QueueID:        h.queueID,
		SysFlag:        message.SysFlag(h.sysFlag),
		BornTimestamp:  h.bornTimestamp,
		BornHost:       parseHost(conn.RemoteAddr()),
		StoreHost:      b.advertised,
		ReconsumeTimes: h.reconsumeTimes,
	}

	pushErr := b.pushReply(msg, &h, now)

	resp = b.sendResponse(req, protocol.Success, "")
	resp.SetExt("msgId", "0")
	resp.SetExt("queueId", strconv.Itoa(int(h.queueID)))
	resp.SetExt("queueOffset", "0")
	if b.cfg.StoreReplyMessageEnable {
		res, err := b.putSync(msg)
		if err != nil {
			b.log.Warn("broker: store reply message", "topic", h.topic, "err", err)
		} else {
			resp.SetExt("msgId", res.MsgID)
			resp.SetExt("queueOffset", strconv.FormatInt(int64(res.QueueOffset), 10))
		}
	}
	if pushErr != "" {
		resp.Code, resp.Remark = int16(protocol.SystemError), pushErr
	}
	return resp, nil
}

// pushReply sends PUSH_REPLY_MESSAGE_TO_CLIENT to the requester; it returns
// "" on success, else the answer's remark.
func (b *Broker) pushReply(msg *message.MessageExt, h *sendHeader, now int64) string {
	clientID := msg.Properties[message.PropertyReplyToClient]
	if clientID == "" {
		return "push reply message failed: the message has no " + message.PropertyReplyToClient + " property"
	}
	conn := b.clients.ProducerConnByClientID(clientID)
	if conn == nil {
		return "push reply message to " + clientID + " failed: no producer connection of that client id"
	}
	props := make(map[string]string, len(msg.Properties)+1)
	for k, v := range msg.Properties {
		props[k] = v
	}
	props[message.PropertyPushReplyTime] = strconv.FormatInt(now, 10)
	propStr, err := message.AppendProperties(nil, props)
	if err != nil {
		return "push reply message failed: " + err.Error()
	}
	push := protocol.NewRequest(protocol.PushReplyMessageToClient, map[string]string{
		"producerGroup":         h.producerGroup,
		"topic":                 h.topic,
		"defaultTopic":          h.defaultTopic,
		"defaultTopicQueueNums": strconv.Itoa(int(h.defaultTopicQueueNums)),
		"queueId":               strconv.Itoa(int(msg.QueueID)),
		"sysFlag":               strconv.Itoa(int(msg.SysFlag)),
		"bornTimestamp":         strconv.FormatInt(msg.BornTimestamp, 10),
		"flag":                  strconv.Itoa(int(msg.Flag)),
		"properties":            string(propStr),
		"reconsumeTimes":        strconv.Itoa(int(msg.ReconsumeTimes)),
		"unitMode":              "false",
		"bornHost":              msg.BornHost.String(),
		"storeHost":             b.advertised.String(),
		"storeTimestamp":        strconv.FormatInt(now, 10),
	})
	push.Body = msg.Body
	ctx, cancel := context.WithTimeout(context.Background(), replyPushTimeout)
	defer cancel()
	resp, err := conn.Invoke(ctx, push)
	switch {
	case err != nil:
		return "push reply message to " + clientID + " failed: " + err.Error()
	case resp.ResponseCode() != protocol.Success:
		return "push reply message to " + clientID + " failed: code " + strconv.Itoa(int(resp.Code)) + " " + resp.Remark
	}
	return ""
}
