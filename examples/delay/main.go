// Command delay sends delayed messages with Petrel's Go SDK — one at delay level
// 1 (1 s by default) and one for delivery at a chosen time (2 s from now) — and
// checks its own round trip: a push consumer must receive each message no
// earlier than it was due and within a few seconds after. It exits 0 only if the
// check passed.
//
//	go run ./examples/delay --namesrv 127.0.0.1:9876
//
// The name server defaults to $NAMESRV_ADDR, then 127.0.0.1:9876. The topic is
// created (4 queues, in the first cluster the name server knows) if missing.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
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

const topic = "PetrelDelayExample"

func main() {
	namesrv := flag.String("namesrv", example.DefaultNameServer(), "name server address(es), host:port[;host:port]")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := run(ctx, *namesrv); err != nil {
		fmt.Fprintln(os.Stderr, "delay: FAILED:", err)
		os.Exit(1)
	}
}

// lateBy is how late a delayed message may arrive and still pass.
const lateBy = 30 * time.Second // generous: CI machines can be heavily loaded

func run(ctx context.Context, namesrv string) error {
	if err := example.EnsureTopic(ctx, namesrv, topic); err != nil {
		return err
	}
	runID := strconv.FormatInt(time.Now().UnixNano(), 36)
	var mu sync.Mutex
	got := map[string]time.Time{} // body → receive time
	c, err := consumer.NewPush(client.NameServers(namesrv), consumer.Group("petrel-delay-example"))
	if err != nil {
		return err
	}
	defer c.Close()
	err = c.Subscribe(topic, consumer.All(), consumer.Concurrently(func(_ context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			if strings.HasPrefix(string(m.Body), runID+" ") {
				got[string(m.Body)] = time.Now()
			}
		}
		return consumer.ConsumeSuccess
	}))
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	// A new group starts at the end of each queue: wait for the queues before
	// sending, so nothing sent is skipped.
	for len(c.Assignment()) == 0 {
		select {
		case <-ctx.Done():
			return errors.New("the consumer got no queues")
		case <-time.After(50 * time.Millisecond):
		}
	}

	p, err := producer.New(client.NameServers(namesrv), producer.Group("petrel-delay-example"))
	if err != nil {
		return err
	}
	if err := p.Start(ctx); err != nil {
		return err
	}
	defer p.Close()

	due := map[string]time.Time{} // body → earliest allowed arrival
	level := runID + " level 1"
	sentAt := time.Now()
	if _, err := p.Send(ctx, producer.NewMessage(topic, []byte(level), producer.DelayLevel(1))); err != nil {
		return fmt.Errorf("send delay level 1: %w", err)
	}
	due[level] = sentAt.Add(time.Second)
	at := runID + " deliver at"
	deliverAt := time.Now().Add(2 * time.Second)
	if _, err := p.Send(ctx, producer.NewMessage(topic, []byte(at), producer.DeliverAt(deliverAt))); err != nil {
		return fmt.Errorf("send with a delivery time: %w", err)
	}
	due[at] = deliverAt
	fmt.Printf("sent %q (level 1 = 1s) and %q (at %s)\n", level, at, deliverAt.Format(time.TimeOnly))

	deadline := time.Now().Add(2*time.Second + lateBy)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == len(due) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d delayed messages arrived", n, len(due))
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for body, want := range due {
		arrived := got[body]
		// Broker and client clocks are the same machine's here; allow 100 ms
		// for the millisecond rounding of store and delivery times.
		if arrived.Before(want.Add(-100 * time.Millisecond)) {
			return fmt.Errorf("%q arrived %s early", body, want.Sub(arrived))
		}
		fmt.Printf("%q arrived %s after it was due\n", body, arrived.Sub(want).Round(time.Millisecond))
	}
	fmt.Println("OK: every delayed message arrived on time")
	return nil
}
