package failover_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/broker/ha"
	"github.com/petrelmq/petrel/internal/controller"
	"github.com/petrelmq/petrel/internal/failover"
	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/internal/store/storetest"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/internal/testutil/nemesis"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/auth"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/consumer"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
)

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("PETREL_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// set is a broker set of three replicas in controller mode, each run by a
// supervisor, with three controllers and a name server.
type set struct {
	t    *testing.T
	log  *slog.Logger
	ctl  *testutil.Controllers
	ns   string
	dirs []string
	ha   []int // each replica's haListenPort, the same at every restart
	sups []*failover.Supervisor
	cfg  func(*broker.Config)
	// links are each replica's connections to the controllers, cuttable.
	links [][]*nemesis.Proxy
}

func newSet(t *testing.T, n int, tweak func(*broker.Config)) *set {
	log := testLogger(t)
	s := &set{t: t, log: log, ctl: testutil.StartControllers(t, 3, log, nil), cfg: tweak}
	s.init(n)
	return s
}

// init starts the name server and n replicas of a set whose controllers run.
func (s *set) init(n int) {
	t := s.t
	_, s.ns = testutil.StartNameServer(t, testutil.WithLogger(s.log))
	for i := range n {
		s.dirs = append(s.dirs, filepath.Join(t.TempDir(), fmt.Sprintf("b%d", i+1)))
		s.ha = append(s.ha, testutil.StablePort(t))
		s.sups = append(s.sups, nil)
		var links []*nemesis.Proxy
		for _, a := range s.ctl.Addrs() {
			links = append(links, nemesis.New(t, a))
		}
		s.links = append(s.links, links)
	}
	t.Cleanup(func() {
		for i := range s.sups {
			s.stop(i)
		}
	})
	for i := range n {
		s.start(i)
	}
}

func (s *set) config(i int) broker.Config {
	c := broker.DefaultConfig()
	c.BrokerName = "broker-a"
	c.BrokerID = int64(i + 1)
	c.ListenAddr = "127.0.0.1:0"
	c.BrokerIP1 = "127.0.0.1"
	c.FastListenPort = -1
	c.HAListenPort = s.ha[i] // bound again at each restart as master
	c.NameServers = []string{s.ns}
	c.Store.RootDir = s.dirs[i]
	c.Store.CommitLogSegmentSize = 1 << 20
	c.Store.MaxMessageSize = 64 << 10
	c.FS = vfs.OS
	c.RegisterNameServerPeriod = 10 * time.Second
	c.HASendHeartbeatInterval = 500 * time.Millisecond
	c.HAHousekeepingInterval = 5 * time.Second
	c.ShutdownTimeout = time.Second
	f := &c.Failover
	f.Enable = true
	f.ControllerAddrs = nil
	for _, px := range s.links[i] {
		f.ControllerAddrs = append(f.ControllerAddrs, px.Addr())
	}
	f.HeartbeatTimeout = testLease
	f.HeartbeatInterval = 200 * time.Millisecond
	f.CheckSyncStateSetPeriod = 500 * time.Millisecond
	f.MaxTimeNotCatchup = 2 * testLease
	f.AllAck = true
	if s.cfg != nil {
		s.cfg(&c)
	}
	return c
}

// testLease is the replicas' controllerHeartBeatTimeoutMills, Petrel's
// default: a master on a machine loaded with other test runs keeps its
// lease while it is healthy (4 s lapsed at load average 20).
const testLease = 6 * time.Second

// liveness bounds waits for something that must happen (an election, a
// route change, a catch-up); only a failing test waits this long.
const liveness = 60 * time.Second

func (s *set) start(i int) {
	s.t.Helper()
	sup, err := failover.New(s.config(i), s.log.With("replica", i+1), clock.Real{})
	require.NoError(s.t, err)
	require.NoError(s.t, sup.Start(context.Background()))
	s.sups[i] = sup
}

func (s *set) stop(i int) {
	if s.sups[i] != nil {
		_ = s.sups[i].Close()
		s.sups[i] = nil
	}
}

// master waits for a replica to serve as master of an epoch above after and
// returns its index and epoch.
func (s *set) master(after int32) (int, int32) {
	s.t.Helper()
	idx, epoch := -1, int32(0)
	testutil.WaitFor(s.t, liveness, func() bool {
		for i, sup := range s.sups {
			if sup == nil {
				continue
			}
			if r, e := sup.Role(); r == failover.Master && e > after {
				idx, epoch = i, e
				return true
			}
		}
		return false
	})
	return idx, epoch
}

// waitFollowers waits until every other running replica follows epoch.
func (s *set) waitFollowers(master int, epoch int32) {
	s.t.Helper()
	testutil.WaitFor(s.t, liveness, func() bool {
		for i, sup := range s.sups {
			if sup == nil || i == master {
				continue
			}
			if r, e := sup.Role(); r != failover.Slave || e != epoch {
				return false
			}
		}
		return true
	})
}

// confirmedSSS is the set's SyncStateSet as the controllers have it.
func (s *set) confirmedSSS() []int64 {
	adm, err := admin.New(client.NameServers(s.ns))
	require.NoError(s.t, err)
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ri, err := adm.BrokerSetInfo(ctx, s.ctl.Addrs(), "DefaultCluster", "broker-a")
	if err != nil {
		return nil
	}
	return ri.SyncStateSet
}

// syncStateSetOf is the members master i counts (the confirmed set, and
// replicas joining it).
func (s *set) syncStateSetOf(i int) []int64 {
	r := s.sups[i].Broker().Replication()
	if r.Server == nil {
		return nil
	}
	var ids []int64
	for _, rep := range r.Server.Replicas() {
		if rep.Member {
			ids = append(ids, rep.BrokerID)
		}
	}
	return ids
}

func newProducer(t *testing.T, ns string) *producer.Producer {
	t.Helper()
	p, err := producer.New(client.NameServers(ns), producer.Group("failover-test"),
		producer.Retries(4), producer.SendTimeout(3*time.Second), client.RouteRefreshInterval(time.Second))
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	t.Cleanup(func() { _ = p.Close() })
	return p
}

type acked struct {
	queue  int32
	offset int64
	body   string
}

// sendN sends n messages and returns the acknowledged ones (SEND_OK).
func sendN(t *testing.T, p *producer.Producer, topic, prefix string, n int) []acked {
	t.Helper()
	var out []acked
	for i := range n {
		body := prefix + strconv.Itoa(i)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := p.Send(ctx, producer.NewMessage(topic, []byte(body)))
		cancel()
		switch {
		case err == nil && res.Status == producer.SendOK:
			out = append(out, acked{queue: res.Queue.QueueID, offset: int64(res.QueueOffset), body: body})
		case err != nil:
			t.Logf("send %s: %v", body, err)
		default:
			t.Logf("send %s: %v", body, res.Status)
		}
	}
	return out
}

// TestFailoverKillMaster: three replicas elect a master (epoch 1), its
// SyncStateSet grows to all three, acknowledged sends reach every member;
// when the master stops, a member is elected (epoch 2) and has every
// acknowledged message; the old master comes back as a slave of the new
// one, with both epochs in its epoch file.
func TestFailoverKillMaster(t *testing.T) {
	s := newSet(t, 3, nil)
	m, epoch := s.master(0)
	require.EqualValues(t, 1, epoch)
	s.waitFollowers(m, epoch)
	testutil.WaitFor(t, liveness, func() bool { return len(s.confirmedSSS()) == 3 })

	p := newProducer(t, s.ns)
	acks := sendEventually(t, p, "FailoverTopic", "before-", 200)
	require.Len(t, acks, 200, "every send is acknowledged while the set is healthy")

	old := s.sups[m].Addr()
	oldDir := s.dirs[m]
	s.stop(m)
	m2, epoch2 := s.master(epoch)
	require.NotEqual(t, m, m2)
	require.EqualValues(t, 2, epoch2)

	st := s.sups[m2].Broker().Replication().Store
	for _, a := range acks {
		testutil.WaitFor(t, liveness, func() bool {
			return int64(st.MaxOffsetInQueue("FailoverTopic", a.queue)) > a.offset
		})
	}
	// Sends resume once the producer's route shows the new master.
	testutil.WaitFor(t, liveness, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := p.Send(ctx, producer.NewMessage("FailoverTopic", []byte("probe")))
		return err == nil && res.Status == producer.SendOK
	})
	more := sendEventually(t, p, "FailoverTopic", "after-", 50)
	require.Len(t, more, 50, "sends go on on the new master")

	// The old master returns as a slave of the new one.
	s.start(m)
	s.waitFollowers(m2, epoch2)
	require.NotEqual(t, old, "")
	es, err := ha.OpenEpochFile(vfs.OS, filepath.Join(oldDir, "epochFileCheckpoint"))
	require.NoError(t, err)
	testutil.WaitFor(t, liveness, func() bool {
		got := s.sups[m].Epochs()
		return len(got) == 2 && got[0].Epoch == 1 && got[1].Epoch == 2
	})
	_ = es
	testutil.WaitFor(t, liveness, func() bool { return slices.Contains(s.syncStateSetOf(m2), int64(m+1)) })
}

