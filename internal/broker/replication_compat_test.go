package broker_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/stretchr/testify/require"
)

// TestCompatConsumeFromSlaveWhileMasterDown: the official Go client's push
// consumer goes on consuming a backlog from the slave while the master is
// down (after its next route refresh, as RocketMQ's clients do), and when
// the master is back the group's progress is not lost: the master's offset
// reaches the end instead of rewinding the group.
func TestCompatConsumeFromSlaveWhileMasterDown(t *testing.T) {
	skipIfRace(t)
	c := testutil.StartCluster(t)
	slave := testutil.StartSlave(t, c, 1)
	const topic, group, n = "SlaveRead", "cg-slave-read", 300
	createTopic(t, c, topic, 1)
	p := newProducer(t, c)
	for i := range n {
		_, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte(strconv.Itoa(i))))
		require.NoError(t, err)
	}

	var mu sync.Mutex
	seen := map[string]bool{}
	pc, err := consumer.NewPushConsumer(
		consumer.WithNsResolver(primitive.NewPassthroughResolver([]string{c.NameServerAddr})),
		consumer.WithGroupName(group), consumer.WithInstance(instance(t)),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
		consumer.WithPullBatchSize(4), consumer.WithConsumeMessageBatchMaxSize(1),
	)
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, consumer.MessageSelector{Type: consumer.TAG, Expression: "*"},
		func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			time.Sleep(20 * time.Millisecond) // a slow consumer: the backlog outlives the master
			mu.Lock()
			defer mu.Unlock()
			for _, m := range msgs {
				seen[string(m.Body)] = true
			}
			return consumer.ConsumeSuccess, nil
		}))
	require.NoError(t, pc.Start())
	t.Cleanup(func() { _ = pc.Shutdown() })
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	}
	testutil.WaitFor(t, 30*time.Second, func() bool { return count() >= 20 })

	cl := rawClient(t)
	// The slave has the whole backlog before the master goes away.
	testutil.WaitFor(t, 30*time.Second, func() bool { return maxOffset(t, cl, slave.Addr, topic, 0) == n })
	require.NoError(t, c.Broker.Close()) // the master goes away; the slave stays
	before := count()
	require.Less(t, before, n, "the master went away before the backlog was consumed")
	testutil.WaitFor(t, 90*time.Second, func() bool { return count() == n })
	t.Logf("consumed %d before the master went away, %d from the slave", before, n-before)

	// The master returns on its store: the group's progress reaches it.
	restartBroker(t, c) // on a stable HA port: the slave asks the name server for it
	testutil.WaitFor(t, 90*time.Second, func() bool {
		resp := invoke(t, cl, c.BrokerAddr, protocol.QueryConsumerOffset,
			map[string]string{"consumerGroup": group, "topic": topic, "queueId": "0"}, nil)
		return resp.ResponseCode() == protocol.Success && resp.Ext("offset") == strconv.Itoa(n)
	})
}
