package producer_test

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
)

func ExampleProducer_Send() {
	ctx := context.Background()
	p, err := producer.New(client.NameServers("127.0.0.1:9876"), producer.Group("orders"))
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	res, err := p.Send(ctx, producer.NewMessage("Orders", []byte(`{"id":42}`), producer.Tags("created"), producer.Keys("order-42")))
	switch {
	case errors.Is(err, protocol.ErrTopicNotExist):
		log.Fatal("create the topic first")
	case err != nil:
		log.Fatal(err)
	}
	log.Println(res.MsgID, res.Queue, res.QueueOffset)
}

func ExampleProducer_SendAsync() {
	p, _ := producer.New(client.NameServers("127.0.0.1:9876"))
	_ = p.Start(context.Background())
	defer p.Close()
	done := make(chan struct{})
	p.SendAsync(context.Background(), producer.NewMessage("Orders", []byte("hi")), func(res *producer.SendResult, err error) {
		defer close(done)
		if err != nil {
			log.Println("send failed:", err)
			return
		}
		log.Println("stored as", res.MsgID)
	})
	<-done
}

func ExampleProducer_SendBatch() {
	p, _ := producer.New(client.NameServers("127.0.0.1:9876"))
	_ = p.Start(context.Background())
	defer p.Close()
	var batch []*message.Message
	for _, b := range []string{"a", "b", "c"} {
		batch = append(batch, producer.NewMessage("Orders", []byte(b)))
	}
	if _, err := p.SendBatch(context.Background(), batch...); err != nil {
		log.Fatal(err)
	}
}

func ExampleNewTransactional() {
	tp, err := producer.NewTransactional(
		client.NameServers("127.0.0.1:9876"),
		producer.Group("payments"),
		producer.TransactionListener(
			func(ctx context.Context, m *message.Message) producer.TransactionState {
				// Write to the local database here.
				return producer.TransactionCommit
			},
			func(ctx context.Context, m *message.MessageExt) producer.TransactionState {
				// Look the transaction up by m.MsgID().
				return producer.TransactionCommit
			}))
	if err != nil {
		log.Fatal(err)
	}
	_ = tp.Start(context.Background())
	defer tp.Close()
	res, err := tp.SendInTransaction(context.Background(), producer.NewMessage("Payments", []byte("paid")))
	if err != nil {
		log.Fatal(err)
	}
	log.Println(res.State)
}

func ExampleProducer_Request() {
	p, _ := producer.New(client.NameServers("127.0.0.1:9876"))
	_ = p.Start(context.Background())
	defer p.Close()
	reply, err := p.Request(context.Background(), producer.NewMessage("Rpc", []byte("ping")), 3*time.Second)
	if errors.Is(err, producer.ErrRequestTimeout) {
		log.Fatal("no reply")
	}
	log.Println(string(reply.Body))
}

// A producer whose sends are resent after a lost answer and stored once by a
// broker with a de-duplication window (duplicateWindowSeconds).
func ExampleIdempotent() {
	ctx := context.Background()
	p, err := producer.New(client.NameServers("127.0.0.1:9876"), producer.Group("orders"),
		producer.Idempotent(), producer.AttemptTimeout(time.Second))
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	msg := producer.NewMessage("Orders", []byte(`{"id":42}`))
	msg.SetProperty(message.PropertyDedupKey, "order-42") // optional: a key from your data
	res, err := p.Send(ctx, msg)
	if err != nil {
		log.Fatal(err) // unknown whether stored: resending the same key to the same broker within the window is safe
	}
	log.Println(res.OffsetMsgID)
}

// With client.WithTrace the producer writes a Pub trace record for each
// stored message to RMQ_SYS_TRACE_TOPIC (brokers create it with
// traceTopicEnable=true); `petrel admin queryMsgTraceById -i <MsgID>` or
// admin.QueryTrace shows it with the records of the consumers.
func ExampleProducer_Send_trace() {
	ctx := context.Background()
	p, err := producer.New(client.NameServers("127.0.0.1:9876"), producer.Group("orders"), client.WithTrace(""))
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer p.Close() // sends the trace records still queued
	res, err := p.Send(ctx, producer.NewMessage("Orders", []byte(`{"id":42}`), producer.Keys("order-42")))
	if err != nil {
		log.Fatal(err)
	}
	log.Println("trace of", res.MsgID, "dropped so far:", p.Client().TraceDropped())
}
