package consumer

import (
	"time"

	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/trace"
)

// traceCall is one traced handler call: the SubAfter records repeat the
// SubBefore records' request id and messages.
type traceCall struct {
	requestID string
	msgs      []*message.MessageExt
	start     time.Time
}

// traceBefore queues a SubBefore record for each message a handler (or,
// for the lite pull consumer, Poll) is about to get, except messages sent with TRACE_ON=false and messages of
// the trace topic itself. It does nothing without client.WithTrace. The
// region is the message's MSG_REGION property, as rocketmq-client-go writes
// it (RocketMQ's brokers store it only when a send hook is registered).
func (b *base) traceBefore(msgs []*message.MessageExt) traceCall {
	cli := b.cli
	if !cli.TraceOn() {
		return traceCall{}
	}
	tc := traceCall{requestID: cli.NewUniqID(), start: b.cfg.clk.Now()}
	recs := make([]trace.Record, 0, len(msgs))
	for _, m := range msgs {
		if m.Property(message.PropertyTraceSwitch) == "false" || m.Topic == cli.TraceTopic() || cli.Wrap(m.Topic) == cli.TraceTopic() {
			continue
		}
		tc.msgs = append(tc.msgs, m)
		recs = append(recs, trace.Record{Type: trace.SubBefore, Timestamp: tc.start.UnixMilli(),
			Region: m.Property(message.PropertyMsgRegion), // brokers store none unless a send hook adds it: ""

			Group: b.cfg.group, RequestID: tc.requestID, MsgID: m.MsgID(), RetryTimes: int(m.ReconsumeTimes),
			Keys: m.Property(message.PropertyKeys), ClientHost: cli.IP().String(), Success: true})
	}
	cli.Trace(recs...)
	return tc
}

// traceAfter queues the SubAfter records of a call traceBefore traced.
func (b *base) traceAfter(tc traceCall, code trace.ConsumeReturnType) {
	if len(tc.msgs) == 0 {
		return
	}
	now := b.cfg.clk.Now()
	cost := now.Sub(tc.start).Milliseconds()
	recs := make([]trace.Record, 0, len(tc.msgs))
	for _, m := range tc.msgs {
		recs = append(recs, trace.Record{Type: trace.SubAfter, RequestID: tc.requestID, MsgID: m.MsgID(),
			CostMillis: cost, Success: code == trace.ConsumeSuccess, Keys: m.Property(message.PropertyKeys),
			ContextCode: code, Timestamp: now.UnixMilli(), Group: b.cfg.group})
	}
	b.cli.Trace(recs...)
}

// traceCode is the ConsumeReturnType of a handler call.
func traceCode(ok, panicked, expired bool) trace.ConsumeReturnType {
	switch {
	case panicked:
		return trace.ConsumeException
	case expired:
		return trace.ConsumeTimeout
	case ok:
		return trace.ConsumeSuccess
	}
	return trace.ConsumeFailed
}
