// Command compare runs the same scenarios on Petrel and on NATS JetStream,
// interleaved, on fresh data each run, and prints medians and ratios. It is a
// module of its own so that the NATS client never enters Petrel's go.mod, and
// it is not part of `go test ./...` (it takes minutes and two cores).
//
//	cd bench/compare && go run . -rounds 3 -msgs 50000
//
// It builds `petrel` from this repository and installs nats-server from the Go
// module proxy (go install github.com/nats-io/nats-server/v2@VERSION) into a
// cache directory, once. Petrel is driven by `petrel bench` (Petrel's SDK),
// NATS by nats.go's JetStream API in this process.
//
// Durability is equal on both sides: "async" runs use Petrel's ASYNC_FLUSH and
// NATS's default sync_interval (both answer before fsync); "fsync" runs use
// SYNC_FLUSH and `sync_interval: always` (both fsync before answering).
//
// Scenarios: sync (64 goroutines, synchronous sends), pipelined (one sender,
// 256 asynchronous sends in flight), fsync (64 goroutines, synchronous, fsync
// before ack), backlog (send -msgs first, then consume them: Petrel's push
// consumer with pull batches of 32, a NATS pull consumer fetching 256 with
// AckNone; the rate counts the consumption only). Server CPU is utime+stime of
// the server process over its whole life (fresh per run) divided by the
// messages it handled (sent, plus consumed for backlog); peak RSS is its VmHWM.
// Client CPU is the `petrel bench` process's, or this process's for NATS.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type result struct {
	tps       float64
	serverCPU float64 // µs per message handled
	clientCPU float64 // µs per message handled
	rssMiB    float64
}

var (
	rounds      = flag.Int("rounds", 3, "interleaved rounds per scenario")
	msgs        = flag.Int("msgs", 50000, "messages per run")
	fsyncMsgs   = flag.Int("fsync-msgs", 3000, "messages per fsync run (NATS fsyncs each publish: slow)")
	size        = flag.Int("size", 1024, "body bytes")
	cacheDir    = flag.String("cache", "", "where petrel and nats-server are built (default $HOME/.cache/petrel-compare)")
	repo        = flag.String("repo", "../..", "Petrel repository")
	natsVersion = flag.String("nats-version", "v2.15.3", "nats-server module version")
	scenarioArg = flag.String("scenarios", "sync,pipelined,fsync,backlog", "scenarios to run")
)

func main() {
	flag.Parse()
	if *cacheDir == "" {
		home, _ := os.UserHomeDir()
		*cacheDir = filepath.Join(home, ".cache", "petrel-compare")
	}
	petrel, nats, err := binaries()
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
	scenarios := strings.Split(*scenarioArg, ",")
	res := map[string]map[string][]result{}
	for r := range *rounds {
		for _, sc := range scenarios {
			systems := []string{"petrel", "nats"}
			if r%2 == 1 {
				systems = []string{"nats", "petrel"}
			}
			for _, sys := range systems {
				var out result
				var err error
				if sys == "petrel" {
					out, err = runPetrel(petrel, sc)
				} else {
					out, err = runNATS(nats, sc)
				}
				if err != nil {
					fmt.Fprintf(os.Stderr, "compare: %s %s: %v\n", sys, sc, err)
					os.Exit(1)
				}
				fmt.Fprintf(os.Stderr, "round %d %-9s %-6s %8.0f msgs/s  server %6.1f µs/msg  client %6.1f µs/msg  rss %6.1f MiB\n",
					r+1, sc, sys, out.tps, out.serverCPU, out.clientCPU, out.rssMiB)
				if res[sc] == nil {
					res[sc] = map[string][]result{}
				}
				res[sc][sys] = append(res[sc][sys], out)
			}
		}
	}
	fmt.Printf("%d rounds, %d messages (fsync: %d) of %d bytes per run; medians (min-max for the ratio)\n\n", *rounds, *msgs, *fsyncMsgs, *size)
	fmt.Println("| scenario | Petrel msgs/s | NATS msgs/s | ratio Petrel/NATS | server CPU µs/msg P / N | client CPU µs/msg P / N | server peak RSS MiB P / N |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, sc := range scenarios {
		p, n := res[sc]["petrel"], res[sc]["nats"]
		var ratios []float64
		for i := range p {
			ratios = append(ratios, p[i].tps/n[i].tps)
		}
		fmt.Printf("| %s | %.0f | %.0f | %.2f (%.2f-%.2f) | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f |\n", sc,
			median(p, func(r result) float64 { return r.tps }), median(n, func(r result) float64 { return r.tps }),
			med(ratios), slices.Min(ratios), slices.Max(ratios),
			median(p, func(r result) float64 { return r.serverCPU }), median(n, func(r result) float64 { return r.serverCPU }),
			median(p, func(r result) float64 { return r.clientCPU }), median(n, func(r result) float64 { return r.clientCPU }),
			median(p, func(r result) float64 { return r.rssMiB }), median(n, func(r result) float64 { return r.rssMiB }))
	}
}

func median(rs []result, f func(result) float64) float64 {
	var v []float64
	for _, r := range rs {
		v = append(v, f(r))
	}
	return med(v)
}

