package remoting

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/pkg/protocol"
)

// The tests in this file measure the heap, so they do not run in parallel.

// heapInuse returns the heap in use after a full collection, in bytes. It is what
// the server holds, not what it has allocated: garbage is collected first.
func heapInuse() int64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC() // a second cycle frees what the first one's finalisers released
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// serverConns returns the server's open connections.
func serverConns(s *Server) []*Conn { return s.h.connList() }

// logServerState logs what the server's connections and budget hold, for a
// failure.
func logServerState(t *testing.T, s *Server) {
	t.Helper()
	for _, c := range serverConns(s) {
		t.Logf("%s: queued %d bytes, %d parked, reader waits %v, %d in flight",
			c, c.queued.Load(), c.nparked.Load(), c.readerWaits.Load(), c.inflight.Load())
	}
	b := s.Budget()
	t.Logf("budget: used %d, answers %d, parked conns %d, waiting readers %d; accepted %d",
		b.Used(), b.Answers(), b.parkedN.Load(), b.waiters.Load(), s.accepted.Load())
}

// parkedTotal sums the requests parked on the server's connections.
func parkedTotal(s *Server) int64 {
	n := int64(0)
	for _, c := range serverConns(s) {
		n += int64(c.nparked.Load())
	}
	return n
}

// TestPipeliningPeersThatDoNotReadStayWithinBudget is the first scenario of issue
// #10 item 4: connections that pipeline requests whose answers are large (as
// pulls are) and never read them. Before the budget, each connection queued
// answers until its 64 MiB overflow cap, so 32 such connections took the broker
// to 2-3 GB. Now a connection whose write queue reaches the high-water mark is
// not read from, its requests already accepted wait (parked, holding no worker),
// and so do everyone's once answers fill half the budget: the heap stays near the
// budget. Once the peers read, every request is answered; once they close, the
// memory comes back.
func TestPipeliningPeersThatDoNotReadStayWithinBudget(t *testing.T) {
	t.Run("write high water", func(t *testing.T) {
		// Few connections, a big budget: each one stops at its high-water mark.
		testPipelining(t, pipeliningCase{conns: 4, budget: 64 << 20, highWater: 512 << 10,
			wantLog: "remoting: connection paused: peer does not read its answers"})
	})
	t.Run("budget", func(t *testing.T) {
		// More connections, a small budget: answers fill half of it first.
		testPipelining(t, pipeliningCase{conns: 8, budget: 16 << 20, highWater: 4 << 20,
			wantLog: "remoting: memory budget: unwritten answers fill half of it; requests wait"})
	})
}

type pipeliningCase struct {
	conns     int
	budget    int64
	highWater int64
	wantLog   string
}

