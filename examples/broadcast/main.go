// Command broadcast runs two broadcasting push consumers of one group, sends a
// few messages, and checks its own round trip: each consumer received every
// message once. Offsets of the consumers are kept in files under a temporary
// directory, removed at exit. It exits 0 only if the check passed.
//
//	go run ./examples/broadcast --namesrv 127.0.0.1:9876
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
	"path/filepath"
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
	topic = "PetrelBroadcastExample"
	count = 10
)

func main() {
	namesrv := flag.String("namesrv", example.DefaultNameServer(), "name server address(es), host:port[;host:port]")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := run(ctx, *namesrv); err != nil {
		fmt.Fprintln(os.Stderr, "broadcast: FAILED:", err)
		os.Exit(1)
	}
}

// member is one broadcasting consumer and what it received of this run.
type member struct {
	c    *consumer.PushConsumer
	mu   sync.Mutex
	got  map[string]int // body → times received
	done chan struct{}
}

func run(ctx context.Context, namesrv string) error {
	if err := example.EnsureTopic(ctx, namesrv, topic); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "petrel-broadcast-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	runID := strconv.FormatInt(time.Now().UnixNano(), 36)

	var members []*member
	for _, name := range []string{"member-1", "member-2"} {
		m := &member{got: map[string]int{}, done: make(chan struct{})}
		c, err := consumer.NewPush(client.NameServers(namesrv), client.InstanceName(name),
			consumer.Group("petrel-broadcast-example"), consumer.Model(consumer.Broadcasting),
			consumer.OffsetFile(filepath.Join(dir, name, "offsets.json")))
		if err != nil {
			return err
		}
		defer c.Close()
		err = c.Subscribe(topic, consumer.All(), consumer.Concurrently(func(_ context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, msg := range msgs {
				if !strings.HasPrefix(string(msg.Body), runID+" ") {
					continue
				}
				m.got[string(msg.Body)]++
				if len(m.got) == count {
					select {
					case <-m.done:
					default:
						close(m.done)
					}
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
		m.c = c
		members = append(members, m)
	}
	// Broadcasting members start new offset files at the end of each queue:
	// wait until both hold every queue before sending.
	for _, m := range members {
		for len(m.c.Assignment()) < 4 {
			select {
			case <-ctx.Done():
				return errors.New("a member got no queues")
			case <-time.After(50 * time.Millisecond):
			}
		}
	}

	p, err := producer.New(client.NameServers(namesrv), producer.Group("petrel-broadcast-example"))
	if err != nil {
		return err
	}
	if err := p.Start(ctx); err != nil {
		return err
	}
	defer p.Close()
	for i := range count {
		if _, err := p.Send(ctx, producer.NewMessage(topic, []byte(runID+" message "+strconv.Itoa(i)))); err != nil {
			return fmt.Errorf("send %d: %w", i, err)
		}
	}
	for i, m := range members {
		select {
		case <-m.done:
		case <-ctx.Done():
			m.mu.Lock()
			defer m.mu.Unlock()
			return fmt.Errorf("member %d received %d of %d messages", i+1, len(m.got), count)
		}
		m.mu.Lock()
		for body, n := range m.got {
			if n != 1 {
				m.mu.Unlock()
				return fmt.Errorf("member %d received %q %d times", i+1, body, n)
			}
		}
		m.mu.Unlock()
		fmt.Fprintf(os.Stdout, "member %d received all %d messages\n", i+1, count)
	}
	fmt.Fprintln(os.Stdout, "OK: every member received every message")
	return nil
}
