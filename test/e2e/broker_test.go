//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/remoting"
)

var (
	brokerListenRe  = regexp.MustCompile(`msg="petrel broker listening" addr=(\S+)`)
	crashRecoveryRe = regexp.MustCompile(`msg="store recovered".* after_crash=true`)
	cleanRecoveryRe = regexp.MustCompile(`msg="store recovered".* after_crash=false`)
)

// standalone is a running `petrel standalone` with its name server and broker
// addresses.
type standalone struct {
	p      *proc
	ns     string // name server address
	broker string // broker address as registered
	port   int    // broker --listen-port
}

// freePort returns a port that was free a moment ago (bound on 127.0.0.1:0 and
// closed). startStandalone retries with another one on a clash.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

// startStandalone runs `petrel standalone -c conf --store store` with the broker
// on port (0: a free one) and waits for the broker's start line. If the port
// turns out to be taken it tries again with another, up to five times.
func startStandalone(t *testing.T, conf, store string, port int) *standalone {
	t.Helper()
	if port == 0 {
		port = freePort(t)
	}
	for attempt := 1; ; attempt++ {
		p := start(t, nil, "standalone", "-c", conf, "--store", store,
			"--namesrv-listen", "127.0.0.1:0", "--listen-port", strconv.Itoa(port),
			"--metrics-port", "0", "--console-port", "0") // tests run many standalones at once: no fixed HTTP ports
		deadline := time.Now().Add(20 * time.Second)
		for {
			out := p.output()
			if m := brokerListenRe.FindStringSubmatch(out); m != nil {
				ns := listenRe.FindStringSubmatch(out)
				require.NotNil(t, ns, "broker started before the name server logged its address:\n%s", out)
				return &standalone{p: p, ns: ns[1], broker: m[1], port: port}
			}
			exited := false
			select {
			case <-p.done:
				exited = true
			case <-time.After(20 * time.Millisecond):
			}
			if exited {
				out = p.output()
				if strings.Contains(out, "address already in use") && attempt < 5 {
					t.Logf("port %d taken (attempt %d); trying another", port, attempt)
					port = freePort(t)
					break
				}
				t.Fatalf("petrel standalone exited (%v) before the broker started:\n%s", p.err, out)
			}
			if time.Now().After(deadline) {
				t.Fatalf("petrel standalone: no broker start line within 20s:\n%s", out)
			}
		}
	}
}

// writeBrokerConf writes a broker.conf with the given lines.
func writeBrokerConf(t *testing.T, lines ...string) string {
	t.Helper()
	return writeFile(t, "broker.conf", "# written by "+t.Name()+"\n"+strings.Join(lines, "\n")+"\n")
}

