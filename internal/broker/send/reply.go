package send

import (
	"context"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/header"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// replyPushTimeout bounds the PUSH_REPLY_MESSAGE_TO_CLIENT call (RocketMQ
// waits up to 10 s; a requester that does not answer in 3 s has most likely
// timed out its request anyway, and a shorter bound frees the worker).
const replyPushTimeout = 3 * time.Second

// ProcessReply handles SEND_REPLY_MESSAGE (324, long header names, sent by
// the Go client for MSG_TYPE=reply) and SEND_REPLY_MESSAGE_V2 (325, short
// names, Java). It pushes the reply synchronously to the requester's
// connection, found by the REPLY_TO_CLIENT client id among registered
// producers, and also stores it in its topic (normally
// <cluster>_REPLY_TOPIC) when storeReplyMessageEnable. The answer is SUCCESS
// if the push worked, else SYSTEM_ERROR naming the reason; storing does not
// change the code (RocketMQ 4.9's ReplyMessageProcessor).
func (s *Service) ProcessReply(ctx context.Context, conn *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	if s.cfg.Slave {
		return s.response(req, protocol.ServiceNotAvailable, slaveRemark), nil
	}
	if !s.d.Gate.Enter() { // Close waits for admitted writes
		return s.response(req, protocol.ServiceNotAvailable, "broker "+s.cfg.BrokerName+" is shutting down"), nil
	}
	defer s.d.Gate.Exit()
	var h header.SendMessage
	if err := h.Decode(req); err != nil {
		return s.response(req, protocol.SystemError, err.Error()), nil
	}
	tc, resp := s.check(req, &h)
	if resp != nil {
		return resp, nil
	}
	if h.QueueID < 0 || h.QueueID >= tc.WriteQueueNums {
		h.QueueID = rand.Int32N(tc.WriteQueueNums)
	}
	if len(req.Body) > s.cfg.MaxMessageSize {
		return s.response(req, protocol.MessageIllegal, "the reply body size "+strconv.Itoa(len(req.Body))+
			" is larger than the maximum "+strconv.Itoa(s.cfg.MaxMessageSize)), nil
	}
	props := message.DecodePropertiesString(h.Properties)
	if props == nil {
		props = map[string]string{}
	}
	props[message.PropertyCluster] = s.cfg.ClusterName
	delete(props, message.PropertyWaitStoreMsgOK)
	now := s.d.Clock.Now().UnixMilli()
	msg := &message.MessageExt{
		Message:        message.Message{Topic: h.Topic, Flag: h.Flag, Properties: props, Body: req.Body},
		QueueID:        h.QueueID,
		SysFlag:        message.SysFlag(h.SysFlag),
		BornTimestamp:  h.BornTimestamp,
		BornHost:       ParseHost(conn.RemoteAddr()),
		StoreHost:      s.cfg.StoreHost,
		ReconsumeTimes: h.ReconsumeTimes,
	}

	pushErr := s.pushReply(ctx, msg, &h, now)

	out := header.SendMessageResponse{MsgID: "0", QueueID: h.QueueID, Region: s.cfg.RegionID, TraceOn: s.cfg.TraceOn}
	if s.cfg.StoreReplyMessage {
		res, err := store.PutWait(ctx, s.d.Store, msg)
		if err != nil {
			s.d.Log.Warn("send: store reply message", "topic", h.Topic, "err", err)
		} else {
			out.MsgID, out.QueueOffset = res.MsgID, int64(res.QueueOffset)
		}
	}
	code := protocol.Success
	if pushErr != "" {
		code = protocol.SystemError
	}
	return header.NewResponse(req, code, pushErr, &out), nil
}

// pushReply sends PUSH_REPLY_MESSAGE_TO_CLIENT to the requester; it returns
// "" on success, else the answer's remark.
func (s *Service) pushReply(ctx context.Context, msg *message.MessageExt, h *header.SendMessage, now int64) string {
	clientID := msg.Properties[message.PropertyReplyToClient]
	if clientID == "" {
		return "push reply message failed: the message has no " + message.PropertyReplyToClient + " property"
	}
	conn := s.d.Producers.ProducerConnByClientID(clientID)
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
	push := header.NewRequest(protocol.PushReplyMessageToClient, &header.PushReplyMessage{
		ProducerGroup:         h.ProducerGroup,
		Topic:                 h.Topic,
		DefaultTopic:          h.DefaultTopic,
		DefaultTopicQueueNums: h.DefaultTopicQueueNums,
		QueueID:               msg.QueueID,
		SysFlag:               int32(msg.SysFlag),
		BornTimestamp:         msg.BornTimestamp,
		Flag:                  msg.Flag,
		Properties:            string(propStr),
		ReconsumeTimes:        msg.ReconsumeTimes,
		BornHost:              msg.BornHost.String(),
		StoreHost:             s.cfg.StoreHost.String(),
		StoreTimestamp:        now,
	})
	push.Body = msg.Body
	pctx, cancel := context.WithTimeout(ctx, replyPushTimeout)
	defer cancel()
	resp, err := conn.Invoke(pctx, push)
	switch {
	case err != nil:
		return "push reply message to " + clientID + " failed: " + err.Error()
	case resp.ResponseCode() != protocol.Success:
		return "push reply message to " + clientID + " failed: code " + strconv.Itoa(int(resp.Code)) + " " + resp.Remark
	}
	return ""
}
