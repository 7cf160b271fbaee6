package offset

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/petrelmq/petrel/internal/broker/answer"
	"github.com/petrelmq/petrel/internal/broker/meta"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// resetNotifyTimeout bounds queuing one RESET_CONSUMER_CLIENT_OFFSET.
const resetNotifyTimeout = 3 * time.Second

// Store is what offset reads need from the store.
type Store interface {
	MaxOffsetInQueue(topic string, queueID int32) message.QueueOffset
	MinOffsetInQueue(topic string, queueID int32) message.QueueOffset
	OffsetByTime(topic string, queueID int32, millis int64) message.QueueOffset
	EarliestMessageTime(topic string, queueID int32) (int64, error)
}

// Consumers finds a group's live consumer connections.
type Consumers interface {
	ConsumerConns(group string) []*remoting.Conn
}

// Service is the offset room.
type Service struct {
	st         Store
	offsets    *meta.Offsets
	topics     *meta.Topics
	consumers  Consumers
	brokerName string
	log        *slog.Logger
}

// New builds the room.
func New(st Store, offsets *meta.Offsets, topics *meta.Topics, consumers Consumers, brokerName string, log *slog.Logger) *Service {
	return &Service{st: st, offsets: offsets, topics: topics, consumers: consumers, brokerName: brokerName, log: log}
}

// ProcessQueryConsumerOffset answers QUERY_CONSUMER_OFFSET: the stored offset,
// else 0 when the queue's min offset is 0 (a young queue, RocketMQ's rule),
// else QUERY_NOT_FOUND.
func (s *Service) ProcessQueryConsumerOffset(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	var h header.QueryConsumerOffset
	if err := h.Decode(req); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
	}
	off := s.offsets.Query(h.ConsumerGroup, h.Topic, h.QueueID)
	if off < 0 {
		if s.st.MinOffsetInQueue(h.Topic, h.QueueID) > 0 {
			return answer.Respond(req, protocol.QueryNotFound, "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first"), nil
		}
		off = 0
	}
	return header.NewResponse(req, protocol.Success, "", &header.QueryConsumerOffsetResponse{Offset: off}), nil
}

// ProcessUpdateConsumerOffset answers UPDATE_CONSUMER_OFFSET.
func (s *Service) ProcessUpdateConsumerOffset(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	var h header.UpdateConsumerOffset
	if err := h.Decode(req); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
	}
	s.offsets.Commit(h.ConsumerGroup, h.Topic, h.QueueID, h.CommitOffset)
	return protocol.NewResponse(req, protocol.Success, ""), nil
}

// ProcessQueueOffset answers GET_MAX_OFFSET, GET_MIN_OFFSET,
// SEARCH_OFFSET_BY_TIMESTAMP and GET_EARLIEST_MSG_STORETIME.
func (s *Service) ProcessQueueOffset(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	bad := func(err error) (*protocol.Command, error) {
		return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
	}
	switch req.RequestCode() {
	case protocol.GetMaxOffset:
		var h header.GetMaxOffset
		if err := h.Decode(req); err != nil {
			return bad(err)
		}
		return header.NewResponse(req, protocol.Success, "",
			&header.GetMaxOffsetResponse{Offset: int64(s.st.MaxOffsetInQueue(h.Topic, h.QueueID))}), nil
	case protocol.GetMinOffset:
		var h header.GetMinOffset
		if err := h.Decode(req); err != nil {
			return bad(err)
		}
		return header.NewResponse(req, protocol.Success, "",
			&header.GetMinOffsetResponse{Offset: int64(s.st.MinOffsetInQueue(h.Topic, h.QueueID))}), nil
	case protocol.SearchOffsetByTimestamp:
		var h header.SearchOffset
		if err := h.Decode(req); err != nil {
			return bad(err)
		}
		return header.NewResponse(req, protocol.Success, "",
			&header.SearchOffsetResponse{Offset: int64(s.st.OffsetByTime(h.Topic, h.QueueID, h.Timestamp))}), nil
	case protocol.GetEarliestMsgStoretime:
		var h header.GetEarliestMsgStoretime
		if err := h.Decode(req); err != nil {
			return bad(err)
		}
		t, err := s.st.EarliestMessageTime(h.Topic, h.QueueID)
		if err != nil {
			t = -1
		}
		return header.NewResponse(req, protocol.Success, "", &header.GetEarliestMsgStoretimeResponse{Timestamp: t}), nil
	}
	return answer.Respond(req, protocol.RequestCodeNotSupported, " request type %d not supported", req.Code), nil
}

