package body

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/petrelmq/petrel/pkg/message"
)

// SubscriptionGroupConfig is a consumer group's broker-side settings
// (SubscriptionGroupConfig in RocketMQ). DefaultSubscriptionGroupConfig gives the
// RocketMQ defaults.
type SubscriptionGroupConfig struct {
	GroupName string `json:"groupName"`
	// ConsumeEnable false makes pulls answer NO_PERMISSION. Default true.
	ConsumeEnable bool `json:"consumeEnable"`
	// ConsumeFromMinEnable is informational in RocketMQ 4.9. Default true.
	ConsumeFromMinEnable bool `json:"consumeFromMinEnable"`
	// ConsumeBroadcastEnable false refuses pulls of broadcasting consumers.
	// Default true.
	ConsumeBroadcastEnable bool `json:"consumeBroadcastEnable"`
	// RetryQueueNums is the queue count of the group's %RETRY% topic. Default 1.
	RetryQueueNums int32 `json:"retryQueueNums"`
	// RetryMaxTimes is how often a message is retried before it goes to the
	// group's %DLQ% topic. Default 16.
	RetryMaxTimes int32 `json:"retryMaxTimes"`
	// BrokerID is the broker id consumers are sent to normally. Default 0.
	BrokerID int64 `json:"brokerId"`
	// WhichBrokerWhenConsumeSlowly is the broker id suggested to a consumer that
	// falls far behind. Default 1.
	WhichBrokerWhenConsumeSlowly int64 `json:"whichBrokerWhenConsumeSlowly"`
	// NotifyConsumerIdsChangedEnable sends NOTIFY_CONSUMER_IDS_CHANGED to the
	// group's clients when its membership changes. Default true.
	NotifyConsumerIdsChangedEnable bool `json:"notifyConsumerIdsChangedEnable"`
}

// DefaultSubscriptionGroupConfig returns the RocketMQ defaults for group.
func DefaultSubscriptionGroupConfig(group string) SubscriptionGroupConfig {
	return SubscriptionGroupConfig{
		GroupName:                      group,
		ConsumeEnable:                  true,
		ConsumeFromMinEnable:           true,
		ConsumeBroadcastEnable:         true,
		RetryQueueNums:                 1,
		RetryMaxTimes:                  16,
		BrokerID:                       MasterID,
		WhichBrokerWhenConsumeSlowly:   1,
		NotifyConsumerIdsChangedEnable: true,
	}
}

// UnmarshalJSON fills missing fields with the RocketMQ defaults, as the Java
// class's field initialisers do, so a partial UPDATE_AND_CREATE_SUBSCRIPTIONGROUP
// body keeps them.
func (c *SubscriptionGroupConfig) UnmarshalJSON(b []byte) error {
	type plain SubscriptionGroupConfig
	p := plain(DefaultSubscriptionGroupConfig(""))
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*c = SubscriptionGroupConfig(p)
	return nil
}

// SubscriptionGroupWrapper is the GET_ALL_SUBSCRIPTIONGROUP_CONFIG body and the
// content of config/subscriptionGroup.json. It is standard JSON: the Go admin
// client parses it with encoding/json.
type SubscriptionGroupWrapper struct {
	SubscriptionGroupTable map[string]SubscriptionGroupConfig `json:"subscriptionGroupTable"`
	DataVersion            DataVersion                        `json:"dataVersion"`
}

// GroupList is the QUERY_TOPIC_CONSUME_BY_WHO body: {"groupList":["g1","g2"]}.
type GroupList struct {
	GroupList []string `json:"groupList"`
}

// EncodeGroupList writes groups sorted, as standard JSON.
func EncodeGroupList(groups []string) []byte {
	gs := slices.Sorted(slices.Values(groups))
	if gs == nil {
		gs = []string{}
	}
	b, err := json.Marshal(GroupList{GroupList: gs})
	if err != nil {
		panic("body: marshal group list: " + err.Error()) // strings always marshal
	}
	return b
}

// TopicOffset is one queue's range in a GET_TOPIC_STATS_INFO answer.
type TopicOffset struct {
	MinOffset           int64 `json:"minOffset"`
	MaxOffset           int64 `json:"maxOffset"`
	LastUpdateTimestamp int64 `json:"lastUpdateTimestamp"` // Unix ms of the newest message; 0 if none
}

// OffsetWrapper is one queue's consumption in a GET_CONSUME_STATS answer; the lag
// is BrokerOffset - ConsumerOffset.
type OffsetWrapper struct {
	BrokerOffset   int64 `json:"brokerOffset"`
	ConsumerOffset int64 `json:"consumerOffset"`
	LastTimestamp  int64 `json:"lastTimestamp"` // Unix ms of the last consumed message; 0 if none
}

// ErrBadAdminBody reports an admin body that does not parse.
var ErrBadAdminBody = errors.New("body: bad admin body")

