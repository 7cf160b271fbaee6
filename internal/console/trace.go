package console

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmq/petrel/pkg/protocol"
)

// DefaultTraceTopic is RocketMQ's message-trace topic (msgTraceTopicName).
const DefaultTraceTopic = "RMQ_SYS_TRACE_TOPIC"

// Trace is one trace record, as RocketMQ's clients write them to the trace
// topic (TraceDataEncoder): fields separated by 0x01, records by 0x02.
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

// msgTypes are RocketMQ's MessageType names, by ordinal.
var msgTypes = []string{"Normal_Msg", "Trans_Msg_Half", "Trans_msg_Commit", "Delay_Msg"}

// decodeTraces parses one trace message's body; records it cannot read are
// skipped.
func decodeTraces(body string) []Trace {
	var out []Trace
	for _, rec := range strings.Split(body, "\x02") {
		f := strings.Split(rec, "\x01")
		if len(f) < 2 {
			continue
		}
		at := func(i int) string {
			if i < len(f) {
				return f[i]
			}
			return ""
		}
		num := func(i int) int64 { n, _ := strconv.ParseInt(at(i), 10, 64); return n }
		ts := func(i int) string {
			if n := num(i); n > 0 {
				return time.UnixMilli(n).UTC().Format(time.RFC3339Nano)
			}
			return ""
		}
		t := Trace{Type: f[0]}
		switch f[0] {
		case "Pub":
			if len(f) < 13 {
				continue
			}
			t.Time, t.Region, t.Group, t.Topic, t.MsgID, t.Tags, t.Keys, t.StoreHost = ts(1), at(2), at(3), at(4), at(5), at(6), at(7), at(8)
			t.BodyLength, t.CostMillis = int(num(9)), num(10)
			if n := int(num(11)); n >= 0 && n < len(msgTypes) {
				t.MsgType = msgTypes[n]
			}
			t.OffsetMsgID, t.Success, t.ClientHost = at(12), at(13) != "false", at(14)
		case "SubBefore":
			if len(f) < 8 {
				continue
			}
			t.Time, t.Region, t.Group, t.RequestID, t.MsgID = ts(1), at(2), at(3), at(4), at(5)
			t.RetryTimes, t.Keys, t.ClientHost, t.Success = int(num(6)), at(7), at(8), true
		case "SubAfter":
			if len(f) < 6 {
				continue
			}
			t.RequestID, t.MsgID, t.CostMillis, t.Success, t.Keys = at(1), at(2), num(3), at(4) == "true", at(5)
			t.Time, t.Group = ts(7), at(8)
		case "EndTransaction":
			if len(f) < 13 {
				continue
			}
			t.Time, t.Region, t.Group, t.Topic, t.MsgID, t.Tags, t.Keys, t.StoreHost = ts(1), at(2), at(3), at(4), at(5), at(6), at(7), at(8)
			if n := int(num(9)); n >= 0 && n < len(msgTypes) {
				t.MsgType = msgTypes[n]
			}
			t.TransactionID, t.TransactionState, t.FromCheck, t.Success = at(10), at(11), at(12) == "true", true
		default:
			continue
		}
		out = append(out, t)
	}
	return out
}

// trace finds the trace records of a message id (?id=, the producer's
// message id) in the trace topic (?topic=, default RMQ_SYS_TRACE_TOPIC),
// where clients key them by message id.
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
	end := time.Now().Add(time.Minute)
	msgs, err := s.adm.QueryByKey(ctx, topic, id, false, 64, end.Add(-72*time.Hour), end)
	if errors.Is(err, protocol.ErrTopicNotExist) {
		return map[string]any{"traces": []Trace{}, "note": "no trace topic " + topic + " (traceTopicEnable=false?)"}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []Trace{}
	for _, m := range msgs {
		for _, t := range decodeTraces(string(m.Body)) {
			if t.MsgID == id {
				out = append(out, t)
			}
		}
	}
	order := map[string]int{"Pub": 0, "EndTransaction": 1, "SubBefore": 2, "SubAfter": 3}
	sort.SliceStable(out, func(i, j int) bool { return order[out[i].Type] < order[out[j].Type] })
	return map[string]any{"traces": out}, nil
}
