package body

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// ErrBadClientBody is matched (errors.Is) by every error decoding a body that a
// client sends to the broker: heartbeats and lock or unlock requests.
var ErrBadClientBody = errors.New("body: bad client request body")

func badClientBody(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadClientBody, fmt.Sprintf(format, args...))
}

// Consumer enums as the clients spell them in HeartbeatData (Java enum names).
const (
	ConsumeActively  = "CONSUME_ACTIVELY"  // pull consumer
	ConsumePassively = "CONSUME_PASSIVELY" // push consumer

	Clustering   = "CLUSTERING"
	Broadcasting = "BROADCASTING"

	ExpressionTag   = "TAG"
	ExpressionSQL92 = "SQL92"
)

// SubscriptionData is one topic subscription of a consumer group, as carried in
// HeartbeatData and kept by the broker.
//
// JSON: encoding writes the Go client's shape (rocketmq-client-go v2.1.2): fields in
// the order classFilterMode, topic, subString, tagsSet, codeSet, subVersion,
// expressionType; codeSet elements as strings; empty sets as []. Decoding accepts
// that and the Java client's shape: codeSet elements as numbers or numeric strings,
// subVersion as a JSON integer (Go sends Unix nanoseconds, Java milliseconds; both
// are kept exactly, never through float64) or a numeric string, and unknown fields.
type SubscriptionData struct {
	Topic     string
	SubString string
	// TagsSet holds the trimmed tags of a TAG expression; empty for "*" and SQL92.
	TagsSet []string
	// CodeSet holds the tags' hash codes (Java String.hashCode of each tag).
	CodeSet []int32
	// SubVersion orders subscription changes of a group; only a larger one replaces
	// the stored subscription. Units are the client's (ns from Go, ms from Java).
	SubVersion      int64
	ExpressionType  string
	ClassFilterMode bool
}

// Clone returns a deep copy.
func (s SubscriptionData) Clone() SubscriptionData {
	s.TagsSet = slices.Clone(s.TagsSet)
	s.CodeSet = slices.Clone(s.CodeSet)
	return s
}

// goSubscriptionJSON is the Go client's field order.
type goSubscriptionJSON struct {
	ClassFilterMode bool     `json:"classFilterMode"`
	Topic           string   `json:"topic"`
	SubString       string   `json:"subString"`
	TagsSet         []string `json:"tagsSet"`
	CodeSet         []string `json:"codeSet"`
	SubVersion      int64    `json:"subVersion"`
	ExpressionType  string   `json:"expressionType"`
}

// MarshalJSON writes the Go client's shape (see SubscriptionData). Sets are written
// sorted by their JSON text, as the Go client's set type does.
func (s SubscriptionData) MarshalJSON() ([]byte, error) {
	codes := make([]string, 0, len(s.CodeSet))
	for _, c := range s.CodeSet {
		codes = append(codes, strconv.Itoa(int(c)))
	}
	slices.Sort(codes)
	tags := append([]string{}, s.TagsSet...)
	slices.Sort(tags)
	return json.Marshal(goSubscriptionJSON{
		ClassFilterMode: s.ClassFilterMode,
		Topic:           s.Topic,
		SubString:       s.SubString,
		TagsSet:         tags,
		CodeSet:         codes,
		SubVersion:      s.SubVersion,
		ExpressionType:  s.ExpressionType,
	})
}

type subscriptionInJSON struct {
	Topic           string        `json:"topic"`
	SubString       string        `json:"subString"`
	TagsSet         []string      `json:"tagsSet"`
	CodeSet         []json.Number `json:"codeSet"`
	SubVersion      json.Number   `json:"subVersion"`
	ExpressionType  string        `json:"expressionType"`
	ClassFilterMode bool          `json:"classFilterMode"`
}

