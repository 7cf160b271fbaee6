package query

import (
	"context"
	"encoding/json"

	"github.com/petrelmq/petrel/internal/broker/answer"
	"github.com/petrelmq/petrel/internal/broker/meta"
	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/header"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// Query limits (RocketMQ's defaultQueryMaxNum and maxMsgsNumBatch).
const (
	defaultQueryMaxNum = 32
	maxQueryNum        = 64
)

// Store is what lookups need from the store.
type Store interface {
	QueryMessage(topic, key string, maxNum int, beginMillis, endMillis int64) (store.QueryResult, error)
	LookMessageByOffset(phys message.PhysOffset, dst []byte) ([]byte, error)
	EarliestMessageTime(topic string, queueID int32) (int64, error)
	MessageStoreTime(topic string, queueID int32, offset message.QueueOffset) (int64, error)
	MaxOffsetInQueue(topic string, queueID int32) message.QueueOffset
}

// Service is the query room.
type Service struct {
	st         Store
	topics     *meta.Topics
	offsets    *meta.Offsets
	brokerName string
}

// New builds the room.
func New(st Store, topics *meta.Topics, offsets *meta.Offsets, brokerName string) *Service {
	return &Service{st: st, topics: topics, offsets: offsets, brokerName: brokerName}
}

// ProcessQueryMessage handles QUERY_MESSAGE (12): records whose key (a word of
// KEYS) or, with _UNIQUE_KEY_QUERY=true, whose UNIQ_KEY is key, stored in
// [beginTimestamp, endTimestamp], from the index. The answer is SUCCESS with
// the stored records back to back as body and indexLastUpdateTimestamp /
// indexLastUpdatePhyoffset, or QUERY_NOT_FOUND. As in RocketMQ, records are
// not re-checked against the key (index hash collisions are possible); the
// clients filter again.
func (s *Service) ProcessQueryMessage(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	var h header.QueryMessage
	if err := h.Decode(req); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
	}
	maxNum := int(h.MaxNum)
	if h.UniqueKeyQuery {
		maxNum = defaultQueryMaxNum
	}
	maxNum = min(max(maxNum, 1), maxQueryNum)
	qr, err := s.st.QueryMessage(h.Topic, h.Key, maxNum, h.BeginTimestamp, h.EndTimestamp)
	if err != nil {
		return answer.Respond(req, protocol.SystemError, "query message: %v", err), nil
	}
	resp := header.NewResponse(req, protocol.QueryNotFound, "can not find message, maybe time range not correct",
		&header.QueryMessageResponse{IndexLastUpdateTimestamp: qr.IndexLastUpdateTime, IndexLastUpdatePhyoffset: int64(qr.IndexLastUpdatePhys)})
	if len(qr.Records) == 0 {
		return resp, nil
	}
	resp.Code, resp.Remark = int16(protocol.Success), ""
	n := 0
	for _, rec := range qr.Records {
		n += len(rec)
	}
	resp.Body = make([]byte, 0, n)
	for _, rec := range qr.Records {
		resp.Body = append(resp.Body, rec...)
	}
	return resp, nil
}

// ProcessViewMessageByID handles VIEW_MESSAGE_BY_ID (33): offset is a
// commit-log offset (from an offset message id); the body is the one record
// stored there.
func (s *Service) ProcessViewMessageByID(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	var h header.ViewMessage
	if err := h.Decode(req); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
	}
	off := h.Offset
	rec, err := s.st.LookMessageByOffset(message.PhysOffset(off), nil)
	if err != nil {
		return answer.Respond(req, protocol.SystemError, "can not find message by the offset, %d", off), nil
	}
	resp := protocol.NewResponse(req, protocol.Success, "")
	resp.Body = rec
	return resp, nil
}

// queueTimeSpan is one entry of QueryConsumeTimeSpanBody (Java field names).
type queueTimeSpan struct {
	MessageQueue struct {
		Topic      string `json:"topic"`
		BrokerName string `json:"brokerName"`
		QueueID    int32  `json:"queueId"`
	} `json:"messageQueue"`
	MinTimeStamp     int64 `json:"minTimeStamp"`
	MaxTimeStamp     int64 `json:"maxTimeStamp"`
	ConsumeTimeStamp int64 `json:"consumeTimeStamp"`
	DelayTime        int64 `json:"delayTime"`
}

// ProcessQueryConsumeTimeSpan handles QUERY_CONSUME_TIME_SPAN (303): for
// each write queue of topic, the store times of its first and last message
// and of the last message group consumed, and the difference (delayTime).
func (s *Service) ProcessQueryConsumeTimeSpan(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	var h header.QueryConsumeTimeSpan
	if err := h.Decode(req); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
	}
	topic, group := h.Topic, h.Group
	tc, ok := s.topics.Get(topic)
	if !ok {
		return answer.Respond(req, protocol.TopicNotExist, "topic[%s] not exist", topic), nil
	}
	spans := make([]queueTimeSpan, 0, tc.WriteQueueNums)
	for q := range tc.WriteQueueNums {
		var sp queueTimeSpan
		sp.MessageQueue.Topic, sp.MessageQueue.BrokerName, sp.MessageQueue.QueueID = topic, s.brokerName, q
		sp.MinTimeStamp, _ = s.st.EarliestMessageTime(topic, q)
		maxOff := s.st.MaxOffsetInQueue(topic, q)
		if maxOff > 0 {
			sp.MaxTimeStamp, _ = s.st.MessageStoreTime(topic, q, maxOff-1)
		}
		consumed := s.offsets.Query(group, topic, q)
		switch {
		case consumed > 0:
			sp.ConsumeTimeStamp, _ = s.st.MessageStoreTime(topic, q, message.QueueOffset(consumed-1))
		default:
			sp.ConsumeTimeStamp = sp.MinTimeStamp
		}
		if consumed >= int64(maxOff) {
			sp.DelayTime = 0
		} else {
			sp.DelayTime = sp.MaxTimeStamp - sp.ConsumeTimeStamp
		}
		spans = append(spans, sp)
	}
	out, err := json.Marshal(struct {
		ConsumeTimeSpanSet []queueTimeSpan `json:"consumeTimeSpanSet"`
	}{spans})
	if err != nil {
		return answer.Respond(req, protocol.SystemError, "encode: %v", err), nil
	}
	resp := protocol.NewResponse(req, protocol.Success, "")
	resp.Body = out
	return resp, nil
}
