package remoting

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/petrelmq/petrel/pkg/protocol"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitFor polls fn until it returns true or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// recordingHandler is a slog.Handler that keeps every record.
type recordingHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

// find returns the records with message msg, and their attributes by key.
func (h *recordingHandler) find(msg string) []map[string]slog.Value {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]slog.Value
	for _, r := range h.records {
		if r.Message != msg {
			continue
		}
		attrs := map[string]slog.Value{}
		r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value; return true })
		out = append(out, attrs)
	}
	return out
}

func testServerConfig() ServerConfig {
	cfg := DefaultServerConfig()
	cfg.ListenAddr = "127.0.0.1:0"
	return cfg
}

// startServer starts a server with cfg, lets setup register processors, and closes
// it when the test ends.
func startServer(t testing.TB, cfg ServerConfig, log *slog.Logger, setup func(*Server)) *Server {
	t.Helper()
	s, err := NewServer(cfg, log)
	require.NoError(t, err)
	if setup != nil {
		setup(s)
	}
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func newClient(t testing.TB, cfg ClientConfig, log *slog.Logger) *Client {
	t.Helper()
	c := NewClient(cfg, log)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

// echo answers with the request's ext fields and body, and the code in "code".
var echo = ProcessorFunc(func(_ context.Context, _ *Conn, req *protocol.Command) (*protocol.Command, error) {
	resp := protocol.NewResponse(req, protocol.Success, "")
	for k, v := range req.ExtFields {
		resp.SetExt(k, v)
	}
	resp.Body = req.Body
	return resp, nil
})

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// rawConn speaks frames by hand, to test what goes on the wire.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	fr *protocol.FrameReader
}

func dialRaw(t testing.TB, addr net.Addr) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr.String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	return &rawConn{t: t, nc: nc, fr: protocol.NewFrameReader(bufio.NewReader(nc), 0)}
}

// dialRawSmallBuffer is dialRaw with a receive buffer of about rcvBuf bytes set
// before connecting, for a peer that reads its answers slowly or not at all.
func dialRawSmallBuffer(t testing.TB, addr net.Addr, rcvBuf int) *rawConn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		if cerr := rc.Control(func(fd uintptr) { err = setRcvBuf(fd, rcvBuf) }); cerr != nil {
			return cerr
		}
		return err
	}}
	nc, err := d.Dial("tcp", addr.String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	return &rawConn{t: t, nc: nc, fr: protocol.NewFrameReader(bufio.NewReader(nc), 0)}
}

func (r *rawConn) send(c *protocol.Command) {
	r.t.Helper()
	frame, err := protocol.AppendFrame(nil, c)
	require.NoError(r.t, err)
	_, err = r.nc.Write(frame)
	require.NoError(r.t, err)
}

func (r *rawConn) read(timeout time.Duration) (*protocol.Command, error) {
	_ = r.nc.SetReadDeadline(time.Now().Add(timeout))
	return r.fr.Read()
}

// expectClosed reads until the server closes the connection.
func (r *rawConn) expectClosed(timeout time.Duration) {
	r.t.Helper()
	_ = r.nc.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 4096)
	for {
		_, err := r.nc.Read(buf)
		if err == nil {
			continue
		}
		require.False(r.t, errors.Is(err, os.ErrDeadlineExceeded), "server did not close the connection within %s", timeout)
		return
	}
}
