package admin_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
)

// TestCreateTopicWithDedupWindow turns a topic's de-duplication window on
// with TopicSpec.Attributes: a message sent twice with one key is stored
// once. A bad attribute is refused with the broker's reason.
func TestCreateTopicWithDedupWindow(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t)
	ctx := t.Context()
	a, err := admin.New(client.NameServers(c.NameServerAddr))
	require.NoError(t, err)
	require.NoError(t, a.Start(ctx))
	defer a.Close()
	err = a.CreateTopic(ctx, c.BrokerAddr, admin.TopicSpec{Topic: "AttrT", ReadQueues: 1, WriteQueues: 1,
		Attributes: "+duplicateWindowSeconds=-5"})
	require.ErrorIs(t, err, protocol.ErrSystemError)
	require.ErrorContains(t, err, "duplicateWindowSeconds")
	require.NoError(t, a.CreateTopic(ctx, c.BrokerAddr, admin.TopicSpec{Topic: "AttrT", ReadQueues: 1, WriteQueues: 1,
		Attributes: "+duplicateWindowSeconds=300"}))

	p, err := producer.New(client.NameServers(c.NameServerAddr), producer.Idempotent())
	require.NoError(t, err)
	require.NoError(t, p.Start(ctx))
	defer p.Close()
	var ids []string
	for range 2 {
		m := producer.NewMessage("AttrT", []byte("x"))
		m.SetProperty(message.PropertyDedupKey, "order-1")
		res, err := p.Send(ctx, m)
		require.NoError(t, err)
		ids = append(ids, res.OffsetMsgID)
	}
	require.Equal(t, ids[0], ids[1])
	q := message.MessageQueue{Topic: "AttrT", BrokerName: "broker-a", QueueID: 0}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		n, err := a.MaxOffset(ctx, q)
		return err == nil && n == 1
	})
}
