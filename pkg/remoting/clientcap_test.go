package remoting

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/stretchr/testify/require"
)

// The client's default cap is the server's default: a client with default
// settings never has more requests in flight on a connection than a server
// with default settings accepts.
func TestClientInflightDefaultMatchesServer(t *testing.T) {
	t.Parallel()
	require.Equal(t, DefaultServerConfig().MaxInflightPerConn, DefaultClientConfig().MaxInflightPerConn)
	require.Equal(t, DefaultMaxInflightPerConn, ClientConfig{}.withDefaults().MaxInflightPerConn)
	require.Error(t, ClientConfig{MaxInflightPerConn: -1}.Validate())
}

// A client capped at 2 requests in flight per connection waits for a slot
// instead of sending a third, so a server capped at 2 never refuses it.
func TestClientInflightCapWaits(t *testing.T) {
	t.Parallel()
	type parked struct {
		conn *Conn
		req  *protocol.Command
	}
	parkedCh := make(chan parked, 8)
	cfg := testServerConfig()
	cfg.MaxInflightPerConn = 2
	s := startServer(t, cfg, nil, func(s *Server) {
		s.Register(1, ProcessorFunc(func(_ context.Context, conn *Conn, req *protocol.Command) (*protocol.Command, error) {
			parkedCh <- parked{conn, req}
			return nil, nil // answered later; still counted by the client
		}), NewPool("p", 4, 16))
		s.Register(2, echo, NewPool("e", 4, 16))
	})
	c := newClient(t, ClientConfig{MaxInflightPerConn: 2}, nil)
	addr := s.Addr().String()
	first := invokeAsync(t, c, ctxTimeout(t, 5*time.Second), addr, protocol.NewRequest(1, nil))
	second := invokeAsync(t, c, ctxTimeout(t, 5*time.Second), addr, protocol.NewRequest(1, nil))
	p1, p2 := <-parkedCh, <-parkedCh

	// A third call waits for a slot: with a short deadline it fails without
	// being sent.
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Invoke(short, addr, protocol.NewRequest(2, nil))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	err = c.InvokeAsync(short, addr, protocol.NewRequest(2, nil), func(*protocol.Command, error) {})
	require.True(t, errors.Is(err, context.DeadlineExceeded), err)

	// Once an answer frees a slot the waiting call goes through.
	third := make(chan error, 1)
	go func() {
		resp, err := c.Invoke(ctxTimeout(t, 5*time.Second), addr, protocol.NewRequest(2, nil))
		if err == nil && resp.ResponseCode() != protocol.Success {
			err = errors.New(resp.Remark)
		}
		third <- err
	}()
	require.NoError(t, p1.conn.Reply(protocol.NewResponse(p1.req, protocol.Success, "")))
	require.NoError(t, <-third)
	require.NoError(t, p2.conn.Reply(protocol.NewResponse(p2.req, protocol.Success, "")))
	for _, ch := range []<-chan asyncResult{first, second} {
		r := <-ch
		require.NoError(t, r.err)
		require.Equal(t, protocol.Success, r.resp.ResponseCode())
	}
	conn, err := c.Conn(ctxTimeout(t, 5*time.Second), addr)
	require.NoError(t, err)
	require.Empty(t, conn.slots, "every slot given back")
}

// Calls waiting for a slot fail when the connection closes, and the slots of
// the calls it failed are given back.
func TestClientInflightCapConnClose(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{}, 4)
	s := startServer(t, testServerConfig(), nil, func(s *Server) {
		s.Register(1, ProcessorFunc(func(context.Context, *Conn, *protocol.Command) (*protocol.Command, error) {
			entered <- struct{}{}
			return nil, nil // never answered
		}), NewPool("p", 4, 16))
	})
	c := newClient(t, ClientConfig{MaxInflightPerConn: 1}, nil)
	addr := s.Addr().String()
	first := invokeAsync(t, c, ctxTimeout(t, 5*time.Second), addr, protocol.NewRequest(1, nil))
	<-entered
	conn, err := c.Conn(ctxTimeout(t, 5*time.Second), addr)
	require.NoError(t, err)
	waiting := make(chan error, 1)
	go func() {
		// On the Conn, not the Client: whether it waits for a slot or starts
		// after the close, it fails with ErrConnClosed (no redial).
		_, err := conn.Invoke(ctxTimeout(t, 5*time.Second), protocol.NewRequest(1, nil))
		waiting <- err
	}()
	c.CloseConn(addr)
	require.ErrorIs(t, (<-first).err, ErrConnClosed)
	require.ErrorIs(t, <-waiting, ErrConnClosed)
	require.Empty(t, conn.slots)
}

// A callback that blocks until a later callback runs does not hold that one
// up: the runner's watchdog gives the answers queued behind it a runner.
func TestBlockedCallbackDoesNotHoldOthers(t *testing.T) {
	t.Parallel()
	type parked struct {
		conn *Conn
		req  *protocol.Command
	}
	parkedCh := make(chan parked, 2)
	s := startServer(t, testServerConfig(), nil, func(s *Server) {
		s.Register(1, ProcessorFunc(func(_ context.Context, conn *Conn, req *protocol.Command) (*protocol.Command, error) {
			parkedCh <- parked{conn, req}
			return nil, nil
		}), NewPool("p", 4, 16))
	})
	c := newClient(t, ClientConfig{}, nil)
	conn, err := c.Conn(ctxTimeout(t, 5*time.Second), s.Addr().String())
	require.NoError(t, err)
	release := make(chan struct{})
	done := make(chan string, 2)
	firstRuns := make(chan struct{})
	require.NoError(t, conn.InvokeAsync(ctxTimeout(t, 5*time.Second), protocol.NewRequest(1, nil), func(_ *protocol.Command, err error) {
		assert(t, err)
		close(firstRuns)
		select {
		case <-release:
			done <- "first"
		case <-time.After(5 * time.Second):
			done <- "first timed out: the second callback never ran"
		}
	}))
	require.NoError(t, conn.InvokeAsync(ctxTimeout(t, 5*time.Second), protocol.NewRequest(1, nil), func(_ *protocol.Command, err error) {
		assert(t, err)
		done <- "second" // before the first is released, so it is first in done
		close(release)
	}))
	p1, p2 := <-parkedCh, <-parkedCh
	if p1.req.Opaque > p2.req.Opaque {
		p1, p2 = p2, p1
	}
	// The first answer, then (once its callback runs and blocks) the second.
	require.NoError(t, p1.conn.Reply(protocol.NewResponse(p1.req, protocol.Success, "")))
	<-firstRuns
	require.NoError(t, p2.conn.Reply(protocol.NewResponse(p2.req, protocol.Success, "")))
	require.Equal(t, "second", <-done)
	require.Equal(t, "first", <-done)
}

func assert(t *testing.T, err error) {
	if err != nil {
		t.Error(err)
	}
}
