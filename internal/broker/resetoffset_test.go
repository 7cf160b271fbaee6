package broker_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

func resetExt(topic, group string, ts int64, force bool) map[string]string {
	return map[string]string{"topic": topic, "group": group, "timestamp": strconv.FormatInt(ts, 10), "isForce": strconv.FormatBool(force)}
}

// TestRawResetOffsetRefusals: INVOKE_BROKER_TO_RESET_OFFSET names an unknown
// topic, and answers CONSUMER_NOT_ONLINE for a group without consumers,
// leaving its offsets alone.
func TestRawResetOffsetRefusals(t *testing.T) {
	r := startRaw(t)
	r.createTopic("RO", 2, 6)
	resp := r.call(protocol.InvokeBrokerToResetOffset, resetExt("none", "g", 0, true), nil)
	require.Equal(t, protocol.SystemError, resp.ResponseCode())
	require.Contains(t, resp.Remark, "no topic")

	require.Equal(t, protocol.Success, r.call(protocol.UpdateConsumerOffset,
		map[string]string{"consumerGroup": "g", "topic": "RO", "queueId": "0", "commitOffset": "5"}, nil).ResponseCode())
	resp = r.call(protocol.InvokeBrokerToResetOffset, resetExt("RO", "g", 0, true), nil)
	require.Equal(t, protocol.ConsumerNotOnline, resp.ResponseCode(), resp.Remark)
	resp = r.call(protocol.QueryConsumerOffset, map[string]string{"consumerGroup": "g", "topic": "RO", "queueId": "0"}, nil)
	require.Equal(t, "5", resp.Ext("offset"))
}

// TestCompatResetOffsetByTime: an official-client push consumer has consumed
// a topic; resetting its group to the start (timestamp 0, forced) makes the
// broker answer the new offsets, store them, and tell the consumer, which
// consumes every message again.
func TestCompatResetOffsetByTime(t *testing.T) {
	skipIfRace(t)
	c := testutil.StartCluster(t)
	const topic, group, n = "CompatReset", "cg-compat-reset", 6
	createTopic(t, c, topic, 2)
	p := newProducer(t, c)
	for i := range n {
		_, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte(fmt.Sprintf("m%d", i))))
		require.NoError(t, err)
	}
	col := startPushConsumer(t, c, group, topic, "*")
	testutil.WaitFor(t, 30*time.Second, func() bool { return col.count() == n })
	cl := rawClient(t)
	consumed := func() int64 {
		resp := invoke(t, cl, c.BrokerAddr, protocol.GetConsumeStats, map[string]string{"consumerGroup": group, "topic": topic}, nil)
		require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
		cs, err := body.DecodeConsumeStats(resp.Body)
		require.NoError(t, err)
		var sum int64
		for _, o := range cs.OffsetTable {
			sum += o.ConsumerOffset
		}
		return sum
	}
	// The client commits its offsets every 5 s.
	testutil.WaitFor(t, 30*time.Second, func() bool { return consumed() == n })

	resp := invoke(t, cl, c.BrokerAddr, protocol.InvokeBrokerToResetOffset, resetExt(topic, group, 0, true), nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	table, err := body.DecodeResetOffsetBody(resp.Body)
	require.NoError(t, err)
	require.Equal(t, map[message.MessageQueue]int64{
		{Topic: topic, BrokerName: "broker-a", QueueID: 0}: 0,
		{Topic: topic, BrokerName: "broker-a", QueueID: 1}: 0,
	}, table)

	// The v2.1.2 client waits 10 s before it takes the queues back.
	testutil.WaitFor(t, 60*time.Second, func() bool {
		col.mu.Lock()
		defer col.mu.Unlock()
		return col.dups >= n
	})
	testutil.WaitFor(t, 30*time.Second, func() bool { return consumed() == n })
}
