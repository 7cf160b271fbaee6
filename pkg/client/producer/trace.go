package producer

import (
	"strings"
	"time"

	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/trace"
)

// traceMsgType is the trace MessageType of a message as sent.
func traceMsgType(m *message.Message) trace.MessageType {
	switch {
	case strings.EqualFold(m.Property(message.PropertyTransactionPrepared), "true"):
		return trace.TransMsgHalf
	case m.Property(message.PropertyDelayTimeLevel) != "" && m.Property(message.PropertyDelayTimeLevel) != "0",
		m.Property(message.PropertyTimerDeliverMS) != "":
		return trace.DelayMsg
	}
	return trace.NormalMsg
}

// tracePub queues a Pub record for each message of o once a broker stored
// it (res): nothing without client.WithTrace, without a result, when the
// broker answered TRACE_ON=false, or for sends to the trace topic itself.
// start is when the send began.
func (p *Producer) tracePub(o *outMsg, start time.Time, res *SendResult) {
	if res == nil || !res.TraceOn || !p.core.TraceOn() || o.topic == p.core.TraceTopic() || p.core.Unwrap(o.topic) == p.core.TraceTopic() {
		return
	}
	msgs := o.all
	if msgs == nil {
		msgs = []*message.Message{o.src}
	}
	offs := strings.Split(res.OffsetMsgID, ",")
	addr, _ := p.core.MasterAddr(res.Queue.BrokerName)
	cost := p.core.Now().Sub(start).Milliseconds()
	recs := make([]trace.Record, 0, len(msgs))
	for i, m := range msgs {
		if i >= len(o.ids) {
			break
		}
		r := trace.Record{Type: trace.Pub, Timestamp: start.UnixMilli(), Region: res.RegionID, Group: p.cfg.group,
			Topic: p.core.Unwrap(o.topic), MsgID: o.ids[i], Tags: m.Tags(), Keys: m.Property(message.PropertyKeys),
			StoreHost: addr, BodyLength: len(m.Body), CostMillis: cost, MsgType: traceMsgType(m),
			Success: res.Status == SendOK, ClientHost: p.core.IP().String()}
		if i < len(offs) {
			r.OffsetMsgID = offs[i]
		}
		recs = append(recs, r)
	}
	p.core.Trace(recs...)
}

// traceStates are the LocalTransactionState names of the states.
var traceStates = map[TransactionState]string{
	TransactionCommit:   trace.StateCommit,
	TransactionRollback: trace.StateRollback,
	TransactionUnknown:  trace.StateUnknown,
}

// traceEnd queues an EndTransaction record for END_TRANSACTION sent for m
// (its topic without namespace) to storeHost.
func (p *Producer) traceEnd(m *message.Message, uniq, txID, region, storeHost string, s TransactionState, fromCheck bool) {
	if !p.core.TraceOn() {
		return
	}
	if region == "" {
		region = trace.DefaultRegion
	}
	p.core.Trace(trace.Record{Type: trace.EndTransaction, Timestamp: p.core.Now().UnixMilli(), Region: region,
		Group: p.cfg.group, Topic: m.Topic, MsgID: uniq, Tags: m.Tags(), Keys: m.Property(message.PropertyKeys),
		StoreHost: storeHost, MsgType: trace.TransMsgCommit, TransactionID: txID, TransactionState: traceStates[s],
		FromCheck: fromCheck, Success: true})
}