// TestFailoverPartitionedMaster: a master cut from every controller (its
// replicas and clients still reach it) stops acknowledging when its lease
// ends, before another is elected; it steps down a timeout later, so it no
// longer registers as the set's master; when the link heals it follows the
// new master.
func TestFailoverPartitionedMaster(t *testing.T) {
	s := newSet(t, 3, nil)
	m, epoch := s.master(0)
	s.waitFollowers(m, epoch)
	testutil.WaitFor(t, liveness, func() bool { return len(s.confirmedSSS()) == 3 })
	p := newProducer(t, s.ns)
	require.Len(t, sendEventually(t, p, "PartT", "before-", 50), 50)

	st := s.sups[m].Broker().Replication().Store
	cut := time.Now()
	for _, px := range s.links[m] {
		px.Block()
	}
	// Within the lease (less a tenth) it may still acknowledge; after it,
	// puts are refused before they are appended.
	testutil.WaitFor(t, liveness, func() bool {
		q := store.NewCompletions()
		st.Put([]*message.MessageExt{storetest.Msg("PartT", 0, 0, 16)}, q, nil)
		c, err := q.Next(context.Background())
		return err == nil && (errors.Is(c.Err, store.ErrFenced) || c.Result.Status == store.PutFenced)
	})
	require.Less(t, time.Since(cut), testLease+2*time.Second, "fenced about when its lease ran out")

	m2, epoch2 := s.master(epoch)
	require.NotEqual(t, m, m2)
	testutil.WaitFor(t, liveness, func() bool {
		r, _ := s.sups[m].Role()
		return r == failover.Standby
	})
	for _, px := range s.links[m] {
		px.Unblock()
	}
	s.waitFollowers(m2, epoch2)
	testutil.WaitFor(t, liveness, func() bool { return len(s.confirmedSSS()) == 3 })
	require.Len(t, sendEventually(t, p, "PartT", "after-", 20), 20)
}

