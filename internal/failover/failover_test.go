package failover_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/broker/ha"
	"github.com/petrelmq/petrel/internal/failover"
	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/internal/store/storetest"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/internal/testutil/nemesis"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
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

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// set is a broker set of three replicas in controller mode, each run by a
// supervisor, with three controllers and a name server.
type set struct {
	t    *testing.T
	log  *slog.Logger
	ctl  *testutil.Controllers
	ns   string
	dirs []string
	sups []*failover.Supervisor
	cfg  func(*broker.Config)
	// links are each replica's connections to the controllers, cuttable.
	links [][]*nemesis.Proxy
}

func newSet(t *testing.T, n int, tweak func(*broker.Config)) *set {
	log := testLogger(t)
	s := &set{t: t, log: log, ctl: testutil.StartControllers(t, 3, log, nil), cfg: tweak}
	_, s.ns = testutil.StartNameServer(t)
	for i := range n {
		s.dirs = append(s.dirs, filepath.Join(t.TempDir(), fmt.Sprintf("b%d", i+1)))
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
	return s
}

func (s *set) config(i int) broker.Config {
	c := broker.DefaultConfig()
	c.BrokerName = "broker-a"
	c.BrokerID = int64(i + 1)
	c.ListenAddr = "127.0.0.1:0"
	c.BrokerIP1 = "127.0.0.1"
	c.FastListenPort = -1
	c.HAListenPort = freePort(s.t)
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
	f.HeartbeatTimeout = 2 * time.Second
	f.HeartbeatInterval = 200 * time.Millisecond
	f.CheckSyncStateSetPeriod = 500 * time.Millisecond
	f.MaxTimeNotCatchup = 3 * time.Second
	f.AllAck = true
	if s.cfg != nil {
		s.cfg(&c)
	}
	return c
}

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
	testutil.WaitFor(s.t, 30*time.Second, func() bool {
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
	testutil.WaitFor(s.t, 30*time.Second, func() bool {
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
	testutil.WaitFor(t, 30*time.Second, func() bool { return len(s.confirmedSSS()) == 3 })

	p := newProducer(t, s.ns)
	acks := sendN(t, p, "FailoverTopic", "before-", 200)
	require.Len(t, acks, 200, "every send is acknowledged while the set is healthy")

	old := s.sups[m].Addr()
	oldDir := s.dirs[m]
	s.stop(m)
	m2, epoch2 := s.master(epoch)
	require.NotEqual(t, m, m2)
	require.EqualValues(t, 2, epoch2)

	st := s.sups[m2].Broker().Replication().Store
	for _, a := range acks {
		testutil.WaitFor(t, 10*time.Second, func() bool {
			return int64(st.MaxOffsetInQueue("FailoverTopic", a.queue)) > a.offset
		})
	}
	// Sends resume once the producer's route shows the new master.
	testutil.WaitFor(t, 20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := p.Send(ctx, producer.NewMessage("FailoverTopic", []byte("probe")))
		return err == nil && res.Status == producer.SendOK
	})
	more := sendN(t, p, "FailoverTopic", "after-", 50)
	require.Len(t, more, 50, "sends go on on the new master")

	// The old master returns as a slave of the new one.
	s.start(m)
	s.waitFollowers(m2, epoch2)
	require.NotEqual(t, old, "")
	es, err := ha.OpenEpochFile(vfs.OS, filepath.Join(oldDir, "epochFileCheckpoint"))
	require.NoError(t, err)
	testutil.WaitFor(t, 20*time.Second, func() bool {
		got := s.sups[m].Epochs()
		return len(got) == 2 && got[0].Epoch == 1 && got[1].Epoch == 2
	})
	_ = es
	testutil.WaitFor(t, 30*time.Second, func() bool { return slices.Contains(s.syncStateSetOf(m2), int64(m+1)) })
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
	testutil.WaitFor(t, 30*time.Second, func() bool { return len(s.confirmedSSS()) == 3 })
	p := newProducer(t, s.ns)
	require.Len(t, sendN(t, p, "PartT", "before-", 50), 50)

	st := s.sups[m].Broker().Replication().Store
	cut := time.Now()
	for _, px := range s.links[m] {
		px.Block()
	}
	// Within the lease (2 s, less a tenth) it may still acknowledge; after
	// it, puts are refused before they are appended.
	testutil.WaitFor(t, 10*time.Second, func() bool {
		q := store.NewCompletions()
		st.Put([]*message.MessageExt{storetest.Msg("PartT", 0, 0, 16)}, q, nil)
		c, err := q.Next(context.Background())
		return err == nil && (errors.Is(c.Err, store.ErrFenced) || c.Result.Status == store.PutFenced)
	})
	require.Less(t, time.Since(cut), 2*time.Second+time.Second, "fenced about when its lease ran out")

	m2, epoch2 := s.master(epoch)
	require.NotEqual(t, m, m2)
	testutil.WaitFor(t, 20*time.Second, func() bool {
		r, _ := s.sups[m].Role()
		return r == failover.Standby
	})
	for _, px := range s.links[m] {
		px.Unblock()
	}
	s.waitFollowers(m2, epoch2)
	testutil.WaitFor(t, 30*time.Second, func() bool { return len(s.confirmedSSS()) == 3 })
	require.NotEmpty(t, sendN(t, p, "PartT", "after-", 20))
}
