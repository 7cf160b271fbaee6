//go:build docker

package docker

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/internal/testutil/poll"
	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// The image is built once (scripts/build.sh image-local: the Dockerfile's
// prebuilt target over a binary built here, so no registry is needed) and
// removed when the tests end. The tag names this process, so test runs that
// share the Docker daemon (two clones, CI next to a developer) never remove
// each other's image.
const imageRepo = "petrel-dockertest"

var (
	imageTag = fmt.Sprintf("test-%d", os.Getpid())
	image    = imageRepo + ":" + imageTag

	buildOnce  sync.Once
	buildErr   error
	imageBuilt bool
)

func TestMain(m *testing.M) {
	rlog.SetLogLevel("error")
	code := m.Run()
	if imageBuilt {
		_ = execQuiet("docker", "rmi", image, imageRepo+":latest") // removing a tag never removes an image another tag still names
	}
	os.Exit(code)
}

func execQuiet(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return exec.CommandContext(ctx, name, args...).Run()
}

// buildImage builds the image once and returns its name.
func buildImage(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		t0 := time.Now()
		_, buildErr = run(t, 5*time.Minute, []string{"IMAGE=" + imageRepo, "VERSION=" + imageTag},
			filepath.Join(repoRoot(t), "scripts", "build.sh"), "image-local")
		imageBuilt = buildErr == nil
		t.Logf("image built in %v", time.Since(t0).Round(100*time.Millisecond))
	})
	require.NoError(t, buildErr)
	return image
}

// The image is small, runs as a non-root user, stops on SIGTERM, keeps its
// data in a volume and checks its health with `petrel health`.
func TestImage(t *testing.T) {
	requireDocker(t)
	img := buildImage(t)
	cfg := inspectImage(t, img)
	t.Logf("image size %.1f MB", float64(cfg.Size)/1e6)
	require.Less(t, cfg.Size, int64(30_000_000), "image size")
	require.Equal(t, "10001:10001", cfg.Config.User)
	require.Equal(t, "SIGTERM", cfg.Config.StopSignal)
	require.Equal(t, []string{"/petrel"}, cfg.Config.Entrypoint)
	require.Equal(t, []string{"standalone"}, cfg.Config.Cmd)
	require.Equal(t, "/data", cfg.Config.WorkingDir)
	require.Contains(t, cfg.Config.Volumes, "/data")
	require.Contains(t, cfg.Config.Env, "HOME=/data")
	for _, port := range []string{"9876/tcp", "10909/tcp", "10911/tcp", "10912/tcp"} {
		require.Contains(t, cfg.Config.ExposedPorts, port)
	}
	require.Equal(t, []string{"CMD", "/petrel", "health", "--timeout", "4s"}, cfg.Config.Healthcheck.Test)

	out := mustRun(t, time.Minute, nil, "docker", "run", "--rm", img, "version")
	require.Regexp(t, `^petrel `+regexp.QuoteMeta(imageTag)+`\ncommit: [0-9a-f]{40}`, out, "the version is the image's tag")
	out, err := run(t, time.Minute, nil, "docker", "run", "--rm", img, "health", "--addr", "127.0.0.1:10911")
	require.Error(t, err)
	require.Contains(t, out, "not ready: nothing listens on 127.0.0.1:10911")
	// Time zones are embedded: TZ works without zoneinfo files in the image
	// (without them Go falls back to UTC, +00:00).
	id := strings.TrimSpace(mustRun(t, time.Minute, nil, "docker", "run", "-d", "-e", "TZ=Asia/Shanghai", img, "namesrv"))
	t.Cleanup(func() { _ = execQuiet("docker", "rm", "-f", "-v", id) })
	var line string
	poll.Until(t, time.Minute, "the name server's start line", func() bool {
		out, _ := run(t, 30*time.Second, nil, "docker", "logs", id)
		line = regexp.MustCompile(`time=\S+ level=INFO msg="petrel name server listening"`).FindString(out)
		return line != ""
	})
	require.Contains(t, line, "+08:00", "log time not in TZ=Asia/Shanghai")
}

// ledger records what the producer sent and had acknowledged and what the
// consumer received, by message body.
type ledger struct {
	mu        sync.Mutex
	acked     map[string]string // body -> broker name
	perBroker map[string]int
	failed    int
	lastErr   error
	received  map[string]bool
}

func newLedger() *ledger {
	return &ledger{acked: map[string]string{}, perBroker: map[string]int{}, received: map[string]bool{}}
}

func (l *ledger) sent(body string, res *primitive.SendResult, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil || res == nil || res.Status != primitive.SendOK {
		l.failed++
		if err == nil && res != nil {
			err = fmt.Errorf("send status %d", res.Status)
		}
		l.lastErr = err
		return
	}
	l.acked[body] = res.MessageQueue.BrokerName
	l.perBroker[res.MessageQueue.BrokerName]++
}

