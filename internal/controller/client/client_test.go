package client

import (
	"context"
	"encoding/json"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/petrelmq/petrel/internal/testutil/poll"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
	"github.com/petrelmq/petrel/pkg/remoting"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fake is a controller stand-in: handle answers every request.
type fake struct {
	addr   string
	calls  atomic.Int32
	mu     sync.Mutex
	conn   *remoting.Conn
	handle func(req *protocol.Command) *protocol.Command
}

func startFake(t *testing.T, handle func(f *fake, req *protocol.Command) *protocol.Command) *fake {
	t.Helper()
	cfg := remoting.DefaultServerConfig()
	cfg.ListenAddr = "127.0.0.1:0"
	srv, err := remoting.NewServer(cfg, nil)
	require.NoError(t, err)
	f := &fake{}
	p := remoting.ProcessorFunc(func(_ context.Context, c *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
		f.calls.Add(1)
		f.mu.Lock()
		f.conn = c
		f.mu.Unlock()
		return handle(f, req), nil
	})
	srv.RegisterDefault(p, remoting.NewPool("fake", 2, 16))
	require.NoError(t, srv.Start(context.Background()))
	t.Cleanup(func() { _ = srv.Close() })
	f.addr = srv.Addr().String()
	return f
}

func info(epoch, ssEpoch int32, master int64) body.ReplicaInfo {
	return body.ReplicaInfo{ClusterName: "c", BrokerName: "b", MasterBrokerID: master, MasterAddress: "m:1",
		MasterEpoch: epoch, SyncStateSet: []int64{master}, SyncStateSetEpoch: ssEpoch}
}

func ok(req *protocol.Command, ri body.ReplicaInfo) *protocol.Command {
	resp := protocol.NewResponse(req, protocol.Success, "")
	resp.Body, _ = json.Marshal(ri)
	return resp
}

func notLeader(req *protocol.Command, leader string) *protocol.Command {
	return header.NewResponse(req, protocol.ControllerNotLeader, "not the leader",
		&header.ControllerMetadata{ControllerLeaderAddress: leader})
}

func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func newClient(t *testing.T, addrs ...string) *Client {
	t.Helper()
	c, err := New(Config{Addrs: addrs, Cluster: "c", BrokerName: "b", BrokerID: 1, BrokerAddr: "10.0.0.2:10911",
		HeartbeatTimeout: 5 * time.Second, RequestTimeout: 2 * time.Second}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// A dead address is skipped, a follower's hint is followed, and the leader
// is remembered for the next call.
func TestFollowsTheLeader(t *testing.T) {
	leader := startFake(t, func(_ *fake, req *protocol.Command) *protocol.Command {
		if req.RequestCode() == protocol.ControllerRegisterBroker {
			var h header.ControllerRegisterBroker
			require.NoError(t, h.Decode(req))
			require.Equal(t, int64(1), h.BrokerID)
			require.Equal(t, int64(5000), h.HeartbeatTimeoutMillis)
		}
		return ok(req, info(1, 1, 0))
	})
	follower := startFake(t, func(_ *fake, req *protocol.Command) *protocol.Command { return notLeader(req, leader.addr) })
	other := startFake(t, func(_ *fake, req *protocol.Command) *protocol.Command { return notLeader(req, leader.addr) })
	c := newClient(t, deadAddr(t), follower.addr, other.addr, leader.addr)
	before := time.Now()
	v, err := c.Register(ctx(t), Progress{MaxOffset: 7})
	require.NoError(t, err)
	require.Equal(t, RoleSlave, v.RoleOf(1))
	require.False(t, v.Confirmed.Before(before))
	require.Equal(t, leader.addr, c.Leader())
	require.Equal(t, int32(1), follower.calls.Load())
	require.Zero(t, other.calls.Load(), "the hint is followed before the next configured address")
	require.Equal(t, int32(1), leader.calls.Load())

	_, err = c.GetReplicaInfo(ctx(t))
	require.NoError(t, err)
	require.Equal(t, int32(1), follower.calls.Load(), "the known leader is asked first")
	require.Equal(t, int32(2), leader.calls.Load())

	// The lease runs from the latest confirmation of the same state.
	lv, until := c.Lease()
	require.Equal(t, int32(1), lv.MasterEpoch)
	require.True(t, lv.Confirmed.After(v.Confirmed))
	require.Equal(t, lv.Confirmed.Add(5*time.Second), until)
}

// While nobody leads (answers without a hint), the client goes round again
// until one does or its context ends; refusals are returned as they are.
func TestWaitsForALeader(t *testing.T) {
	var n atomic.Int32
	f := startFake(t, func(_ *fake, req *protocol.Command) *protocol.Command {
		if n.Add(1) <= 3 {
			return notLeader(req, "")
		}
		if req.RequestCode() == protocol.ControllerAlterSyncStateSet {
			return protocol.NewResponse(req, protocol.ControllerFencedMasterEpoch, "old epoch")
		}
		return ok(req, info(2, 2, 1))
	})
	c := newClient(t, f.addr)
	v, err := c.GetReplicaInfo(ctx(t))
	require.NoError(t, err)
	require.True(t, v.IsMaster(1))
	_, err = c.AlterSyncStateSet(ctx(t), 1, 2, []int64{1})
	require.ErrorIs(t, err, protocol.ErrControllerFencedMasterEpoch)

	n.Store(-1000)
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = c.GetReplicaInfo(short)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// A heartbeat the leader does not place turns into a registration.
func TestHeartbeatRegistersWhenAsked(t *testing.T) {
	var registers atomic.Int32
	f := startFake(t, func(_ *fake, req *protocol.Command) *protocol.Command {
		switch req.RequestCode() {
		case protocol.BrokerHeartbeat:
			if registers.Load() == 0 {
				return protocol.NewResponse(req, protocol.ControllerBrokerNeedToBeRegistered, "who are you")
			}
		case protocol.ControllerRegisterBroker:
			registers.Add(1)
		}
		return ok(req, info(1, 1, 0))
	})
	c := newClient(t, f.addr)
	_, err := c.Heartbeat(ctx(t), Progress{})
	require.NoError(t, err)
	require.Equal(t, int32(1), registers.Load())
	_, err = c.Heartbeat(ctx(t), Progress{})
	require.NoError(t, err)
	require.Equal(t, int32(1), registers.Load())
}

// A pushed role-change notice updates Latest at once (unconfirmed), signals
// Changes, and makes Run heartbeat at once to confirm it; an older view
// never replaces a newer one.
func TestRoleChangeNotice(t *testing.T) {
	var current atomic.Pointer[body.ReplicaInfo]
	ri := info(1, 1, 0)
	current.Store(&ri)
	var beats atomic.Int32
	f := startFake(t, func(_ *fake, req *protocol.Command) *protocol.Command {
		if req.RequestCode() == protocol.BrokerHeartbeat {
			beats.Add(1)
		}
		return ok(req, *current.Load())
	})
	c := newClient(t, f.addr)
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx, time.Hour, func() Progress { return Progress{} }) }()
	defer func() {
		stop()
		require.ErrorIs(t, <-done, context.Canceled)
	}()
	poll.WaitFor(t, 30*time.Second, func() bool { _, ok := c.Latest(); return ok })
	<-c.Changes()

	next := info(2, 2, 1)
	current.Store(&next)
	f.mu.Lock()
	conn := f.conn
	f.mu.Unlock()
	notice := header.NewRequest(protocol.NotifyBrokerRoleChanged, &header.BrokerSetState{MasterBrokerID: 1, MasterEpoch: 2})
	notice.Body, _ = json.Marshal(next)
	require.NoError(t, conn.InvokeOneway(ctx(t), notice))
	select {
	case <-c.Changes():
	case <-time.After(30 * time.Second):
		t.Fatal("no change signalled")
	}
	v, _ := c.Latest()
	require.True(t, v.IsMaster(1))
	require.Equal(t, int32(2), v.MasterEpoch)
	poll.Until(t, 30*time.Second, "a heartbeat confirms the notice", func() bool {
		_, until := c.Lease()
		return beats.Load() >= 1 && !until.IsZero()
	})

	// A late, older notice changes nothing.
	old := info(1, 1, 0)
	notice = header.NewRequest(protocol.NotifyBrokerRoleChanged, &header.BrokerSetState{MasterBrokerID: 0, MasterEpoch: 1})
	notice.Body, _ = json.Marshal(old)
	require.NoError(t, conn.InvokeOneway(ctx(t), notice))
	_, err := c.GetReplicaInfo(ctx(t)) // ordered after the notice on the same connection
	require.NoError(t, err)
	v, _ = c.Latest()
	require.True(t, v.IsMaster(1))
}

func TestConfigValidation(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Addrs: []string{"a:1"}},
		{Addrs: []string{"a:1"}, Cluster: "c", BrokerName: "b", BrokerID: -1, BrokerAddr: "x:1"},
		{Addrs: []string{"a:1"}, Cluster: "c", BrokerName: "b"},
	} {
		_, err := New(cfg, nil)
		require.Error(t, err, "%+v", cfg)
	}
}

// A hint naming an address this client was not given (the controllers name
// each other by addresses the broker cannot reach: NAT, a proxy) is not
// followed; the configured addresses are tried instead.
func TestIgnoresUnknownLeaderAddress(t *testing.T) {
	leader := startFake(t, func(_ *fake, req *protocol.Command) *protocol.Command { return ok(req, info(1, 1, 0)) })
	// The leader's address as the controllers know it, which this client
	// must not use.
	internal := startFake(t, func(_ *fake, req *protocol.Command) *protocol.Command { return ok(req, info(1, 1, 0)) })
	follower := startFake(t, func(_ *fake, req *protocol.Command) *protocol.Command { return notLeader(req, internal.addr) })
	c := newClient(t, follower.addr, leader.addr)
	_, err := c.Register(ctx(t), Progress{})
	require.NoError(t, err)
	require.Equal(t, leader.addr, c.Leader())
	require.Zero(t, internal.calls.Load())
}