func newRawClient(t *testing.T) *remoting.Client {
	t.Helper()
	cl := remoting.NewClient(remoting.DefaultClientConfig(), slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

func rawCall(t *testing.T, cl *remoting.Client, addr string, code protocol.RequestCode, ext map[string]string) *protocol.Command {
	t.Helper()
	req := protocol.NewRequest(code, ext)
	return call(t, cl, addr, req)
}

// createTopic creates topic with queues read and write queues on the broker,
// which persists it and registers it with the name server at once.
func createTopic(t *testing.T, cl *remoting.Client, broker, topic string, queues int) {
	t.Helper()
	q := strconv.Itoa(queues)
	resp := rawCall(t, cl, broker, protocol.UpdateAndCreateTopic, map[string]string{
		"topic": topic, "defaultTopic": "TBW102", "readQueueNums": q, "writeQueueNums": q,
		"perm": "6", "topicFilterType": "SINGLE_TAG", "topicSysFlag": "0", "order": "false"})
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
}

func maxQueueOffset(t *testing.T, cl *remoting.Client, broker, topic string, queue int) int64 {
	t.Helper()
	resp := rawCall(t, cl, broker, protocol.GetMaxOffset, map[string]string{"topic": topic, "queueId": strconv.Itoa(queue)})
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	n, err := strconv.ParseInt(resp.Ext("offset"), 10, 64)
	require.NoError(t, err)
	return n
}

// pullQueue reads queue from offset 0 to its max offset with raw PULL_MESSAGE
// requests and checks that the queue offsets are contiguous.
func pullQueue(t *testing.T, cl *remoting.Client, broker, topic string, queue int) []*message.MessageExt {
	t.Helper()
	maxOff := maxQueueOffset(t, cl, broker, topic, queue)
	var out []*message.MessageExt
	deadline := time.Now().Add(30 * time.Second)
	for next, calls := int64(0), int64(0); next < maxOff; calls++ {
		require.True(t, time.Now().Before(deadline), "queue %d: pulling [0, %d) took over 30s (at %d)", queue, maxOff, next)
		require.LessOrEqual(t, calls, maxOff+10, "queue %d: no progress pulling at %d", queue, next)
		resp := rawCall(t, cl, broker, protocol.PullMessage, map[string]string{
			"consumerGroup": "e2e-verify", "topic": topic, "queueId": strconv.Itoa(queue),
			"queueOffset": strconv.FormatInt(next, 10), "maxMsgNums": "32", "sysFlag": "4",
			"commitOffset": "0", "suspendTimeoutMillis": "0", "subscription": "*", "subVersion": "0",
			"expressionType": "TAG"})
		require.Equal(t, protocol.Success, resp.ResponseCode(), "queue %d offset %d: %s", queue, next, resp.Remark)
		msgs, err := message.DecodeMessages(resp.Body)
		require.NoError(t, err)
		require.NotEmpty(t, msgs, "queue %d offset %d: success without messages", queue, next)
		for _, m := range msgs {
			require.Equal(t, message.QueueOffset(next), m.QueueOffset, "queue %d: offsets not contiguous", queue)
			require.Equal(t, int32(queue), m.QueueID)
			out = append(out, m)
			next++
		}
		nb, err := strconv.ParseInt(resp.Ext("nextBeginOffset"), 10, 64)
		require.NoError(t, err)
		require.Equal(t, next, nb, "queue %d: nextBeginOffset", queue)
	}
	return out
}

// ack is one send the official client reported SendOK.
type ack struct {
	key, msgID, offsetMsgID string
	queue                   int
	offset                  int64
	body                    []byte
}

// syncSender is the part of the official producer the tests use.
type syncSender interface {
	SendSync(ctx context.Context, msgs ...*primitive.Message) (*primitive.SendResult, error)
}

var producerSeq atomic.Int64

// newOfficialProducer starts an official-client producer using name server ns.
// The returned function shuts it down (once; t.Cleanup calls it too).
func newOfficialProducer(t *testing.T, ns string) (syncSender, func()) {
	t.Helper()
	rlog.SetLogLevel("error")
	p, err := producer.NewDefaultProducer(
		producer.WithNsResolver(primitive.NewPassthroughResolver([]string{ns})),
		producer.WithGroupName("e2e-pg"),
		producer.WithInstanceName(fmt.Sprintf("%s-%d-%d", t.Name(), os.Getpid(), producerSeq.Add(1))),
		// No retries: a key the client sent once must be stored at most once.
		producer.WithRetry(0),
		producer.WithSendMsgTimeout(5*time.Second),
	)
	require.NoError(t, err)
	require.NoError(t, p.Start())
	var once sync.Once
	shutdown := func() { once.Do(func() { _ = p.Shutdown() }) }
	t.Cleanup(shutdown)
	return p, shutdown
}

// sendLoad runs senders goroutines doing SendSync of 1 KiB random bodies, each
// with a unique key, until stop is closed (each goroutine stops after
// maxPerSender sends at most). wait returns every acknowledged send, after all
// goroutines have returned; it fails the test if that takes over 30s.
type sendLoad struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	acks    []ack
	acked   atomic.Int64 // acknowledged so far
	errs    atomic.Int64
	lastErr atomic.Value
	nacked  atomic.Int64
}

func startSendLoad(t *testing.T, p syncSender, topic string, senders, maxPerSender int, seed uint64) *sendLoad {
	t.Helper()
	l := &sendLoad{stop: make(chan struct{})}
	for g := range senders {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(g)))
			var mine []ack
			defer func() {
				l.mu.Lock()
				l.acks = append(l.acks, mine...)
				l.mu.Unlock()
			}()
			for i := range maxPerSender {
				select {
				case <-l.stop:
					return
				default:
				}
				body := make([]byte, 1024)
				for j := 0; j < len(body); j += 8 {
					v := rng.Uint64()
					for k := 0; k < 8; k++ {
						body[j+k] = byte(v >> (8 * k))
					}
				}
				key := fmt.Sprintf("k-%d-%d", g, i)
				msg := primitive.NewMessage(topic, body)
				msg.WithKeys([]string{key})
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				res, err := p.SendSync(ctx, msg)
				cancel()
				if err != nil {
					l.errs.Add(1)
					l.lastErr.Store(err.Error())
					continue
				}
				if res.Status != primitive.SendOK {
					l.nacked.Add(1)
					continue
				}
				l.acked.Add(1)
				mine = append(mine, ack{key: key, msgID: res.MsgID, offsetMsgID: res.OffsetMsgID,
					queue: res.MessageQueue.QueueId, offset: res.QueueOffset, body: body})
			}
		}()
	}
	t.Cleanup(func() { l.halt() })
	return l
}

