package ha

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil/poll"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// Interop with a real RocketMQ 4.9 broker (set ROCKETMQ_HOME to a 4.9.x binary
// distribution; java must be on PATH): a Petrel slave follows a RocketMQ
// SYNC_MASTER, and a RocketMQ slave follows a Petrel master. The commit logs
// must be byte-identical and the consume-queue files of both sides equal.
// Skipped when ROCKETMQ_HOME is unset. Each broker JVM takes a few seconds to
// start; the RocketMQ slave sends its first report about 5 s after it
// connects.

const interopSegment = 1 << 20 // mappedFileSizeCommitLog on both sides

func rocketmqHome(t *testing.T) string {
	home := os.Getenv("ROCKETMQ_HOME")
	if home == "" {
		t.Skip("ROCKETMQ_HOME is not set: skipping the RocketMQ 4.9 interop test")
	}
	if _, err := exec.LookPath("java"); err != nil {
		t.Skip("java is not on PATH: skipping the RocketMQ 4.9 interop test")
	}
	return home
}

// freeBrokerPort returns a port p with p-2, p and p+1 free (a RocketMQ broker
// binds its VIP channel, main and HA ports).
func freeBrokerPort(t *testing.T) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		ok := p > 1024 && p < 65000
		for _, q := range []int{p - 2, p, p + 1} {
			if !ok {
				break
			}
			l, err := net.Listen("tcp", ":"+strconv.Itoa(q))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return p
		}
	}
	t.Fatal("no free port triple")
	return 0
}

// javaBroker is a RocketMQ broker process.
type javaBroker struct {
	dir  string
	port int
	cmd  *exec.Cmd
	done chan error
}

func startJavaBroker(t *testing.T, home string, props map[string]string) *javaBroker {
	t.Helper()
	b := &javaBroker{dir: t.TempDir(), port: freeBrokerPort(t)}
	props["listenPort"] = strconv.Itoa(b.port)
	props["brokerIP1"] = "127.0.0.1"
	props["brokerIP2"] = "127.0.0.1"
	props["storePathRootDir"] = filepath.Join(b.dir, "store")
	props["storePathCommitLog"] = filepath.Join(b.dir, "store", "commitlog")
	props["mappedFileSizeCommitLog"] = strconv.Itoa(interopSegment)
	props["autoCreateTopicEnable"] = "true"
	props["flushDiskType"] = "ASYNC_FLUSH"
	props["brokerClusterName"] = "PetrelInterop"
	props["brokerName"] = "broker-interop"
	var conf strings.Builder
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&conf, "%s=%s\n", k, props[k])
	}
	cf := filepath.Join(b.dir, "broker.properties")
	require.NoError(t, os.WriteFile(cf, []byte(conf.String()), 0o644))
	args := []string{"-server", "-Xms256m", "-Xmx256m", "-XX:MaxDirectMemorySize=512m", "-XX:+UseG1GC", "-XX:-OmitStackTraceInFastThrow"}
	for _, o := range []string{"java.nio", "sun.nio.ch", "java.lang", "java.lang.reflect", "java.util", "java.util.concurrent",
		"java.util.concurrent.atomic", "java.io", "java.net", "jdk.internal.ref", "jdk.internal.misc"} {
		args = append(args, "--add-opens", "java.base/"+o+"=ALL-UNNAMED")
	}
	args = append(args, "--add-exports", "java.base/jdk.internal.ref=ALL-UNNAMED", "--add-exports", "java.base/sun.nio.ch=ALL-UNNAMED",
		"-Duser.home="+b.dir, "-Drocketmq.home.dir="+home,
		"-cp", filepath.Join(home, "conf")+string(os.PathListSeparator)+filepath.Join(home, "lib", "*"),
		"org.apache.rocketmq.broker.BrokerStartup", "-c", cf)
	b.cmd = exec.Command("java", args...)
	b.cmd.Env = append(os.Environ(), "ROCKETMQ_HOME="+home)
	out, err := os.Create(filepath.Join(b.dir, "stdout.log"))
	require.NoError(t, err)
	b.cmd.Stdout, b.cmd.Stderr = out, out
	require.NoError(t, b.cmd.Start())
	b.done = make(chan error, 1)
	go func() {
		b.done <- b.cmd.Wait()
		out.Close()
	}()
	t.Cleanup(func() { b.stop(t) })
	deadline := time.Now().Add(90 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", b.addr(), time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-b.done:
			b.done <- err
			t.Fatalf("RocketMQ broker exited: %v\n%s", err, b.tail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("RocketMQ broker not listening after 90 s\n%s", b.tail())
		}
		time.Sleep(200 * time.Millisecond) // polling a starting JVM, with a deadline
	}
	t.Logf("RocketMQ broker %s started (pid %d, dir %s)", b.addr(), b.cmd.Process.Pid, b.dir)
	return b
}

