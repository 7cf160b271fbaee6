package trace

import (
	"strconv"
	"strings"
	"time"
)

// Separators of the format; part of the wire format, never change.
const (
	// ContentSeparator separates the fields of a record (TraceConstants.CONTENT_SPLITOR).
	ContentSeparator = '\x01'
	// FieldSeparator ends each record (TraceConstants.FIELD_SPLITOR).
	FieldSeparator = '\x02'
)

// DefaultTopic is RocketMQ's trace topic (TopicValidator.RMQ_SYS_TRACE_TOPIC,
// the broker's msgTraceTopicName default).
const DefaultTopic = "RMQ_SYS_TRACE_TOPIC"

// DefaultRegion is the region clients assume when a broker names none.
const DefaultRegion = "DefaultRegion"

// ProducerGroup is the producer group trace messages are sent with
// (TraceConstants.GROUP_NAME_PREFIX / rocketmq-client-go's TraceGroupName).
const ProducerGroup = "_INNER_TRACE_PRODUCER"

// MaxBodySize is the body size past which a writer starts a new trace
// message (128000 - 10000 bytes, as RocketMQ's dispatchers do).
const MaxBodySize = 118000

// Type is a record type.
type Type string

// Record types.
const (
	Pub            Type = "Pub"
	SubBefore      Type = "SubBefore"
	SubAfter       Type = "SubAfter"
	EndTransaction Type = "EndTransaction"
)

// MessageType is RocketMQ's MessageType; written as its ordinal.
type MessageType int

// Message types, in ordinal order; part of the format, never renumber.
const (
	NormalMsg      MessageType = iota // Normal_Msg
	TransMsgHalf                      // Trans_Msg_Half
	TransMsgCommit                    // Trans_msg_Commit
	DelayMsg                          // Delay_Msg
)

var messageTypeNames = [...]string{"Normal_Msg", "Trans_Msg_Half", "Trans_msg_Commit", "Delay_Msg"}

// String returns Java's enum name, or "MessageType(n)" for an unknown
// ordinal.
func (t MessageType) String() string {
	if t >= 0 && int(t) < len(messageTypeNames) {
		return messageTypeNames[t]
	}
	return "MessageType(" + strconv.Itoa(int(t)) + ")"
}

// ConsumeReturnType is RocketMQ's ConsumeReturnType, the contextCode of a
// SubAfter record; written as its ordinal.
type ConsumeReturnType int

// Consume return types, in ordinal order; part of the format, never
// renumber.
const (
	ConsumeSuccess    ConsumeReturnType = iota // SUCCESS
	ConsumeTimeout                             // TIME_OUT
	ConsumeException                           // EXCEPTION (the handler threw or panicked)
	ConsumeReturnNull                          // RETURNNULL
	ConsumeFailed                              // FAILED (reconsume later)
)

var consumeReturnNames = [...]string{"SUCCESS", "TIME_OUT", "EXCEPTION", "RETURNNULL", "FAILED"}

// String returns Java's enum name, or "ConsumeReturnType(n)".
func (t ConsumeReturnType) String() string {
	if t >= 0 && int(t) < len(consumeReturnNames) {
		return consumeReturnNames[t]
	}
	return "ConsumeReturnType(" + strconv.Itoa(int(t)) + ")"
}

// Transaction states of EndTransaction records (LocalTransactionState names).
const (
	StateCommit   = "COMMIT_MESSAGE"
	StateRollback = "ROLLBACK_MESSAGE"
	StateUnknown  = "UNKNOW" // sic
)

// Record is one trace record. Which fields a type carries is listed in the
// package documentation; the others are zero.
type Record struct {
	Type Type `json:"type"`
	// Timestamp is when the record was made, in milliseconds since the Unix
	// epoch; 0 when the record has none (SubAfter of old writers).
	Timestamp   int64       `json:"timestamp"`
	Region      string      `json:"region,omitempty"`
	Group       string      `json:"group,omitempty"` // producer or consumer group, without namespace
	Topic       string      `json:"topic,omitempty"`
	MsgID       string      `json:"msgId"` // the producer's message id (UNIQ_KEY)
	Tags        string      `json:"tags,omitempty"`
	Keys        string      `json:"keys,omitempty"` // the KEYS property: keys separated by spaces
	StoreHost   string      `json:"storeHost,omitempty"`
	BodyLength  int         `json:"bodyLength,omitempty"`
	CostMillis  int64       `json:"costMillis"`
	MsgType     MessageType `json:"msgType"`
	OffsetMsgID string      `json:"offsetMsgId,omitempty"`
	Success     bool        `json:"success"`
	ClientHost  string      `json:"clientHost,omitempty"`
	RequestID   string      `json:"requestId,omitempty"` // pairs a SubBefore with its SubAfter
	RetryTimes  int         `json:"retryTimes,omitempty"`
	// ContextCode is SubAfter's outcome.
	ContextCode ConsumeReturnType `json:"contextCode,omitempty"`
	// EndTransaction only.
	TransactionID    string `json:"transactionId,omitempty"`
	TransactionState string `json:"transactionState,omitempty"`
	FromCheck        bool   `json:"fromTransactionCheck,omitempty"`
}