// ProcessGetAllConsumerOffset answers GET_ALL_CONSUMER_OFFSET (43) with
// consumerOffset.json's content ({"offsetTable":{"topic@group":{"0":12}}}),
// which a slave copies from its master.
func (s *Service) ProcessGetAllConsumerOffset(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	data, err := json.Marshal(struct {
		OffsetTable map[string]map[int32]int64 `json:"offsetTable"`
	}{s.offsets.All()})
	if err != nil {
		return nil, err
	}
	resp := protocol.NewResponse(req, protocol.Success, "")
	resp.Body = data
	return resp, nil
}

// ProcessResetOffset serves INVOKE_BROKER_TO_RESET_OFFSET (222): for every
// queue of topic on this broker the new offset is the one found for
// timestamp (-1: the queue's max offset), unless the group's current offset
// is already lower and isForce is false. The offsets are stored at once (so
// consumer progress shows them) and sent to every online consumer of the
// group with RESET_CONSUMER_CLIENT_OFFSET (220, oneway), which makes the
// clients drop the queues and take them back from the new offsets. No online
// consumer: CONSUMER_NOT_ONLINE, nothing changed (as RocketMQ; offsets of an
// offline group are set with UPDATE_CONSUMER_OFFSET).
func (s *Service) ProcessResetOffset(ctx context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	var h header.ResetOffset
	if err := h.Decode(req); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
	}
	topic, group, ts, force := h.Topic, h.Group, h.Timestamp, h.IsForce
	tc, ok := s.topics.Get(topic)
	if !ok {
		return answer.Respond(req, protocol.SystemError, "[reset-offset] reset offset failed, no topic in this broker. topic=%s", topic), nil
	}
	conns := s.consumers.ConsumerConns(group)
	if len(conns) == 0 {
		return answer.Respond(req, protocol.ConsumerNotOnline, "Consumer not online, so can not reset offset, Group: %s Topic: %s", group, topic), nil
	}

	current := s.offsets.QueueOffsets(group, topic)
	table := make(map[message.MessageQueue]int64, tc.WriteQueueNums)
	for q := range tc.WriteQueueNums {
		var target int64
		if ts == -1 {
			target = int64(s.st.MaxOffsetInQueue(topic, q))
		} else {
			target = int64(s.st.OffsetByTime(topic, q, ts))
		}
		target = max(target, 0)
		if cur, has := current[q]; has && !force && cur <= target {
			target = cur
		}
		table[message.MessageQueue{Topic: topic, BrokerName: s.brokerName, QueueID: q}] = target
		s.offsets.Commit(group, topic, q, target)
	}
	enc := body.EncodeResetOffsetBody(table)

	for _, c := range conns {
		notify := header.NewRequest(protocol.ResetConsumerClientOffset, &header.ResetOffset{
			Topic: topic, Group: group, Timestamp: ts, IsForce: force,
		})
		notify.Body = enc
		sctx, cancel := context.WithTimeout(ctx, resetNotifyTimeout)
		err := c.InvokeOneway(sctx, notify)
		cancel()
		if err != nil && !errors.Is(err, remoting.ErrConnClosed) {
			s.log.Warn("offset: send RESET_CONSUMER_CLIENT_OFFSET", "group", group, "peer", c.RemoteAddr(), "err", err)
		}
	}
	s.log.Info("offset: consumer offsets reset", "group", group, "topic", topic, "timestamp", strconv.FormatInt(ts, 10),
		"force", force, "consumers", len(conns))

	resp := protocol.NewResponse(req, protocol.Success, "")
	resp.Body = enc
	return resp, nil
}
