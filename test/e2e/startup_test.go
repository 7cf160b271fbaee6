//go:build e2e

package e2e

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	recoveredAtRe = regexp.MustCompile(`time=(\S+) level=INFO msg="store recovered".* records_redispatched=(\d+)`)
)

// TestPortClosedUntilRecovered: a broker with a fixed port accepts no TCP
// connection before its store has recovered, so a TCP health check (a load
// balancer's, Kubernetes' tcpSocket probe) never passes while sends cannot
// work yet. The store is made slow to recover (kill -9 under load, then the
// consume queues and index deleted, so every record is re-dispatched) and a
// prober dials the port every millisecond from before the process starts; its
// first success must come after the "store recovered" line's time, and the
// connection it got must be served at once.
func TestPortClosedUntilRecovered(t *testing.T) {
	store := filepath.Join(t.TempDir(), "store")
	conf := writeBrokerConf(t, "flushDiskType=ASYNC_FLUSH")
	s := startStandalone(t, conf, store, 0)
	createTopic(t, newRawClient(t), s.broker, durTopic, durQueues)
	prod, shutdown := newOfficialProducer(t, s.ns)
	load := startSendLoad(t, prod, durTopic, senders, 300, testSeed(t))
	load.waitAcked(t, 15_000)
	acks := load.wait(t)
	shutdown()
	require.Greater(t, len(acks), 10_000, "send errors %d (last: %v)", load.errs.Load(), load.lastErr.Load())
	require.NoError(t, s.p.cmd.Process.Signal(syscall.SIGKILL))
	require.Error(t, s.p.wait(10*time.Second))
	for _, d := range []string{"consumequeue", "index"} {
		require.NoError(t, os.RemoveAll(filepath.Join(store, d)))
	}

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	var firstConn atomic.Pointer[net.Conn]
	var firstAt atomic.Int64
	stop := make(chan struct{})
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		for {
			select {
			case <-stop:
				return
			default:
			}
			c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
			if err == nil {
				firstAt.Store(time.Now().UnixNano())
				firstConn.Store(&c)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	defer func() {
		close(stop)
		<-probed
		if c := firstConn.Load(); c != nil {
			_ = (*c).Close()
		}
	}()

	startedAt := time.Now()
	p := start(t, nil, "standalone", "-c", conf, "--store", store,
		"--namesrv-listen", "127.0.0.1:0", "--listen-port", strconv.Itoa(s.port),
		"--metrics-port", "0", "--console-port", "0") // no fixed HTTP ports: 5557 was taken by another process
	p.waitLog(brokerListenRe, 60*time.Second)
	out := p.output()
	recovered := recoveredAtRe.FindStringSubmatch(out)
	require.NotNil(t, recovered, "no store recovered line:\n%s", out)
	recoveredAt, err := time.Parse(time.RFC3339Nano, recovered[1])
	require.NoError(t, err)
	redispatched, _ := strconv.Atoi(recovered[2])
	require.Positive(t, redispatched, "the consume queues were deleted: recovery must re-dispatch")

	<-probed // the listening line is out, so the prober has connected
	require.NotZero(t, firstAt.Load(), "the prober never connected")
	connAt := time.Unix(0, firstAt.Load())
	t.Logf("process start to recovered %v (%d records re-dispatched); first TCP connection %v after the recovered line",
		recoveredAt.Sub(startedAt), redispatched, connAt.Sub(recoveredAt))
	// The log's time has millisecond precision and is truncated, so it is never
	// later than the moment recovery ended.
	require.True(t, connAt.After(recoveredAt),
		"a TCP connection was accepted at %v, before the store recovered at %v", connAt, recoveredAt)

	// Requests are served at once, over the recovered queues.
	cl := newRawClient(t)
	var total int64
	for q := range durQueues {
		total += maxQueueOffset(t, cl, addr, durTopic, q)
	}
	require.GreaterOrEqual(t, total, int64(len(acks)), "every acknowledged message is in the rebuilt queues")
	require.NoError(t, p.stop(syscall.SIGTERM, 15*time.Second))
}
