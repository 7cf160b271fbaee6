package broker_test

import (
	"strconv"
	"testing"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/stretchr/testify/require"
)

// pullCount pulls queue 0 of topic from offset 0 asking for maxMsgNums and
// returns how many messages came back.
func (r *rawBroker) pullCount(topic string, maxMsgNums int) int {
	r.t.Helper()
	ext := pullExt("g", topic, 0, 0, 4, "*", 0)
	ext["maxMsgNums"] = strconv.Itoa(maxMsgNums)
	resp := r.call(protocol.PullMessage, ext, nil)
	require.Equal(r.t, protocol.Success, resp.ResponseCode(), resp.Remark)
	msgs, err := message.DecodeMessages(resp.Body)
	require.NoError(r.t, err)
	require.Equal(r.t, strconv.Itoa(len(msgs)), resp.Ext("nextBeginOffset"))
	return len(msgs)
}

func (r *rawBroker) fill(topic string, n int) {
	r.t.Helper()
	r.createTopic(topic, 1, 6)
	for i := range n {
		resp := r.send(topic, 0, "", "m"+strconv.Itoa(i))
		require.Equal(r.t, protocol.Success, resp.ResponseCode(), resp.Remark)
	}
	r.waitMax(topic, 0, int64(n))
}

// With RocketMQ's defaults a pull returns at most 32 messages
// (maxTransferCountOnMessageInMemory), however many the client asks for.
func TestPullBatchDefaultCap(t *testing.T) {
	t.Parallel()
	r := startRaw(t)
	r.fill("Batch", 100)
	require.Equal(t, 10, r.pullCount("Batch", 10))
	require.Equal(t, 32, r.pullCount("Batch", 256))
}

// Raising maxTransferCountOnMessageInMemory lets a pull return what the client
// asks for, up to the new cap; the byte cap still applies.
func TestPullBatchConfiguredCap(t *testing.T) {
	t.Parallel()
	r := startRaw(t, testutil.WithBrokerConfig(func(c *broker.Config) {
		c.Store.MaxTransferCountInMemory = 64
		c.Store.MaxTransferBytesInMemory = 1 << 20
	}))
	r.fill("Batch", 100)
	require.Equal(t, 50, r.pullCount("Batch", 50))
	require.Equal(t, 64, r.pullCount("Batch", 256))

	r2 := startRaw(t, testutil.WithBrokerConfig(func(c *broker.Config) {
		c.Store.MaxTransferCountInMemory = 1000
		c.Store.MaxTransferBytesInMemory = 256 // two 100+-byte records at most
	}))
	r2.fill("Bytes", 10)
	n := r2.pullCount("Bytes", 256)
	require.Less(t, n, 10)
	require.Positive(t, n)
}
