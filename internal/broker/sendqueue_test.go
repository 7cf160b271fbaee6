package broker

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/remoting"
	"github.com/stretchr/testify/require"
)

// TestSendQueueTimeoutClean: a send that waited in the broker's send queue
// longer than waitTimeMillsInSendQueue is answered SYSTEM_BUSY
// [TIMEOUT_CLEAN_QUEUE] without reaching the store. The broker is not
// started: a remoting server feeds acceptSend, the test advances the manual
// clock while the request is queued, then runs one send worker.
func TestSendQueueTimeoutClean(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(time.Unix(1000, 0))
	cfg := DefaultConfig()
	cfg.Store.RootDir = t.TempDir()
	cfg.WaitTimeInSendQueue = 200 * time.Millisecond
	b, err := New(cfg, nil, clk)
	require.NoError(t, err)

	srv, err := remoting.NewServer(func() remoting.ServerConfig { c := cfg.Remoting; c.ListenAddr = "127.0.0.1:0"; return c }(), nil)
	require.NoError(t, err)
	srv.Register(protocol.SendMessage, remoting.ProcessorFunc(b.acceptSend), remoting.NewPool("send", 1, 16))
	require.NoError(t, srv.Start(context.Background()))
	t.Cleanup(func() { _ = srv.Close() })
	cl := remoting.NewClient(remoting.ClientConfig{}, nil)
	t.Cleanup(func() { _ = cl.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		resp *protocol.Command
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := cl.Invoke(ctx, srv.Addr().String(), protocol.NewRequest(protocol.SendMessage, map[string]string{"topic": "T"}))
		done <- result{resp, err}
	}()
	waitUntil(t, func() bool { return len(b.sendQ) == 1 })
	clk.Advance(201 * time.Millisecond)

	wctx, wcancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); b.sendWorker(wctx) }()
	r := <-done
	wcancel()
	wg.Wait()
	require.NoError(t, r.err)
	require.Equal(t, protocol.SystemBusy, r.resp.ResponseCode(), r.resp.Remark)
	require.True(t, strings.HasPrefix(r.resp.Remark, "[TIMEOUT_CLEAN_QUEUE]broker busy"), r.resp.Remark)
	require.Contains(t, r.resp.Remark, "period in queue: 201ms")
	require.False(t, b.gate.close(), "the refused send left the write gate")
}

// TestWriteGateRefusesEveryWrite: once Close has shut the write gate, the
// other writers (END_TRANSACTION and SEND_REPLY besides sends and send-backs)
// are refused too instead of reaching a store that is closing.
func TestWriteGateRefusesEveryWrite(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Store.RootDir = t.TempDir()
	b, err := New(cfg, nil, clock.NewManual(time.Unix(1000, 0)))
	require.NoError(t, err)
	require.False(t, b.gate.close())

	end := protocol.NewRequest(protocol.EndTransaction, map[string]string{"producerGroup": "pg",
		"tranStateTableOffset": "0", "commitLogOffset": "0", "commitOrRollback": "8", "fromTransactionCheck": "false"})
	resp, err := b.processEndTransaction(context.Background(), nil, end)
	require.NoError(t, err)
	require.Equal(t, protocol.ServiceNotAvailable, resp.ResponseCode(), resp.Remark)

	reply := protocol.NewRequest(protocol.SendReplyMessage, map[string]string{"topic": "T"})
	resp, err = b.processSendReply(context.Background(), nil, reply)
	require.NoError(t, err)
	require.Equal(t, protocol.ServiceNotAvailable, resp.ResponseCode(), resp.Remark)

	resp, err = b.processSendBack(context.Background(), nil, protocol.NewRequest(protocol.ConsumerSendMsgBack, nil))
	require.NoError(t, err)
	require.Equal(t, protocol.ServiceNotAvailable, resp.ResponseCode(), resp.Remark)
}
