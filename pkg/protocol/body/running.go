package body

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/petrelmq/petrel/pkg/message"
)

// Consumer property keys of a ConsumerRunningInfo (RocketMQ's PROP_*).
const (
	PropNameServerAddr         = "PROP_NAMESERVER_ADDR"
	PropThreadPoolCoreSize     = "PROP_THREADPOOL_CORE_SIZE"
	PropConsumeOrderly         = "PROP_CONSUMEORDERLY"
	PropConsumeType            = "PROP_CONSUME_TYPE"
	PropClientVersion          = "PROP_CLIENT_VERSION"
	PropConsumerStartTimestamp = "PROP_CONSUMER_START_TIMESTAMP"
)

// ProcessQueueInfo is a consumer's view of one queue it holds, in a
// GET_CONSUMER_RUNNING_INFO answer.
type ProcessQueueInfo struct {
	CommitOffset            int64 `json:"commitOffset"`
	CachedMsgMinOffset      int64 `json:"cachedMsgMinOffset"`
	CachedMsgMaxOffset      int64 `json:"cachedMsgMaxOffset"`
	CachedMsgCount          int32 `json:"cachedMsgCount"`
	CachedMsgSizeInMiB      int32 `json:"cachedMsgSizeInMiB"`
	TransactionMsgMinOffset int64 `json:"transactionMsgMinOffset"`
	TransactionMsgMaxOffset int64 `json:"transactionMsgMaxOffset"`
	TransactionMsgCount     int32 `json:"transactionMsgCount"`
	Locked                  bool  `json:"locked"`
	TryUnlockTimes          int64 `json:"tryUnlockTimes"`
	LastLockTimestamp       int64 `json:"lastLockTimestamp"`
	Droped                  bool  `json:"droped"` // sic, RocketMQ's field name
	LastPullTimestamp       int64 `json:"lastPullTimestamp"`
	LastConsumeTimestamp    int64 `json:"lastConsumeTimestamp"`
}

// ConsumeStatus is a consumer's rates on one topic (RocketMQ's
// ConsumeStatus): pull and consume round trips (ms) and rates (per second).
type ConsumeStatus struct {
	PullRT            float64 `json:"pullRT"`
	PullTPS           float64 `json:"pullTPS"`
	ConsumeRT         float64 `json:"consumeRT"`
	ConsumeOKTPS      float64 `json:"consumeOKTPS"`
	ConsumeFailedTPS  float64 `json:"consumeFailedTPS"`
	ConsumeFailedMsgs int64   `json:"consumeFailedMsgs"`
}

// ConsumerRunningInfo is the GET_CONSUMER_RUNNING_INFO (307) answer of a
// consumer client: its properties, subscriptions, the queues it holds and
// its rates per topic. On the wire it is fastjson's form, with
// MessageQueue objects as the keys of mqTable.
type ConsumerRunningInfo struct {
	Properties      map[string]string
	SubscriptionSet []SubscriptionData
	MQTable         map[message.MessageQueue]ProcessQueueInfo
	StatusTable     map[string]ConsumeStatus
	Jstack          string
}

// Encode writes the body as the Java client does: keys in alphabetical
// order, mqTable keyed by MessageQueue objects.
func (r *ConsumerRunningInfo) Encode() []byte {
	w := &jsonWriter{b: make([]byte, 0, 512+256*len(r.MQTable))}
	w.raw(`{`)
	if r.Jstack != "" {
		w.key("jstack")
		w.str(r.Jstack)
		w.raw(`,`)
	}
	w.key("mqTable")
	w.raw(`{`)
	for i, mq := range sortedQueues(r.MQTable) {
		if i > 0 {
			w.raw(`,`)
		}
		w.mq(mq)
		w.raw(`:`)
		b, _ := json.Marshal(r.MQTable[mq]) // plain numbers and bools: cannot fail
		w.b = append(w.b, b...)
	}
	w.raw(`},`)
	w.key("properties")
	w.raw(`{`)
	for i, k := range slices.Sorted(maps.Keys(r.Properties)) {
		if i > 0 {
			w.raw(`,`)
		}
		w.key(k)
		w.str(r.Properties[k])
	}
	w.raw(`},`)
	w.key("statusTable")
	b, _ := json.Marshal(orEmpty(r.StatusTable))
	w.b = append(w.b, b...)
	w.raw(`,`)
	w.key("subscriptionSet")
	subs := r.SubscriptionSet
	if subs == nil {
		subs = []SubscriptionData{}
	}
	b, _ = json.Marshal(subs)
	w.b = append(w.b, b...)
	w.raw(`}`)
	return w.b
}

