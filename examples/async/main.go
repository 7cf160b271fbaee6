// Command async sends messages with SendAsync and checks its own round trip:
// every callback must report success and every message must be read back from
// the broker intact; it exits 0 only then.
//
//	go run ./examples/async --namesrv 127.0.0.1:9876
//
// The name server defaults to $NAMESRV_ADDR, then 127.0.0.1:9876.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/petrelmq/petrel/examples/internal/example"

	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/producer"
)

func main() {
	namesrv := flag.String("namesrv", example.DefaultNameServer(), "name server address(es), host:port[;host:port]")
	topic := flag.String("topic", "PetrelAsync", "topic to use")
	count := flag.Int("count", 100, "messages to send")
	flag.Parse()
	if err := run(*namesrv, *topic, *count); err != nil {
		fmt.Fprintln(os.Stderr, "async: FAILED:", err)
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

	p, err := producer.New(client.NameServers(namesrv), producer.Group("async-example"))
	if err != nil {
		return err
	}
	if err := p.Start(ctx); err != nil {
		return err
	}
	defer p.Close()

	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		sent = map[string]string{}
		errs []error
	)
	for i := range count {
		body := "async " + strconv.Itoa(i)
		wg.Add(1)
		p.SendAsync(ctx, producer.NewMessage(topic, []byte(body), producer.Tags("async")), func(res *producer.SendResult, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("send %d: %w", i, err))
				return
			}
			sent[res.MsgID] = body
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "all %d async sends acknowledged\n", len(sent))
	return example.Verify(ctx, adm, start, sent)
}
