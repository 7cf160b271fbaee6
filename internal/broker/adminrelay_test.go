package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// TestAdminRelaysToOfficialClient: the broker relays GET_CONSUMER_RUNNING_INFO
// (307) and CONSUME_MESSAGE_DIRECTLY (309) to a consumer of the official Go
// client (rocketmq-client-go v2.1.2) over its own connection, and its answers
// decode; INVOKE_BROKER_TO_GET_CONSUMER_STATUS gathers its
// GET_CONSUMER_STATUS_FROM_CLIENT (221) answer.
func TestAdminRelaysToOfficialClient(t *testing.T) {
	skipIfRace(t)
	c := testutil.StartCluster(t)
	const topic = "RelayT"
	createTopic(t, c, topic, 2)
	p := newProducer(t, c)
	ctx := context.Background()
	res, err := p.SendSync(ctx, primitive.NewMessage(topic, []byte("relay me")))
	require.NoError(t, err)
	col := startPushConsumer(t, c, "relay-group", topic, "*")
	testutil.WaitFor(t, 30*time.Second, func() bool { return col.count() == 1 })

	a, err := admin.New(client.NameServers(c.NameServerAddr))
	require.NoError(t, err)
	require.NoError(t, a.Start(ctx))
	defer a.Close()
	cc, err := a.ConsumerConnection(ctx, "relay-group")
	require.NoError(t, err)
	require.Len(t, cc.ConnectionSet, 1)
	id := cc.ConnectionSet[0].ClientID

	var ri *body.ConsumerRunningInfo
	// The official client cannot encode its running info (NaN rates) until
	// its statistics have samples: give it a minute.
	testutil.WaitFor(t, time.Minute, func() bool {
		ri, err = a.ConsumerRunningInfo(ctx, "relay-group", id, false)
		if err != nil {
			// The official client answers none now and then ("json marshal
			// error") while its queues change; ask again.
			t.Log(err)
			return false
		}
		return len(ri.MQTable) == 2
	})
	require.NotEmpty(t, ri.SubscriptionSet)

	r, err := a.ConsumeMessageDirectly(ctx, "relay-group", id, res.OffsetMsgID)
	require.NoError(t, err)
	require.Equal(t, body.CMResultSuccess, r.ConsumeResult)

	_, err = a.ConsumerRunningInfo(ctx, "relay-group", "no-such-client", false)
	require.ErrorContains(t, err, "not online")

	testutil.WaitFor(t, 10*time.Second, func() bool { // the client moves its offset after the handler returns
		st, err := a.ConsumerStatus(ctx, "relay-group", topic, "")
		require.NoError(t, err)
		var sum int64
		for _, off := range st[id] {
			sum += off
		}
		return len(st) == 1 && sum == 1
	})
}
