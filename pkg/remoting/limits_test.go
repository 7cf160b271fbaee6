package remoting

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/pkg/protocol"
)

func TestLimitsPerAddress(t *testing.T) {
	t.Parallel()
	cfg := testServerConfig()
	cfg.MaxConnsPerAddr = 2
	s := startServer(t, cfg, nil, func(s *Server) { s.Register(protocol.GetBrokerConfig, echo, NewPool("p", 1, 10)) })
	a, b := dialRaw(t, s.Addr()), dialRaw(t, s.Addr())
	waitFor(t, 5*time.Second, func() bool { return s.ConnCount() == 2 })
	third := dialRaw(t, s.Addr())
	third.expectClosed(5 * time.Second)
	for _, r := range []*rawConn{a, b} {
		r.send(protocol.NewRequest(protocol.GetBrokerConfig, nil))
		resp, err := r.read(5 * time.Second)
		require.NoError(t, err)
		require.Equal(t, protocol.Success, resp.ResponseCode())
	}
	require.NoError(t, a.nc.Close())
	waitFor(t, 5*time.Second, func() bool { return s.ConnCount() == 1 })
	again := dialRaw(t, s.Addr())
	again.send(protocol.NewRequest(protocol.GetBrokerConfig, nil))
	_, err := again.read(5 * time.Second)
	require.NoError(t, err, "a closed connection frees its slot")
}

func TestRequestRateBucket(t *testing.T) {
	t.Parallel()
	l := newAddrLimiter(0, 10)
	ip := netip.MustParseAddr("10.0.0.1")
	require.True(t, l.admit(ip))
	now := time.Now()
	n := 0
	for l.allow(ip, now) {
		n++
	}
	require.Equal(t, 10, n, "a second's worth of burst")
	require.False(t, l.allow(ip, now))
	require.True(t, l.allow(ip, now.Add(150*time.Millisecond)), "tokens come back at the rate")
	l.release(ip)
	require.Empty(t, l.by)
}

func TestRateLimitAnswersSystemBusy(t *testing.T) {
	t.Parallel()
	cfg := testServerConfig()
	cfg.MaxRequestsPerSecondPerAddr = 3
	s := startServer(t, cfg, nil, func(s *Server) { s.Register(protocol.GetBrokerConfig, echo, NewPool("p", 1, 10)) })
	r := dialRaw(t, s.Addr())
	busy := 0
	for range 10 {
		r.send(protocol.NewRequest(protocol.GetBrokerConfig, nil))
		resp, err := r.read(5 * time.Second)
		require.NoError(t, err)
		if resp.ResponseCode() == protocol.SystemBusy {
			require.Contains(t, resp.Remark, "[RATE_LIMIT]")
			busy++
		}
	}
	require.GreaterOrEqual(t, busy, 5, "10 requests at once against a cap of 3 a second")
}
