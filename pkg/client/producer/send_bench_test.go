package producer

import (
	"testing"

	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
)

// BenchmarkPrepareRequest measures the SDK's CPU per send before the
// network: validating the message, its UNIQ_KEY and property string, the
// request header and the encoded frame (1 KiB body, a tag and a key).
func BenchmarkPrepareRequest(b *testing.B) {
	p, err := newProducer([]client.ProducerOption{client.NameServers("127.0.0.1:9876")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Close() })
	msg := NewMessage("BenchmarkTest", make([]byte, 1024), Tags("TagA"), Keys("order-1"))
	mq := message.MessageQueue{Topic: "BenchmarkTest", BrokerName: "broker-a", QueueID: 3}
	var frame []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(msg.Body)))
	for b.Loop() {
		o, err := p.prepare(msg)
		if err != nil {
			b.Fatal(err)
		}
		frame, err = protocol.AppendFrame(frame[:0], p.request(o, mq))
		if err != nil {
			b.Fatal(err)
		}
	}
}
