//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/internal/testutil/nemesis"
	"github.com/petrelmq/petrel/internal/testutil/poll"
	"github.com/petrelmq/petrel/pkg/admin"
	pclient "github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/consumer"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// The failover trials of issue #12 (docs/operations.md, "Failover trials"):
// three `petrel controller` processes, a `petrel namesrv` and three
// `petrel broker` processes in controller mode (one broker set,
// allAckInSyncStateSet=true, default timings), under a continuous load of
// acknowledged sends with unique keys and a consumer. Faults:
//
//	kill9      kill -9 of the master
//	stop       SIGSTOP of the master for longer than its lease, then SIGCONT
//	partition  the master cut from every controller (clients and replicas
//	           still reach it) for longer than its lease, then healed
//	leader     kill -9 of the controller leader (restarted after)
//	power      kill -9 of every process, then all restarted
//
// After the trials: every acknowledged send is in the final log at the
// queue, offset and commit-log position it was acknowledged with (so no two
// masters acknowledged the same position, and no deposed master
// acknowledged anything the set lost); every message the consumer read is
// in the final log (nothing readable was lost again); the consumer resumed
// after every fault. Reported: acknowledged, lost, the time from the fault
// to the first acknowledgement by the new master (p50, p99), duplicates the
// consumer saw.
//
// PETREL_FAILOVER_TRIALS (default 1) trials of each fault kind;
// PETREL_FAILOVER_FAULTS (default all) a comma-separated subset;
// PETREL_FAILOVER_REPORT a file the figures are appended to.
func TestFailoverTrials(t *testing.T) {
	trials := envInt(t, "PETREL_FAILOVER_TRIALS", 1)
	kinds := []string{"kill9", "stop", "partition", "leader", "power"}
	if s := os.Getenv("PETREL_FAILOVER_FAULTS"); s != "" {
		kinds = strings.Split(s, ",")
	}
	c := startFailoverCluster(t)
	c.waitHealthy(t)
	load := c.startLoad(t, testSeed(t))
	cons := c.startConsumer(t)
	load.waitAcked(t, 200)

	var results []trialResult
	for trial := range trials {
		for _, kind := range kinds {
			r := c.trial(t, kind, load, cons)
			t.Logf("trial %d %-9s: %s", trial, kind, r)
			results = append(results, r)
		}
	}
	acks := load.stop(t)
	c.verify(t, acks, cons)
	c.report(t, results, acks, cons)
}

// foBroker is one broker of the set.
type foBroker struct {
	id      int
	port    int
	conf    string
	store   string
	p       *proc
	proxies []*nemesis.Proxy // its links to the controllers
}

func (b *foBroker) addr() string { return "127.0.0.1:" + strconv.Itoa(b.port) }

type failoverCluster struct {
	t         *testing.T
	ctlAddrs  []string
	ctlConfs  []string
	ctls      []*proc
	nsAddr    string
	nsPort    int
	ns        *proc
	brokers   []*foBroker
	adm       *admin.Admin
	topic     string
	queues    int
	lastEpoch int32
}

var brokerStartedRe = regexp.MustCompile(`msg="failover: started in controller mode"`)

