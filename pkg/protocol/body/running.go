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
				i = skipString(b, i)
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

// String renders the result as the Java class's toString does.
func (r ConsumeMessageDirectlyResult) String() string {
	return "ConsumeMessageDirectlyResult [order=" + strconv.FormatBool(r.Order) + ", autoCommit=" + strconv.FormatBool(r.AutoCommit) +
		", consumeResult=" + r.ConsumeResult + ", remark=" + r.Remark + ", spentTimeMills=" + strconv.FormatInt(r.SpentTimeMills, 10) + "]"
}