// sendEventually sends n messages, each retried (as an application would)
// until acknowledged within liveness: a master on a machine loaded by other
// tests may miss its lease for a moment and refuse sends meanwhile.
func sendEventually(t *testing.T, p *producer.Producer, topic, prefix string, n int) []acked {
	t.Helper()
	var out []acked
	for i := range n {
		body := prefix + strconv.Itoa(i)
		testutil.WaitFor(t, liveness, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := p.Send(ctx, producer.NewMessage(topic, []byte(body)))
			if err != nil || res.Status != producer.SendOK {
				return false
			}
			out = append(out, acked{queue: res.Queue.QueueID, offset: int64(res.QueueOffset), body: body})
			return true
		})
	}
	return out
}

// collect starts a push consumer of topic and returns the bodies it got.
func collect(t *testing.T, ns, group, topic string) func() map[string]int {
	t.Helper()
	var mu sync.Mutex
	got := map[string]int{}
	pc, err := consumer.NewPush(client.NameServers(ns), consumer.Group(group),
		consumer.FromWhere(consumer.ConsumeFromFirstOffset))
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, consumer.Tag("*"),
		consumer.Concurrently(func(_ context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
			mu.Lock()
			for _, m := range msgs {
				got[string(m.Body)]++
			}
			mu.Unlock()
			return consumer.ConsumeSuccess
		})))
	require.NoError(t, pc.Start(context.Background()))
	t.Cleanup(func() { _ = pc.Close() })
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(got)
	}
}