func orEmpty[V any](m map[string]V) map[string]V {
	if m == nil {
		return map[string]V{}
	}
	return m
}

// DecodeConsumerRunningInfo parses a GET_CONSUMER_RUNNING_INFO answer, from
// Encode or from a Java client (whose properties may hold numbers).
func DecodeConsumerRunningInfo(b []byte) (*ConsumerRunningInfo, error) {
	r := &ConsumerRunningInfo{MQTable: map[message.MessageQueue]ProcessQueueInfo{}}
	rest := b
	if start, end, ok := fieldSpan(b, "mqTable"); ok {
		err := decodeMQTable(b, "mqTable", func(mq message.MessageQueue, v []byte) error {
			var p ProcessQueueInfo
			if err := json.Unmarshal(v, &p); err != nil {
				return err
			}
			r.MQTable[mq] = p
			return nil
		})
		if err != nil {
			return nil, err
		}
		rest = append(append(append([]byte{}, b[:start]...), []byte(`"mqTable":{}`)...), b[end:]...)
	}
	var top struct {
		Properties      map[string]json.RawMessage `json:"properties"`
		SubscriptionSet []SubscriptionData         `json:"subscriptionSet"`
		StatusTable     map[string]ConsumeStatus   `json:"statusTable"`
		Jstack          string                     `json:"jstack"`
	}
	if err := json.Unmarshal(rest, &top); err != nil {
		return nil, fmt.Errorf("%w: ConsumerRunningInfo: %v", ErrBadAdminBody, err)
	}
	r.Properties = make(map[string]string, len(top.Properties))
	for k, v := range top.Properties {
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(v) // a number or a bool from Java's Properties
		}
		r.Properties[k] = s
	}
	r.SubscriptionSet, r.StatusTable, r.Jstack = top.SubscriptionSet, top.StatusTable, top.Jstack
	return r, nil
}

// fieldSpan finds `"field":<value>` at the top level of a JSON-like object
// whose value may be invalid JSON (MessageQueue keys) and returns the span
// of the whole member. Strings are skipped so braces inside them do not
// count.
func fieldSpan(b []byte, field string) (start, end int, ok bool) {
	depth := 0
	key := `"` + field + `"`
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			if depth == 1 && len(b)-i >= len(key) && string(b[i:i+len(key)]) == key {
				start = i
				j := i + len(key)
				for j < len(b) && b[j] != ':' {
					j++
				}
				end, ok = skipValue(b, j+1)
				return start, end, ok
			}
			i = skipString(b, i)
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		}
	}
	return 0, 0, false
}

// skipString returns the index of the closing quote of the string opening
// at i.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(b)
}

// skipValue returns the index just past the value starting at or after i.
func skipValue(b []byte, i int) (int, bool) {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	if i >= len(b) {
		return 0, false
	}
	if b[i] != '{' && b[i] != '[' {
		for i < len(b) && b[i] != ',' && b[i] != '}' {
			if b[i] == '"' {
				if i = skipString(b, i); i >= len(b) {
					return 0, false
				}
			}
			i++
		}
		return i, true
	}
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = skipString(b, i)
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1, true
			}
		}
	}
	return 0, false
}

