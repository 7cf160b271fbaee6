//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// TestBenchSendThroughput measures the official Go client's SendSync of 1 KiB
// messages against the real `petrel standalone` binary on loopback: one
// producer shared by 64 goroutines (one TCP connection, as an application with
// one producer has), for ASYNC_FLUSH and SYNC_FLUSH. Each run starts a fresh
// broker on a fresh store, sends a warm-up, then a fixed count, and reports
// messages/s, p50/p99 send latency, and the CPU time (utime+stime from
// /proc/<pid>/stat) of the broker process and of this (client) process per
// message.
//
// Two baselines run in the same loop, so ratios survive a noisy machine:
//   - fdatasync: 1 KiB pwrites into a preallocated file on the same disk, one
//     fdatasync per 64 records (what a perfect group commit of 64 senders costs);
//   - echo: Petrel's remoting client and server in this process, 64
//     goroutines sending 1 KiB SEND_MESSAGE_V2 frames answered at once with no
//     storage (the loopback RPC ceiling).
//
// It is not part of CI. Run it with:
//
//	PETREL_BENCH=1 go test -tags e2e -run TestBenchSendThroughput -v -count=1 -timeout 30m ./test/e2e/
//
// PETREL_BENCH_MSGS (default 50000) and PETREL_BENCH_RUNS (default 3) change the
// count per run and the number of runs per mode.
func TestBenchSendThroughput(t *testing.T) {
	if os.Getenv("PETREL_BENCH") == "" {
		t.Skip("benchmark: set PETREL_BENCH=1 to run")
	}
	if testutil.RaceEnabled {
		t.Skip("benchmark: the race detector would distort the client side")
	}
	msgs := envInt(t, "PETREL_BENCH_MSGS", 50_000)
	runs := envInt(t, "PETREL_BENCH_RUNS", 3)
	const warmup, conc = 5_000, 64

	results := map[string][]benchResult{}
	order := []string{"ASYNC_FLUSH", "SYNC_FLUSH", "echo", "fdatasync"}
	if s := os.Getenv("PETREL_BENCH_MODES"); s != "" {
		order = strings.Split(s, ",")
	}
	for r := range runs {
		for _, mode := range order {
			var res benchResult
			switch mode {
			case "echo":
				res = benchEcho(t, warmup, msgs, conc)
			case "fdatasync":
				res = benchFdatasync(t, msgs, conc)
			default:
				res = benchBroker(t, mode, warmup, msgs, conc)
			}
			t.Logf("run %d %-11s %s", r+1, mode, res)
			results[mode] = append(results[mode], res)
		}
	}

	// Per-run ratios: each run's broker numbers against the baseline measured
	// right after it.
	ratio := func(mode, base string) []float64 {
		var out []float64
		for i := range results[mode] {
			out = append(out, results[mode][i].rate/results[base][i].rate)
		}
		return out
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%d messages of 1 KiB per run after %d warm-up, %d concurrent senders, %d runs: median (min–max)\n", msgs, warmup, conc, runs)
	sb.WriteString("| mode | msgs/s | p50 ms | p99 ms | broker CPU µs/msg | client CPU µs/msg |\n")
	sb.WriteString("| --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, mode := range order {
		rs := results[mode]
		col := func(f func(benchResult) float64, format string) string {
			var v []float64
			for _, r := range rs {
				v = append(v, f(r))
			}
			return spread(v, format)
		}
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s | %s |\n", mode,
			col(func(r benchResult) float64 { return r.rate }, "%.0f"),
			col(func(r benchResult) float64 { return ms(r.p50) }, "%.2f"),
			col(func(r benchResult) float64 { return ms(r.p99) }, "%.2f"),
			col(func(r benchResult) float64 { return r.serverCPU }, "%.1f"),
			col(func(r benchResult) float64 { return r.clientCPU }, "%.1f"))
	}
	for _, r := range [][2]string{{"ASYNC_FLUSH", "echo"}, {"SYNC_FLUSH", "fdatasync"}, {"SYNC_FLUSH", "ASYNC_FLUSH"},
		{"SYNC_MASTER", "ASYNC_MASTER"}, {"ASYNC_MASTER", "ASYNC_FLUSH"}} {
		if len(results[r[0]]) > 0 && len(results[r[1]]) == len(results[r[0]]) {
			fmt.Fprintf(&sb, "%s ÷ %s msgs/s: %s\n", r[0], r[1], spread(ratio(r[0], r[1]), "%.2f"))
		}
	}
	t.Log(sb.String())
}

// benchResult is one measured run. For the baselines serverCPU is 0 (echo runs
// in this process, so its clientCPU covers both sides).
type benchResult struct {
	rate                 float64 // messages per second
	p50, p99             time.Duration
	serverCPU, clientCPU float64 // µs of CPU per message
}

