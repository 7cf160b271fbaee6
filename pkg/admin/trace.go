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

// QueryTrace returns the message-trace records of the message whose
// producer id (UNIQ_KEY) is msgID, as mqadmin queryMsgTraceById finds them:
// a key query for msgID on traceTopic ("" for trace.DefaultTopic) over all
// time, at most TraceMaxMessages trace messages per broker, keeping the
// records of msgID. Records that carry no client host (SubAfter, Java's
// records) get the address their trace message was sent from, the host
// mqadmin prints; a SubAfter without a group (older writers) gets the group
// of its SubBefore. Records are ordered Pub, EndTransaction, SubBefore,
// SubAfter, each by time. Errors: as QueryByKey; a missing trace topic
// matches protocol.ErrTopicNotExist.
func (a *Admin) QueryTrace(ctx context.Context, traceTopic, msgID string) ([]trace.Record, error) {
	if traceTopic == "" {
		traceTopic = trace.DefaultTopic
	}
	msgs, err := a.QueryByKey(ctx, traceTopic, msgID, false, TraceMaxMessages, time.UnixMilli(0), time.UnixMilli(math.MaxInt64))
	if err != nil {
		return nil, err
	}
	out := []trace.Record{}
	for _, m := range msgs {
		for _, r := range trace.Decode(m.Body) {
			if r.MsgID != msgID {
				continue
			}
			if r.ClientHost == "" && m.BornHost.IsValid() {
				r.ClientHost = m.BornHost.Addr().String()
			}
			out = append(out, r)
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
	slices.SortStableFunc(out, func(x, y trace.Record) int {
		return cmp.Or(cmp.Compare(traceOrder[x.Type], traceOrder[y.Type]), cmp.Compare(x.Timestamp, y.Timestamp))
	})
	return out, nil
}
