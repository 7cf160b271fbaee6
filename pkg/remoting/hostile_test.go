package remoting

import (
	"errors"
	"flag"
	"log/slog"
	"math/rand/v2"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/pkg/protocol"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomised tests (0: time-based)")

func testSeed(t *testing.T) uint64 {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed=%d)", seed, seed)
	return seed
}

// TestHostileInput drives a real server with bad frames and 1,000 half-open
// connections, and checks that a normal client is answered throughout, that each
// bad connection is closed with one log line, and that memory stays bounded.
// Not parallel: it measures the heap.
func TestHostileInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 0))
	logs := &recordingHandler{}
	cfg := testServerConfig()
	// The server must hold all 1,000 half-open connections at once, so these are
	// far above the ~0.4s (with -race) it takes to open them, even on a loaded
	// machine.
	cfg.FrameReadTimeout = 10 * time.Second
	cfg.IdleTimeout = 12 * time.Second
	s := startServer(t, cfg, slog.New(logs), func(s *Server) { s.Register(1, echo, NewPool("p", 2, 64)) })
	addr := s.Addr()
	client := newClient(t, ClientConfig{}, nil)
	ping := func() {
		t.Helper()
		var err error
		for range 3 { // the idle timeout may close the client's connection between pings
			var resp *protocol.Command
			resp, err = client.Invoke(ctxTimeout(t, 5*time.Second), addr.String(), protocol.NewRequest(1, map[string]string{"k": "v"}))
			if err == nil {
				require.Equal(t, "v", resp.Ext("k"))
				return
			}
			if !errors.Is(err, ErrConnClosed) {
				break
			}
		}
		require.NoError(t, err)
	}
	ping()

	truncatedJSON := []byte(`{"code":1,"lang`)
	frame := func(word uint32, rest []byte) []byte {
		b := make([]byte, 8, 8+len(rest))
		n := 4 + len(rest)
		b[0], b[1], b[2], b[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
		b[4], b[5], b[6], b[7] = byte(word>>24), byte(word>>16), byte(word>>8), byte(word)
		return append(b, rest...)
	}
	malformed := map[string][]byte{
		"2 GiB length":             {0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0},
		"negative length":          {0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0},
		"min int32 length":         {0x80, 0, 0, 0},
		"length below 4":           {0, 0, 0, 2, 0, 0},
		"16 MiB + 1 length":        {0x01, 0, 0, 1, 0, 0, 0, 0},
		"header longer than frame": frame(0x00000100, []byte(`{"code":1}`)),
		"truncated JSON":           frame(uint32(len(truncatedJSON)), truncatedJSON),
		"unknown serialize type":   frame(0x05000002, []byte("{}")),
		"short ROCKETMQ header":    frame(0x01000004, []byte{0, 1, 9, 0}),
	}
	var localAddrs []string
	for name, b := range malformed {
		r := dialRaw(t, addr)
		localAddrs = append(localAddrs, r.nc.LocalAddr().String())
		_, err := r.nc.Write(b)
		require.NoError(t, err, name)
		r.expectClosed(5 * time.Second)
		ping()
	}
	// Random bytes: whatever they announce, the connection ends (bad length at
	// once, or a frame that never completes within FrameReadTimeout).
	var junkAddrs []string
	for range 5 {
		r := dialRaw(t, addr)
		junkAddrs = append(junkAddrs, r.nc.LocalAddr().String())
		junk := make([]byte, 1+rng.IntN(8192))
		for i := range junk {
			junk[i] = byte(rng.Uint32())
		}
		_, _ = r.nc.Write(junk)
		r.expectClosed(cfg.IdleTimeout + 10*time.Second)
		ping()
	}
	closeMsgs := []string{"remoting: closing connection: malformed frame", "remoting: closing connection: frame read timeout",
		"remoting: closing idle connection", "remoting: connection closed by peer", "remoting: connection lost"}
	// One log line per malformed connection, naming the peer. The server logs
	// just after closing the socket, so wait for every peer's line: a count alone
	// may be reached by the junk connections' lines first. Wait for the junk
	// connections' lines too, so none of them is counted with the half-open
	// connections' below.
	peers := map[string]int{}
	waitFor(t, 5*time.Second, func() bool {
		clear(peers)
		for _, attrs := range logs.find("remoting: closing connection: malformed frame") {
			peers[attrs["peer"].String()]++
			require.NotEmpty(t, attrs["err"].String())
		}
		for _, a := range localAddrs {
			if peers[a] == 0 {
				return false
			}
		}
		closed := map[string]bool{}
		for _, msg := range closeMsgs {
			for _, attrs := range logs.find(msg) {
				closed[attrs["peer"].String()] = true
			}
		}
		for _, a := range junkAddrs {
			if !closed[a] {
				return false
			}
		}
		return true
	})
	for _, a := range localAddrs {
		require.Equal(t, 1, peers[a], "exactly one log line for %s", a)
	}

	// 1,000 half-open connections: silent, a partial length field, or a 16 MiB
	// frame announced with only part of it sent.
	const halfOpen = 1000
	timeoutsBefore := len(logs.find("remoting: closing connection: frame read timeout"))
	var before, during runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	conns := make([]net.Conn, 0, halfOpen)
	t.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
	})
	dialStart := time.Now()
	bigHeader := append([]byte{0x01, 0, 0, 0, 0, 0, 0, 10}, `{"code":1}`...)
	partialBody := make([]byte, 60<<10)
	for i := range halfOpen {
		nc, err := net.Dial("tcp", addr.String())
		require.NoError(t, err)
		conns = append(conns, nc)
		switch i % 4 {
		case 0: // nothing
		case 1:
			_, err = nc.Write([]byte{0, 0})
		case 2:
			_, err = nc.Write(bigHeader)
		case 3:
			if _, err = nc.Write(bigHeader); err == nil {
				_, err = nc.Write(partialBody)
			}
		}
		require.NoError(t, err)
		if i%100 == 0 {
			ping() // answered during the flood
		}
	}
	// Wait until the server holds them all, then measure what they cost it.
	waitFor(t, cfg.FrameReadTimeout, func() bool { return s.ConnCount() >= halfOpen })
	t.Logf("%d connections opened and held in %s", halfOpen, time.Since(dialStart))
	ping()
	runtime.GC()
	runtime.ReadMemStats(&during)
	growth := int64(during.HeapAlloc) - int64(before.HeapAlloc) + int64(during.StackInuse) - int64(before.StackInuse)
	t.Logf("%d half-open connections: heap %+.1f MiB, stacks %+.1f MiB (total %+.1f MiB)", halfOpen,
		float64(int64(during.HeapAlloc)-int64(before.HeapAlloc))/(1<<20),
		float64(int64(during.StackInuse)-int64(before.StackInuse))/(1<<20), float64(growth)/(1<<20))
	require.Less(t, growth, int64(200<<20), "memory must not follow the announced frame sizes (500 x 16 MiB)")

	// The timeouts close every one of them; the server still answers afterwards.
	waitFor(t, cfg.IdleTimeout+30*time.Second, func() bool { return s.ConnCount() <= 1 })
	ping()
	require.Len(t, logs.find("remoting: closing connection: frame read timeout"), timeoutsBefore+3*halfOpen/4)
	require.GreaterOrEqual(t, len(logs.find("remoting: closing idle connection")), halfOpen/4)

	// At most one close line per connection.
	perConn := map[uint64]int{}
	for _, msg := range closeMsgs {
		for _, attrs := range logs.find(msg) {
			perConn[attrs["conn"].Uint64()]++
		}
	}
	for id, n := range perConn {
		require.Equal(t, 1, n, "conn %d logged %d close lines", id, n)
	}
}