// EncodeTopicStatsTable writes the GET_TOPIC_STATS_INFO body as the Java broker's
// fastjson does: {"offsetTable":{{"brokerName":..,"queueId":..,"topic":..}:{...},...}},
// with MessageQueue objects as keys (not standard JSON), sorted by topic, broker
// and queue id.
func EncodeTopicStatsTable(table map[message.MessageQueue]TopicOffset) []byte {
	w := &jsonWriter{b: make([]byte, 0, 64+96*len(table))}
	w.raw(`{"offsetTable":{`)
	for i, mq := range sortedQueues(table) {
		if i > 0 {
			w.raw(`,`)
		}
		w.mq(mq)
		o := table[mq]
		w.raw(`:{"lastUpdateTimestamp":`)
		w.int(o.LastUpdateTimestamp)
		w.raw(`,"maxOffset":`)
		w.int(o.MaxOffset)
		w.raw(`,"minOffset":`)
		w.int(o.MinOffset)
		w.raw(`}`)
	}
	w.raw(`}}`)
	return w.b
}

// DecodeTopicStatsTable parses EncodeTopicStatsTable's form; it also accepts
// MessageQueue keys written as quoted JSON strings.
func DecodeTopicStatsTable(b []byte) (map[message.MessageQueue]TopicOffset, error) {
	out := map[message.MessageQueue]TopicOffset{}
	err := decodeMQTable(b, "offsetTable", func(mq message.MessageQueue, v []byte) error {
		var o TopicOffset
		if err := json.Unmarshal(v, &o); err != nil {
			return err
		}
		out[mq] = o
		return nil
	})
	return out, err
}

// ConsumeStats is the GET_CONSUME_STATS body.
type ConsumeStats struct {
	OffsetTable map[message.MessageQueue]OffsetWrapper
	ConsumeTps  float64
}

// Diff returns the total lag: the sum over the queues of BrokerOffset -
// ConsumerOffset, each never below zero (a consumer offset ahead of the
// broker's, as after a slave served a read, is no negative lag).
func (c *ConsumeStats) Diff() int64 {
	var d int64
	for _, o := range c.OffsetTable {
		d += max(o.BrokerOffset-max(o.ConsumerOffset, 0), 0)
	}
	return d
}

// EncodeConsumeStats writes the GET_CONSUME_STATS body as fastjson does:
// {"consumeTps":0.0,"offsetTable":{{mq}:{"brokerOffset":..,"consumerOffset":..,"lastTimestamp":..}}}.
func EncodeConsumeStats(cs *ConsumeStats) []byte {
	w := &jsonWriter{b: make([]byte, 0, 64+112*len(cs.OffsetTable))}
	w.raw(`{"consumeTps":`)
	tps := cs.ConsumeTps
	if math.IsNaN(tps) || math.IsInf(tps, 0) {
		tps = 0
	}
	w.b = strconv.AppendFloat(w.b, tps, 'f', -1, 64)
	if tps == math.Trunc(tps) {
		w.raw(`.0`)
	}
	w.raw(`,"offsetTable":{`)
	for i, mq := range sortedQueues(cs.OffsetTable) {
		if i > 0 {
			w.raw(`,`)
		}
		w.mq(mq)
		o := cs.OffsetTable[mq]
		w.raw(`:{"brokerOffset":`)
		w.int(o.BrokerOffset)
		w.raw(`,"consumerOffset":`)
		w.int(o.ConsumerOffset)
		w.raw(`,"lastTimestamp":`)
		w.int(o.LastTimestamp)
		w.raw(`}`)
	}
	w.raw(`}}`)
	return w.b
}

// DecodeConsumeStats parses EncodeConsumeStats's form.
func DecodeConsumeStats(b []byte) (*ConsumeStats, error) {
	cs := &ConsumeStats{OffsetTable: map[message.MessageQueue]OffsetWrapper{}}
	err := decodeMQTable(b, "offsetTable", func(mq message.MessageQueue, v []byte) error {
		var o OffsetWrapper
		if err := json.Unmarshal(v, &o); err != nil {
			return err
		}
		cs.OffsetTable[mq] = o
		return nil
	})
	if err != nil {
		return nil, err
	}
	var top struct {
		ConsumeTps float64 `json:"consumeTps"`
	}
	// The MessageQueue keys make the whole body invalid JSON, so read the one
	// scalar field from its own position.
	if i := bytes.Index(b, []byte(`"consumeTps":`)); i >= 0 {
		d := json.NewDecoder(bytes.NewReader(b[i+len(`"consumeTps":`):]))
		if err := d.Decode(&top.ConsumeTps); err != nil {
			return nil, fmt.Errorf("%w: consumeTps: %v", ErrBadAdminBody, err)
		}
	}
	cs.ConsumeTps = top.ConsumeTps
	return cs, nil
}

func sortedQueues[V any](m map[message.MessageQueue]V) []message.MessageQueue {
	qs := make([]message.MessageQueue, 0, len(m))
	for q := range m {
		qs = append(qs, q)
	}
	slices.SortFunc(qs, func(a, b message.MessageQueue) int {
		switch {
		case a.Topic != b.Topic:
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		case a.BrokerName != b.BrokerName:
			if a.BrokerName < b.BrokerName {
				return -1
			}
			return 1
		}
		return int(a.QueueID) - int(b.QueueID)
	})
	return qs
}

