// Command batch sends messages in batches with SendBatch and checks its own
// round trip: every message must be read back from the broker intact, each
// batch in consecutive offsets of one queue; it exits 0 only then.
//
//	go run ./examples/batch --namesrv 127.0.0.1:9876
//
// The name server defaults to $NAMESRV_ADDR, then 127.0.0.1:9876.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmq/petrel/examples/internal/example"

	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
)

func main() {
	namesrv := flag.String("namesrv", example.DefaultNameServer(), "name server address(es), host:port[;host:port]")
	topic := flag.String("topic", "PetrelBatch", "topic to use")
	batches := flag.Int("batches", 5, "batches to send")
	size := flag.Int("size", 20, "messages per batch")
	flag.Parse()
	if err := run(*namesrv, *topic, *batches, *size); err != nil {
		fmt.Fprintln(os.Stderr, "batch: FAILED:", err)
		os.Exit(1)
	}
}

func run(namesrv, topic string, batches, size int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	adm, err := admin.New(client.NameServers(namesrv))
	if err != nil {
		return err
	}
	defer adm.Close()
	if err := example.EnsureTopic(ctx, namesrv, topic); err != nil {
		return err
	}
	start, err := adm.MaxOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("read queue offsets: %w", err)
	}

	p, err := producer.New(client.NameServers(namesrv), producer.Group("batch-example"))
	if err != nil {
		return err
	}
	if err := p.Start(ctx); err != nil {
		return err
	}
	defer p.Close()

	sent := map[string]string{}
	for b := range batches {
		var msgs []*message.Message
		var bodies []string
		for i := range size {
			body := fmt.Sprintf("batch %d message %d", b, i)
			bodies = append(bodies, body)
			msgs = append(msgs, producer.NewMessage(topic, []byte(body), producer.Keys("b"+strconv.Itoa(b))))
		}
		res, err := p.SendBatch(ctx, msgs...)
		if err != nil {
			return fmt.Errorf("batch %d: %w", b, err)
		}
		ids := strings.Split(res.MsgID, ",")
		if len(ids) != size {
			return fmt.Errorf("batch %d: %d ids for %d messages", b, len(ids), size)
		}
		for i, id := range ids {
			sent[id] = bodies[i]
		}
		fmt.Fprintf(os.Stdout, "batch %d: %d messages to %s from offset %d\n", b, size, res.Queue, res.QueueOffset)
	}
	return example.Verify(ctx, adm, start, sent)
}
