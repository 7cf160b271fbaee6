// Package example holds what Petrel's example programs share: the default name
// server, creating the example topic, and reading sent messages back.
package example

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
)

// DefaultNameServer is $NAMESRV_ADDR, else 127.0.0.1:9876.
func DefaultNameServer() string {
	if v := os.Getenv("NAMESRV_ADDR"); v != "" {
		return v
	}
	return "127.0.0.1:9876"
}

// EnsureTopic creates topic (4 queues) in the first cluster the name server
// knows if it has no route yet, and waits until its route is readable.
func EnsureTopic(ctx context.Context, namesrv, topic string) error {
	adm, err := admin.New(client.NameServers(namesrv))
	if err != nil {
		return err
	}
	defer adm.Close()
	_, err = adm.TopicRoute(ctx, topic)
	if err == nil || !errors.Is(err, protocol.ErrTopicNotExist) {
		return err
	}
	ci, err := adm.ClusterInfo(ctx)
	if err != nil {
		return fmt.Errorf("cluster info: %w", err)
	}
	clusters := slices.Sorted(maps.Keys(ci.ClusterAddrTable))
	if len(clusters) == 0 {
		return errors.New("the name server knows no cluster: is a broker running?")
	}
	if err := adm.CreateTopicInCluster(ctx, clusters[0], admin.TopicSpec{Topic: topic, ReadQueues: 4, WriteQueues: 4}); err != nil {
		return err
	}
	for {
		if r, err := adm.TopicRoute(ctx, topic); err == nil && len(r.SubscribeQueues()) > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s has no route: %w", topic, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Verify reads the topic from the offsets taken before the sends until every
// sent message (id → body) is back with its body, or 15 s pass.
func Verify(ctx context.Context, adm *admin.Admin, from map[message.MessageQueue]message.QueueOffset, sent map[string]string) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		msgs, err := adm.ReadFrom(ctx, from)
		if err != nil {
			return fmt.Errorf("read back: %w", err)
		}
		missing := len(sent)
		for _, m := range msgs {
			body, ok := sent[m.MsgID()]
			if !ok {
				continue
			}
			if string(m.Body) != body {
				return fmt.Errorf("message %s came back as %q, sent %q", m.MsgID(), m.Body, body)
			}
			missing--
		}
		if missing == 0 {
			fmt.Fprintf(os.Stdout, "OK: read back all %d messages\n", len(sent))
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d messages not read back", missing, len(sent))
		}
		time.Sleep(200 * time.Millisecond) // the broker dispatches to consume queues asynchronously
	}
}