func (l *ledger) got(body string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.received[body] = true
}

// ackedOn returns the acknowledged count on broker ("" for all).
func (l *ledger) ackedOn(broker string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if broker == "" {
		return len(l.acked)
	}
	return l.perBroker[broker]
}

// missing returns the acknowledged bodies not received, sorted.
func (l *ledger) missing() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for b := range l.acked {
		if !l.received[b] {
			out = append(out, b)
		}
	}
	sort.Strings(out)
	return out
}

// waitAcked waits until n more messages than now are acknowledged on broker
// ("" for any).
func (l *ledger) waitAcked(t *testing.T, broker string, n int, timeout time.Duration) {
	t.Helper()
	want := l.ackedOn(broker) + n
	poll.Until(t, timeout, fmt.Sprintf("%d acknowledged sends on %q", want, broker), func() bool {
		return l.ackedOn(broker) >= want
	})
}

var (
	stoppedRe   = regexp.MustCompile(`msg=stopped took=(\S+)`)
	recoveredRe = regexp.MustCompile(`msg="store recovered".* after_crash=(true|false)`)
)

// lastRecovery returns after_crash of the last "store recovered" line of a
// broker's log.
func lastRecovery(t *testing.T, logs string) string {
	t.Helper()
	m := recoveredRe.FindAllStringSubmatch(logs, -1)
	require.NotEmpty(t, m, "no store recovered line")
	return m[len(m)-1][1]
}

