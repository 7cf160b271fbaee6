package admin_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/protocol"
)

// ProducerConnection finds a producer group's online client on the masters
// of a topic (GET_PRODUCER_CONNECTION_LIST); a group with no client online is
// the broker's SYSTEM_ERROR, wrapped.
func TestProducerConnection(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t)
	ctx := t.Context()
	a, err := admin.New(client.NameServers(c.NameServerAddr))
	require.NoError(t, err)
	require.NoError(t, a.Start(ctx))
	defer a.Close()
	p, err := producer.New(client.NameServers(c.NameServerAddr), producer.Group("conn-pg"))
	require.NoError(t, err)
	require.NoError(t, p.Start(ctx))
	defer p.Close()
	_, err = p.Send(ctx, producer.NewMessage("ProducerConnT", []byte("x")))
	require.NoError(t, err)

	testutil.WaitFor(t, 15*time.Second, func() bool {
		pc, err := a.ProducerConnection(ctx, "conn-pg", "ProducerConnT")
		return err == nil && len(pc.ConnectionSet) == 1
	})
	pc, err := a.ProducerConnection(ctx, "conn-pg", "ProducerConnT")
	require.NoError(t, err)
	conn := pc.ConnectionSet[0]
	require.Equal(t, p.Client().ID(), conn.ClientID)
	require.Equal(t, "GO", conn.Language)
	require.NotEmpty(t, conn.ClientAddr)

	_, err = a.ProducerConnection(ctx, "no-such-pg", "ProducerConnT")
	var pe *protocol.Error
	require.ErrorAs(t, err, &pe)
	require.Equal(t, protocol.SystemError, pe.Code)
	require.ErrorContains(t, err, "no-such-pg")
	_, err = a.ProducerConnection(ctx, "conn-pg", "NoSuchTopic")
	require.ErrorIs(t, err, protocol.ErrTopicNotExist)
}