func (l *sendLoad) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
}

func (l *sendLoad) count() int64 { return l.acked.Load() }

// waitAcked waits until at least n sends are acknowledged (polling, so a loaded
// machine only makes it slower), and fails the test after 2 minutes.
func (l *sendLoad) waitAcked(t *testing.T, n int64) {
	t.Helper()
	testutil.WaitFor(t, 2*time.Minute, func() bool { return l.count() >= n })
}

func (l *sendLoad) wait(t *testing.T) []ack {
	t.Helper()
	l.halt()
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("senders did not stop within 30s")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acks
}

// verifyAcked reads every queue of topic from offset 0 to its max and checks
// that every acknowledged send is at its queue and offset, byte-identical, with
// its key and ids, and that no key is stored twice (the producer does not retry).
func verifyAcked(t *testing.T, broker, topic string, queues int, acks []ack) {
	t.Helper()
	cl := newRawClient(t)
	stored := make([][]*message.MessageExt, queues)
	total := 0
	seen := map[string]message.QueueOffset{}
	for q := range queues {
		stored[q] = pullQueue(t, cl, broker, topic, q)
		total += len(stored[q])
		for _, m := range stored[q] {
			k := m.Properties[message.PropertyKeys]
			if prev, dup := seen[k]; dup {
				t.Errorf("key %q stored twice (queue %d offsets %d and %d); the producer never retries", k, q, prev, m.QueueOffset)
			}
			seen[k] = m.QueueOffset
		}
	}
	t.Logf("acknowledged %d, stored %d (the rest were in flight when the broker stopped)", len(acks), total)
	require.GreaterOrEqual(t, total, len(acks))
	missing := 0
	for _, a := range acks {
		require.Less(t, a.queue, queues)
		if a.offset >= int64(len(stored[a.queue])) {
			missing++
			if missing <= 10 {
				t.Errorf("LOST acknowledged message %s (key %s, queue %d, offset %d): queue max is %d",
					a.msgID, a.key, a.queue, a.offset, len(stored[a.queue]))
			}
			continue
		}
		m := stored[a.queue][a.offset]
		if m.Properties[message.PropertyKeys] != a.key || !bytes.Equal(m.Body, a.body) ||
			m.Properties[message.PropertyUniqKey] != a.msgID || m.OffsetMsgID() != a.offsetMsgID || m.Topic != topic {
			missing++
			if missing <= 10 {
				t.Errorf("acknowledged message %s (key %s) at queue %d offset %d differs: stored key %q uniq %q offsetMsgId %s (want %s), body equal %v",
					a.msgID, a.key, a.queue, a.offset, m.Properties[message.PropertyKeys],
					m.Properties[message.PropertyUniqKey], m.OffsetMsgID(), a.offsetMsgID, bytes.Equal(m.Body, a.body))
			}
		}
	}
	require.Zero(t, missing, "acknowledged messages lost or changed")
}

func testSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PETREL_E2E_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
		seed = v
	}
	t.Logf("seed %d (PETREL_E2E_SEED to repeat the bodies)", seed)
	return seed
}

