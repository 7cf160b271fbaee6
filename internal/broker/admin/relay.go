package admin

import (
	"context"
	"errors"
	"maps"
	"time"

	"github.com/petrelmq/petrel/internal/broker/answer"
	"github.com/petrelmq/petrel/internal/broker/clients"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// Requests the broker relays to a consumer client over the client's own
// connection, as RocketMQ's broker does: GET_CONSUMER_RUNNING_INFO (307),
// CONSUME_MESSAGE_DIRECTLY (309) and INVOKE_BROKER_TO_GET_CONSUMER_STATUS
// (223, which asks each client with GET_CONSUMER_STATUS_FROM_CLIENT, 221).

// relayTimeout bounds one call to a client (RocketMQ: 5 s for 221; 307 and
// 309 use the caller's timeout, which mqadmin sets to 5 s or more).
const relayTimeout = 5 * time.Second

func (s *Service) consumerConn(group, clientID string) *remoting.Conn {
	for _, c := range s.d.Consumers.ConsumerClients(group) {
		if c.ClientID == clientID {
			return c.Conn
		}
	}
	return nil
}

// relay sends req to conn and returns the client's answer as the answer to
// the admin tool, keeping its code, remark and body.
func (s *Service) relay(ctx context.Context, req *protocol.Command, conn *remoting.Conn, fwd *protocol.Command) *protocol.Command {
	ctx, cancel := context.WithTimeout(ctx, relayTimeout)
	defer cancel()
	resp, err := conn.Invoke(ctx, fwd)
	if err != nil {
		s.d.Log.Warn("admin: relay to client failed", "code", protocol.RequestCode(fwd.Code).String(), "peer", conn.RemoteAddr(), "err", err)
		return answer.Respond(req, protocol.SystemError, "invoke the client %s failed: %v", conn.RemoteAddr(), err)
	}
	out := protocol.NewResponse(req, resp.ResponseCode(), resp.Remark)
	out.Body = resp.Body
	return out
}

// ProcessConsumerRunningInfo answers GET_CONSUMER_RUNNING_INFO (307) by
// asking the named client of the group and relaying its answer.
func (s *Service) ProcessConsumerRunningInfo(ctx context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	var h header.GetConsumerRunningInfo
	if err := h.Decode(req); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
	}
	conn := s.consumerConn(h.ConsumerGroup, h.ClientID)
	if conn == nil {
		return answer.Respond(req, protocol.SystemError, "The Consumer <%s> <%s> not online", h.ConsumerGroup, h.ClientID), nil
	}
	return s.relay(ctx, req, conn, header.NewRequest(protocol.GetConsumerRunningInfo, &h)), nil
}

// ProcessConsumeMessageDirectly answers CONSUME_MESSAGE_DIRECTLY (309): the
// message named by the offset message id is read from the store and sent to
// the named client of the group, which consumes it with its listener; its
// ConsumeMessageDirectlyResult is relayed.
func (s *Service) ProcessConsumeMessageDirectly(ctx context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	var h header.ConsumeMessageDirectly
	if err := h.Decode(req); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
	}
	_, phys, err := message.ParseOffsetMsgID(h.MsgID)
	if err != nil {
		return answer.Respond(req, protocol.SystemError, "bad msgId %q: %v", h.MsgID, err), nil
	}
	rec, err := s.d.Store.LookMessageByOffset(phys, nil)
	if err != nil {
		return answer.Respond(req, protocol.SystemError, "no message with id %s: %v", h.MsgID, err), nil
	}
	conn := s.consumerConn(h.ConsumerGroup, h.ClientID)
	if conn == nil {
		return answer.Respond(req, protocol.SystemError, "The Consumer <%s> <%s> not online", h.ConsumerGroup, h.ClientID), nil
	}
	h.BrokerName = s.d.BrokerName
	fwd := header.NewRequest(protocol.ConsumeMessageDirectly, &h)
	fwd.Body = rec
	return s.relay(ctx, req, conn, fwd), nil
}

// ProcessGetConsumerStatus answers INVOKE_BROKER_TO_GET_CONSUMER_STATUS
// (223): every online client of the group (or only clientAddr's, a client
// id) is asked for its offsets on the topic with
// GET_CONSUMER_STATUS_FROM_CLIENT (221); the answers are gathered by client
// id. Clients that fail to answer are left out, as in RocketMQ.
func (s *Service) ProcessGetConsumerStatus(ctx context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	var h header.GetConsumerStatus
	if err := h.Decode(req); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
	}
	cs := s.d.Consumers.ConsumerClients(h.Group)
	if len(cs) == 0 {
		return answer.Respond(req, protocol.SystemError, "No Any Consumer online in the consumer group: [%s]", h.Group), nil
	}
	table := map[string]map[message.MessageQueue]int64{}
	for _, c := range cs {
		if h.ClientAddr != "" && h.ClientAddr != c.ClientID {
			continue
		}
		offs, err := s.askStatus(ctx, c, h.Topic, h.Group)
		if err != nil {
			s.d.Log.Warn("admin: get consumer status from client failed", "group", h.Group, "client", c.ClientID, "err", err)
			continue
		}
		if cur, ok := table[c.ClientID]; ok {
			maps.Copy(cur, offs)
		} else {
			table[c.ClientID] = offs
		}
	}
	resp := protocol.NewResponse(req, protocol.Success, "")
	resp.Body = body.EncodeConsumerStatusTable(table)
	return resp, nil
}

var errNoStatus = errors.New("admin: client answered no consumer status")

func (s *Service) askStatus(ctx context.Context, c clients.ClientConn, topic, group string) (map[message.MessageQueue]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, relayTimeout)
	defer cancel()
	resp, err := c.Conn.Invoke(ctx, header.NewRequest(protocol.GetConsumerStatusFromClient,
		&header.GetConsumerStatus{Topic: topic, Group: group}))
	if err != nil {
		return nil, err
	}
	if err := protocol.ResponseError(resp); err != nil {
		return nil, err
	}
	if len(resp.Body) == 0 {
		return nil, errNoStatus
	}
	return body.DecodeConsumerStatus(resp.Body)
}