func testPipelining(t *testing.T, tc pipeliningCase) {
	const (
		perConn    = 200
		answerSize = 64 << 10
		workers    = 4
	)
	logs := &recordingHandler{}
	cfg := testServerConfig()
	cfg.MaxFrameSize = 1 << 20
	cfg.MemoryBudget = tc.budget
	cfg.WriteHighWater = tc.highWater
	answer := make([]byte, answerSize)
	var processed atomic.Int64
	s := startServer(t, cfg, slog.New(logs), func(s *Server) {
		s.Register(11, ProcessorFunc(func(_ context.Context, _ *Conn, req *protocol.Command) (*protocol.Command, error) {
			processed.Add(1)
			resp := protocol.NewResponse(req, protocol.Success, "")
			resp.Body = answer // encoded into a frame of its own per answer
			return resp, nil
		}), NewPool("pull", workers, 100000))
	})
	request := func(opaque int) []byte {
		f, err := protocol.AppendFrame(nil, &protocol.Command{Code: 11, Opaque: int32(opaque),
			ExtFields: map[string]string{"topic": "T", "queueId": "0"}})
		require.NoError(t, err)
		return f
	}
	before := heapInuse()

	raws := make([]*rawConn, tc.conns)
	for i := range raws {
		raws[i] = dialRawSmallBuffer(t, s.Addr(), 4096)
		var pipeline []byte
		for j := range perConn {
			pipeline = append(pipeline, request(j+1)...)
		}
		_, err := raws[i].nc.Write(pipeline)
		require.NoError(t, err)
	}

	// Quiescent: nothing queued or running (every accepted request is parked),
	// and the state holds still across polls.
	var last [3]int64
	stable := 0
	waitFor(t, 30*time.Second, func() bool {
		acc := s.accepted.Load()
		now := [3]int64{acc, processed.Load(), s.budget.Used()}
		if acc == 0 || acc != parkedTotal(s) || now != last {
			last, stable = now, 0
			return false
		}
		stable++
		return stable >= 5
	})
	during := heapInuse()
	b := s.Budget()
	t.Logf("quiescent: %d of %d requests answered, %d parked; budget used %.1f MiB (answers %.1f MiB) of %.0f MiB; heap %+.1f MiB (unbounded: %d MiB)",
		processed.Load(), tc.conns*perConn, s.accepted.Load(), mib(b.Used()), mib(b.Answers()), mib(tc.budget),
		mib(during-before), tc.conns*perConn*answerSize>>20)
	// Answers stop at half the budget, or at each connection's high-water
	// mark, plus those already being made; requests are small.
	// (Each connection may pass its mark by the answers of the requests that
	// were running when it reached it, at most one per worker.)
	perAnswer := int64(answerSize + 1024)
	maxAnswers := min(tc.budget/2+workers*perAnswer, int64(tc.conns)*(tc.highWater+workers*perAnswer))
	require.LessOrEqual(t, b.Answers(), maxAnswers)
	require.Less(t, during-before, maxAnswers+tc.budget/4, "heap growth")

	if tc.budget/2 > int64(tc.conns)*tc.highWater {
		// Every connection is over its high-water mark: a new request from
		// it is not read (it stays in the socket) until the peer reads.
		accepted := s.accepted.Load()
		for i, r := range raws {
			_, err := r.nc.Write(request(perConn + 1 + i))
			require.NoError(t, err)
		}
		waitFor(t, 10*time.Second, func() bool {
			for _, c := range serverConns(s) {
				if !c.readerWaits.Load() {
					return false
				}
			}
			return true
		})
		require.Equal(t, accepted, s.accepted.Load(), "a request was read from a paused connection")
	}
	require.NotEmpty(t, logs.find(tc.wantLog))

	// The peers read now: every request is answered, in full.
	var wg sync.WaitGroup
	for _, r := range raws {
		wg.Go(func() {
			seen := map[int32]bool{}
			want := perConn
			if tc.budget/2 > int64(tc.conns)*tc.highWater {
				want++
			}
			for len(seen) < want {
				resp, err := r.read(30 * time.Second)
				if err != nil {
					t.Errorf("after %d answers: %v", len(seen), err)
					logServerState(t, s)
					return
				}
				if resp.ResponseCode() != protocol.Success || len(resp.Body) != answerSize || seen[resp.Opaque] {
					t.Errorf("bad answer: code %d, %d bytes, opaque %d (seen %v)", resp.Code, len(resp.Body), resp.Opaque, seen[resp.Opaque])
					return
				}
				seen[resp.Opaque] = true
			}
		})
	}
	wg.Wait()

	// The peers go away: the budget is all given back, and so is the memory.
	for _, r := range raws {
		_ = r.nc.Close()
	}
	waitFor(t, 10*time.Second, func() bool { return s.ConnCount() == 0 && b.Used() == 0 && s.accepted.Load() == 0 })
	after := heapInuse()
	t.Logf("after close: heap %+.1f MiB", mib(after-before))
	require.Less(t, after-before, int64(4<<20), "memory comes back once the peers close")
}

// TestHugeFramesSentSlowlyStayWithinBudget is the second scenario: connections
// that each send a frame of 16 MiB - 1 bytes. Before, each one was read whole, so
// memory grew with their number. Now a large frame needs a reservation of its
// whole length (from three quarters of the budget) before its body is read;
// connections without one wait, their bytes left in the kernel, and small
// requests from others are still served.
func TestHugeFramesSentSlowlyStayWithinBudget(t *testing.T) {
	const (
		conns  = 6
		budget = 64 << 20
	)
	logs := &recordingHandler{}
	cfg := testServerConfig()
	cfg.MemoryBudget = budget
	cfg.FrameReadTimeout = 2 * time.Minute // the waiting frames must outlive the test
	// One body for every sender (read-only), allocated before measuring.
	hdr := []byte(`{"code":10,"flag":0,"opaque":1}`)
	length := protocol.DefaultMaxFrameSize - 1
	body := make([]byte, length-4-len(hdr))
	entered := make(chan struct{}, conns)
	release := make(chan struct{})
	s := startServer(t, cfg, slog.New(logs), func(s *Server) {
		s.Register(10, ProcessorFunc(func(_ context.Context, _ *Conn, req *protocol.Command) (*protocol.Command, error) {
			entered <- struct{}{}
			<-release // holds the request, and its reservation, until the test lets go
			if len(req.Body) != len(body) {
				return protocol.NewResponse(req, protocol.SystemError, "short body"), nil
			}
			return protocol.NewResponse(req, protocol.Success, ""), nil
		}), NewPool("send", conns, conns))
		s.Register(1, echo, NewPool("ping", 1, 16))
	})
	prefix := binary.BigEndian.AppendUint32(nil, uint32(length))
	prefix = binary.BigEndian.AppendUint32(prefix, uint32(len(hdr)))
	prefix = append(prefix, hdr...)
	before := heapInuse()

	var wg sync.WaitGroup
	results := make(chan error, conns)
	for range conns {
		r := dialRaw(t, s.Addr())
		wg.Go(func() {
			if _, err := r.nc.Write(prefix); err != nil {
				results <- err
				return
			}
			for off := 0; off < len(body); off += 256 << 10 { // slowly: in pieces
				if _, err := r.nc.Write(body[off:min(off+256<<10, len(body))]); err != nil {
					results <- err
					return
				}
			}
			resp, err := r.read(time.Minute)
			if err == nil && resp.ResponseCode() != protocol.Success {
				err = errors.New(resp.Remark)
			}
			results <- err
		})
	}
	// Three frames of 16 MiB fit in three quarters of 64 MiB: they are read and
	// held by the processor; the others wait for the budget.
	for range 3 {
		<-entered
	}
	b := s.Budget()
	waitFor(t, 30*time.Second, func() bool { return b.waiters.Load() == conns-3 })
	during := heapInuse()
	t.Logf("3 frames held, %d waiting: budget used %.1f MiB of %.0f MiB; heap %+.1f MiB (unbounded: %d MiB)",
		b.waiters.Load(), mib(b.Used()), mib(budget), mib(during-before), conns*16)
	require.Less(t, during-before, int64(budget), "heap growth within the budget")
	select {
	case <-entered:
		t.Fatal("a fourth large frame was read beyond the budget's share")
	default:
	}
	require.NotEmpty(t, logs.find("remoting: memory budget exhausted; reading paused"))

	// Small requests still go through.
	cl := newClient(t, ClientConfig{}, nil)
	resp, err := cl.Invoke(ctxTimeout(t, 10*time.Second), s.Addr().String(), protocol.NewRequest(1, map[string]string{"k": "v"}))
	require.NoError(t, err)
	require.Equal(t, "v", resp.Ext("k"))

	close(release)
	wg.Wait()
	close(results)
	for err := range results {
		require.NoError(t, err)
	}
	waitFor(t, 10*time.Second, func() bool { return b.Used() == 0 && s.accepted.Load() == 0 })
	after := heapInuse()
	t.Logf("all %d answered: heap %+.1f MiB", conns, mib(after-before))
	require.Less(t, after-before, int64(4<<20), "memory comes back")
}