func startFailoverCluster(t *testing.T) *failoverCluster {
	c := &failoverCluster{t: t, topic: "FailoverT", queues: 4}
	dir := t.TempDir()
	var peers []string
	for i := range 3 {
		a := "127.0.0.1:" + strconv.Itoa(testutil.StablePort(t))
		c.ctlAddrs = append(c.ctlAddrs, a)
		peers = append(peers, fmt.Sprintf("n%d-%s", i, a))
	}
	for i := range 3 {
		c.ctlConfs = append(c.ctlConfs, writeFile(t, fmt.Sprintf("ctl%d.conf", i), strings.Join([]string{
			"controllerDLegerGroup=failover",
			"controllerDLegerPeers=" + strings.Join(peers, ";"),
			fmt.Sprintf("controllerDLegerSelfId=n%d", i),
			"controllerStorePath=" + filepath.Join(dir, fmt.Sprintf("ctl%d", i)),
			"controllerListenAddr=" + c.ctlAddrs[i],
		}, "\n")+"\n"))
		c.ctls = append(c.ctls, nil)
		c.startController(t, i)
	}
	c.nsPort = testutil.StablePort(t)
	c.nsAddr = "127.0.0.1:" + strconv.Itoa(c.nsPort)
	c.startNameServer(t)
	for i := range 3 {
		b := &foBroker{id: i + 1, port: testutil.StablePort(t), store: filepath.Join(dir, fmt.Sprintf("b%d", i+1))}
		var ctl []string
		for _, a := range c.ctlAddrs {
			px := nemesis.New(t, a)
			b.proxies = append(b.proxies, px)
			ctl = append(ctl, px.Addr())
		}
		b.conf = writeBrokerConf(t,
			"brokerClusterName=DefaultCluster", "brokerName=broker-a", "brokerId="+strconv.Itoa(b.id),
			"namesrvAddr="+c.nsAddr, "brokerIP1=127.0.0.1", "listenPort="+strconv.Itoa(b.port),
			"haListenPort="+strconv.Itoa(testutil.StablePort(t)), "fastListenPort=-1", "storePathRootDir="+b.store,
			"mappedFileSizeCommitLog=4194304", "maxMessageSize=65536", "flushDiskType=ASYNC_FLUSH",
			"enableControllerMode=true", "controllerAddr="+strings.Join(ctl, ";"), "allAckInSyncStateSet=true",
			"shutdownTimeoutMillis=2000")
		c.brokers = append(c.brokers, b)
		c.startBroker(t, b)
	}
	adm, err := admin.New(pclient.NameServers(c.nsAddr))
	require.NoError(t, err)
	t.Cleanup(func() { _ = adm.Close() })
	c.adm = adm
	return c
}

func (c *failoverCluster) startController(t *testing.T, i int) {
	p := start(t, nil, "controller", "-c", c.ctlConfs[i])
	p.waitLog(controllerListenRe, 30*time.Second)
	c.ctls[i] = p
}

func (c *failoverCluster) startNameServer(t *testing.T) {
	var p *proc
	poll.Until(t, 30*time.Second, "the name server listens", func() bool {
		p = start(t, nil, "namesrv", "--listen", c.nsAddr)
		if p.tryWaitLog(listenRe, 10*time.Second) {
			return true
		}
		_ = p.cmd.Process.Kill()
		return false
	})
	c.ns = p
}

func (c *failoverCluster) startBroker(t *testing.T, b *foBroker) {
	b.p = start(t, nil, "broker", "-c", b.conf)
	b.p.waitLog(brokerStartedRe, 60*time.Second)
}

// info is the set's state from the controllers.
func (c *failoverCluster) info(ctx context.Context) (*body.ReplicaInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return c.adm.BrokerSetInfo(ctx, c.ctlAddrs, "DefaultCluster", "broker-a")
}

// waitHealthy waits until the set has a master whose broker serves, and all
// three replicas in its SyncStateSet.
func (c *failoverCluster) waitHealthy(t *testing.T) *body.ReplicaInfo {
	t.Helper()
	var ri *body.ReplicaInfo
	poll.Until(t, 2*time.Minute, "a master and all three replicas in the SyncStateSet", func() bool {
		r, err := c.info(context.Background())
		if err != nil || r.MasterBrokerID == body.NoMasterID || len(r.SyncStateSet) != 3 {
			return false
		}
		ri = r
		return true
	})
	c.lastEpoch = ri.MasterEpoch
	return ri
}

func (c *failoverCluster) broker(id int64) *foBroker { return c.brokers[id-1] }

// --- load ---

// foAck is one send acknowledged SEND_OK.
type foAck struct {
	key, offsetMsgID string
	queue            int32
	offset           int64
	body             []byte
	at               time.Time
	host             string // the broker that stored it
}

type foLoad struct {
	p       *producer.Producer
	stopCh  chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	acks    []foAck
	acked   atomic.Int64
	errs    atomic.Int64
	nacked  atomic.Int64
	lastErr atomic.Value
}

const foSenders = 4

