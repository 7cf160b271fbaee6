package remoting

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/pkg/protocol"
)

// TestCloseWritesQueuedAnswers checks that answers a processor queued just before
// Close reach the peer: Close drains the write queues before closing sockets, so
// a broker that answered a send during shutdown does not lose the answer.
func TestCloseWritesQueuedAnswers(t *testing.T) {
	srv, err := NewServer(testServerConfig(), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	const n = 200
	var conns sync.Map
	started := make(chan struct{}, n)
	// The processor takes ownership of the answer, as the broker's send path
	// does, and the test answers all of them at once right before Close.
	var mu sync.Mutex
	var held []*protocol.Command
	pool := NewPool("test", 4, 1024)
	srv.Register(10, ProcessorFunc(func(_ context.Context, c *Conn, req *protocol.Command) (*protocol.Command, error) {
		conns.Store(c, true)
		mu.Lock()
		held = append(held, req)
		mu.Unlock()
		started <- struct{}{}
		return nil, nil
	}), pool)
	require.NoError(t, srv.Start(context.Background()))
	addr := srv.Addr().String()

	cl := newClient(t, ClientConfig{}, slog.New(slog.DiscardHandler))
	results := make(chan error, n)
	for range n {
		req := protocol.NewRequest(10, map[string]string{"k": strings.Repeat("v", 512)})
		require.NoError(t, cl.InvokeAsync(context.Background(), addr, req, func(_ *protocol.Command, err error) {
			results <- err
		}))
	}
	for range n {
		<-started
	}
	var c *Conn
	conns.Range(func(k, _ any) bool { c = k.(*Conn); return false })
	mu.Lock()
	for _, req := range held {
		require.NoError(t, c.Reply(protocol.NewResponse(req, protocol.Success, strings.Repeat("r", 4096))))
	}
	mu.Unlock()
	require.NoError(t, srv.Close())
	for range n {
		select {
		case err := <-results:
			require.NoError(t, err, "an answer queued before Close was dropped")
		case <-time.After(10 * time.Second):
			t.Fatal("answers did not arrive")
		}
	}
}

// TestReplyNeverBlocksOnAPeerThatDoesNotRead checks that answering a peer that
// never reads does not block the answering goroutine (in the broker that is the
// store's flusher or a long-poll runner, shared by every client), and that the
// peer is disconnected once its unread answers pass the hard cap (64 MiB).
func TestReplyNeverBlocksOnAPeerThatDoesNotRead(t *testing.T) {
	var mu sync.Mutex
	var held []*protocol.Command
	var conn *Conn
	cfg := testServerConfig()
	cfg.MaxInflightPerConn = 4096
	srv := startServer(t, cfg, slog.New(slog.DiscardHandler), func(s *Server) {
		s.Register(10, ProcessorFunc(func(_ context.Context, c *Conn, req *protocol.Command) (*protocol.Command, error) {
			mu.Lock()
			conn = c
			held = append(held, req)
			mu.Unlock()
			return nil, nil
		}), NewPool("test", 2, 4096))
	})
	// The peer has a small receive buffer and never reads.
	raw := dialRawSmallBuffer(t, srv.Addr(), 4096)
	const n = 2000 // 2000 answers of 64 KiB: twice the hard cap
	for i := range n {
		req := protocol.NewRequest(10, nil)
		req.Opaque = int32(i + 1)
		raw.send(req)
	}
	waitFor(t, 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(held) == n })

	big := strings.Repeat("x", 64<<10)
	var closedAt = -1
	var slowest time.Duration
	for i, req := range held {
		resp := protocol.NewResponse(req, protocol.Success, "")
		resp.Body = []byte(big)
		t0 := time.Now()
		err := conn.Reply(resp)
		slowest = max(slowest, time.Since(t0))
		if err != nil {
			require.ErrorIs(t, err, ErrConnClosed)
			closedAt = i
			break
		}
	}
	// A Reply that blocked would wait for the 30s WriteTimeout (or forever);
	// one that queues takes microseconds, milliseconds on a loaded machine.
	require.Less(t, slowest, 10*time.Second, "Reply blocked on a peer that does not read")
	require.Positive(t, closedAt, "the connection should close once unread answers pass the bound")
	select {
	case <-conn.Closed():
	case <-time.After(5 * time.Second):
		t.Fatal("connection not closed")
	}
}