func (r benchResult) String() string {
	return fmt.Sprintf("%8.0f msgs/s  p50 %6.2f ms  p99 %6.2f ms  broker CPU %5.1f µs/msg  client CPU %5.1f µs/msg",
		r.rate, ms(r.p50), ms(r.p99), r.serverCPU, r.clientCPU)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// spread formats the median and range of v.
func spread(v []float64, format string) string {
	if len(v) == 0 {
		return "-"
	}
	s := slices.Clone(v)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	if len(s) == 1 {
		return fmt.Sprintf(format, med)
	}
	return fmt.Sprintf(format+" ("+format+"–"+format+")", med, s[0], s[len(s)-1])
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, name)
	require.Positive(t, n, name)
	return n
}

// benchBroker runs one measured run against a fresh `petrel standalone`.
// Modes: ASYNC_FLUSH and SYNC_FLUSH (a standalone master alone), and
// ASYNC_MASTER and SYNC_MASTER (ASYNC_FLUSH, with a slave process following
// it; the slave's CPU is not counted).
func benchBroker(t *testing.T, mode string, warmup, n, conc int) benchResult {
	t.Helper()
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	var conf string
	switch mode {
	case "ASYNC_MASTER", "SYNC_MASTER":
		conf = writeBrokerConf(t, "flushDiskType=ASYNC_FLUSH", "brokerRole="+mode, "fastListenPort=-1",
			"haListenPort="+strconv.Itoa(freePort(t)))
	default:
		conf = writeBrokerConf(t, "flushDiskType="+mode)
	}
	s := startStandalone(t, conf, store, 0)
	if mode == "ASYNC_MASTER" || mode == "SYNC_MASTER" {
		slave := start(t, nil, "broker", "-c", writeBrokerConf(t,
			"brokerClusterName=DefaultCluster", "brokerName=broker-a", "brokerId=1", "brokerRole=SLAVE",
			"namesrvAddr="+s.ns, "brokerIP1=127.0.0.1", "listenPort="+strconv.Itoa(freePort(t)), "fastListenPort=-1",
			"storePathRootDir="+filepath.Join(dir, "slave")))
		slave.waitLog(brokerListenRe, 20*time.Second)
		testutil.WaitFor(t, 30*time.Second, func() bool { return runtimeTable(t, s.broker)["haInSyncSlaveNum"] == "1" })
		defer func() { _ = slave.stop(syscall.SIGTERM, 30*time.Second) }()
	} else {
		require.Contains(t, s.p.output(), "flushDiskType="+mode)
	}
	createTopic(t, newRawClient(t), s.broker, "Bench", 8)
	prod, shutdown := newOfficialProducer(t, s.ns)
	defer shutdown()

	body := make([]byte, 1024)
	for i := range body {
		body[i] = byte('a' + i%26)
	}
	send := func(ctx context.Context, i int) error {
		msg := primitive.NewMessage("Bench", body)
		msg.WithKeys([]string{"b-" + strconv.Itoa(i)})
		res, err := prod.SendSync(ctx, msg)
		if err == nil && res.Status != primitive.SendOK {
			err = fmt.Errorf("send status %v", res.Status)
		}
		return err
	}
	runConcurrent(t, warmup, conc, send)

	pid := s.p.cmd.Process.Pid
	srv0, cli0 := procCPU(t, pid), selfCPU(t)
	lat, wall := runConcurrent(t, n, conc, send)
	srv1, cli1 := procCPU(t, pid), selfCPU(t)
	require.NoError(t, s.p.stop(syscall.SIGTERM, 30*time.Second))
	return summarize(n, lat, wall, srv1-srv0, cli1-cli0)
}