// ConsumeMessageDirectlyResult is the CONSUME_MESSAGE_DIRECTLY (309) answer
// of a consumer client: how its listener handled the message.
type ConsumeMessageDirectlyResult struct {
	Order          bool   `json:"order"`
	AutoCommit     bool   `json:"autoCommit"`
	ConsumeResult  string `json:"consumeResult"` // CR_SUCCESS, CR_LATER, CR_ROLLBACK, CR_COMMIT, CR_THROW_EXCEPTION, CR_RETURN_NULL
	Remark         string `json:"remark"`
	SpentTimeMills int64  `json:"spentTimeMills"`
}

// Consume results of a ConsumeMessageDirectlyResult (RocketMQ's CMResult).
const (
	CMResultSuccess        = "CR_SUCCESS"
	CMResultLater          = "CR_LATER"
	CMResultThrowException = "CR_THROW_EXCEPTION"
	CMResultReturnNull     = "CR_RETURN_NULL"
)

// cmResults are RocketMQ's CMResult values in enum order: the official Go
// client writes consumeResult as the ordinal.
var cmResults = []string{CMResultSuccess, CMResultLater, "CR_ROLLBACK", "CR_COMMIT", CMResultThrowException, CMResultReturnNull}

// UnmarshalJSON accepts consumeResult as a name (Java, Petrel) or as an
// ordinal (the official Go client).
func (r *ConsumeMessageDirectlyResult) UnmarshalJSON(b []byte) error {
	type plain ConsumeMessageDirectlyResult
	var v struct {
		plain
		ConsumeResult json.RawMessage `json:"consumeResult"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = ConsumeMessageDirectlyResult(v.plain)
	if len(v.ConsumeResult) == 0 || string(v.ConsumeResult) == "null" {
		return nil
	}
	if err := json.Unmarshal(v.ConsumeResult, &r.ConsumeResult); err == nil {
		return nil
	}
	var n int
	if err := json.Unmarshal(v.ConsumeResult, &n); err != nil || n < 0 || n >= len(cmResults) {
		return fmt.Errorf("%w: consumeResult %s", ErrBadAdminBody, v.ConsumeResult)
	}
	r.ConsumeResult = cmResults[n]
	return nil
}

// String renders the result as the Java class's toString does.
func (r ConsumeMessageDirectlyResult) String() string {
	return "ConsumeMessageDirectlyResult [order=" + strconv.FormatBool(r.Order) + ", autoCommit=" + strconv.FormatBool(r.AutoCommit) +
		", consumeResult=" + r.ConsumeResult + ", remark=" + r.Remark + ", spentTimeMills=" + strconv.FormatInt(r.SpentTimeMills, 10) + "]"
}

// EncodeConsumerStatus writes a client's GET_CONSUMER_STATUS_FROM_CLIENT
// (221) answer, GetConsumerStatusBody with its messageQueueTable: the
// client's offset of each queue of the topic it holds, MessageQueue objects
// as keys.
func EncodeConsumerStatus(offsets map[message.MessageQueue]int64) []byte {
	w := &jsonWriter{b: make([]byte, 0, 64+72*len(offsets))}
	w.raw(`{"consumerTable":{},"messageQueueTable":`)
	w.offsetTable(offsets)
	w.raw(`}`)
	return w.b
}

func (w *jsonWriter) offsetTable(offsets map[message.MessageQueue]int64) {
	w.raw(`{`)
	for i, mq := range sortedQueues(offsets) {
		if i > 0 {
			w.raw(`,`)
		}
		w.mq(mq)
		w.raw(`:`)
		w.int(offsets[mq])
	}
	w.raw(`}`)
}

// DecodeConsumerStatus parses EncodeConsumerStatus's form (a client's 221
// answer).
func DecodeConsumerStatus(b []byte) (map[message.MessageQueue]int64, error) {
	out := map[message.MessageQueue]int64{}
	err := decodeMQTable(b, "messageQueueTable", func(mq message.MessageQueue, v []byte) error {
		n, err := strconv.ParseInt(string(v), 10, 64)
		out[mq] = n
		return err
	})
	return out, err
}

// EncodeConsumerStatusTable writes the broker's INVOKE_BROKER_TO_GET_CONSUMER_STATUS
// (223) answer: each client's offsets by client id (consumerTable).
func EncodeConsumerStatusTable(table map[string]map[message.MessageQueue]int64) []byte {
	w := &jsonWriter{b: make([]byte, 0, 256)}
	w.raw(`{"consumerTable":{`)
	for i, id := range slices.Sorted(maps.Keys(table)) {
		if i > 0 {
			w.raw(`,`)
		}
		w.key(id)
		w.offsetTable(table[id])
	}
	w.raw(`},"messageQueueTable":{}}`)
	return w.b
}

// DecodeConsumerStatusTable parses a 223 answer: offsets by client id.
func DecodeConsumerStatusTable(b []byte) (map[string]map[message.MessageQueue]int64, error) {
	out := map[string]map[message.MessageQueue]int64{}
	start, end, ok := fieldSpan(b, "consumerTable")
	if !ok {
		return nil, fmt.Errorf("%w: no consumerTable", ErrBadAdminBody)
	}
	member := b[start:end]
	i := bytesIndex(member, '{')
	if i < 0 {
		return nil, fmt.Errorf("%w: consumerTable is not an object", ErrBadAdminBody)
	}
	obj := member[i+1:]
	for p := 0; p < len(obj); p++ {
		if obj[p] != '"' {
			continue
		}
		q := skipString(obj, p)
		if q >= len(obj) {
			return nil, fmt.Errorf("%w: unterminated consumerTable key", ErrBadAdminBody)
		}
		var id string
		if err := json.Unmarshal(obj[p:q+1], &id); err != nil {
			return nil, fmt.Errorf("%w: consumerTable key: %v", ErrBadAdminBody, err)
		}
		colon := q + 1
		for colon < len(obj) && obj[colon] != ':' {
			colon++
		}
		vend, ok := skipValue(obj, colon+1)
		if !ok {
			return nil, fmt.Errorf("%w: consumerTable value of %s", ErrBadAdminBody, id)
		}
		wrapped := append(append([]byte(`{"t":`), obj[colon+1:vend]...), '}')
		offs := map[message.MessageQueue]int64{}
		err := decodeMQTable(wrapped, "t", func(mq message.MessageQueue, v []byte) error {
			n, err := strconv.ParseInt(string(v), 10, 64)
			offs[mq] = n
			return err
		})
		if err != nil {
			return nil, err
		}
		out[id] = offs
		p = vend
	}
	return out, nil
}

func bytesIndex(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// GroupConsumeStats is one subscription group's entry of a
// GET_BROKER_CONSUME_STATS answer: its consume stats, one per topic.
type GroupConsumeStats struct {
	Group string
	Stats []*ConsumeStats
}

// ConsumeStatsList is the GET_BROKER_CONSUME_STATS (317) body: every
// subscription group's consume stats on one broker and their total lag.
type ConsumeStatsList struct {
	BrokerAddr string
	Groups     []GroupConsumeStats
	TotalDiff  int64
}

// Encode writes the body as fastjson does:
// {"brokerAddr":..,"consumeStatsList":[{"group":[ConsumeStats,...]},...],"totalDiff":..}.
func (l *ConsumeStatsList) Encode() []byte {
	w := &jsonWriter{b: make([]byte, 0, 256)}
	w.raw(`{"brokerAddr":`)
	w.str(l.BrokerAddr)
	w.raw(`,"consumeStatsList":[`)
	for i, g := range l.Groups {
		if i > 0 {
			w.raw(`,`)
		}
		w.raw(`{`)
		w.key(g.Group)
		w.raw(`[`)
		for j, cs := range g.Stats {
			if j > 0 {
				w.raw(`,`)
			}
			w.b = append(w.b, EncodeConsumeStats(cs)...)
		}
		w.raw(`]}`)
	}
	w.raw(`],"totalDiff":`)
	w.int(l.TotalDiff)
	w.raw(`}`)
	return w.b
}

// DecodeConsumeStatsList parses a GET_BROKER_CONSUME_STATS answer.
func DecodeConsumeStatsList(b []byte) (*ConsumeStatsList, error) {
	bad := func(what string) error { return fmt.Errorf("%w: ConsumeStatsList: %s", ErrBadAdminBody, what) }
	out := &ConsumeStatsList{}
	var top struct {
		BrokerAddr string `json:"brokerAddr"`
		TotalDiff  int64  `json:"totalDiff"`
	}
	rest := b
	start, end, ok := fieldSpan(b, "consumeStatsList")
	if ok {
		rest = append(append(append([]byte{}, b[:start]...), []byte(`"consumeStatsList":[]`)...), b[end:]...)
	}
	if err := json.Unmarshal(rest, &top); err != nil {
		return nil, bad(err.Error())
	}
	out.BrokerAddr, out.TotalDiff = top.BrokerAddr, top.TotalDiff
	if !ok {
		return out, nil
	}
	arr := b[start:end]
	i := bytesIndex(arr, '[')
	if i < 0 {
		return nil, bad("consumeStatsList is not an array")
	}
	for p := i + 1; p < len(arr); p++ {
		if arr[p] != '{' {
			continue
		}
		objEnd, ok := skipValue(arr, p)
		if !ok {
			return nil, bad("unterminated group")
		}
		obj := arr[p:objEnd]
		// {"group":[cs,...]}
		q := bytesIndex(obj, '"')
		if q < 0 {
			return nil, bad("group without a name")
		}
		qe := skipString(obj, q)
		if qe >= len(obj) {
			return nil, bad("unterminated group name")
		}
		var g GroupConsumeStats
		if err := json.Unmarshal(obj[q:qe+1], &g.Group); err != nil {
			return nil, bad(err.Error())
		}
		la := qe + 1 + bytesIndex(obj[qe+1:], '[')
		for r := la + 1; r < len(obj); r++ {
			if obj[r] != '{' {
				continue
			}
			e, ok := skipValue(obj, r)
			if !ok {
				return nil, bad("unterminated consume stats")
			}
			cs, err := DecodeConsumeStats(obj[r:e])
			if err != nil {
				return nil, err
			}
			g.Stats = append(g.Stats, cs)
			r = e - 1
		}
		out.Groups = append(out.Groups, g)
		p = objEnd - 1
	}
	return out, nil
}

// QueueEntry is one consume-queue entry of a QUERY_CONSUME_QUEUE answer
// (ConsumeQueueData).
type QueueEntry struct {
	PhysicOffset   int64  `json:"physicOffset"`
	PhysicSize     int32  `json:"physicSize"`
	TagsCode       int64  `json:"tagsCode"`
	ExtendDataJSON string `json:"extendDataJson,omitempty"`
	BitMap         string `json:"bitMap,omitempty"`
	Eval           bool   `json:"eval"`
	Msg            string `json:"msg,omitempty"`
}

// QueryConsumeQueueBody is the QUERY_CONSUME_QUEUE (321) body
// (QueryConsumeQueueResponseBody).
type QueryConsumeQueueBody struct {
	SubscriptionData *SubscriptionData `json:"subscriptionData,omitempty"`
	FilterData       string            `json:"filterData,omitempty"`
	QueueData        []QueueEntry      `json:"queueData"`
	MaxQueueIndex    int64             `json:"maxQueueIndex"`
	MinQueueIndex    int64             `json:"minQueueIndex"`
}
