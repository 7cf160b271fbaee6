package body

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
)

// GetConsumerListByGroupResponseBody is the GET_CONSUMER_LIST_BY_GROUP (38) answer:
// {"consumerIdList":["ip@pid",...]}. Encode writes [] when empty.
type GetConsumerListByGroupResponseBody struct {
	ConsumerIDList []string `json:"consumerIdList"`
}

// Encode returns the JSON body.
func (b *GetConsumerListByGroupResponseBody) Encode() []byte {
	ids := b.ConsumerIDList
	if ids == nil {
		ids = []string{}
	}
	var buf bytes.Buffer
	buf.WriteString(`{"consumerIdList":`)
	writeJSON(&buf, ids)
	buf.WriteByte('}')
	return buf.Bytes()
}

// Connection is one client connection of a group, as admin tools see it. JSON keys
// are in fastjson's alphabetical order: clientAddr, clientId, language (the
// LanguageCode name, "GO", "JAVA", ...), version (the client's request version).
type Connection struct {
	ClientAddr string `json:"clientAddr"`
	ClientID   string `json:"clientId"`
	Language   string `json:"language"`
	Version    int32  `json:"version"`
}

// ConsumerConnection is the GET_CONSUMER_CONNECTION_LIST (203) answer: the Java
// ConsumerConnection shape. Encoding writes keys alphabetically as fastjson does,
// and subscriptions in the Java shape (codeSet as numbers); decoding accepts either
// subscription shape.
type ConsumerConnection struct {
	ConnectionSet     []Connection                `json:"connectionSet"`
	ConsumeFromWhere  string                      `json:"consumeFromWhere"`
	ConsumeType       string                      `json:"consumeType"`
	MessageModel      string                      `json:"messageModel"`
	SubscriptionTable map[string]SubscriptionData `json:"subscriptionTable"`
}

// javaSubscriptionJSON is the Java SubscriptionData shape, keys alphabetical.
type javaSubscriptionJSON struct {
	ClassFilterMode bool     `json:"classFilterMode"`
	CodeSet         []int32  `json:"codeSet"`
	ExpressionType  string   `json:"expressionType"`
	SubString       string   `json:"subString"`
	SubVersion      int64    `json:"subVersion"`
	TagsSet         []string `json:"tagsSet"`
	Topic           string   `json:"topic"`
}

type consumerConnectionJSON struct {
	ConnectionSet     []Connection                    `json:"connectionSet"`
	ConsumeFromWhere  string                          `json:"consumeFromWhere"`
	ConsumeType       string                          `json:"consumeType"`
	MessageModel      string                          `json:"messageModel"`
	SubscriptionTable map[string]javaSubscriptionJSON `json:"subscriptionTable"`
}

// Encode returns the JSON body; connections are sorted by client id and address so
// the output is deterministic.
func (c *ConsumerConnection) Encode() []byte {
	out := consumerConnectionJSON{
		ConnectionSet:     sortedConnections(c.ConnectionSet),
		ConsumeFromWhere:  c.ConsumeFromWhere,
		ConsumeType:       c.ConsumeType,
		MessageModel:      c.MessageModel,
		SubscriptionTable: make(map[string]javaSubscriptionJSON, len(c.SubscriptionTable)),
	}
	for topic, s := range c.SubscriptionTable {
		codes := append([]int32{}, s.CodeSet...)
		tags := append([]string{}, s.TagsSet...)
		out.SubscriptionTable[topic] = javaSubscriptionJSON{
			ClassFilterMode: s.ClassFilterMode,
			CodeSet:         codes,
			ExpressionType:  s.ExpressionType,
			SubString:       s.SubString,
			SubVersion:      s.SubVersion,
			TagsSet:         tags,
			Topic:           s.Topic,
		}
	}
	var buf bytes.Buffer
	writeJSON(&buf, out)
	return buf.Bytes()
}

// DecodeConsumerConnection parses a GET_CONSUMER_CONNECTION_LIST answer.
func DecodeConsumerConnection(b []byte) (*ConsumerConnection, error) {
	var c ConsumerConnection
	if err := decodeClientBody("consumer connection", b, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// ProducerConnection is the GET_PRODUCER_CONNECTION_LIST (204) answer:
// {"connectionSet":[Connection,...]}.
type ProducerConnection struct {
	ConnectionSet []Connection `json:"connectionSet"`
}

// Encode returns the JSON body; connections are sorted by client id and address.
func (p *ProducerConnection) Encode() []byte {
	var buf bytes.Buffer
	writeJSON(&buf, ProducerConnection{ConnectionSet: sortedConnections(p.ConnectionSet)})
	return buf.Bytes()
}

// DecodeProducerConnection parses a GET_PRODUCER_CONNECTION_LIST answer.
func DecodeProducerConnection(b []byte) (*ProducerConnection, error) {
	var p ProducerConnection
	if err := decodeClientBody("producer connection", b, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

func sortedConnections(cs []Connection) []Connection {
	out := append([]Connection{}, cs...)
	slices.SortFunc(out, func(a, b Connection) int {
		if c := strings.Compare(a.ClientID, b.ClientID); c != 0 {
			return c
		}
		return strings.Compare(a.ClientAddr, b.ClientAddr)
	})
	return out
}

var _ json.Marshaler = SubscriptionData{}