// benchEcho measures the loopback RPC ceiling: Petrel's remoting client sends
// SEND_MESSAGE_V2 frames with 1 KiB bodies to a remoting server in this process
// that answers each with a send-result header, storing nothing.
func benchEcho(t *testing.T, warmup, n, conc int) benchResult {
	t.Helper()
	cfg := remoting.DefaultServerConfig()
	cfg.ListenAddr = "127.0.0.1:0"
	log := slog.New(slog.DiscardHandler)
	srv, err := remoting.NewServer(cfg, log)
	require.NoError(t, err)
	var off atomic.Int64
	srv.Register(protocol.SendMessageV2, remoting.ProcessorFunc(func(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
		resp := protocol.NewResponse(req, protocol.Success, "")
		resp.SetExt("msgId", "7F00000100002A9F0000000000000000")
		resp.SetExt("queueId", "0")
		resp.SetExt("queueOffset", strconv.FormatInt(off.Add(1), 10))
		return resp, nil
	}), remoting.NewPool("echo", 4, 10000))
	require.NoError(t, srv.Start(context.Background()))
	defer srv.Close()
	cl := remoting.NewClient(remoting.DefaultClientConfig(), log)
	defer cl.Close()
	addr := srv.Addr().String()

	body := make([]byte, 1024)
	send := func(ctx context.Context, i int) error {
		req := protocol.NewRequest(protocol.SendMessageV2, map[string]string{
			"a": "pg", "b": "Bench", "c": "TBW102", "d": "4", "e": "0", "f": "0",
			"g": strconv.FormatInt(time.Now().UnixMilli(), 10), "h": "0",
			"i": "KEYS\x01b-" + strconv.Itoa(i) + "\x02UNIQ_KEY\x017F0000010000000000000000000000" + "\x02",
			"j": "0", "k": "false", "m": "false"})
		req.Body = body
		resp, err := cl.Invoke(ctx, addr, req)
		if err == nil && resp.ResponseCode() != protocol.Success {
			err = fmt.Errorf("echo: code %d", resp.Code)
		}
		return err
	}
	runConcurrent(t, warmup, conc, send)
	cli0 := selfCPU(t)
	lat, wall := runConcurrent(t, n, conc, send)
	return summarize(n, lat, wall, 0, selfCPU(t)-cli0)
}

// benchFdatasync measures the disk's group-commit ceiling: n 1 KiB pwrites
// into a preallocated file in the test's temporary directory (the disk the
// broker's store uses), with one fdatasync after every group records. Its
// "latency" is the time of one group.
func benchFdatasync(t *testing.T, n, group int) benchResult {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "raw"))
	require.NoError(t, err)
	defer f.Close()
	fd := int(f.Fd())
	require.NoError(t, unix.Fallocate(fd, 0, 0, int64(n)*1024))
	require.NoError(t, unix.Fsync(fd))
	rec := make([]byte, 1024)
	cli0 := selfCPU(t)
	var lat []time.Duration
	t0 := time.Now()
	for i := 0; i < n; i += group {
		g0 := time.Now()
		for j := i; j < min(i+group, n); j++ {
			_, err := unix.Pwrite(fd, rec, int64(j)*1024)
			require.NoError(t, err)
		}
		require.NoError(t, unix.Fdatasync(fd))
		lat = append(lat, time.Since(g0))
	}
	return summarize(n, lat, time.Since(t0), 0, selfCPU(t)-cli0)
}

// runConcurrent calls send n times from conc goroutines (send gets the call's
// index) and returns each call's latency and the wall time. Any error fails
// the test; each call has a 10 s limit.
func runConcurrent(t *testing.T, n, conc int, send func(ctx context.Context, i int) error) ([]time.Duration, time.Duration) {
	t.Helper()
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	t0 := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || failed.Load() > 0 {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				s0 := time.Now()
				err := send(ctx, i)
				lat[i] = time.Since(s0)
				cancel()
				if err != nil {
					if failed.Add(1) == 1 {
						firstErr.Store(err)
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(t0)
	require.Zero(t, failed.Load(), "send failed: %v", firstErr.Load())
	return lat, wall
}

// summarize turns a run of msgs messages into a result; lat holds one latency
// per send (per group for fdatasync).
func summarize(msgs int, lat []time.Duration, wall, serverCPU, clientCPU time.Duration) benchResult {
	s := slices.Clone(lat)
	slices.Sort(s)
	n := float64(msgs)
	return benchResult{
		rate:      n / wall.Seconds(),
		p50:       s[len(s)/2],
		p99:       s[min(len(s)-1, len(s)*99/100)],
		serverCPU: float64(serverCPU.Nanoseconds()) / 1e3 / n,
		clientCPU: float64(clientCPU.Nanoseconds()) / 1e3 / n,
	}
}

var clockTicks = sync.OnceValue(func() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && v > 0 {
			return v
		}
	}
	return 100 // the Linux USER_HZ everywhere in practice
})

// procCPU returns utime+stime of process pid, from /proc/<pid>/stat.
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	s := string(b)
	// Fields after the command name (which may contain spaces) in parentheses:
	// state is field 3, utime 14, stime 15.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	require.Greater(t, len(f), 12, "short /proc/%d/stat", pid)
	ut, err := strconv.ParseUint(f[11], 10, 64)
	require.NoError(t, err)
	st, err := strconv.ParseUint(f[12], 10, 64)
	require.NoError(t, err)
	return time.Duration(float64(ut+st) / clockTicks() * float64(time.Second))
}

// selfCPU returns this process's user+system CPU time.
func selfCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