// TestFailoverKeepsScheduledAndTransactional: a delay-level message, a timer
// message and an undecided transactional half message, all stored before
// the master fails, are delivered by the new master (the half message after
// the new master checks it back and the producer commits).
func TestFailoverKeepsScheduledAndTransactional(t *testing.T) {
	s := newSet(t, 3, func(c *broker.Config) {
		c.TransactionTimeOut = time.Second
		c.TransactionCheckInterval = 500 * time.Millisecond
	})
	m, epoch := s.master(0)
	s.waitFollowers(m, epoch)
	testutil.WaitFor(t, liveness, func() bool { return len(s.confirmedSSS()) == 3 })

	p := newProducer(t, s.ns)
	ctx := context.Background()
	sent := time.Now()
	for _, msg := range []*message.Message{
		producer.NewMessage("SchedT", []byte("plain")),
		producer.NewMessage("SchedT", []byte("delayed"), producer.DelayLevel(4)), // 30 s
		producer.NewMessage("SchedT", []byte("timer"), producer.DeliverAt(time.Now().Add(30*time.Second))),
	} {
		res, err := p.Send(ctx, msg)
		require.NoError(t, err)
		require.Equal(t, producer.SendOK, res.Status)
	}
	var commit atomic.Bool
	tp, err := producer.NewTransactional(client.NameServers(s.ns), producer.Group("sched-tx"),
		producer.TransactionListener(
			func(context.Context, *message.Message) producer.TransactionState { return producer.TransactionUnknown },
			func(context.Context, *message.MessageExt) producer.TransactionState {
				if commit.Load() {
					return producer.TransactionCommit
				}
				return producer.TransactionUnknown
			}))
	require.NoError(t, err)
	require.NoError(t, tp.Start(ctx))
	t.Cleanup(func() { _ = tp.Close() })
	_, err = tp.SendInTransaction(ctx, producer.NewMessage("SchedT", []byte("half")))
	require.NoError(t, err)
	got := collect(t, s.ns, "sched-reader", "SchedT") // the topic exists now
	testutil.WaitFor(t, liveness, func() bool { return got()["plain"] == 1 })
	if time.Since(sent) < 25*time.Second {
		require.Zero(t, got()["delayed"]+got()["timer"]+got()["half"], "nothing else is due yet")
	}

	s.stop(m)
	m2, _ := s.master(epoch)
	require.NotEqual(t, m, m2)
	commit.Store(true)
	deadline := time.Now().Add(60 * time.Second)
	for {
		g := got()
		if g["delayed"] >= 1 && g["timer"] >= 1 && g["half"] >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the failover the consumer got %v; want delayed, timer and half too", g)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFailoverElectMaster: an operator's electMaster (pkg/admin, mqadmin
// electMaster) moves the master to a chosen replica: the old master becomes
// its slave, the chosen one serves, sends go on.
func TestFailoverElectMaster(t *testing.T) {
	s := newSet(t, 3, nil)
	m, epoch := s.master(0)
	s.waitFollowers(m, epoch)
	testutil.WaitFor(t, liveness, func() bool { return len(s.confirmedSSS()) == 3 })
	p := newProducer(t, s.ns)
	require.Len(t, sendEventually(t, p, "ElectT", "before-", 50), 50)

	target := (m + 1) % 3
	adm, err := admin.New(client.NameServers(s.ns))
	require.NoError(t, err)
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ri, err := adm.ElectMaster(ctx, s.ctl.Addrs(), "DefaultCluster", "broker-a", int64(target+1))
	require.NoError(t, err)
	require.EqualValues(t, target+1, ri.MasterBrokerID)
	m2, epoch2 := s.master(epoch)
	require.Equal(t, target, m2)
	s.waitFollowers(m2, epoch2)
	testutil.WaitFor(t, liveness, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := p.Send(ctx, producer.NewMessage("ElectT", []byte("probe")))
		return err == nil && res.Status == producer.SendOK
	})
	require.Len(t, sendEventually(t, p, "ElectT", "after-", 50), 50)
	testutil.WaitFor(t, liveness, func() bool { return len(s.confirmedSSS()) == 3 })
}

// TestFailoverMasterThatCannotStartGivesUp: a replica elected master whose
// broker cannot start as master (its HA port is taken) keeps trying for a
// heartbeat timeout, then goes silent to the controllers, which elect
// another in-sync replica; sends resume there, and the one that gave up
// follows it once its port is free.
func TestFailoverMasterThatCannotStartGivesUp(t *testing.T) {
	s := newSet(t, 3, nil)
	m, epoch := s.master(0)
	s.waitFollowers(m, epoch)
	testutil.WaitFor(t, liveness, func() bool { return len(s.confirmedSSS()) == 3 })
	p := newProducer(t, s.ns)
	require.Len(t, sendEventually(t, p, "GiveUpT", "before-", 20), 20)

	// The others' HA ports are taken while they are slaves (which do not
	// bind them).
	held := map[int]net.Listener{}
	for i := range s.sups {
		if i == m {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", s.ha[i]))
		require.NoError(t, err)
		held[i] = ln
		t.Cleanup(func() { _ = ln.Close() })
	}
	s.stop(m)

	// The controller elects one of them; the other's port is freed.
	adm, err := admin.New(client.NameServers(s.ns))
	require.NoError(t, err)
	t.Cleanup(func() { _ = adm.Close() })
	elected := func(after int32) (int, int32) {
		idx, ep := -1, int32(0)
		testutil.WaitFor(t, liveness, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			ri, err := adm.BrokerSetInfo(ctx, s.ctl.Addrs(), "DefaultCluster", "broker-a")
			if err != nil || ri.MasterEpoch <= after || ri.MasterBrokerID < 1 {
				return false
			}
			idx, ep = int(ri.MasterBrokerID-1), ri.MasterEpoch
			return true
		})
		return idx, ep
	}
	stuck, stuckEpoch := elected(epoch)
	require.NotEqual(t, m, stuck)
	for i, ln := range held {
		if i != stuck {
			require.NoError(t, ln.Close())
		}
	}

	// It gives up; the other is elected and serves.
	m2, epoch2 := s.master(stuckEpoch)
	require.NotEqual(t, stuck, m2)
	require.NotEqual(t, m, m2)
	testutil.WaitFor(t, liveness, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := p.Send(ctx, producer.NewMessage("GiveUpT", []byte("probe")))
		return err == nil && res.Status == producer.SendOK
	})
	require.Len(t, sendEventually(t, p, "GiveUpT", "after-", 20), 20)

	// Freed, it follows the new master.
	require.NoError(t, held[stuck].Close())
	testutil.WaitFor(t, liveness, func() bool {
		r, e := s.sups[stuck].Role()
		return r == failover.Slave && e == epoch2
	})
}

