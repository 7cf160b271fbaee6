package broker_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/broker/meta"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/stretchr/testify/require"
)

// topicTable reads the broker's topic table (GET_ALL_TOPIC_CONFIG).
func topicTable(t *testing.T, c *testutil.Cluster) map[string]body.TopicConfig {
	t.Helper()
	resp := invoke(t, rawClient(t), c.BrokerAddr, protocol.GetAllTopicConfig, nil, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	var w body.TopicConfigWrapper
	require.NoError(t, json.Unmarshal(resp.Body, &w))
	return w.TopicConfigTable
}

// TestSystemTopicsAsRocketMQ checks the topics a broker creates at start
// against RocketMQ 4.9.4's TopicConfigManager: queue counts and permissions.
func TestSystemTopicsAsRocketMQ(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t, testutil.WithBrokerConfig(func(cfg *broker.Config) {
		cfg.ClusterName, cfg.BrokerName = "ParityCluster", "parity-broker"
		cfg.TraceTopicEnable = true
	}))
	table := topicTable(t, c)
	wants := []struct {
		topic          string
		queues, perm   int32
		absentIfNoAuto bool
	}{
		{meta.TopicAutoCreate, 8, 7, true},
		{meta.TopicSelfTest, 1, 6, false},
		{meta.TopicBenchmark, 1024, 6, false},
		{"ParityCluster", 16, 7, false},
		{"parity-broker", 1, 7, false},
		{meta.TopicOffsetMoved, 1, 6, false},
		{meta.TopicSchedule, 18, 6, false},
		{meta.TopicTrace, 1, 6, false},
		{"ParityCluster" + meta.ReplyTopicSuffix, 1, 6, false},
	}
	for _, want := range wants {
		tc, ok := table[want.topic]
		require.True(t, ok, "%s is created at start", want.topic)
		require.Equal(t, want.queues, tc.ReadQueueNums, want.topic)
		require.Equal(t, want.queues, tc.WriteQueueNums, want.topic)
		require.Equal(t, want.perm, tc.Perm, want.topic)
	}

	// With the *TopicEnable keys off, the name topics are inherit-only, and
	// no trace topic is made; without autoCreateTopicEnable no TBW102.
	off := testutil.StartCluster(t, testutil.WithBrokerConfig(func(cfg *broker.Config) {
		cfg.ClusterName, cfg.BrokerName = "OffCluster", "off-broker"
		cfg.ClusterTopicEnable, cfg.BrokerTopicEnable = false, false
		cfg.AutoCreateTopicEnable = false
	}))
	table = topicTable(t, off)
	for _, want := range wants {
		_, ok := table[want.topic]
		if want.absentIfNoAuto {
			require.False(t, ok, "%s without autoCreateTopicEnable", want.topic)
		} else if !strings.HasPrefix(want.topic, "Parity") && !strings.HasPrefix(want.topic, "parity") && want.topic != meta.TopicTrace {
			require.True(t, ok, "%s is created at start", want.topic)
		}
	}
	require.Equal(t, int32(1), table["OffCluster"].Perm)
	require.Equal(t, int32(1), table["off-broker"].Perm)
	_, trace := table[meta.TopicTrace]
	require.False(t, trace)
}

// TestCompatClusterTopicAndDLQ drives the official Go client: a send to the
// cluster-name topic works (as mqadmin clusterRT and sendMessage -t <cluster>
// need), and a dead letter can be consumed from %DLQ%<group> with a push
// consumer (RocketMQ 4.9 routes it with perm 6).
func TestCompatClusterTopicAndDLQ(t *testing.T) {
	skipIfRace(t)
	c := testutil.StartCluster(t, testutil.WithBrokerConfig(func(cfg *broker.Config) {
		cfg.Store.MessageDelayLevel = "1s 1s 1s 1s"
	}))
	p := newProducer(t, c)
	ctx := context.Background()
	res, err := p.SendSync(ctx, primitive.NewMessage("DefaultCluster", []byte("to-the-cluster")))
	require.NoError(t, err)
	require.Equal(t, primitive.SendOK, res.Status)

	const topic, group = "ParityDLQ", "cg-parity-dlq"
	createTopic(t, c, topic, 1)
	createTopic(t, c, meta.RetryTopic(group), 1)
	startFuncConsumer(t, c, group, topic, 1, func(*primitive.MessageExt) consumer.ConsumeResult {
		return consumer.ConsumeRetryLater
	})
	_, err = p.SendSync(ctx, primitive.NewMessage(topic, []byte("dead-letter")))
	require.NoError(t, err)
	cl := rawClient(t)
	dlq := meta.DLQTopic(group)
	testutil.WaitFor(t, 45*time.Second, func() bool { return maxOffset(t, cl, c.BrokerAddr, dlq, 0) == 1 })
	require.Equal(t, int32(6), topicTable(t, c)[dlq].Perm)

	// An operator re-drives it: any consumer group can read the DLQ (once
	// the broker's registration carrying the new topic reached the name
	// server: the official client's Start needs its route).
	a, err := admin.New(client.NameServers(c.NameServerAddr))
	require.NoError(t, err)
	defer a.Close()
	testutil.WaitFor(t, 30*time.Second, func() bool { _, err := a.TopicRoute(ctx, dlq); return err == nil })
	col := startPushConsumer(t, c, "cg-parity-dlq-reader", dlq, "*")
	testutil.WaitFor(t, 30*time.Second, func() bool { return col.count() == 1 })
	col.mu.Lock()
	defer col.mu.Unlock()
	require.Contains(t, col.msgs, "dead-letter")
}

// TestTransactionTopicsOnFirstUse: as in RocketMQ 4.9, the half topic joins
// the topic table (1 queue, perm 6) with the first half message and the op
// topic with the first commit or rollback; neither is there before.
func TestTransactionTopicsOnFirstUse(t *testing.T) {
	t.Parallel()
	r := startRaw(t)
	r.createTopic("TxFirst", 1, 6)
	table := func() map[string]body.TopicConfig {
		resp := r.call(protocol.GetAllTopicConfig, nil, nil)
		require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
		var w body.TopicConfigWrapper
		require.NoError(t, json.Unmarshal(resp.Body, &w))
		return w.TopicConfigTable
	}
	_, half := table()[meta.TopicTransHalf]
	_, op := table()[meta.TopicTransOpHalf]
	require.False(t, half || op, "not before first use")

	h := r.sendHalf("TxFirst", "pg-first", "first")
	tc, ok := table()[meta.TopicTransHalf]
	require.True(t, ok, "half topic after the first half message")
	require.Equal(t, int32(1), tc.ReadQueueNums)
	require.Equal(t, int32(6), tc.Perm)
	_, op = table()[meta.TopicTransOpHalf]
	require.False(t, op)

	resp := r.call(protocol.EndTransaction, endTxExt("pg-first", h, 8, false), nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	tc, ok = table()[meta.TopicTransOpHalf]
	require.True(t, ok, "op topic after the first commit")
	require.Equal(t, int32(1), tc.WriteQueueNums)
	require.Equal(t, int32(6), tc.Perm)
}
