package controller

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/controller/client"
	"github.com/petrelmq/petrel/internal/testutil/poll"
	"github.com/petrelmq/petrel/pkg/admin"
	pclient "github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/header"
	"github.com/petrelmq/petrel/pkg/remoting"
)

func newTestAdmin(t *testing.T) *admin.Admin {
	t.Helper()
	a, err := admin.New(pclient.NameServers("127.0.0.1:1"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// Timing of the in-process clusters: Raft and the brokers' heartbeats tuned
// down so that a failover takes about a second, with bounds generous enough
// for a loaded machine (every wait polls with a deadline).
const (
	testRaftTimeout     = 400 * time.Millisecond
	testBrokerTimeout   = time.Second
	testHeartbeatEvery  = 100 * time.Millisecond
	testScanInterval    = 50 * time.Millisecond
	waitLong            = 30 * time.Second
	testControllerGroup = "petrel-test"
)

// testCluster is n controllers on 127.0.0.1 ports, each with its store in a
// temporary directory; nodes can be stopped and restarted on the same
// address and store.
type testCluster struct {
	t     *testing.T
	peers []Peer
	dirs  []string
	mu    sync.Mutex
	nodes []*Server // nil while stopped
	tweak func(*Config)
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func startCluster(t *testing.T, n int, tweak func(*Config)) *testCluster {
	t.Helper()
	tc := &testCluster{t: t, nodes: make([]*Server, n), tweak: tweak}
	lns := make([]net.Listener, n)
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		lns[i] = ln
		tc.peers = append(tc.peers, Peer{ID: fmt.Sprintf("n%d", i), Addr: ln.Addr().String()})
		tc.dirs = append(tc.dirs, filepath.Join(t.TempDir(), fmt.Sprintf("n%d", i)))
	}
	t.Cleanup(tc.stopAll)
	for i := range n {
		tc.startNode(i, lns[i])
	}
	return tc
}

func (tc *testCluster) config(i int) Config {
	cfg := DefaultConfig()
	cfg.Group = testControllerGroup
	cfg.Peers = tc.peers
	cfg.SelfID = tc.peers[i].ID
	cfg.StorePath = tc.dirs[i]
	cfg.ScanInterval = testScanInterval
	cfg.HeartbeatTimeout = testBrokerTimeout
	cfg.Workers = 4
	cfg.QueueSize = 128
	cfg.Raft = RaftTiming{HeartbeatTimeout: testRaftTimeout, ElectionTimeout: testRaftTimeout,
		LeaderLeaseTimeout: testRaftTimeout / 2, CommitTimeout: 5 * time.Millisecond}
	if tc.tweak != nil {
		tc.tweak(&cfg)
	}
	return cfg
}

// startNode starts node i on ln, or on its address again when ln is nil.
func (tc *testCluster) startNode(i int, ln net.Listener) {
	t := tc.t
	t.Helper()
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", tc.peers[i].Addr)
		require.NoError(t, err)
	}
	cfg := tc.config(i)
	cfg.Listener = ln
	s, err := New(cfg, testLogger(t), clock.Real{})
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	tc.mu.Lock()
	tc.nodes[i] = s
	tc.mu.Unlock()
}

// stopNode stops node i gracefully (a leader hands over its leadership).
func (tc *testCluster) stopNode(i int) { tc.halt(i, true) }

// killNode stops node i as a crash would: no handover.
func (tc *testCluster) killNode(i int) { tc.halt(i, false) }

func (tc *testCluster) halt(i int, graceful bool) {
	tc.mu.Lock()
	s := tc.nodes[i]
	tc.nodes[i] = nil
	tc.mu.Unlock()
	if s != nil {
		require.NoError(tc.t, s.close(graceful))
	}
}

func (tc *testCluster) stopAll() {
	for i := range tc.nodes {
		tc.killNode(i)
	}
}

func (tc *testCluster) node(i int) *Server {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.nodes[i]
}

func (tc *testCluster) addrs() []string {
	out := make([]string, len(tc.peers))
	for i, p := range tc.peers {
		out[i] = p.Addr
	}
	return out
}

// leader waits until exactly one running node leads and serves, and returns
// its index.
func (tc *testCluster) leader() int {
	tc.t.Helper()
	idx := -1
	poll.Until(tc.t, waitLong, "a serving controller leader", func() bool {
		idx = -1
		n := 0
		for i := range tc.nodes {
			if s := tc.node(i); s != nil && s.IsLeader() {
				idx = i
				n++
			}
		}
		return n == 1
	})
	return idx
}

// testBroker is a broker's controller client with its heartbeat loop.
type testBroker struct {
	t      *testing.T
	id     int64
	c      *client.Client
	offset atomic.Int64
	epoch  atomic.Int32
	cancel context.CancelFunc
	done   chan struct{}
}

func newTestBroker(t *testing.T, addrs []string, id int64) *testBroker {
	t.Helper()
	c, err := client.New(client.Config{
		Addrs: addrs, Cluster: "c", BrokerName: "b", BrokerID: id,
		BrokerAddr: fmt.Sprintf("10.0.0.%d:10911", id+1), HAAddr: fmt.Sprintf("10.0.0.%d:10912", id+1),
		HeartbeatTimeout: testBrokerTimeout, RequestTimeout: time.Second,
	}, testLogger(t))
	require.NoError(t, err)
	b := &testBroker{t: t, id: id, c: c}
	t.Cleanup(func() {
		b.stop()
		require.NoError(t, c.Close())
	})
	return b
}

// start runs the heartbeat loop until stop.
func (b *testBroker) start() {
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel, b.done = cancel, make(chan struct{})
	go func() {
		defer close(b.done)
		_ = b.c.Run(ctx, testHeartbeatEvery, func() client.Progress {
			return client.Progress{Epoch: b.epoch.Load(), MaxOffset: b.offset.Load()}
		})
	}()
}

// stop ends the heartbeat loop: to the controllers, the broker died.
func (b *testBroker) stop() {
	if b.cancel != nil {
		b.cancel()
		<-b.done
		b.cancel = nil
	}
}

// waitView waits until the client's latest view satisfies cond.
func (b *testBroker) waitView(what string, cond func(v client.View) bool) client.View {
	b.t.Helper()
	var v client.View
	poll.Until(b.t, waitLong, fmt.Sprintf("broker %d: %s", b.id, what), func() bool {
		var ok bool
		v, ok = b.c.Latest()
		return ok && cond(v)
	})
	return v
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// checkSetOnAll waits until every running node has applied the same state of
// c/b as want.
func (tc *testCluster) checkSetOnAll(want *BrokerSet) {
	tc.t.Helper()
	poll.Until(tc.t, waitLong, "every controller holds the broker set", func() bool {
		for i := range tc.nodes {
			s := tc.node(i)
			if s == nil {
				continue
			}
			got, ok := s.BrokerSet(SetKey{"c", "b"})
			if !ok || got.Master != want.Master || got.Epoch != want.Epoch || !slices.Equal(got.SyncStateSet, want.SyncStateSet) ||
				got.SyncStateSetEpoch != want.SyncStateSetEpoch || len(got.Replicas) != len(want.Replicas) {
				return false
			}
		}
		return true
	})
}

// TestClusterFailover runs three controllers and a broker set of three
// replicas through the controller's life: first election, a master failure
// and the election of the most caught-up in-sync replica, fencing of the old
// epoch, an operator's election, the loss of the controller leader, a
// controller restart, and a restart of the whole group from its stores.
func TestClusterFailover(t *testing.T) {
	tc := startCluster(t, 3, nil)
	tc.leader()
	addrs := tc.addrs()
	ctx := ctxTimeout(t, 2*time.Minute)

	// Broker 0 registers first and becomes master, epoch 1.
	b0, b1, b2 := newTestBroker(t, addrs, 0), newTestBroker(t, addrs, 1), newTestBroker(t, addrs, 2)
	b0.offset.Store(100)
	b0.start()
	v := b0.waitView("master at epoch 1", func(v client.View) bool { return v.IsMaster(0) && v.MasterEpoch == 1 })
	require.Equal(t, []int64{0}, v.SyncStateSet)
	require.Equal(t, "10.0.0.1:10912", v.MasterHAAddress)
	b1.offset.Store(90)
	b2.offset.Store(80)
	b1.start()
	b2.start()
	b1.waitView("slave of 0", func(v client.View) bool { return v.RoleOf(1) == client.RoleSlave && v.MasterBrokerID == 0 })
	b2.waitView("slave of 0", func(v client.View) bool { return v.RoleOf(2) == client.RoleSlave })

	// The master adds both slaves to its SyncStateSet once they are known to
	// the leader (alive).
	poll.Until(t, waitLong, "both slaves reported", func() bool {
		v, err := b0.c.GetReplicaInfo(ctx)
		require.NoError(t, err)
		m1, _ := v.Member(1)
		m2, _ := v.Member(2)
		return m1.Alive && m1.Reported && m2.Alive && m2.Reported
	})
	v, err := b0.c.AlterSyncStateSet(ctx, 1, v.SyncStateSetEpoch, []int64{0, 1, 2})
	require.NoError(t, err)
	require.Equal(t, []int64{0, 1, 2}, v.SyncStateSet)
	require.Equal(t, int32(2), v.SyncStateSetEpoch)

	// Broker 1 is further ahead than broker 2. The master dies: broker 1 is
	// elected, with epoch 2 and a SyncStateSet of itself, and both slaves
	// hear of it.
	b1.offset.Store(250)
	b2.offset.Store(240)
	b1.epoch.Store(1)
	b2.epoch.Store(1)
	poll.Until(t, waitLong, "progress reported", func() bool {
		v, err := b1.c.GetReplicaInfo(ctx)
		require.NoError(t, err)
		m1, _ := v.Member(1)
		m2, _ := v.Member(2)
		return m1.MaxOffset == 250 && m2.MaxOffset == 240
	})
	b0.stop()
	v = b1.waitView("elected master", func(v client.View) bool { return v.IsMaster(1) })
	require.Equal(t, int32(2), v.MasterEpoch)
	require.Equal(t, []int64{1}, v.SyncStateSet)
	b2.waitView("slave of 1", func(v client.View) bool { return v.MasterBrokerID == 1 && v.MasterEpoch == 2 })

	// Fencing: the old master's alteration is refused (it is not the
	// master), and so is the new master's at the old epoch.
	_, err = b0.c.AlterSyncStateSet(ctx, 1, 2, []int64{0, 1, 2})
	require.ErrorIs(t, err, protocol.ErrControllerInvalidMaster)
	_, err = b1.c.AlterSyncStateSet(ctx, 1, v.SyncStateSetEpoch, []int64{1, 2})
	require.ErrorIs(t, err, protocol.ErrControllerFencedMasterEpoch)
	_, err = b1.c.AlterSyncStateSet(ctx, 2, v.SyncStateSetEpoch-1, []int64{1, 2})
	require.ErrorIs(t, err, protocol.ErrControllerFencedSyncStateSetEpoch)
	v, err = b1.c.AlterSyncStateSet(ctx, 2, v.SyncStateSetEpoch, []int64{1, 2})
	require.NoError(t, err)
	require.Equal(t, []int64{1, 2}, v.SyncStateSet)

	// An operator elects broker 2 (in sync); broker 0 (dead, out of sync) is
	// refused.
	adm := newTestAdmin(t)
	_, err = adm.ElectMaster(ctx, addrs, "c", "b", 0)
	require.Error(t, err)
	ri, err := adm.ElectMaster(ctx, addrs, "c", "b", 2)
	require.NoError(t, err)
	require.Equal(t, int64(2), ri.MasterBrokerID)
	require.Equal(t, int32(3), ri.MasterEpoch)
	b2.waitView("elected by the operator", func(v client.View) bool { return v.IsMaster(2) && v.MasterEpoch == 3 })
	b1.waitView("slave of 2", func(v client.View) bool { return v.MasterBrokerID == 2 })
	want := &BrokerSet{Master: 2, Epoch: 3, SyncStateSet: []int64{2}, SyncStateSetEpoch: ri.SyncStateSetEpoch,
		Replicas: map[int64]Replica{0: {}, 1: {}, 2: {}}}
	tc.checkSetOnAll(want)

	// The controller leader crashes. A new one takes over with the same state;
	// the brokers follow it, and after its grace period the live master
	// keeps its role.
	old := tc.leader()
	tc.killNode(old)
	nl := tc.leader()
	require.NotEqual(t, old, nl)
	took := time.Now()
	got, ok := tc.node(nl).BrokerSet(SetKey{"c", "b"})
	require.True(t, ok)
	require.Equal(t, int64(2), got.Master)
	require.Equal(t, int32(3), got.Epoch)
	poll.Until(t, waitLong, "the brokers heartbeat to the new leader, past its grace", func() bool {
		md := tc.node(nl).Metadata()
		v, err := b2.c.GetReplicaInfo(ctx)
		require.NoError(t, err)
		m1, _ := v.Member(1)
		m2, _ := v.Member(2)
		return md.IsLeader && m1.Reported && m2.Reported && time.Since(took) > 2*testBrokerTimeout
	})
	v, err = b2.c.GetReplicaInfo(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(2), v.MasterBrokerID, "no election while the master heartbeats")
	require.Equal(t, int32(3), v.MasterEpoch)

	// The stopped controller restarts from its store and catches up.
	tc.startNode(old, nil)
	tc.checkSetOnAll(want)

	// The whole group stops (one node snapshots first) and restarts from its
	// stores: the state is intact.
	require.NoError(t, tc.node(0).Snapshot())
	b1.stop()
	b2.stop()
	tc.stopAll()
	for i := range tc.nodes {
		tc.startNode(i, nil)
	}
	tc.leader()
	tc.checkSetOnAll(want)
}

// TestClusterFiveNodes: five controllers keep serving with two down, stop
// with three down (no quorum: no leader, calls time out), and resume with
// the state intact when one returns.
func TestClusterFiveNodes(t *testing.T) {
	tc := startCluster(t, 5, nil)
	addrs := tc.addrs()
	b0 := newTestBroker(t, addrs, 0)
	ctx := ctxTimeout(t, 2*time.Minute)
	v, err := b0.c.Register(ctx, client.Progress{MaxOffset: 10})
	require.NoError(t, err)
	require.True(t, v.IsMaster(0))

	// Two down, the leader among them: one crashed, one stopped.
	first := tc.leader()
	second := (first + 1) % 5
	tc.killNode(first)
	tc.stopNode(second)
	tc.leader()
	b1 := newTestBroker(t, addrs, 1)
	v, err = b1.c.Register(ctx, client.Progress{MaxOffset: 5})
	require.NoError(t, err)
	require.Equal(t, int64(0), v.MasterBrokerID)
	require.Len(t, v.Replicas, 2)

	// A third down: no quorum. Nobody leads and calls fail at their deadline.
	third := (first + 2) % 5
	tc.killNode(third)
	poll.Until(t, waitLong, "no leader without a quorum", func() bool {
		for i := range tc.nodes {
			if s := tc.node(i); s != nil && s.IsLeader() {
				return false
			}
		}
		return true
	})
	short, cancel := context.WithTimeout(ctx, time.Second)
	_, err = b1.c.GetReplicaInfo(short)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// One returns: a quorum again, with the state intact.
	tc.startNode(first, nil)
	tc.leader()
	v, err = b1.c.GetReplicaInfo(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(0), v.MasterBrokerID)
	require.Equal(t, int32(1), v.MasterEpoch)
	require.Len(t, v.Replicas, 2)
}

// TestFollowerAnswers: a follower answers broker requests with
// CONTROLLER_NOT_LEADER naming the leader, and serves the metadata itself.
func TestFollowerAnswers(t *testing.T) {
	tc := startCluster(t, 3, nil)
	l := tc.leader()
	f := (l + 1) % 3
	rc := remoting.NewClient(remoting.ClientConfig{}, nil)
	t.Cleanup(func() { _ = rc.Close() })
	ctx := ctxTimeout(t, waitLong)

	// A follower names the leader once it has heard from it (its first
	// append or heartbeat); until then the hint is empty.
	var md header.ControllerMetadata
	poll.WaitFor(t, waitLong, func() bool {
		req := header.NewRequest(protocol.ControllerGetReplicaInfo, &header.ControllerGetReplicaInfo{ClusterName: "c", BrokerName: "b"})
		resp, err := rc.Invoke(ctx, tc.peers[f].Addr, req)
		require.NoError(t, err)
		require.Equal(t, protocol.ControllerNotLeader, resp.ResponseCode())
		md = header.ControllerMetadata{}
		require.NoError(t, md.Decode(resp))
		return md.ControllerLeaderAddress != ""
	})
	require.Equal(t, tc.peers[l].Addr, md.ControllerLeaderAddress)
	require.Equal(t, tc.peers[l].ID, md.ControllerLeaderID)

	a := newTestAdmin(t)
	got, err := a.ControllerMetadata(ctx, tc.peers[f].Addr)
	require.NoError(t, err)
	require.False(t, got.IsLeader)
	require.Equal(t, "Follower", got.State)
	require.Equal(t, tc.peers[l].ID, got.LeaderID)
	require.Equal(t, testControllerGroup, got.Group)
	require.Len(t, got.Peers, 3)
	got, err = a.ControllerMetadata(ctx, tc.peers[l].Addr)
	require.NoError(t, err)
	require.True(t, got.IsLeader)

	// A set that does not exist; then, through the admin client (which
	// finds the leader), an empty listing.
	_, err = a.BrokerSetInfo(ctx, []string{tc.peers[f].Addr}, "c", "b")
	require.ErrorIs(t, err, protocol.ErrControllerBrokerMetadataNotExist)
	sets, err := a.SyncStateData(ctx, tc.addrs(), "", "")
	require.NoError(t, err)
	require.Empty(t, sets)
}

// TestGracefulLeaderStop: a leader that stops hands its leadership over; the
// group keeps serving with the state it had.
func TestGracefulLeaderStop(t *testing.T) {
	tc := startCluster(t, 3, nil)
	b0 := newTestBroker(t, tc.addrs(), 0)
	ctx := ctxTimeout(t, time.Minute)
	b0.start()
	b0.waitView("master", func(v client.View) bool { return v.IsMaster(0) })
	old := tc.leader()
	tc.stopNode(old)
	nl := tc.leader()
	require.NotEqual(t, old, nl)
	v, err := b0.c.GetReplicaInfo(ctx)
	require.NoError(t, err)
	require.True(t, v.IsMaster(0))
	require.Equal(t, tc.peers[nl].Addr, b0.c.Leader())

	// An operator forgets a replica: refused while it is alive (unless
	// forced) and for the master; done once it is silent.
	b1 := newTestBroker(t, tc.addrs(), 1)
	_, err = b1.c.Register(ctx, client.Progress{})
	require.NoError(t, err)
	adm := newTestAdmin(t)
	_, err = adm.CleanBrokerData(ctx, tc.addrs(), "c", "b", []int64{1}, false)
	require.ErrorIs(t, err, protocol.ErrControllerInvalidCleanBrokerData)
	_, err = adm.CleanBrokerData(ctx, tc.addrs(), "c", "b", []int64{0}, true)
	require.ErrorIs(t, err, protocol.ErrControllerInvalidCleanBrokerData)
	poll.Until(t, waitLong, "broker 1 counted dead", func() bool {
		ri, err := adm.BrokerSetInfo(ctx, tc.addrs(), "", "b")
		require.NoError(t, err)
		m, _ := ri.Member(1)
		return !m.Alive
	})
	ri, err := adm.CleanBrokerData(ctx, tc.addrs(), "c", "b", []int64{1}, false)
	require.NoError(t, err)
	require.Len(t, ri.Replicas, 1)
	sets, err := adm.SyncStateData(ctx, tc.addrs(), "c", "")
	require.NoError(t, err)
	require.Len(t, sets, 1)
	require.Equal(t, int64(0), sets[0].MasterBrokerID)
}
