package producer

import (
	"strconv"
	"strings"
	"time"

	"github.com/petrelmq/petrel/pkg/message"
)

// Property names for delivery-time scheduling. A RocketMQ 4.x broker does not
// interpret them (it delivers at once); 5.x brokers and Aliyun-compatible
// brokers do.
const (
	PropertyStartDeliverTime = "__STARTDELIVERTIME" // Unix ms (Aliyun ONS / timer brokers)
	PropertyTimerDeliverMS   = message.PropertyTimerDeliverMS
)

// MessageOption sets a field or property of a message made by NewMessage.
type MessageOption func(*message.Message)

// NewMessage returns a message for topic with body and the given options.
func NewMessage(topic string, body []byte, opts ...MessageOption) *message.Message {
	m := &message.Message{Topic: topic, Body: body}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Tags sets the TAGS property (one tag; consumers filter on it).
func Tags(tag string) MessageOption {
	return func(m *message.Message) { m.SetProperty(message.PropertyTags, tag) }
}

// Keys sets the KEYS property: business keys, indexed by the broker for
// query-by-key. Empty keys are dropped.
func Keys(keys ...string) MessageOption {
	return func(m *message.Message) {
		var ks []string
		for _, k := range keys {
			if k = strings.TrimSpace(k); k != "" {
				ks = append(ks, k)
			}
		}
		if len(ks) > 0 {
			m.SetProperty(message.PropertyKeys, strings.Join(ks, message.KeySeparator))
		}
	}
}

// Property sets a user property.
func Property(name, value string) MessageOption {
	return func(m *message.Message) { m.SetProperty(name, value) }
}

// ShardingKey sets the SHARDING_KEY property, which HashByKey hashes.
func ShardingKey(key string) MessageOption {
	return func(m *message.Message) { m.SetProperty(message.PropertyShardingKey, key) }
}

// UserFlag sets the message's user flag.
func UserFlag(f int32) MessageOption { return func(m *message.Message) { m.Flag = f } }

// DelayLevel sets the DELAY property: the broker delivers the message after
// delay level n (1..18: 1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m
// 1h 2h with the default broker configuration). 0 removes the delay.
func DelayLevel(n int) MessageOption {
	return func(m *message.Message) {
		if n <= 0 {
			delete(m.Properties, message.PropertyDelayTimeLevel)
			return
		}
		m.SetProperty(message.PropertyDelayTimeLevel, strconv.Itoa(n))
	}
}

// DeliverAt asks for delivery at t, through the timer properties
// TIMER_DELIVER_MS (RocketMQ 5.x) and __STARTDELIVERTIME (Aliyun-style
// brokers), both in Unix milliseconds. A RocketMQ 4.x broker ignores both and
// delivers at once; use DelayLevel there.
func DeliverAt(t time.Time) MessageOption {
	return func(m *message.Message) {
		ms := strconv.FormatInt(t.UnixMilli(), 10)
		m.SetProperty(PropertyTimerDeliverMS, ms)
		m.SetProperty(PropertyStartDeliverTime, ms)
	}
}
