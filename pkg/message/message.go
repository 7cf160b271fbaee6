package message

import (
	"fmt"
	"net/netip"
	"strings"
)

// PhysOffset is a byte position in the commit log: the offset of a record's first
// byte counted from the start of the log across all segments.
type PhysOffset int64

// QueueOffset is a logical index in one consume queue: the n-th message of a
// topic's queue, counting from 0.
type QueueOffset int64

// Message is what a producer sends: a topic, a user flag, properties and a body.
//
// Properties holds user and system properties (names in the Property* constants).
// The zero value is an empty message; Properties may be nil.
type Message struct {
	Topic      string
	Flag       int32
	Properties map[string]string
	Body       []byte
}

// Property returns the value of the named property, or "".
func (m *Message) Property(name string) string { return m.Properties[name] }

// SetProperty sets a property, allocating the map if needed.
func (m *Message) SetProperty(name, value string) {
	if m.Properties == nil {
		m.Properties = make(map[string]string)
	}
	m.Properties[name] = value
}

// Tags returns the TAGS property.
func (m *Message) Tags() string { return m.Properties[PropertyTags] }

// Keys returns the KEYS property split on single spaces, without empty keys.
func (m *Message) Keys() []string {
	v := m.Properties[PropertyKeys]
	if v == "" {
		return nil
	}
	keys := strings.Split(v, KeySeparator)
	out := keys[:0]
	for _, k := range keys {
		if k != "" {
			out = append(out, k)
		}
	}
	return out
}

// MessageExt is a stored message: the Message plus everything the broker records
// (the fields of the stored record layout).
type MessageExt struct {
	Message
	QueueID     int32
	QueueOffset QueueOffset
	PhysOffset  PhysOffset
	SysFlag     SysFlag
	// BornTimestamp is the producer's send time, ms since the Unix epoch.
	BornTimestamp int64
	// BornHost is the producer's address as seen by the broker. An IPv6 (not
	// IPv4-mapped) address sets SysFlagBornHostV6 when encoded.
	BornHost netip.AddrPort
	// StoreTimestamp is the broker's clock at append, ms since the Unix epoch.
	StoreTimestamp int64
	// StoreHost is the broker's address. An IPv6 address sets
	// SysFlagStoreHostV6 when encoded.
	StoreHost      netip.AddrPort
	ReconsumeTimes int32
	// PreparedTransactionOffset is, for a committed transactional message, the
	// commit-log offset of its half message; else 0.
	PreparedTransactionOffset PhysOffset
	// BodyCRC is CRC-32 (IEEE) of Body & 0x7FFFFFFF; filled in by encoding.
	BodyCRC uint32
	// StoreSize is the length of the encoded record in bytes; filled in by
	// encoding and decoding.
	StoreSize int32
}

// OffsetMsgID returns the offset message id of m (StoreHost and PhysOffset).
func (m *MessageExt) OffsetMsgID() string { return OffsetMsgID(m.StoreHost, m.PhysOffset) }

// MsgID returns the user-facing message id: the UNIQ_KEY property if set, else
// the offset message id.
func (m *MessageExt) MsgID() string {
	if id := m.Properties[PropertyUniqKey]; id != "" {
		return id
	}
	return m.OffsetMsgID()
}

// MessageQueue names one queue of a topic on one broker.
type MessageQueue struct {
	Topic      string `json:"topic"`
	BrokerName string `json:"brokerName"`
	QueueID    int32  `json:"queueId"`
}

// String returns "topic@broker#queue", for logs.
func (q MessageQueue) String() string {
	return fmt.Sprintf("%s@%s#%d", q.Topic, q.BrokerName, q.QueueID)
}