// A huge remark or extFields is refused from the frame's first bytes: the
// connection is closed with one log line naming the peer and the limit, and costs
// the server next to nothing. Before, a 15 MiB JSON remark was read, decoded and
// queued for a worker (about 300 MB on either server).
func TestHugeHeaderFieldsAreRefused(t *testing.T) {
	logs := &recordingHandler{}
	var calls atomic.Int32
	s := startServer(t, testServerConfig(), slog.New(logs), func(s *Server) {
		s.Register(10, ProcessorFunc(func(_ context.Context, _ *Conn, req *protocol.Command) (*protocol.Command, error) {
			calls.Add(1)
			return protocol.NewResponse(req, protocol.Success, ""), nil
		}), NewPool("p", 1, 16))
	})
	frame := func(st protocol.SerializeType, hdr []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(4+len(hdr)))
		b = binary.BigEndian.AppendUint32(b, uint32(st)<<24|uint32(len(hdr)))
		return append(b, hdr...)
	}
	rmqRemark := func(n int) []byte {
		h := []byte{0, 10, 0, 1, 0x99, 0, 0, 0, 1, 0, 0, 0, 0}
		h = binary.BigEndian.AppendUint32(h, uint32(n))
		h = append(h, strings.Repeat("r", n)...)
		return binary.BigEndian.AppendUint32(h, 0)
	}
	cases := []struct {
		name, reason string
		frame        []byte
	}{
		{"15 MiB JSON remark", "header length", frame(protocol.SerializeJSON,
			[]byte(`{"code":10,"remark":"`+strings.Repeat("r", 15<<20)+`"}`))},
		{"100 KiB JSON remark", "remark of 102400 bytes", frame(protocol.SerializeJSON,
			[]byte(`{"code":10,"remark":"`+strings.Repeat("r", 100<<10)+`"}`))},
		{"100 KiB ROCKETMQ remark", "remark of 102400 bytes", frame(protocol.SerializeRocketMQ, rmqRemark(100<<10))},
		{"600 KiB extFields", "extFields exceed", frame(protocol.SerializeJSON,
			[]byte(`{"code":10,"extFields":{"a":"`+strings.Repeat("v", 300<<10)+`","b":"`+strings.Repeat("v", 300<<10)+`"}}`))},
	}
	before := heapInuse()
	for _, tc := range cases {
		r := dialRaw(t, s.Addr())
		peer := r.nc.LocalAddr().String()
		go func() { _, _ = r.nc.Write(tc.frame) }() // the server may close before it is all sent
		r.expectClosed(10 * time.Second)
		waitFor(t, 5*time.Second, func() bool {
			for _, attrs := range logs.find("remoting: closing connection: malformed frame") {
				if attrs["peer"].String() == peer {
					require.Contains(t, attrs["err"].String(), tc.reason, tc.name)
					return true
				}
			}
			return false
		})
	}
	growth := heapInuse() - before
	t.Logf("heap after refusing %d huge headers: %+.1f MiB", len(cases), mib(growth))
	require.Less(t, growth, int64(4<<20))
	require.Zero(t, calls.Load(), "no refused request reached a processor")
	require.Zero(t, s.Budget().Used())

	// Within the limits, a request is served as before.
	r := dialRaw(t, s.Addr())
	r.send(&protocol.Command{Code: 10, Opaque: 7, Remark: strings.Repeat("r", protocol.RemarkSizeLimit)})
	resp, err := r.read(5 * time.Second)
	require.NoError(t, err)
	require.Equal(t, int32(7), resp.Opaque)
}
