package header

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/petrelmq/petrel/pkg/protocol"
)

// extReader is a copy of the broker's hand-written header reader
// (internal/broker/header.go, before this package), the baseline the decoders
// here must match or beat.
type extReader struct {
	req *protocol.Command
	err error
}

func (r *extReader) get(key string, required bool) (string, bool) {
	v, ok := r.req.ExtFields[key]
	if !ok && required && r.err == nil {
		r.err = fmt.Errorf("the custom field <%s> is null", key)
	}
	return v, ok && v != ""
}

func (r *extReader) str(key string, required bool) string {
	v, _ := r.get(key, required)
	return v
}

func (r *extReader) int64(key string, required bool) int64 {
	v, ok := r.get(key, required)
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("the custom field <%s> is not a number: %q", key, v)
	}
	return n
}

func (r *extReader) int32(key string, required bool) int32 {
	v, ok := r.get(key, required)
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("the custom field <%s> is not a 32-bit number: %q", key, v)
	}
	return int32(n)
}

func (r *extReader) bool(key string) bool {
	v, ok := r.get(key, false)
	if !ok {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("the custom field <%s> is not a boolean: %q", key, v)
	}
	return b
}

type oldSendHeader struct {
	producerGroup, topic, defaultTopic            string
	defaultTopicQueueNums, queueID, sysFlag, flag int32
	bornTimestamp                                 int64
	properties                                    string
	reconsumeTimes                                int32
	batch                                         bool
}

func oldDecodeSendV2(req *protocol.Command) (oldSendHeader, error) {
	r := extReader{req: req}
	h := oldSendHeader{
		producerGroup:         r.str("a", true),
		topic:                 r.str("b", true),
		defaultTopic:          r.str("c", true),
		defaultTopicQueueNums: r.int32("d", true),
		queueID:               r.int32("e", true),
		sysFlag:               r.int32("f", true),
		bornTimestamp:         r.int64("g", true),
		flag:                  r.int32("h", true),
		properties:            r.str("i", false),
		reconsumeTimes:        r.int32("j", false),
		batch:                 r.bool("m"),
	}
	return h, r.err
}

type oldPullHeader struct {
	group, topic                              string
	queueID, maxMsgNums, sysFlag              int32
	offset, commitOffset, suspend, subVersion int64
	subscription, expressionType              string
}

func oldDecodePull(req *protocol.Command) (oldPullHeader, error) {
	r := extReader{req: req}
	h := oldPullHeader{
		group:          r.str("consumerGroup", true),
		topic:          r.str("topic", true),
		queueID:        r.int32("queueId", true),
		offset:         r.int64("queueOffset", true),
		maxMsgNums:     r.int32("maxMsgNums", true),
		sysFlag:        r.int32("sysFlag", true),
		commitOffset:   r.int64("commitOffset", true),
		suspend:        r.int64("suspendTimeoutMillis", true),
		subscription:   r.str("subscription", false),
		subVersion:     r.int64("subVersion", true),
		expressionType: r.str("expressionType", false),
	}
	return h, r.err
}

// A Java client's SEND_MESSAGE_V2 header and a Go client's pull header.
var (
	benchSendV2 = NewRequest(protocol.SendMessageV2, &SendMessage{ProducerGroup: "please_rename_unique_group_name",
		Topic: "TopicTest", DefaultTopic: "TBW102", DefaultTopicQueueNums: 4, QueueID: 3, BornTimestamp: 1733000000000,
		Properties:        "UNIQ_KEY\x017F000001000118B4AAC2460C4B0000\x02WAIT\x01true\x02TAGS\x01TagA\x02",
		MaxReconsumeTimes: Some[int32](16), BrokerName: "broker-a"})
	benchPull = NewRequest(protocol.PullMessage, &PullMessage{ConsumerGroup: "please_rename_unique_group_name",
		Topic: "TopicTest", QueueID: 2, QueueOffset: 123456, MaxMsgNums: 32, SysFlag: 3, CommitOffset: 123400,
		SuspendTimeoutMillis: 20000, Subscription: "*", ExpressionType: "TAG", BrokerName: "broker-a"})
)

func BenchmarkDecodeSendV2(b *testing.B) {
	b.Run("header", func(b *testing.B) {
		b.ReportAllocs()
		var h SendMessage
		for b.Loop() {
			if err := h.Decode(benchSendV2); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("extReader", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := oldDecodeSendV2(benchSendV2); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecodePull(b *testing.B) {
	b.Run("header", func(b *testing.B) {
		b.ReportAllocs()
		var h PullMessage
		for b.Loop() {
			if err := h.Decode(benchPull); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("extReader", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := oldDecodePull(benchPull); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkEncodeSendV2(b *testing.B) {
	var h SendMessage
	if err := h.Decode(benchSendV2); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		NewRequest(protocol.SendMessageV2, &h)
	}
}

func BenchmarkEncodePullResponse(b *testing.B) {
	req := protocol.NewRequest(protocol.PullMessage, nil)
	h := PullMessageResponse{NextBeginOffset: 123488, MinOffset: 0, MaxOffset: 200000}
	b.ReportAllocs()
	for b.Loop() {
		NewResponse(req, protocol.Success, "", &h)
	}
}
