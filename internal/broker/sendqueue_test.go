package broker

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/petrelmq/petrel/internal/broker/retry"
	"github.com/petrelmq/petrel/internal/broker/send"
	"github.com/petrelmq/petrel/internal/broker/txn"
	"github.com/petrelmq/petrel/internal/lifecycle"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/stretchr/testify/require"
)

// TestWriteGateRefusesEveryWrite: once Close has shut the write gate, every
// writer (sends, replies, send-backs, END_TRANSACTION) is refused with
// SERVICE_NOT_AVAILABLE instead of reaching a store that is closing.
func TestWriteGateRefusesEveryWrite(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(time.Unix(1000, 0))
	log := slog.New(slog.DiscardHandler)
	var gate lifecycle.Gate
	require.True(t, gate.Close(clk, time.Second))
	ctx := context.Background()

	snd := send.New(send.Config{BrokerName: "b"}, send.Deps{Gate: &gate, Clock: clk, Log: log})
	for _, code := range []protocol.RequestCode{protocol.SendMessage, protocol.SendReplyMessage} {
		req := protocol.NewRequest(code, map[string]string{"topic": "T"})
		var resp *protocol.Command
		var err error
		if code == protocol.SendMessage {
			resp, err = snd.ProcessSend(ctx, nil, req)
		} else {
			resp, err = snd.ProcessReply(ctx, nil, req)
		}
		require.NoError(t, err)
		require.Equal(t, protocol.ServiceNotAvailable, resp.ResponseCode(), resp.Remark)
	}

	rt := retry.New(retry.Deps{Gate: &gate, BrokerName: "b", Log: log})
	resp, err := rt.ProcessSendBack(ctx, nil, protocol.NewRequest(protocol.ConsumerSendMsgBack, nil))
	require.NoError(t, err)
	require.Equal(t, protocol.ServiceNotAvailable, resp.ResponseCode(), resp.Remark)

	tx := txn.New(txn.Config{BrokerName: "b"}, nil, nil, nil, &gate, clk, log)
	end := protocol.NewRequest(protocol.EndTransaction, map[string]string{"producerGroup": "pg", "msgId": "m",
		"tranStateTableOffset": "0", "commitLogOffset": "0", "commitOrRollback": "8", "fromTransactionCheck": "false"})
	resp, err = tx.ProcessEndTransaction(ctx, nil, end)
	require.NoError(t, err)
	require.Equal(t, protocol.ServiceNotAvailable, resp.ResponseCode(), resp.Remark)
	require.Zero(t, gate.InFlight(), "refused writes leave nothing admitted")
}
