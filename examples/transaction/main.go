// Command transaction sends transactional messages with Petrel's Go SDK and
// checks its own round trip: a message whose local transaction commits must be
// delivered, one that rolls back must never be. With --checkback it also sends
// one whose local transaction ends unknown; the broker asks the producer back
// (CHECK_TRANSACTION_STATE) and the check commits it — the broker checks every
// transactionCheckInterval (60 s by default), so that run takes up to about a
// minute. It exits 0 only if the check passed.
//
//	go run ./examples/transaction --namesrv 127.0.0.1:9876 [--checkback]
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

const topic = "PetrelTransactionExample"

func main() {
	namesrv := flag.String("namesrv", example.DefaultNameServer(), "name server address(es), host:port[;host:port]")
	checkback := flag.Bool("checkback", false, "also resolve an unknown transaction by the broker's check-back (slow: up to transactionCheckInterval)")
	flag.Parse()
	timeout := 60 * time.Second
	if *checkback {
		timeout = 150 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := run(ctx, *namesrv, *checkback); err != nil {
		fmt.Fprintln(os.Stderr, "transaction: FAILED:", err)
		os.Exit(1)
	}
}

// outcome is what the local transaction decides for a message, by its body.
func outcome(body string) producer.TransactionState {
	switch {
	case strings.HasSuffix(body, " commit"):
		return producer.TransactionCommit
	case strings.HasSuffix(body, " rollback"):
		return producer.TransactionRollback
	}
	return producer.TransactionUnknown
}

func run(ctx context.Context, namesrv string, checkback bool) error {
	if err := example.EnsureTopic(ctx, namesrv, topic); err != nil {
		return err
	}
	runID := strconv.FormatInt(time.Now().UnixNano(), 36)
	var mu sync.Mutex
	got := map[string]int{}
	c, err := consumer.NewPush(client.NameServers(namesrv), consumer.Group("petrel-transaction-example"))
	if err != nil {
		return err
	}
	defer c.Close()
	err = c.Subscribe(topic, consumer.All(), consumer.Concurrently(func(_ context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			if strings.HasPrefix(string(m.Body), runID+" ") {
				got[string(m.Body)]++
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
	for len(c.Assignment()) == 0 {
		select {
		case <-ctx.Done():
			return errors.New("the consumer got no queues")
		case <-time.After(50 * time.Millisecond):
		}
	}

	checked := make(chan string, 1)
	p, err := producer.NewTransactional(client.NameServers(namesrv), producer.Group("petrel-transaction-example"),
		producer.TransactionListener(
			func(_ context.Context, m *message.Message) producer.TransactionState { return outcome(string(m.Body)) },
			func(_ context.Context, m *message.MessageExt) producer.TransactionState {
				// The broker asks about a transaction that ended unknown: the
				// application looks up its own record; here it commits.
				select {
				case checked <- string(m.Body):
				default:
				}
				return producer.TransactionCommit
			}))
	if err != nil {
		return err
	}
	if err := p.Start(ctx); err != nil {
		return err
	}
	defer p.Close()

	bodies := []string{runID + " commit", runID + " rollback"}
	if checkback {
		bodies = append(bodies, runID+" unknown")
	}
	for _, b := range bodies {
		res, err := p.SendInTransaction(ctx, producer.NewMessage(topic, []byte(b)))
		if err != nil {
			return fmt.Errorf("send %q: %w", b, err)
		}
		fmt.Printf("sent %q: local transaction %s\n", b, res.State)
	}
	want := map[string]bool{runID + " commit": true}
	if checkback {
		want[runID+" unknown"] = true
		fmt.Println("waiting for the broker to check the unknown transaction back...")
	}
	for {
		mu.Lock()
		n := 0
		for b := range want {
			if got[b] > 0 {
				n++
			}
		}
		mu.Unlock()
		if n == len(want) {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d committed messages arrived: %w", n, len(want), ctx.Err())
		case b := <-checked:
			fmt.Printf("the broker checked back %q; committing\n", b)
		case <-time.After(50 * time.Millisecond):
		}
	}
	// A rolled-back message must never arrive; give it a moment to show up if
	// it were (wrongly) delivered.
	time.Sleep(time.Second)
	mu.Lock()
	defer mu.Unlock()
	if got[runID+" rollback"] > 0 {
		return errors.New("the rolled-back message was delivered")
	}
	for b := range want {
		if got[b] != 1 {
			return fmt.Errorf("%q delivered %d times", b, got[b])
		}
	}
	fmt.Println("OK: committed messages delivered once, the rolled-back one never")
	return nil
}