// TestCluster brings deploy/cluster.yml up (2 name servers, 2 SYNC_MASTERs, 2
// slaves) on its private network, sends and consumes through it with the
// official Go client from the host, stops one master with `docker stop`
// (clean shutdown: exit 0, no abort file, within the stop period) and kills the
// other with `docker kill` (crash: recovery on restart), while sends are in
// flight and pulls are held, and checks that every acknowledged message is
// consumed. Without replication in the build, the slaves are left out and the
// masters run as ASYNC_MASTER (logged).
func TestCluster(t *testing.T) {
	compose := requireDocker(t)
	testutil.SkipOfficialClientUnderRace(t)
	img := buildImage(t)
	t0 := time.Now()

	// A copy of deploy/, so the test never writes into the repository.
	dir := t.TempDir()
	copyDir(t, filepath.Join(repoRoot(t), "deploy"), dir)
	services := []string{"namesrv-a", "namesrv-b", "broker-a", "broker-b"}
	withSlaves := replicationSupported()
	if withSlaves {
		services = append(services, "broker-a-s", "broker-b-s")
	} else {
		t.Log("SKIPPED PART: replication is not in this build (brokerRole=SLAVE and SYNC_MASTER are refused): " +
			"the slaves are not started and the masters run as ASYNC_MASTER")
		for _, f := range []string{"broker-a.conf", "broker-b.conf"} {
			path := filepath.Join(dir, "conf", f)
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Contains(t, string(data), "brokerRole=SYNC_MASTER\n")
			data = []byte(strings.Replace(string(data), "brokerRole=SYNC_MASTER\n", "brokerRole=ASYNC_MASTER\n", 1))
			require.NoError(t, os.WriteFile(path, data, 0o644))
		}
	}
	nsPorts := []int{freePort(t), freePort(t)}
	nameServers := []string{fmt.Sprintf("127.0.0.1:%d", nsPorts[0]), fmt.Sprintf("127.0.0.1:%d", nsPorts[1])}
	p := &project{t: t, compose: compose, file: filepath.Join(dir, "cluster.yml"), env: []string{
		fmt.Sprintf("COMPOSE_PROJECT_NAME=petreltest%d", os.Getpid()),
		"PETREL_IMAGE=" + img,
		fmt.Sprintf("NAMESRV_A_PORT=%d", nsPorts[0]),
		fmt.Sprintf("NAMESRV_B_PORT=%d", nsPorts[1]),
	}}
	t.Cleanup(func() {
		if t.Failed() {
			for _, s := range services {
				out, _ := run(t, 30*time.Second, p.env, compose[0], append(append(append([]string{}, compose[1:]...),
					"-f", p.file), "logs", "--no-color", "--tail", "60", s)...)
				t.Logf("%s log (tail):\n%s", s, out)
			}
		}
		t1 := time.Now()
		if out, err := p.run(3*time.Minute, "down", "-v", "--timeout", "30"); err != nil {
			t.Errorf("compose down: %v\n%s", err, out)
		}
		t.Logf("compose down took %v; whole test %v", time.Since(t1).Round(100*time.Millisecond), time.Since(t0).Round(time.Second))
	})
	p.mustRun(3*time.Minute, append([]string{"up", "-d"}, services...)...)
	p.waitHealthy(2*time.Minute, services...)
	t.Logf("cluster up and healthy after %v", time.Since(t0).Round(100*time.Millisecond))

	// Limits from the compose file are in force.
	require.Equal(t, int64(1<<30), inspect(t, p.id("broker-a")).HostConfig.Memory)
	require.Equal(t, int64(256<<20), inspect(t, p.id("namesrv-a")).HostConfig.Memory)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	adm, err := admin.New(client.NameServers(nameServers...))
	require.NoError(t, err)
	require.NoError(t, adm.Start(ctx))
	t.Cleanup(func() { _ = adm.Close() })

	// Every broker registered under its address on the compose network: the
	// brokerIP1 default, which the host reaches.
	brokerIDs := map[string]int64{"broker-a": 0, "broker-b": 0, "broker-a-s": 1, "broker-b-s": 1}
	poll.Until(t, time.Minute, "every broker in the cluster info", func() bool {
		ci, err := adm.ClusterInfo(ctx)
		if err != nil {
			return false
		}
		for _, s := range services[2:] {
			bd := ci.BrokerAddrTable[strings.TrimSuffix(s, "-s")]
			if bd == nil || bd.Addrs[brokerIDs[s]] == "" {
				return false
			}
		}
		return true
	})
	ci, err := adm.ClusterInfo(ctx)
	require.NoError(t, err)
	for _, s := range services[2:] {
		var ip string
		for _, n := range inspect(t, p.id(s)).NetworkSettings.Networks {
			ip = n.IPAddress
		}
		require.Equal(t, ip+":10911", ci.BrokerAddrTable[strings.TrimSuffix(s, "-s")].Addrs[brokerIDs[s]], s)
	}

	topic := fmt.Sprintf("DeployTest%d", time.Now().UnixNano())
	require.NoError(t, adm.CreateTopicInCluster(ctx, "DefaultCluster", admin.TopicSpec{Topic: topic, ReadQueues: 4, WriteQueues: 4}))
	poll.Until(t, time.Minute, "route of "+topic+" on both masters", func() bool {
		r, err := adm.TopicRoute(ctx, topic)
		return err == nil && len(r.PublishQueues()) == 8
	})

	// A second group on a topic nobody sends to: its pulls are held on every
	// queue, so each broker stops with held pulls to answer.
	idle := topic + "Idle"
	require.NoError(t, adm.CreateTopicInCluster(ctx, "DefaultCluster", admin.TopicSpec{Topic: idle, ReadQueues: 4, WriteQueues: 4}))
	poll.Until(t, time.Minute, "route of "+idle+" on both masters", func() bool {
		r, err := adm.TopicRoute(ctx, idle)
		return err == nil && len(r.PublishQueues()) == 8
	})

	led := newLedger()
	resolver := primitive.NewPassthroughResolver(nameServers)
	ic, err := consumer.NewPushConsumer(
		consumer.WithNsResolver(resolver),
		consumer.WithGroupName(idle+"-consumers"),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	)
	require.NoError(t, err)
	require.NoError(t, ic.Subscribe(idle, consumer.MessageSelector{},
		func(context.Context, ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			return consumer.ConsumeSuccess, nil
		}))
	require.NoError(t, ic.Start())
	t.Cleanup(func() { _ = ic.Shutdown() })
	c, err := consumer.NewPushConsumer(
		consumer.WithNsResolver(resolver),
		consumer.WithGroupName(topic+"-consumers"),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	)
	require.NoError(t, err)
	require.NoError(t, c.Subscribe(topic, consumer.MessageSelector{},
		func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			for _, m := range msgs {
				led.got(string(m.Body))
			}
			return consumer.ConsumeSuccess, nil
		}))
	require.NoError(t, c.Start())
	t.Cleanup(func() { _ = c.Shutdown() })

	pr, err := producer.NewDefaultProducer(
		producer.WithNsResolver(resolver),
		producer.WithGroupName(topic+"-producers"),
		producer.WithRetry(2),
	)
	require.NoError(t, err)
	require.NoError(t, pr.Start())
	t.Cleanup(func() { _ = pr.Shutdown() })

	// Four senders, each paced (at most 100 a second) so the containers keep
	// the CPU, so that sends are in flight when a broker stops.
	const senders = 4
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range senders {
		wg.Go(func() {
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				body := fmt.Sprintf("%s-%d-%07d", topic, w, i)
				sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
				res, err := pr.SendSync(sctx, primitive.NewMessage(topic, []byte(body)))
				scancel()
				led.sent(body, res, err)
			}
		})
	}
	stopSending := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopSending)

	led.waitAcked(t, "broker-a", 100, time.Minute)
	led.waitAcked(t, "broker-b", 100, time.Minute)
	poll.Until(t, time.Minute, "the consumer receiving", func() bool { return len(led.missing()) < led.ackedOn("") })

	rc := remoting.NewClient(remoting.DefaultClientConfig(), nil)
	t.Cleanup(func() { _ = rc.Close() })
	addrOf := func(s string) string { return ci.BrokerAddrTable[strings.TrimSuffix(s, "-s")].Addrs[brokerIDs[s]] }
	heldPulls := func(s string) int {
		rt, err := brokerRuntime(ctx, rc, addrOf(s))
		if err != nil {
			return -1
		}
		return atoi(rt["heldPullCount"])
	}
	waitHeld := func(s string) int {
		t.Helper()
		poll.Until(t, time.Minute, s+" holding the idle group's pulls", func() bool { return heldPulls(s) >= 4 })
		return heldPulls(s)
	}

	// docker stop: SIGTERM, a clean shutdown within the stop period.
	idA := p.id("broker-a")
	held := waitHeld("broker-a")
	ackedBefore := led.ackedOn("")
	ts := time.Now()
	mustRun(t, time.Minute, nil, "docker", "stop", "-t", "30", idA)
	took := time.Since(ts)
	st := inspect(t, idA).State
	require.Equal(t, 0, st.ExitCode, "broker-a exit code after docker stop")
	require.False(t, fileExists(t, idA, "/data/store/abort"), "abort file left by a clean stop")
	m := stoppedRe.FindStringSubmatch(p.logs("broker-a"))
	require.NotNil(t, m, "no stopped line in broker-a's log")
	t.Logf("docker stop broker-a: %v (petrel logged stopped took=%s), exit code 0, no abort file; %d pulls were held, %d sends acknowledged so far",
		took.Round(10*time.Millisecond), m[1], held, ackedBefore)
	require.Less(t, took, 30*time.Second)

	led.waitAcked(t, "broker-b", 100, time.Minute)
	mustRun(t, time.Minute, nil, "docker", "start", idA)
	p.waitHealthy(2*time.Minute, "broker-a")
	require.Equal(t, "false", lastRecovery(t, p.logs("broker-a")), "broker-a recovered as after a crash")

	// docker kill: SIGKILL, a crash; the restart recovers.
	idB := p.id("broker-b")
	led.waitAcked(t, "broker-b", 50, time.Minute)
	held = waitHeld("broker-b")
	mustRun(t, time.Minute, nil, "docker", "kill", idB)
	poll.Until(t, time.Minute, "broker-b exited", func() bool { return !inspect(t, idB).State.Running })
	require.Equal(t, 137, inspect(t, idB).State.ExitCode)
	require.True(t, fileExists(t, idB, "/data/store/abort"), "a killed broker leaves its abort file")
	t.Logf("docker kill broker-b with %d pulls held and sends in flight (%d acknowledged so far)", held, led.ackedOn(""))
	mustRun(t, time.Minute, nil, "docker", "start", idB)
	p.waitHealthy(2*time.Minute, "broker-b")
	require.Equal(t, "true", lastRecovery(t, p.logs("broker-b")), "broker-b did not recover as after a crash")

	stopSending()
	if withSlaves {
		for _, pair := range [][2]string{{"broker-a", "broker-a-s"}, {"broker-b", "broker-b-s"}} {
			poll.Until(t, time.Minute, pair[1]+" caught up with "+pair[0], func() bool {
				mrt, err1 := brokerRuntime(ctx, rc, addrOf(pair[0]))
				srt, err2 := brokerRuntime(ctx, rc, addrOf(pair[1]))
				return err1 == nil && err2 == nil && mrt["commitLogMaxOffset"] == srt["commitLogMaxOffset"]
			})
		}
	}

	poll.Until(t, 2*time.Minute, "every acknowledged message consumed", func() bool { return len(led.missing()) == 0 })
	led.mu.Lock()
	t.Logf("%d sends acknowledged (broker-a %d, broker-b %d), %d not acknowledged (last error: %v); all acknowledged consumed: lost 0",
		len(led.acked), led.perBroker["broker-a"], led.perBroker["broker-b"], led.failed, led.lastErr)
	led.mu.Unlock()
	var ids []string
	for _, s := range services {
		ids = append(ids, p.id(s))
	}
	if out, err := run(t, 30*time.Second, nil, "docker", append([]string{"stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}"}, ids...)...); err == nil {
		t.Logf("memory in use:\n%s", out)
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