// UnmarshalJSON accepts the Go and Java shapes (see SubscriptionData). A codeSet
// element or subVersion that is not an integer in range is an error; null
// elements are skipped.
func (s *SubscriptionData) UnmarshalJSON(b []byte) error {
	var in subscriptionInJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	out := SubscriptionData{
		Topic:           in.Topic,
		SubString:       in.SubString,
		ExpressionType:  in.ExpressionType,
		ClassFilterMode: in.ClassFilterMode,
	}
	if len(in.TagsSet) > 0 {
		out.TagsSet = in.TagsSet
	}
	for _, c := range in.CodeSet {
		if c == "" {
			continue
		}
		v, err := strconv.ParseInt(string(c), 10, 32)
		if err != nil {
			return fmt.Errorf("body: subscription %q: codeSet element %q is not an int32", in.Topic, string(c))
		}
		out.CodeSet = append(out.CodeSet, int32(v))
	}
	if in.SubVersion != "" {
		v, err := strconv.ParseInt(string(in.SubVersion), 10, 64)
		if err != nil {
			return fmt.Errorf("body: subscription %q: subVersion %q is not an int64", in.Topic, string(in.SubVersion))
		}
		out.SubVersion = v
	}
	*s = out
	return nil
}

// ProducerData names one producer group of a client.
type ProducerData struct {
	GroupName string `json:"groupName"`
}

// ConsumerData is one consumer group of a client: how it consumes and what it
// subscribes to. ConsumeType, MessageModel and ConsumeFromWhere hold the Java enum
// names (ConsumePassively, Clustering, "CONSUME_FROM_LAST_OFFSET", ...).
type ConsumerData struct {
	GroupName           string             `json:"groupName"`
	ConsumeType         string             `json:"consumeType"`
	MessageModel        string             `json:"messageModel"`
	ConsumeFromWhere    string             `json:"consumeFromWhere"`
	SubscriptionDataSet []SubscriptionData `json:"subscriptionDataSet"`
	UnitMode            bool               `json:"unitMode"`
}

// HeartbeatData is the HEART_BEAT (34) request body: a client's producer and
// consumer groups. Each heartbeat fully describes the groups it lists.
type HeartbeatData struct {
	ClientID        string         `json:"clientID"`
	ProducerDataSet []ProducerData `json:"producerDataSet"`
	ConsumerDataSet []ConsumerData `json:"consumerDataSet"`
}

// maxClientBody bounds the heartbeat body we decode; real ones are a few KiB.
const maxClientBody = 4 << 20

// DecodeHeartbeat parses a HEART_BEAT body from the Go or Java client. It rejects
// an empty or oversized body, invalid JSON, and bad numbers in subscriptions; it
// does not check that the client id or group names are set (the caller decides).
func DecodeHeartbeat(b []byte) (*HeartbeatData, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, badClientBody("empty heartbeat body")
	}
	if len(b) > maxClientBody {
		return nil, badClientBody("heartbeat body of %d bytes exceeds %d", len(b), maxClientBody)
	}
	var h HeartbeatData
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, badClientBody("heartbeat: %v", err)
	}
	return &h, nil
}

// EncodeHeartbeat writes h exactly as rocketmq-client-go v2.1.2 does: fields in its
// struct order, producer and consumer sets sorted by their JSON text, tags and
// codes sorted, codes as strings, empty sets as [].
func EncodeHeartbeat(h *HeartbeatData) []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"clientID":`)
	writeJSON(&buf, h.ClientID)
	buf.WriteString(`,"producerDataSet":`)
	writeSortedSet(&buf, h.ProducerDataSet)
	buf.WriteString(`,"consumerDataSet":`)
	cds := make([]ConsumerData, len(h.ConsumerDataSet))
	for i, cd := range h.ConsumerDataSet {
		if cd.SubscriptionDataSet == nil {
			cd.SubscriptionDataSet = []SubscriptionData{}
		}
		cds[i] = cd
	}
	writeSortedSet(&buf, cds)
	buf.WriteByte('}')
	return buf.Bytes()
}

func writeJSON(buf *bytes.Buffer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("body: marshal %T: %v", v, err)) // plain data; cannot fail
	}
	buf.Write(b)
}

func writeSortedSet[T any](buf *bytes.Buffer, items []T) {
	enc := make([]string, 0, len(items))
	for _, it := range items {
		var b bytes.Buffer
		writeJSON(&b, it)
		enc = append(enc, b.String())
	}
	slices.Sort(enc)
	buf.WriteByte('[')
	for i, e := range enc {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(e)
	}
	buf.WriteByte(']')
}