func med(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// binaries builds petrel and installs nats-server into the cache (once).
func binaries() (petrel, nats string, err error) {
	if err := os.MkdirAll(*cacheDir, 0o755); err != nil {
		return "", "", err
	}
	petrel = filepath.Join(*cacheDir, "petrel")
	build := exec.Command("go", "build", "-o", petrel, "./cmd/petrel")
	build.Dir, build.Stdout, build.Stderr = *repo, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", "", fmt.Errorf("build petrel: %w", err)
	}
	bin := filepath.Join(*cacheDir, "nats-"+*natsVersion)
	nats = filepath.Join(bin, "nats-server")
	if _, err := os.Stat(nats); err != nil {
		inst := exec.Command("go", "install", "github.com/nats-io/nats-server/v2@"+*natsVersion)
		inst.Env = append(os.Environ(), "GOBIN="+bin)
		inst.Stdout, inst.Stderr = os.Stderr, os.Stderr
		if err := inst.Run(); err != nil {
			return "", "", fmt.Errorf("install nats-server: %w", err)
		}
	}
	return petrel, nats, nil
}

// freePort returns a port p such that p-2, p and p+1 are free (a broker's
// VIP, main and HA ports).
func freePort() int {
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			continue
		}
		p := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		ok := p > 2 && p < 65534
		for _, q := range []int{p - 2, p + 1} {
			if !ok {
				break
			}
			if l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(q)); err == nil {
				_ = l2.Close()
			} else {
				ok = false
			}
		}
		if ok {
			return p
		}
	}
}

// procStats returns a process's CPU time and peak RSS (Linux /proc).
func procStats(pid int) (cpu time.Duration, rssMiB float64) {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		cpu = time.Duration(ut+st) * (time.Second / 100) // USER_HZ
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				rssMiB = kb / 1024
			}
		}
	}
	return cpu, rssMiB
}

// server is a started server process.
type server struct {
	cmd *exec.Cmd
	dir string
}

func (s *server) stop() (cpu time.Duration, rssMiB float64) {
	cpu, rssMiB = procStats(s.cmd.Process.Pid)
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	_ = os.RemoveAll(s.dir)
	return cpu, rssMiB
}

func runPetrel(petrel, sc string) (result, error) {
	dir, err := os.MkdirTemp("", "compare-petrel-")
	if err != nil {
		return result{}, err
	}
	flush := "ASYNC_FLUSH"
	if sc == "fsync" {
		flush = "SYNC_FLUSH"
	}
	conf := filepath.Join(dir, "broker.conf")
	if err := os.WriteFile(conf, []byte("flushDiskType="+flush+"\n"), 0o644); err != nil {
		return result{}, err
	}
	ns, bp := freePort(), freePort()
	cmd := exec.Command(petrel, "standalone", "-c", conf, "--namesrv-listen", "127.0.0.1:"+strconv.Itoa(ns),
		"--listen-port", strconv.Itoa(bp), "--store", filepath.Join(dir, "store"), "--log-file", filepath.Join(dir, "log"))
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	srv := &server{cmd: cmd, dir: dir}
	deadline := time.Now().Add(30 * time.Second)
	for exec.Command(petrel, "health", "--addr", "127.0.0.1:"+strconv.Itoa(bp)).Run() != nil {
		if time.Now().After(deadline) {
			srv.stop()
			return result{}, fmt.Errorf("petrel did not start (log in %s)", dir)
		}
		time.Sleep(200 * time.Millisecond)
	}
	handled := count(sc)
	n := strconv.Itoa(handled)
	args := []string{"bench", "-n", "127.0.0.1:" + strconv.Itoa(ns), "-s", strconv.Itoa(*size), "-q", "-o", "json"}
	switch sc {
	case "sync", "fsync":
		args = append(args, "producer", "-w", "64", "-m", "sync", "-c", n)
	case "pipelined":
		args = append(args, "producer", "-w", "1", "-m", "async", "--window", "256", "-c", n)
	case "backlog":
		args = append(args, "consumer", "--prefill", n, "--pull-batch", "32")
		handled = 2 * *msgs
	default:
		srv.stop()
		return result{}, fmt.Errorf("unknown scenario %q", sc)
	}
	b := exec.Command(petrel, args...)
	b.Stderr = os.Stderr
	out, err := b.Output()
	cpu, rss := srv.stop()
	if err != nil {
		return result{}, fmt.Errorf("petrel bench: %w", err)
	}
	var s struct {
		TPS    float64 `json:"tps"`
		Failed int64   `json:"failed"`
	}
	if err := json.Unmarshal(out, &s); err != nil {
		return result{}, fmt.Errorf("petrel bench output %q: %w", out, err)
	}
	if s.Failed > 0 {
		return result{}, fmt.Errorf("petrel bench: %d sends failed", s.Failed)
	}
	client := b.ProcessState.UserTime() + b.ProcessState.SystemTime()
	return result{tps: s.TPS, serverCPU: us(cpu, handled), clientCPU: us(client, handled), rssMiB: rss}, nil
}

// count is the number of messages sent in a run of scenario sc.
func count(sc string) int {
	if sc == "fsync" {
		return *fsyncMsgs
	}
	return *msgs
}

func us(d time.Duration, n int) float64 { return float64(d.Microseconds()) / float64(n) }