// TestFailoverWithControllerACL: controllers with aclEnable=true serve
// replicas that sign with an admin account (elections and failover work as
// without ACL), and refuse a forged election from an unsigned or non-admin
// caller, while set reads stay open.
func TestFailoverWithControllerACL(t *testing.T) {
	aclFile := filepath.Join(t.TempDir(), "plain_acl.yml")
	require.NoError(t, os.WriteFile(aclFile, []byte(`accounts:
  - accessKey: brokerAdmin
    secretKey: broker-secret-1
    admin: true
  - accessKey: someUser
    secretKey: user-secret-12
    admin: false
`), 0o600))
	admin1 := auth.Credentials{AccessKey: "brokerAdmin", SecretKey: "broker-secret-1"}
	log := testLogger(t)
	s := &set{t: t, log: log, cfg: func(c *broker.Config) { c.Credentials = admin1 },
		ctl: testutil.StartControllers(t, 3, log, func(c *controller.Config) { c.ACLEnable, c.ACLFilePath, c.Credentials = true, aclFile, admin1 })}
	s.init(3)
	m, epoch := s.master(0)
	s.waitFollowers(m, epoch)
	testutil.WaitFor(t, liveness, func() bool { return len(s.confirmedSSS()) == 3 })

	other := int64((m+1)%3 + 1)
	for name, opts := range map[string][]client.SharedOption{
		"unsigned":  nil,
		"non-admin": {client.WithCredentials(auth.Credentials{AccessKey: "someUser", SecretKey: "user-secret-12"})},
		"bad key":   {client.WithCredentials(auth.Credentials{AccessKey: "brokerAdmin", SecretKey: "wrong-secret-1"})},
	} {
		var aopts []client.Option
		aopts = append(aopts, client.NameServers(s.ns))
		for _, o := range opts {
			aopts = append(aopts, o)
		}
		adm, err := admin.New(aopts...)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = adm.ElectMaster(ctx, s.ctl.Addrs(), "DefaultCluster", "broker-a", other)
		require.ErrorContains(t, err, "NO_PERMISSION", name)
		ri, err := adm.BrokerSetInfo(ctx, s.ctl.Addrs(), "DefaultCluster", "broker-a")
		require.NoError(t, err, "%s: reads stay open", name)
		require.EqualValues(t, m+1, ri.MasterBrokerID, "%s: the forged election changed nothing", name)
		cancel()
		_ = adm.Close()
	}

	p := newProducer(t, s.ns)
	require.Len(t, sendEventually(t, p, "AclT", "before-", 20), 20)
	s.stop(m)
	m2, _ := s.master(epoch)
	require.NotEqual(t, m, m2)
	testutil.WaitFor(t, liveness, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := p.Send(ctx, producer.NewMessage("AclT", []byte("probe")))
		return err == nil && res.Status == producer.SendOK
	})
}