func (c *failoverCluster) startLoad(t *testing.T, seed uint64) *foLoad {
	p, err := producer.New(pclient.NameServers(c.nsAddr), producer.Group("fo-producer"),
		producer.Retries(0), producer.SendTimeout(3*time.Second))
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	t.Cleanup(func() { _ = p.Close() })
	ri := c.waitHealthy(t)
	createTopic(t, newRawClient(t), c.broker(ri.MasterBrokerID).addr(), c.topic, c.queues)
	l := &foLoad{p: p, stopCh: make(chan struct{})}
	for g := range foSenders {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(g)))
			for i := 0; ; i++ {
				select {
				case <-l.stopCh:
					return
				case <-time.After(5 * time.Millisecond):
				}
				b := make([]byte, 128)
				for j := range b {
					b[j] = byte(rng.Uint32())
				}
				key := fmt.Sprintf("g%d-%d", g, i)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				res, err := p.Send(ctx, producer.NewMessage(c.topic, b, producer.Keys(key)))
				cancel()
				switch {
				case err != nil:
					l.errs.Add(1)
					l.lastErr.Store(err.Error())
					time.Sleep(50 * time.Millisecond)
				case res.Status != producer.SendOK:
					l.nacked.Add(1)
				default:
					host, _, _ := message.ParseOffsetMsgID(res.OffsetMsgID)
					l.mu.Lock()
					l.acks = append(l.acks, foAck{key: key, offsetMsgID: res.OffsetMsgID, queue: res.Queue.QueueID,
						offset: int64(res.QueueOffset), body: b, at: time.Now(), host: host.String()})
					l.mu.Unlock()
					l.acked.Add(1)
				}
			}
		}()
	}
	return l
}

func (l *foLoad) waitAcked(t *testing.T, n int64) {
	t.Helper()
	poll.Until(t, 2*time.Minute, fmt.Sprintf("%d acknowledged sends", n), func() bool { return l.acked.Load() >= n })
}

// firstAckAfter returns when the first send after `after` was
// acknowledged by a broker other than `not` ("" for any), or false.
func (l *foLoad) firstAckAfter(after time.Time, not string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first time.Time
	for _, a := range l.acks {
		if a.at.After(after) && a.host != not && (first.IsZero() || a.at.Before(first)) {
			first = a.at
		}
	}
	return first, !first.IsZero()
}

// maxGap is the longest time without an acknowledgement in [from, to].
func (l *foLoad) maxGap(from, to time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ts []time.Time
	for _, a := range l.acks {
		if !a.at.Before(from) && !a.at.After(to) {
			ts = append(ts, a.at)
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	prev, gap := from, time.Duration(0)
	for _, at := range ts {
		gap = max(gap, at.Sub(prev))
		prev = at
	}
	return max(gap, to.Sub(prev))
}

func (l *foLoad) stop(t *testing.T) []foAck {
	close(l.stopCh)
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("senders did not stop")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acks)
}

// --- consumer ---

type foConsumer struct {
	mu    sync.Mutex
	seen  map[string]int // key -> deliveries
	count atomic.Int64
	last  atomic.Int64 // unix nanos of the last delivery
}

func (c *failoverCluster) startConsumer(t *testing.T) *foConsumer {
	fc := &foConsumer{seen: map[string]int{}}
	pc, err := consumer.NewPush(pclient.NameServers(c.nsAddr), consumer.Group("fo-consumer"),
		consumer.FromWhere(consumer.ConsumeFromFirstOffset))
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(c.topic, consumer.Tag("*"),
		consumer.Concurrently(func(_ context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
			fc.mu.Lock()
			for _, m := range msgs {
				fc.seen[m.Properties[message.PropertyKeys]]++
			}
			fc.mu.Unlock()
			fc.count.Add(int64(len(msgs)))
			fc.last.Store(time.Now().UnixNano())
			return consumer.ConsumeSuccess
		})))
	require.NoError(t, pc.Start(context.Background()))
	t.Cleanup(func() { _ = pc.Close() })
	return fc
}

// --- trials ---

type trialResult struct {
	kind      string
	failover  time.Duration // fault to the first acknowledgement by the new master (or, for leader, the longest gap)
	elected   time.Duration // fault to the controllers naming the new master
	consumed  bool          // the consumer got messages after the fault
	oldMaster int64
	newMaster int64
	epoch     int32
}

func (r trialResult) String() string {
	return fmt.Sprintf("failover %v (elected after %v), master %d -> %d (epoch %d), consumer resumed %v",
		r.failover.Round(10*time.Millisecond), r.elected.Round(10*time.Millisecond), r.oldMaster, r.newMaster, r.epoch, r.consumed)
}

