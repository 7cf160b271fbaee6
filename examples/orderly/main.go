// Command orderly sends the steps of a few orders so that each order's steps
// go to one queue (producer.HashByKey), consumes them with an orderly push
// consumer, and checks its own round trip: every step arrived, and each
// order's steps arrived in the order they were sent. It exits 0 only if the
// check passed.
//
//	go run ./examples/orderly --namesrv 127.0.0.1:9876
//
// The name server defaults to $NAMESRV_ADDR, then 127.0.0.1:9876. The topic is
// created (4 queues, in the first cluster the name server knows) if missing.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/petrelmq/petrel/examples/internal/example"

	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/consumer"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
)

const (
	topic  = "PetrelOrderlyExample"
	orders = 5
	steps  = 6
)

func main() {
	namesrv := flag.String("namesrv", example.DefaultNameServer(), "name server address(es), host:port[;host:port]")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := run(ctx, *namesrv); err != nil {
		fmt.Fprintln(os.Stderr, "orderly: FAILED:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, namesrv string) error {
	if err := example.EnsureTopic(ctx, namesrv, topic); err != nil {
		return err
	}
	runID := strconv.FormatInt(time.Now().UnixNano(), 36)

	var mu sync.Mutex
	got := map[string][]int{} // order → steps in arrival order
	total := 0
	done := make(chan struct{})
	c, err := consumer.NewPush(client.NameServers(namesrv), consumer.Group("petrel-orderly-example"),
		consumer.RebalanceInterval(time.Second))
	if err != nil {
		return err
	}
	defer c.Close()
	err = c.Subscribe(topic, consumer.All(), consumer.Orderly(func(_ context.Context, msgs []*message.MessageExt) consumer.OrderlyResult {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			order, step, ok := parse(m, runID)
			if !ok {
				continue // an earlier run's message
			}
			got[order] = append(got[order], step)
			total++
			if total == orders*steps {
				close(done)
			}
		}
		return consumer.OrderlySuccess
	}))
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	if err := waitAssigned(ctx, func() int { return len(c.Assignment()) }); err != nil {
		return err
	}

	p, err := producer.New(client.NameServers(namesrv), producer.Group("petrel-orderly-example"),
		producer.WithQueueSelector(producer.HashByKey()))
	if err != nil {
		return err
	}
	if err := p.Start(ctx); err != nil {
		return err
	}
	defer p.Close()
	for s := range steps {
		for o := range orders {
			order := runID + "-order" + strconv.Itoa(o)
			body := fmt.Sprintf("%s step %d", order, s)
			if _, err := p.Send(ctx, producer.NewMessage(topic, []byte(body), producer.ShardingKey(order), producer.Keys(order))); err != nil {
				return fmt.Errorf("send %s: %w", body, err)
			}
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		return fmt.Errorf("received %d of %d steps: %w", total, orders*steps, ctx.Err())
	}
	mu.Lock()
	defer mu.Unlock()
	for _, order := range slices.Sorted(maps.Keys(got)) {
		want := make([]int, steps)
		for i := range want {
			want[i] = i
		}
		if !slices.Equal(got[order], want) {
			return fmt.Errorf("order %s: steps arrived as %v", order, got[order])
		}
		fmt.Fprintf(os.Stdout, "%s: steps %v in order\n", order, got[order])
	}
	if len(got) != orders {
		return fmt.Errorf("got %d orders, want %d", len(got), orders)
	}
	fmt.Fprintf(os.Stdout, "OK: %d orders, every step in order\n", orders)
	return nil
}

// parse reads "<runID>-orderN step S" bodies of this run.
func parse(m *message.MessageExt, runID string) (order string, step int, ok bool) {
	order, s, found := strings.Cut(string(m.Body), " step ")
	if !found || !strings.HasPrefix(order, runID+"-") {
		return "", 0, false
	}
	n, err := strconv.Atoi(s)
	return order, n, err == nil
}

// waitAssigned waits until the consumer holds a queue of the topic.
func waitAssigned(ctx context.Context, n func() int) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for n() == 0 {
		select {
		case <-ctx.Done():
			return errors.New("the consumer got no queue")
		case <-t.C:
		}
	}
	return nil
}
