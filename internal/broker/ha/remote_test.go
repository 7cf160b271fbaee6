package ha

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// brokerPort serves, over real remoting, what a Petrel master's broker port
// answers for a slave: GET_BROKER_RUNTIME_INFO (commit-log bounds) and, when
// digests is set, COMMITLOG_DIGEST through DigestProcessor.
func brokerPort(t testing.TB, m *store.Store, digests bool) string {
	t.Helper()
	cfg := remoting.DefaultServerConfig()
	cfg.ListenAddr = "127.0.0.1:0"
	srv, err := remoting.NewServer(cfg, nil)
	require.NoError(t, err)
	pool := remoting.NewPool("admin", 2, 64)
	srv.Register(protocol.GetBrokerRuntimeInfo, remoting.ProcessorFunc(func(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
		resp := protocol.NewResponse(req, protocol.Success, "")
		resp.Body = body.EncodeKVTable(map[string]string{
			"commitLogMinOffset": strconv.FormatInt(int64(m.CommitLogMinOffset()), 10),
			"commitLogMaxOffset": strconv.FormatInt(int64(m.CommitLogMaxOffset()), 10),
		})
		return resp, nil
	}), pool)
	if digests {
		srv.Register(RequestCodeCommitLogDigest, DigestProcessor(m), pool)
	}
	require.NoError(t, srv.Start(context.Background()))
	t.Cleanup(func() { _ = srv.Close() })
	return srv.Addr().String()
}

func remoteMaster(t testing.TB, addr string) RemoteMaster {
	cl := remoting.NewClient(remoting.DefaultClientConfig(), nil)
	t.Cleanup(func() { _ = cl.Close() })
	return RemoteMaster{Invoker: cl, Addr: func() string { return addr }}
}

func TestRemoteMaster(t *testing.T) {
	m := openStore(t, t.TempDir(), storeOpts{segSize: 64 << 10})
	defer m.Close()
	putMessages(t, m, 0, 300, 200, "a")
	rm := remoteMaster(t, brokerPort(t, m, true))
	ctx := context.Background()
	b, err := rm.Bounds(ctx)
	require.NoError(t, err)
	require.Equal(t, Bounds{Min: 0, Max: m.CommitLogMaxOffset()}, b)

	ranges := []Range{{0, 100}, {5000, 4096}, {m.CommitLogMaxOffset() - 10, 20}, {64 << 10, 1}}
	got, err := rm.Digests(ctx, ranges)
	require.NoError(t, err)
	want, err := LocalMaster{Src: m}.Digests(ctx, ranges)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.True(t, got[0].OK)
	require.False(t, got[2].OK, "past the end")
	require.NotEqual(t, got[0].Sum, got[1].Sum)

	// Malformed requests are refused with a remark, not a crash.
	cl := rm.Invoker
	for _, bad := range [][]byte{nil, {1, 2, 3}, EncodeDigestRanges([]Range{{0, 0}}), EncodeDigestRanges([]Range{{60 << 10, 8 << 10}}),
		EncodeDigestRanges(make([]Range, MaxDigestRanges+1))} {
		req := protocol.NewRequest(RequestCodeCommitLogDigest, map[string]string{"version": "1"})
		req.Body = bad
		resp, err := cl.Invoke(ctx, rm.Addr(), req)
		require.NoError(t, err)
		require.Equal(t, protocol.SystemError, resp.ResponseCode())
		require.NotEmpty(t, resp.Remark)
	}
	req := protocol.NewRequest(RequestCodeCommitLogDigest, nil)
	req.Body = EncodeDigestRanges(ranges)
	resp, err := cl.Invoke(ctx, rm.Addr(), req)
	require.NoError(t, err)
	require.Equal(t, protocol.SystemError, resp.ResponseCode(), "no version")

	// A RocketMQ broker does not know the code.
	_, err = remoteMaster(t, brokerPort(t, m, false)).Digests(ctx, ranges)
	require.ErrorIs(t, err, ErrDigestUnsupported)
	_, err = RemoteMaster{Invoker: cl, Addr: func() string { return "" }}.Bounds(ctx)
	require.ErrorIs(t, err, ErrNoMaster)
}

// TestDivergenceOverRemoting runs the divergence check through the broker
// port (remoting), as a broker wires it.
func TestDivergenceOverRemoting(t *testing.T) {
	p := newPair(t, storeOpts{segSize: 64 << 10})
	addr := brokerPort(t, p.m, true)
	p.master = func(*store.Store) Master { return remoteMaster(t, addr) }
	p.startServer()
	p.startClient()
	putMessages(t, p.m, 0, 400, 200, "a")
	p.waitCaughtUp(20 * time.Second)
	p.stopClient()
	putMessages(t, p.m, 400, 300, 200, "m")
	putMessages(t, p.s, 400, 300, 200, "s")
	p.startClient()
	putMessages(t, p.m, 700, 20, 200, "m")
	p.waitCaughtUp(30 * time.Second)
	requireSameLog(t, p.m, p.s, 0, p.m.CommitLogMaxOffset())
	requireSameQueues(t, p.m, p.s)
}