func (c *failoverCluster) trial(t *testing.T, kind string, load *foLoad, cons *foConsumer) trialResult {
	ri := c.waitHealthy(t)
	load.waitAcked(t, load.acked.Load()+100)
	m := c.broker(ri.MasterBrokerID)
	r := trialResult{kind: kind, oldMaster: ri.MasterBrokerID}
	fault := time.Now()
	switch kind {
	case "kill9":
		require.NoError(t, m.p.cmd.Process.Signal(syscall.SIGKILL))
		_ = m.p.wait(30 * time.Second)
		c.waitNewMaster(t, ri.MasterEpoch, &r, load, fault, m.addr())
		c.startBroker(t, m)
	case "stop":
		require.NoError(t, m.p.cmd.Process.Signal(syscall.SIGSTOP))
		c.waitNewMaster(t, ri.MasterEpoch, &r, load, fault, m.addr())
		time.Sleep(2 * time.Second) // paused well past its lease
		require.NoError(t, m.p.cmd.Process.Signal(syscall.SIGCONT))
	case "partition":
		for _, px := range m.proxies {
			px.Block()
		}
		c.waitNewMaster(t, ri.MasterEpoch, &r, load, fault, m.addr())
		time.Sleep(2 * time.Second) // clients may still reach it: it must refuse
		for _, px := range m.proxies {
			px.Unblock()
		}
	case "leader":
		l := c.controllerLeader(t)
		require.NoError(t, c.ctls[l].cmd.Process.Signal(syscall.SIGKILL))
		_ = c.ctls[l].wait(30 * time.Second)
		time.Sleep(8 * time.Second)
		r.failover = load.maxGap(fault, time.Now())
		c.startController(t, l)
		ri2, err := c.info(context.Background())
		require.NoError(t, err)
		r.newMaster, r.epoch = ri2.MasterBrokerID, ri2.MasterEpoch
	case "power":
		for _, b := range c.brokers {
			_ = b.p.cmd.Process.Signal(syscall.SIGKILL)
		}
		for _, p := range append(slices.Clone(c.ctls), c.ns) {
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
		}
		for _, b := range c.brokers {
			_ = b.p.wait(30 * time.Second)
		}
		for _, p := range append(slices.Clone(c.ctls), c.ns) {
			_ = p.wait(30 * time.Second)
		}
		restart := time.Now()
		for i := range c.ctls {
			c.startController(t, i)
		}
		c.startNameServer(t)
		for _, b := range c.brokers {
			c.startBroker(t, b)
		}
		poll.Until(t, 2*time.Minute, "an acknowledgement after the restart", func() bool {
			_, ok := load.firstAckAfter(restart, "")
			return ok
		})
		first, _ := load.firstAckAfter(restart, "")
		r.failover = first.Sub(restart)
		ri2 := c.waitHealthy(t)
		r.newMaster, r.epoch = ri2.MasterBrokerID, ri2.MasterEpoch
	default:
		t.Fatalf("unknown fault %q", kind)
	}
	c.waitHealthy(t)
	before := cons.count.Load()
	poll.Until(t, time.Minute, "the consumer gets messages after the fault", func() bool {
		return cons.count.Load() > before
	})
	r.consumed = true
	return r
}

// waitNewMaster waits for a master of a later epoch and for the load's first
// acknowledgement by a broker other than old.
func (c *failoverCluster) waitNewMaster(t *testing.T, epoch int32, r *trialResult, load *foLoad, fault time.Time, old string) {
	t.Helper()
	poll.Until(t, time.Minute, "a new master", func() bool {
		ri, err := c.info(context.Background())
		if err != nil || ri.MasterEpoch <= epoch || ri.MasterBrokerID == body.NoMasterID {
			return false
		}
		r.newMaster, r.epoch = ri.MasterBrokerID, ri.MasterEpoch
		r.elected = time.Since(fault)
		return true
	})
	poll.Until(t, time.Minute, "an acknowledgement by the new master", func() bool {
		_, ok := load.firstAckAfter(fault, old)
		return ok
	})
	first, _ := load.firstAckAfter(fault, old)
	r.failover = first.Sub(fault)
}

func (c *failoverCluster) controllerLeader(t *testing.T) int {
	idx := -1
	poll.Until(t, 30*time.Second, "a controller leader", func() bool {
		for i, a := range c.ctlAddrs {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			md, err := c.adm.ControllerMetadata(ctx, a)
			cancel()
			if err == nil && md.IsLeader {
				idx = i
				return true
			}
		}
		return false
	})
	return idx
}

// --- verification ---

