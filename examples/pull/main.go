// Command pull reads a topic with the lite pull consumer: it assigns itself
// every queue, seeks to the end, sends a few messages, polls them back and
// checks its own round trip (every message arrived, each queue in offset
// order), then commits. It exits 0 only if the check passed.
//
//	go run ./examples/pull --namesrv 127.0.0.1:9876
//
// The name server defaults to $NAMESRV_ADDR, then 127.0.0.1:9876. The topic is
// created (4 queues, in the first cluster the name server knows) if missing.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmq/petrel/examples/internal/example"

	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/consumer"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
)

const (
	topic = "PetrelPullExample"
	count = 20
)

func main() {
	namesrv := flag.String("namesrv", example.DefaultNameServer(), "name server address(es), host:port[;host:port]")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := run(ctx, *namesrv); err != nil {
		fmt.Fprintln(os.Stderr, "pull: FAILED:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, namesrv string) error {
	adm, err := admin.New(client.NameServers(namesrv))
	if err != nil {
		return err
	}
	defer adm.Close()
	if err := example.EnsureTopic(ctx, namesrv, topic); err != nil {
		return err
	}
	route, err := adm.TopicRoute(ctx, topic)
	if err != nil {
		return err
	}
	queues := slices.Clone(route.SubscribeQueues())

	l, err := consumer.NewLitePull(client.NameServers(namesrv), consumer.Group("petrel-pull-example"), consumer.AutoCommit(false))
	if err != nil {
		return err
	}
	defer l.Close()
	if err := l.Assign(ctx, queues, consumer.All()); err != nil {
		return err
	}
	if err := l.Start(ctx); err != nil {
		return err
	}
	for _, q := range queues {
		if err := l.SeekToEnd(ctx, q); err != nil {
			return fmt.Errorf("seek %s: %w", q, err)
		}
	}

	p, err := producer.New(client.NameServers(namesrv), producer.Group("petrel-pull-example"))
	if err != nil {
		return err
	}
	if err := p.Start(ctx); err != nil {
		return err
	}
	defer p.Close()
	runID := strconv.FormatInt(time.Now().UnixNano(), 36)
	sent := map[string]bool{}
	for i := range count {
		body := runID + " message " + strconv.Itoa(i)
		if _, err := p.Send(ctx, producer.NewMessage(topic, []byte(body))); err != nil {
			return fmt.Errorf("send %d: %w", i, err)
		}
		sent[body] = true
	}

	last := map[int32]message.QueueOffset{}
	for len(sent) > 0 {
		msgs, err := l.Poll(ctx)
		if err != nil {
			return fmt.Errorf("poll: %d of %d messages missing: %w", len(sent), count, err)
		}
		for _, m := range msgs {
			if prev, ok := last[m.QueueID]; ok && m.QueueOffset <= prev {
				return fmt.Errorf("queue %d went back from offset %d to %d", m.QueueID, prev, m.QueueOffset)
			}
			last[m.QueueID] = m.QueueOffset
			if strings.HasPrefix(string(m.Body), runID+" ") {
				if !sent[string(m.Body)] {
					return fmt.Errorf("received %q twice", m.Body)
				}
				delete(sent, string(m.Body))
			}
		}
	}
	if err := l.CommitSync(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	fmt.Fprintf(os.Stdout, "OK: polled all %d messages in queue order and committed\n", count)
	return nil
}