// Time returns Timestamp as a time, or the zero time when it is 0.
func (r *Record) Time() time.Time {
	if r.Timestamp == 0 {
		return time.Time{}
	}
	return time.UnixMilli(r.Timestamp)
}

// Keys returns the index keys of a trace message holding recs: every
// record's message id and each of its keys, without duplicates, in first-seen
// order (TraceDataEncoder's transKey). Join them with spaces for the trace
// message's KEYS property.
func Keys(recs []Record) []string {
	seen := map[string]bool{}
	var out []string
	add := func(k string) {
		if k != "" && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for i := range recs {
		add(recs[i].MsgID)
		for _, k := range strings.Split(recs[i].Keys, " ") {
			add(k)
		}
	}
	return out
}

// clean removes the separators from a text field, so that no value can
// break the record apart.
func clean(s string) string {
	if strings.ContainsAny(s, "\x01\x02") {
		return strings.Map(func(r rune) rune {
			if r == ContentSeparator || r == FieldSeparator {
				return -1
			}
			return r
		}, s)
	}
	return s
}

// nullWrap writes empty keys as "null", as Java writes a null String and
// rocketmq-client-go writes empty keys: Java's decoder drops trailing empty
// fields and would then miss the field.
func nullWrap(s string) string {
	if s == "" {
		return "null"
	}
	return s
}

// Append appends r's encoding, FieldSeparator included, to dst and returns
// the extended buffer. Separator bytes inside text fields are removed. A
// record of an unknown type appends nothing.
func Append(dst []byte, r *Record) []byte {
	sep := func(b []byte) []byte { return append(b, ContentSeparator) }
	str := func(b []byte, s string) []byte { return append(sep(b), clean(s)...) }
	num := func(b []byte, n int64) []byte { return strconv.AppendInt(sep(b), n, 10) }
	flag := func(b []byte, v bool) []byte { return strconv.AppendBool(sep(b), v) }
	switch r.Type {
	case Pub:
		dst = append(dst, Pub...)
		dst = num(dst, r.Timestamp)
		dst = str(dst, r.Region)
		dst = str(dst, r.Group)
		dst = str(dst, r.Topic)
		dst = str(dst, r.MsgID)
		dst = str(dst, r.Tags)
		dst = str(dst, r.Keys)
		dst = str(dst, r.StoreHost)
		dst = num(dst, int64(r.BodyLength))
		dst = num(dst, r.CostMillis)
		dst = num(dst, int64(r.MsgType))
		dst = str(dst, r.OffsetMsgID)
		dst = flag(dst, r.Success)
		dst = str(dst, r.ClientHost)
	case SubBefore:
		dst = append(dst, SubBefore...)
		dst = num(dst, r.Timestamp)
		dst = str(dst, r.Region)
		dst = str(dst, r.Group)
		dst = str(dst, r.RequestID)
		dst = str(dst, r.MsgID)
		dst = num(dst, int64(r.RetryTimes))
		dst = str(dst, nullWrap(clean(r.Keys)))
		dst = str(dst, r.ClientHost)
	case SubAfter:
		dst = append(dst, SubAfter...)
		dst = str(dst, r.RequestID)
		dst = str(dst, r.MsgID)
		dst = num(dst, r.CostMillis)
		dst = flag(dst, r.Success)
		dst = str(dst, nullWrap(clean(r.Keys)))
		dst = num(dst, int64(r.ContextCode))
		dst = num(dst, r.Timestamp)
		dst = str(dst, r.Group)
	case EndTransaction:
		dst = append(dst, EndTransaction...)
		dst = num(dst, r.Timestamp)
		dst = str(dst, r.Region)
		dst = str(dst, r.Group)
		dst = str(dst, r.Topic)
		dst = str(dst, r.MsgID)
		dst = str(dst, r.Tags)
		dst = str(dst, r.Keys)
		dst = str(dst, r.StoreHost)
		dst = num(dst, int64(r.MsgType))
		dst = str(dst, r.TransactionID)
		dst = str(dst, r.TransactionState)
		dst = flag(dst, r.FromCheck)
	default:
		return dst
	}
	return append(dst, FieldSeparator)
}

// Encode returns the body of a trace message holding recs.
func Encode(recs []Record) []byte {
	var b []byte
	for i := range recs {
		b = Append(b, &recs[i])
	}
	return b
}

// Decode parses a trace message's body. Records it cannot read (an unknown
// type, too few fields, a number that does not parse) are skipped, so one
// bad record does not hide the others; RocketMQ's decoder would fail the
// whole message. Keys written as "null" decode as "", and empty or missing
// numbers as 0.
func Decode(body []byte) []Record {
	var out []Record
	for rec := range strings.SplitSeq(string(body), string(FieldSeparator)) {
		if rec == "" {
			continue
		}
		if r, ok := decodeRecord(strings.Split(rec, string(ContentSeparator))); ok {
			out = append(out, r)
		}
	}
	return out
}

// fields reads the fields of one record; the first parse error sticks.
type fields struct {
	f   []string
	bad bool
}

func (d *fields) str(i int) string {
	if i < len(d.f) {
		return d.f[i]
	}
	return ""
}

// num reads a decimal field; a missing or empty field reads as 0.
func (d *fields) num(i int) int64 {
	if i >= len(d.f) || d.f[i] == "" {
		return 0
	}
	n, err := strconv.ParseInt(d.f[i], 10, 64)
	if err != nil {
		d.bad = true
	}
	return n
}

// int reads a Java int field (Integer.parseInt).
func (d *fields) int(i int) int {
	n := d.num(i)
	if int64(int32(n)) != n {
		d.bad = true
	}
	return int(n)
}

// bool reads a field as Java's Boolean.parseBoolean: "true" in any case.
func (d *fields) bool(i int) bool { return strings.EqualFold(d.str(i), "true") }

func (d *fields) keys(i int) string {
	if k := d.str(i); k != "null" {
		return k
	}
	return ""
}

func decodeRecord(f []string) (Record, bool) {
	d := &fields{f: f}
	r := Record{Type: Type(f[0])}
	n := len(f)
	switch r.Type {
	case Pub:
		if n < 13 {
			return r, false
		}
		r.Timestamp, r.Region, r.Group, r.Topic, r.MsgID = d.num(1), d.str(2), d.str(3), d.str(4), d.str(5)
		r.Tags, r.Keys, r.StoreHost = d.str(6), d.keys(7), d.str(8)
		r.BodyLength, r.CostMillis, r.MsgType = d.int(9), int64(d.int(10)), MessageType(d.int(11))
		if n == 13 {
			r.Success = d.bool(12)
		} else {
			r.OffsetMsgID, r.Success, r.ClientHost = d.str(12), d.bool(13), d.str(14)
		}
	case SubBefore:
		if n < 8 {
			return r, false
		}
		r.Timestamp, r.Region, r.Group, r.RequestID, r.MsgID = d.num(1), d.str(2), d.str(3), d.str(4), d.str(5)
		r.RetryTimes, r.Keys, r.ClientHost = d.int(6), d.keys(7), d.str(8)
		r.Success = true
	case SubAfter:
		if n < 6 {
			return r, false
		}
		r.RequestID, r.MsgID, r.CostMillis, r.Success, r.Keys = d.str(1), d.str(2), int64(d.int(3)), d.bool(4), d.keys(5)
		r.ContextCode, r.Timestamp, r.Group = ConsumeReturnType(d.int(6)), d.num(7), d.str(8)
	case EndTransaction:
		if n < 13 {
			return r, false
		}
		r.Timestamp, r.Region, r.Group, r.Topic, r.MsgID = d.num(1), d.str(2), d.str(3), d.str(4), d.str(5)
		r.Tags, r.Keys, r.StoreHost, r.MsgType = d.str(6), d.keys(7), d.str(8), MessageType(d.int(9))
		r.TransactionID, r.TransactionState, r.FromCheck = d.str(10), d.str(11), d.bool(12)
		r.Success = true
	default:
		return r, false
	}
	return r, !d.bad
}