// mq writes a MessageQueue object with exactly its three fields, in fastjson's
// (alphabetical) order.
func (w *jsonWriter) mq(q message.MessageQueue) {
	w.raw(`{"brokerName":`)
	w.str(q.BrokerName)
	w.raw(`,"queueId":`)
	w.int(int64(q.QueueID))
	w.raw(`,"topic":`)
	w.str(q.Topic)
	w.raw(`}`)
}

// decodeMQTable finds "<field>":{ in b and calls fn for each MessageQueue-keyed
// entry of that object, with the raw value. Keys may be bare objects (fastjson)
// or strings holding an object.
func decodeMQTable(b []byte, field string, fn func(message.MessageQueue, []byte) error) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadAdminBody, fmt.Sprintf(format, args...))
	}
	i := bytes.Index(b, []byte(`"`+field+`"`))
	if i < 0 {
		return bad("no %s", field)
	}
	p := i + len(field) + 2
	skip := func() {
		for p < len(b) && (b[p] == ' ' || b[p] == '\n' || b[p] == '\r' || b[p] == '\t') {
			p++
		}
	}
	expect := func(c byte) error {
		skip()
		if p >= len(b) || b[p] != c {
			return bad("want %q at %d", c, p)
		}
		p++
		return nil
	}
	if err := expect(':'); err != nil {
		return err
	}
	if err := expect('{'); err != nil {
		return err
	}
	// value reads one JSON value starting at p and advances p past it.
	value := func() ([]byte, error) {
		skip()
		d := json.NewDecoder(bytes.NewReader(b[p:]))
		var raw json.RawMessage
		if err := d.Decode(&raw); err != nil {
			return nil, bad("at %d: %v", p, err)
		}
		p += int(d.InputOffset())
		return raw, nil
	}
	skip()
	if p < len(b) && b[p] == '}' {
		return nil
	}
	for {
		key, err := value()
		if err != nil {
			return err
		}
		if len(key) > 0 && key[0] == '"' {
			var s string
			if err := json.Unmarshal(key, &s); err != nil {
				return bad("key: %v", err)
			}
			key = []byte(s)
		}
		var mq message.MessageQueue
		if err := json.Unmarshal(key, &mq); err != nil {
			return bad("key %s: %v", key, err)
		}
		if err := expect(':'); err != nil {
			return err
		}
		v, err := value()
		if err != nil {
			return err
		}
		if err := fn(mq, v); err != nil {
			return bad("value of %s: %v", mq, err)
		}
		skip()
		if p < len(b) && b[p] == ',' {
			p++
			continue
		}
		return expect('}')
	}
}

// EncodeResetOffsetBody writes the ResetOffsetBody of INVOKE_BROKER_TO_RESET_OFFSET
// (222, answer) and RESET_CONSUMER_CLIENT_OFFSET (220, request) as fastjson
// does: {"offsetTable":{{"brokerName":..,"queueId":..,"topic":..}:100,...}},
// sorted by topic, broker and queue id.
func EncodeResetOffsetBody(table map[message.MessageQueue]int64) []byte {
	w := &jsonWriter{b: make([]byte, 0, 32+72*len(table))}
	w.raw(`{"offsetTable":{`)
	for i, mq := range sortedQueues(table) {
		if i > 0 {
			w.raw(`,`)
		}
		w.mq(mq)
		w.raw(`:`)
		w.int(table[mq])
	}
	w.raw(`}}`)
	return w.b
}

// DecodeResetOffsetBody parses EncodeResetOffsetBody's form.
func DecodeResetOffsetBody(b []byte) (map[message.MessageQueue]int64, error) {
	out := map[message.MessageQueue]int64{}
	err := decodeMQTable(b, "offsetTable", func(mq message.MessageQueue, v []byte) error {
		off, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return err
		}
		out[mq] = off
		return nil
	})
	return out, err
}

// BrokerStatsItem is one window of a VIEW_BROKER_STATS_DATA answer: the
// count in the window, its rate per second and the average per sample.
type BrokerStatsItem struct {
	Sum   int64   `json:"sum"`
	TPS   float64 `json:"tps"`
	AvgPT float64 `json:"avgpt"`
}

// BrokerStatsData is the VIEW_BROKER_STATS_DATA (315) body: one statistic
// over the last minute, hour and day.
type BrokerStatsData struct {
	StatsMinute BrokerStatsItem `json:"statsMinute"`
	StatsHour   BrokerStatsItem `json:"statsHour"`
	StatsDay    BrokerStatsItem `json:"statsDay"`
}

// Statistic names of VIEW_BROKER_STATS_DATA (RocketMQ's Stats class).
const (
	StatsTopicPutNums = "TOPIC_PUT_NUMS" // key: topic
	StatsGroupGetNums = "GROUP_GET_NUMS" // key: topic@group
)