func (b *javaBroker) addr() string { return "127.0.0.1:" + strconv.Itoa(b.port) }

func (b *javaBroker) tail() string {
	out, _ := os.ReadFile(filepath.Join(b.dir, "stdout.log"))
	if len(out) > 4000 {
		out = out[len(out)-4000:]
	}
	return string(out)
}

func (b *javaBroker) stop(t *testing.T) {
	if b.cmd.Process == nil {
		return
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(30 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
	if t.Failed() {
		log, _ := os.ReadFile(filepath.Join(b.dir, "logs", "rocketmqlogs", "store.log"))
		if len(log) > 6000 {
			log = log[len(log)-6000:]
		}
		t.Logf("RocketMQ store.log tail:\n%s", log)
	}
}

// sendToJava sends message i to topic/queue on a RocketMQ broker with a raw
// SEND_MESSAGE and returns the response code.
func sendToJava(t *testing.T, cl *remoting.Client, addr, topic string, i int) protocol.ResponseCode {
	t.Helper()
	props, err := message.AppendProperties(nil, map[string]string{
		message.PropertyKeys: "key-" + strconv.Itoa(i), message.PropertyTags: "T" + strconv.Itoa(i%3),
		message.PropertyUniqKey: fmt.Sprintf("interop-%d-%d", i, time.Now().UnixNano()), message.PropertyWaitStoreMsgOK: "true",
	})
	require.NoError(t, err)
	req := protocol.NewRequest(protocol.SendMessage, map[string]string{
		"producerGroup": "petrel-interop", "topic": topic, "defaultTopic": "TBW102", "defaultTopicQueueNums": "4",
		"queueId": strconv.Itoa(i % 4), "sysFlag": "0", "bornTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10),
		"flag": "0", "properties": string(props), "reconsumeTimes": "0", "unitMode": "false", "batch": "false",
	})
	req.Body = bytes.Repeat([]byte{byte(i)}, 600+i%600)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cl.Invoke(ctx, addr, req)
	require.NoError(t, err)
	return resp.ResponseCode()
}

// requireSameJavaLog compares a RocketMQ store's commit-log files with a
// Petrel store's log over [0, upTo).
func requireSameJavaLog(t *testing.T, javaStore string, s *store.Store, from, upTo message.PhysOffset) {
	t.Helper()
	for base := from - from%interopSegment; base < upTo; base += interopSegment {
		data, err := os.ReadFile(filepath.Join(javaStore, "commitlog", fmt.Sprintf("%020d", base)))
		require.NoError(t, err)
		n := min(int64(len(data)), int64(upTo-base))
		var got []byte
		for off := base; off < base+message.PhysOffset(n); {
			got, err = s.ReadCommitLog(off, int(n), got)
			require.NoError(t, err)
			off = base + message.PhysOffset(len(got))
		}
		require.Equal(t, int(n), len(got))
		require.True(t, bytes.Equal(data[:n], got), "segment %d differs", base)
	}
}

// requireSameJavaQueue waits until the first consume-queue file of topic/qid
// holds the same first entries in a RocketMQ store and a Petrel store (both
// write their queues in the background).
func requireSameJavaQueue(t *testing.T, javaStore, petrelStore, topic string, qid int32, entries int) {
	t.Helper()
	name := filepath.Join("consumequeue", topic, strconv.Itoa(int(qid)), fmt.Sprintf("%020d", 0))
	n := entries * 20
	var a, b []byte
	same := func() bool {
		var err error
		if a, err = os.ReadFile(filepath.Join(javaStore, name)); err != nil || len(a) < n {
			return false
		}
		if b, err = os.ReadFile(filepath.Join(petrelStore, name)); err != nil || len(b) < n {
			return false
		}
		return bytes.Equal(a[:n], b[:n])
	}
	deadline := time.Now().Add(30 * time.Second)
	for !same() {
		if time.Now().After(deadline) {
			t.Fatalf("consume queue %s/%d differs (%d entries; files of %d and %d bytes)", topic, qid, entries, len(a), len(b))
		}
		time.Sleep(100 * time.Millisecond) // polling background flushes, with a deadline
	}
}

func TestInteropPetrelSlaveFollowsRocketMQ(t *testing.T) {
	home := rocketmqHome(t)
	jm := startJavaBroker(t, home, map[string]string{"brokerId": "0", "brokerRole": "SYNC_MASTER"})
	cl := remoting.NewClient(remoting.DefaultClientConfig(), nil)
	defer cl.Close()
	master := RemoteMaster{Invoker: cl, Addr: jm.addr}
	dir := t.TempDir()
	s := openStore(t, dir, storeOpts{segSize: interopSegment})
	defer s.Close()
	haAddr := "127.0.0.1:" + strconv.Itoa(jm.port+1)
	newClient := func() *Client {
		c, err := NewClient(ClientConfig{MasterAddress: func() string { return haAddr }, HeartbeatInterval: time.Second,
			RetryInterval: time.Second}, s, master, testLogger(t), nil)
		require.NoError(t, err)
		require.NoError(t, c.Start(context.Background()))
		poll.WaitFor(t, 30*time.Second, func() bool { return c.Status().Connected })
		return c
	}
	const topic = "PetrelInteropTopic"
	sent := 0
	// warmUp sends until the RocketMQ master counts the new connection (its
	// accept thread polls every second; until then SYNC sends answer
	// SLAVE_NOT_AVAILABLE, stored all the same).
	warmUp := func() {
		poll.WaitFor(t, 30*time.Second, func() bool {
			code := sendToJava(t, cl, jm.addr(), topic, sent)
			sent++
			return code == protocol.Success
		})
	}
	send := func(n int) {
		for range n {
			code := sendToJava(t, cl, jm.addr(), topic, sent)
			// SYNC_MASTER: SUCCESS only once the Petrel slave confirmed.
			require.Equal(t, protocol.Success, code, "message %d: code %d", sent, code)
			sent++
		}
	}
	cli := newClient()
	warmUp()
	send(3000) // several 1 MiB segments
	caughtUp := func() message.PhysOffset {
		var b Bounds
		poll.WaitFor(t, 60*time.Second, func() bool {
			var err error
			b, err = master.Bounds(context.Background())
			require.NoError(t, err)
			return s.CommitLogMaxOffset() == b.Max
		})
		return b.Max
	}
	max := caughtUp()
	require.Greater(t, int64(max), int64(2*interopSegment))
	javaStore := filepath.Join(jm.dir, "store")
	requireSameJavaLog(t, javaStore, s, 0, max)

	// A restart of the slave: the RocketMQ master does not answer
	// COMMITLOG_DIGEST, so the slave checks offsets only, and follows on.
	require.NoError(t, cli.Close())
	cli = newClient()
	defer cli.Close()
	require.True(t, cli.noDigest.Load())
	warmUp()
	send(500)
	max = caughtUp()
	requireSameJavaLog(t, javaStore, s, 0, max)

	poll.WaitFor(t, 30*time.Second, func() bool { return s.Stats().DispatchBehindBytes == 0 })
	for qid := range int32(4) {
		n := int(s.MaxOffsetInQueue(topic, qid))
		require.Equal(t, (sent+3-int(qid))/4, n) // message i went to queue i%4
		requireSameJavaQueue(t, javaStore, dir, topic, qid, n)
	}
}

func TestInteropRocketMQSlaveFollowsPetrel(t *testing.T) {
	home := rocketmqHome(t)
	dir := t.TempDir()
	m := openStore(t, dir, storeOpts{segSize: interopSegment})
	defer m.Close()
	srv, err := NewServer(ServerConfig{ListenAddr: "127.0.0.1:0", SlaveTimeout: 10 * time.Second}, m, testLogger(t), nil)
	require.NoError(t, err)
	require.NoError(t, srv.Start(context.Background()))
	defer srv.Close()
	m.SetReplicator(srv)
	js := startJavaBroker(t, home, map[string]string{"brokerId": "1", "brokerRole": "SLAVE", "haMasterAddress": srv.Addr().String()})

	// A RocketMQ slave reports about 5 s after it connects; with an empty
	// master it starts at 0.
	poll.WaitFor(t, 60*time.Second, func() bool {
		st := srv.Status()
		return len(st.Slaves) == 1 && st.Slaves[0].Reported
	})
	require.Equal(t, message.PhysOffset(0), srv.Status().Slaves[0].StartOffset)
	res := putMessages(t, m, 0, 4000, 400, "interop")
	for i, r := range res {
		require.Equal(t, store.PutOK, r.Status, "put %d: the RocketMQ slave did not confirm", i)
	}
	max := m.CommitLogMaxOffset()
	require.Greater(t, int64(max), int64(interopSegment))
	cl := remoting.NewClient(remoting.DefaultClientConfig(), nil)
	defer cl.Close()
	slave := RemoteMaster{Invoker: cl, Addr: js.addr}
	poll.WaitFor(t, 60*time.Second, func() bool {
		b, err := slave.Bounds(context.Background())
		return err == nil && b.Max == max
	})
	javaStore := filepath.Join(js.dir, "store")
	requireSameJavaLog(t, javaStore, m, 0, max)
	poll.WaitFor(t, 30*time.Second, func() bool { return m.Stats().DispatchBehindBytes == 0 })
	for _, topic := range topics {
		for _, qid := range m.QueueIDs(topic) {
			n := int(m.MaxOffsetInQueue(topic, qid))
			requireSameJavaQueue(t, javaStore, dir, topic, qid, n)
		}
	}
	st := srv.Status()
	require.Len(t, st.Slaves, 1)
	require.Equal(t, max, st.Slaves[0].AckOffset)
	require.Equal(t, 1, st.InSync)
}
