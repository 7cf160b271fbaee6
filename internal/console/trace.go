package console

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/trace"
)

// DefaultTraceTopic is RocketMQ's message-trace topic (msgTraceTopicName).
const DefaultTraceTopic = trace.DefaultTopic

// Trace is one trace record as the console's API shows it: a trace.Record
// (the format lives in package trace) with its time in RFC 3339 and its
// message type by name.
type Trace struct {
	Type        string `json:"type"` // Pub, SubBefore, SubAfter, EndTransaction
	Time        string `json:"time,omitempty"`
	Region      string `json:"region,omitempty"`
	Group       string `json:"group,omitempty"`
	Topic       string `json:"topic,omitempty"`
	MsgID       string `json:"msgId"`
	Tags        string `json:"tags,omitempty"`
	Keys        string `json:"keys,omitempty"`
	StoreHost   string `json:"storeHost,omitempty"`
	BodyLength  int    `json:"bodyLength,omitempty"`
	CostMillis  int64  `json:"costMillis"`
	MsgType     string `json:"msgType,omitempty"`
	OffsetMsgID string `json:"offsetMsgId,omitempty"`
	Success     bool   `json:"success"`
	ClientHost  string `json:"clientHost,omitempty"`
	RequestID   string `json:"requestId,omitempty"`
	RetryTimes  int    `json:"retryTimes,omitempty"`
	// EndTransaction only.
	TransactionID    string `json:"transactionId,omitempty"`
	TransactionState string `json:"transactionState,omitempty"`
	FromCheck        bool   `json:"fromTransactionCheck,omitempty"`
}

// traceView converts a record for the API.
func traceView(r trace.Record) Trace {
	t := Trace{Type: string(r.Type), Region: r.Region, Group: r.Group, Topic: r.Topic, MsgID: r.MsgID, Tags: r.Tags,
		Keys: r.Keys, StoreHost: r.StoreHost, BodyLength: r.BodyLength, CostMillis: r.CostMillis,
		OffsetMsgID: r.OffsetMsgID, Success: r.Success, ClientHost: r.ClientHost, RequestID: r.RequestID,
		RetryTimes: r.RetryTimes, TransactionID: r.TransactionID, TransactionState: r.TransactionState, FromCheck: r.FromCheck}
	if r.Timestamp > 0 {
		t.Time = time.UnixMilli(r.Timestamp).UTC().Format(time.RFC3339Nano)
	}
	if r.Type == trace.Pub || r.Type == trace.EndTransaction {
		t.MsgType = r.MsgType.String()
	}
	return t
}

// decodeTraces parses one trace message's body; records it cannot read are
// skipped.
func decodeTraces(body string) []Trace {
	var out []Trace
	for _, r := range trace.Decode([]byte(body)) {
		out = append(out, traceView(r))
	}
	return out
}

// trace finds the trace records of a message id (?id=, the producer's
// message id) in the trace topic (?topic=, default RMQ_SYS_TRACE_TOPIC),
// where clients key them by message id, as queryMsgTraceById does
// (admin.QueryTrace).
func (s *Server) trace(ctx context.Context, r *http.Request) (any, error) {
	q := r.URL.Query()
	id := q.Get("id")
	if id == "" {
		return nil, badRequest("id is required")
	}
	topic := q.Get("topic")
	if topic == "" {
		topic = DefaultTraceTopic
	}
	recs, err := s.adm.QueryTrace(ctx, topic, id)
	if errors.Is(err, protocol.ErrTopicNotExist) {
		return map[string]any{"traces": []Trace{}, "note": "no trace topic " + topic + " (traceTopicEnable=false?)"}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []Trace{}
	for _, r := range recs {
		t := traceView(r.Record)
		if t.ClientHost == "" {
			t.ClientHost = r.TraceHost
		}
		out = append(out, t)
	}
	return map[string]any{"traces": out}, nil
}
