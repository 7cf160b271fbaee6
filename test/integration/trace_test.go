package integration

import (
	"context"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	petrelconsumer "github.com/petrelmq/petrel/pkg/client/consumer"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/trace"
)

// The trace records rocketmq-client-go v2.1.2 writes with WithTrace (its
// Pub, SubBefore and SubAfter) decode through pkg/trace with the fields
// Petrel's SDK writes, and sit next to the records of a Petrel consumer
// with client.WithTrace that consumes the same message in another group.
func TestOfficialClientTraceDecodes(t *testing.T) {
	e := startEnv(t, testutil.WithBrokerConfig(func(cfg *broker.Config) { cfg.TraceTopicEnable = true }))
	topic := uniqueName(t, "TraceT")
	createTopic(t, e, topic, 2)
	traceCfg := &primitive.TraceConfig{GroupName: "off-trace", Access: primitive.Local, Resolver: resolver(e)}

	p := newProducer(t, e, producer.WithGroupName("off-pg"), producer.WithTrace(traceCfg))
	msg := primitive.NewMessage(topic, []byte("official traced"))
	msg.WithTag("TagO")
	msg.WithKeys([]string{"ok1"})
	res, err := p.SendSync(context.Background(), msg)
	require.NoError(t, err)

	offDone := make(chan struct{}, 1)
	startPushConsumer(t, e, "off-cg", "off-trace-c", topic, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		select {
		case offDone <- struct{}{}:
		default:
		}
		return consumer.ConsumeSuccess, nil
	}, consumer.WithTrace(traceCfg))

	petDone := make(chan struct{}, 1)
	pc, err := petrelconsumer.NewPush(client.NameServers(e.nsAddr), petrelconsumer.Group("pet-cg"), client.WithTrace(""),
		petrelconsumer.RebalanceInterval(200*time.Millisecond), petrelconsumer.FromWhere(petrelconsumer.ConsumeFromFirstOffset))
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, petrelconsumer.All(), petrelconsumer.Concurrently(func(context.Context, []*message.MessageExt) petrelconsumer.ConsumeResult {
		select {
		case petDone <- struct{}{}:
		default:
		}
		return petrelconsumer.ConsumeSuccess
	})))
	require.NoError(t, pc.Start(t.Context()))
	t.Cleanup(func() { _ = pc.Close() })
	for _, ch := range []chan struct{}{offDone, petDone} {
		select {
		case <-ch:
		case <-time.After(30 * time.Second):
			t.Fatal("message not consumed by both groups")
		}
	}

	a, err := admin.New(client.NameServers(e.nsAddr))
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	var recs []trace.Record
	testutil.WaitFor(t, 20*time.Second, func() bool {
		found, err := a.QueryTrace(t.Context(), "", res.MsgID)
		require.NoError(t, err)
		recs = nil
		for _, r := range found {
			require.NotEmpty(t, r.TraceHost)
			recs = append(recs, r.Record)
		}
		return len(recs) == 5
	})
	byType := map[trace.Type]map[string]trace.Record{}
	for _, r := range recs {
		if byType[r.Type] == nil {
			byType[r.Type] = map[string]trace.Record{}
		}
		byType[r.Type][r.Group] = r
	}
	pub := byType[trace.Pub]["off-pg"]
	require.Equal(t, trace.Record{Type: trace.Pub, Timestamp: pub.Timestamp, Region: "DefaultRegion", Group: "off-pg", Topic: topic,
		MsgID: res.MsgID, Tags: "TagO", Keys: "ok1", StoreHost: e.brokerAddr, BodyLength: len("official traced"),
		CostMillis: pub.CostMillis, MsgType: trace.NormalMsg, OffsetMsgID: res.OffsetMsgID, Success: true, ClientHost: pub.ClientHost}, pub)
	require.NotEmpty(t, pub.ClientHost)
	require.NotZero(t, pub.Timestamp)

	// The official consumer's records and the Petrel consumer's carry the
	// same fields.
	for _, g := range []string{"off-cg", "pet-cg"} {
		before, after := byType[trace.SubBefore][g], byType[trace.SubAfter][g]
		require.Equal(t, trace.Record{Type: trace.SubBefore, Timestamp: before.Timestamp, Group: g,
			RequestID: before.RequestID, MsgID: res.MsgID, Keys: "ok1", ClientHost: before.ClientHost, Success: true}, before, g)
		require.NotEmpty(t, before.RequestID, g)
		require.NotEmpty(t, before.ClientHost, g)
		require.NotZero(t, before.Timestamp, g)
		require.Equal(t, trace.Record{Type: trace.SubAfter, RequestID: before.RequestID, MsgID: res.MsgID, CostMillis: after.CostMillis,
			Success: true, Keys: "ok1", ContextCode: trace.ConsumeSuccess, Timestamp: after.Timestamp, Group: g,
			ClientHost: after.ClientHost}, after, g)
		require.NotZero(t, after.Timestamp, g)
	}
}