const (
	durTopic  = "E2EDurable"
	durQueues = 8
	senders   = 64
)

// TestKill9SyncFlushKeepsAcked runs `petrel standalone` with SYNC_FLUSH, sends
// 1 KiB messages from 64 goroutines of the official producer, SIGKILLs the
// process mid-stream, restarts it on the same store and checks that every
// message the client saw acknowledged (SendOK) is there, byte-identical, at
// the queue and offset it was acknowledged with. Small segments make the run
// cross segment rolls.
func TestKill9SyncFlushKeepsAcked(t *testing.T) {
	seed := testSeed(t)
	store := filepath.Join(t.TempDir(), "store")
	conf := writeBrokerConf(t, "flushDiskType=SYNC_FLUSH", "mapedFileSizeCommitLog=2097152", "maxMessageSize=65536")

	s := startStandalone(t, conf, store, 0)
	require.Contains(t, s.p.output(), "flushDiskType=SYNC_FLUSH")
	createTopic(t, newRawClient(t), s.broker, durTopic, durQueues)
	prod, shutdown := newOfficialProducer(t, s.ns)

	load := startSendLoad(t, prod, durTopic, senders, 1_000_000, seed)
	// Let the sends run, then kill mid-stream. 2,000 acks of 1 KiB cross at least
	// one 2 MiB segment roll; a slow machine just takes longer to get there.
	load.waitAcked(t, 2000)
	before := load.count()
	require.NoError(t, s.p.cmd.Process.Signal(syscall.SIGKILL))
	err := s.p.wait(10 * time.Second)
	require.Error(t, err, "petrel should die from SIGKILL")
	acks := load.wait(t)
	t.Logf("acks before the kill %d, after %d; send errors %d (last: %v), non-OK statuses %d",
		before, len(acks), load.errs.Load(), load.lastErr.Load(), load.nacked.Load())
	require.Positive(t, before, "no send was acknowledged before the kill")
	require.Positive(t, load.errs.Load(), "no send failed: the kill was not mid-stream")
	shutdown()

	s2 := startStandalone(t, conf, store, s.port)
	require.Regexp(t, crashRecoveryRe, s2.p.output(), "restart after SIGKILL should recover after a crash (abort file)")
	verifyAcked(t, s2.broker, durTopic, durQueues, acks)

	require.NoError(t, s2.p.stop(syscall.SIGTERM, 15*time.Second))
}

// TestSigtermDuringSendsKeepsAcked stops `petrel standalone` (ASYNC_FLUSH) with
// SIGTERM while 64 goroutines send: it exits 0, and after a restart, which
// must not need crash recovery, every acknowledged message is present.
func TestSigtermDuringSendsKeepsAcked(t *testing.T) {
	seed := testSeed(t)
	store := filepath.Join(t.TempDir(), "store")
	conf := writeBrokerConf(t, "flushDiskType=ASYNC_FLUSH")

	s := startStandalone(t, conf, store, 0)
	createTopic(t, newRawClient(t), s.broker, durTopic, durQueues)
	prod, shutdown := newOfficialProducer(t, s.ns)

	load := startSendLoad(t, prod, durTopic, senders, 1_000_000, seed)
	load.waitAcked(t, 1000)
	before := load.count()
	require.NoError(t, s.p.stop(syscall.SIGTERM, 15*time.Second), "exit status after SIGTERM")
	require.Contains(t, s.p.output(), "msg=stopped")
	acks := load.wait(t)
	t.Logf("acks before SIGTERM %d, after %d; send errors %d (last: %v), non-OK statuses %d",
		before, len(acks), load.errs.Load(), load.lastErr.Load(), load.nacked.Load())
	require.Positive(t, before, "no send was acknowledged before SIGTERM")
	shutdown()

	s2 := startStandalone(t, conf, store, s.port)
	require.Regexp(t, cleanRecoveryRe, s2.p.output(), "restart after a clean stop should not recover after a crash")
	verifyAcked(t, s2.broker, durTopic, durQueues, acks)

	require.NoError(t, s2.p.stop(syscall.SIGTERM, 15*time.Second))
}