// verify reads every queue from the master and checks the acknowledged sends
// and the consumer's reads against it.
func (c *failoverCluster) verify(t *testing.T, acks []foAck, cons *foConsumer) {
	ri := c.waitHealthy(t)
	master := c.broker(ri.MasterBrokerID).addr()
	cl := newRawClient(t)
	want := make([]int64, c.queues)
	for _, a := range acks {
		want[a.queue] = max(want[a.queue], a.offset+1)
	}
	poll.Until(t, time.Minute, "the master's queues hold every acknowledged offset", func() bool {
		for q, w := range want {
			if maxQueueOffset(t, cl, master, c.topic, q) < w {
				return false
			}
		}
		return true
	})
	stored := make([][]*message.MessageExt, c.queues)
	inLog := map[string]bool{}
	for q := range c.queues {
		stored[q] = pullQueue(t, cl, master, c.topic, q)
		for _, m := range stored[q] {
			inLog[m.Properties[message.PropertyKeys]] = true
		}
	}
	lost := 0
	for _, a := range acks {
		if a.offset >= int64(len(stored[a.queue])) {
			lost++
			if lost <= 10 {
				t.Errorf("LOST acknowledged %s (queue %d offset %d, stored by %s): queue has %d", a.key, a.queue, a.offset,
					a.host, len(stored[a.queue]))
			}
			continue
		}
		m := stored[a.queue][a.offset]
		if m.Properties[message.PropertyKeys] != a.key || !bytes.Equal(m.Body, a.body) || m.OffsetMsgID() != a.offsetMsgID {
			lost++
			if lost <= 10 {
				t.Errorf("acknowledged %s (queue %d offset %d, %s) differs from the log: key %q, %s",
					a.key, a.queue, a.offset, a.offsetMsgID, m.Properties[message.PropertyKeys], m.OffsetMsgID())
			}
		}
	}
	require.Zero(t, lost, "acknowledged messages lost or overwritten")

	// Everything the consumer read is in the final log.
	poll.Until(t, time.Minute, "the consumer catches up", func() bool {
		cons.mu.Lock()
		defer cons.mu.Unlock()
		for k := range inLog {
			if cons.seen[k] == 0 {
				return false
			}
		}
		return true
	})
	cons.mu.Lock()
	defer cons.mu.Unlock()
	phantoms := 0
	for k := range cons.seen {
		if !inLog[k] {
			phantoms++
			if phantoms <= 10 {
				t.Errorf("the consumer read %s, which the final log does not have", k)
			}
		}
	}
	require.Zero(t, phantoms, "messages read and then lost")
}

func (c *failoverCluster) report(t *testing.T, results []trialResult, acks []foAck, cons *foConsumer) {
	cons.mu.Lock()
	dups, reads := 0, 0
	for _, n := range cons.seen {
		reads += n
		if n > 1 {
			dups += n - 1
		}
	}
	cons.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "failover trials %s: %d acknowledged, 0 lost, 0 read-then-lost; consumer read %d (%d duplicate deliveries)\n",
		time.Now().UTC().Format(time.DateOnly), len(acks), reads, dups)
	byKind := map[string][]time.Duration{}
	elected := map[string][]time.Duration{}
	var kinds []string
	for _, r := range results {
		if _, ok := byKind[r.kind]; !ok {
			kinds = append(kinds, r.kind)
		}
		byKind[r.kind] = append(byKind[r.kind], r.failover)
		elected[r.kind] = append(elected[r.kind], r.elected)
	}
	for _, k := range kinds {
		d := byKind[k]
		slices.Sort(d)
		if e := elected[k]; e[0] > 0 {
			slices.Sort(e)
			fmt.Fprintf(&b, "  %-9s %3d trials, fault to election: p50 %v, p99 %v\n", k, len(e),
				pct(e, 50).Round(10*time.Millisecond), pct(e, 99).Round(10*time.Millisecond))
		}
		what := "fault to first ack by the new master"
		switch k {
		case "leader":
			what = "longest gap between acks"
		case "power":
			what = "restart to first ack"
		}
		fmt.Fprintf(&b, "  %-9s %3d trials, %s: p50 %v, p99 %v, max %v\n", k, len(d), what,
			pct(d, 50).Round(10*time.Millisecond), pct(d, 99).Round(10*time.Millisecond), d[len(d)-1].Round(10*time.Millisecond))
	}
	t.Log(b.String())
	if path := os.Getenv("PETREL_FAILOVER_REPORT"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		require.NoError(t, err)
		_, _ = f.WriteString(b.String())
		_ = f.Close()
	}
}

func pct(d []time.Duration, p int) time.Duration {
	i := (len(d)*p + 99) / 100
	return d[max(0, min(i, len(d))-1)]
}
