// Command quickstart sends a few messages with Petrel's Go SDK and checks its
// own round trip: it reads the messages back from the broker and exits 0 only
// if every one arrived intact.
//
//	go run ./examples/quickstart --namesrv 127.0.0.1:9876
//
// The name server defaults to $NAMESRV_ADDR, then 127.0.0.1:9876. The topic is
// created (4 queues, in the first cluster the name server knows) if it does not
// exist.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/petrelmq/petrel/examples/internal/example"

	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/producer"
)

func main() {
	namesrv := flag.String("namesrv", example.DefaultNameServer(), "name server address(es), host:port[;host:port]")
	topic := flag.String("topic", "PetrelQuickstart", "topic to use")
	count := flag.Int("count", 10, "messages to send")
	flag.Parse()
	if err := run(*namesrv, *topic, *count); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart: FAILED:", err)
		os.Exit(1)
	}
}

func run(namesrv, topic string, count int) error {
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

	p, err := producer.New(client.NameServers(namesrv), producer.Group("quickstart"))
	if err != nil {
		return err
	}
	if err := p.Start(ctx); err != nil {
		return err
	}
	defer p.Close()

	sent := map[string]string{} // message id → body
	for i := range count {
		body := "hello petrel " + strconv.Itoa(i)
		res, err := p.Send(ctx, producer.NewMessage(topic, []byte(body), producer.Tags("quickstart"), producer.Keys("qs-"+strconv.Itoa(i))))
		if err != nil {
			return fmt.Errorf("send %d: %w", i, err)
		}
		fmt.Fprintf(os.Stdout, "sent %s to %s offset %d\n", res.MsgID, res.Queue, res.QueueOffset)
		sent[res.MsgID] = body
	}
	return example.Verify(ctx, adm, start, sent)
}
