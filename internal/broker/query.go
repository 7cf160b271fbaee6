package broker

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// Query limits (RocketMQ's defaultQueryMaxNum and maxMsgsNumBatch).
const (
	defaultQueryMaxNum = 32
	maxQueryNum        = 64
)

// processQueryMessage handles QUERY_MESSAGE (12): records whose key (a word of
// KEYS) or, with _UNIQUE_KEY_QUERY=true, whose UNIQ_KEY is key, stored in
// [beginTimestamp, endTimestamp], from the index. The answer is SUCCESS with
// the stored records back to back as body and indexLastUpdateTimestamp /
// indexLastUpdatePhyoffset, or QUERY_NOT_FOUND. As in RocketMQ, records are
// not re-checked against the key (index hash collisions are possible); the
// clients filter again.
func (b *Broker) processQueryMessage(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	r := extReader{req: req}
	topic, key := r.str("topic", true), r.str("key", true)
	maxNum := int(r.int32("maxNum", true))
	begin, end := r.int64("beginTimestamp", true), r.int64("endTimestamp", true)
	if r.err != nil {
		return protocol.NewResponse(req, protocol.SystemError, r.err.Error()), nil
	}
	if req.Ext("_UNIQUE_KEY_QUERY") == "true" {
		maxNum = defaultQueryMaxNum
	}
	maxNum = min(max(maxNum, 1), maxQueryNum)
	qr, err := b.store.QueryMessage(topic, key, maxNum, begin, end)
	if err != nil {
		return respond(req, protocol.SystemError, "query message: %v", err), nil
	}
	resp := protocol.NewResponse(req, protocol.QueryNotFound, "can not find message, maybe time range not correct")
	resp.SetExt("indexLastUpdateTimestamp", strconv.FormatInt(qr.IndexLastUpdateTime, 10))
	resp.SetExt("indexLastUpdatePhyoffset", strconv.FormatInt(int64(qr.IndexLastUpdatePhys), 10))
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

// processViewMessageByID handles VIEW_MESSAGE_BY_ID (33): offset is a
// commit-log offset (from an offset message id); the body is the one record
// stored there.
func (b *Broker) processViewMessageByID(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	r := extReader{req: req}
	off := r.int64("offset", true)
	if r.err != nil {
		return protocol.NewResponse(req, protocol.SystemError, r.err.Error()), nil
	}
	rec, err := b.store.LookMessageByOffset(message.PhysOffset(off), nil)
	if err != nil {
		return respond(req, protocol.SystemError, "can not find message by the offset, %d", off), nil
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

// processQueryConsumeTimeSpan handles QUERY_CONSUME_TIME_SPAN (303): for
// each write queue of topic, the store times of its first and last message
// and of the last message group consumed, and the difference (delayTime).
func (b *Broker) processQueryConsumeTimeSpan(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	r := extReader{req: req}
	topic, group := r.str("topic", true), r.str("group", true)
	if r.err != nil {
		return protocol.NewResponse(req, protocol.SystemError, r.err.Error()), nil
	}
	tc, ok := b.topics.get(topic)
	if !ok {
		return respond(req, protocol.TopicNotExist, "topic[%s] not exist", topic), nil
	}
	spans := make([]queueTimeSpan, 0, tc.WriteQueueNums)
	for q := range tc.WriteQueueNums {
		var s queueTimeSpan
		s.MessageQueue.Topic, s.MessageQueue.BrokerName, s.MessageQueue.QueueID = topic, b.cfg.BrokerName, q
		s.MinTimeStamp, _ = b.store.EarliestMessageTime(topic, q)
		maxOff := b.store.MaxOffsetInQueue(topic, q)
		if maxOff > 0 {
			s.MaxTimeStamp, _ = b.store.MessageStoreTime(topic, q, maxOff-1)
		}
		consumed := b.offsets.query(group, topic, q)
		switch {
		case consumed > 0:
			s.ConsumeTimeStamp, _ = b.store.MessageStoreTime(topic, q, message.QueueOffset(consumed-1))
		default:
			s.ConsumeTimeStamp = s.MinTimeStamp
		}
		if consumed >= int64(maxOff) {
			s.DelayTime = 0
		} else {
			s.DelayTime = s.MaxTimeStamp - s.ConsumeTimeStamp
		}
		spans = append(spans, s)
	}
	out, err := json.Marshal(struct {
		ConsumeTimeSpanSet []queueTimeSpan `json:"consumeTimeSpanSet"`
	}{spans})
	if err != nil {
		return respond(req, protocol.SystemError, "encode: %v", err), nil
	}
	resp := protocol.NewResponse(req, protocol.Success, "")
	resp.Body = out
	return resp, nil
}
