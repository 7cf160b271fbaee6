package admin

import (
	"cmp"
	"context"
	"math"
	"slices"
	"time"

	"github.com/petrelmq/petrel/pkg/trace"
)

// TraceMaxMessages is how many trace messages QueryTrace reads at most per
// broker (mqadmin queryMsgTraceById's 64).
const TraceMaxMessages = 64

// traceOrder sorts a message's records: send, transaction end, consume.
var traceOrder = map[trace.Type]int{trace.Pub: 0, trace.EndTransaction: 1, trace.SubBefore: 2, trace.SubAfter: 3}

// TraceRecord is a trace record QueryTrace found, with where its trace
// message came from.
type TraceRecord struct {
	trace.Record
	// TraceHost is the address (without port) the trace message holding the
	// record was sent from, as the broker saw it: the #ClientHost mqadmin
	// queryMsgTraceById prints for every record.
	TraceHost string `json:"traceHost,omitempty"`
}

// QueryTrace returns the message-trace records of the message whose
// producer id (UNIQ_KEY) is msgID, as mqadmin queryMsgTraceById finds them:
// a key query for msgID on traceTopic ("" for trace.DefaultTopic) over all
// time, at most TraceMaxMessages trace messages per broker, keeping the
// records of msgID. A SubAfter without a group (older writers) gets the
// group of its SubBefore. Records are ordered Pub, EndTransaction,
// SubBefore, SubAfter, each by time. Errors: as QueryByKey; a missing trace
// topic matches protocol.ErrTopicNotExist.
func (a *Admin) QueryTrace(ctx context.Context, traceTopic, msgID string) ([]TraceRecord, error) {
	if traceTopic == "" {
		traceTopic = trace.DefaultTopic
	}
	msgs, err := a.QueryByKey(ctx, traceTopic, msgID, false, TraceMaxMessages, time.UnixMilli(0), time.UnixMilli(math.MaxInt64))
	if err != nil {
		return nil, err
	}
	out := []TraceRecord{}
	for _, m := range msgs {
		host := ""
		if m.BornHost.IsValid() {
			host = m.BornHost.Addr().String()
		}
		for _, r := range trace.Decode(m.Body) {
			if r.MsgID == msgID {
				out = append(out, TraceRecord{Record: r, TraceHost: host})
			}
		}
	}
	groups := map[string]string{}
	for _, r := range out {
		if r.Type == trace.SubBefore {
			groups[r.RequestID] = r.Group
		}
	}
	for i := range out {
		if out[i].Type == trace.SubAfter && out[i].Group == "" {
			out[i].Group = groups[out[i].RequestID]
		}
	}
	slices.SortStableFunc(out, func(x, y TraceRecord) int {
		return cmp.Or(cmp.Compare(traceOrder[x.Type], traceOrder[y.Type]), cmp.Compare(x.Timestamp, y.Timestamp))
	})
	return out, nil
}
