package client_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil/poll"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/clienttest"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/remoting"
)

func TestSuggestsStaleRoute(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), true},
		{fmt.Errorf("call: %w", remoting.ErrConnClosed), true},
		{context.DeadlineExceeded, true},
		{context.Canceled, false},
		{client.ErrClosed, false},
		{&protocol.Error{Code: protocol.ServiceNotAvailable, Remark: "messages are put to the slave"}, true},
		{fmt.Errorf("send: %w", &protocol.Error{Code: protocol.NoPermission}), true},
		{&protocol.Error{Code: protocol.SystemError, Remark: "in-sync replicas not enough"}, true},
		{&protocol.Error{Code: protocol.SystemError, Remark: "In-Sync Replicas not enough"}, true},
		{&protocol.Error{Code: protocol.SystemError, Remark: "disk error"}, false},
		{&protocol.Error{Code: protocol.TopicNotExist}, false},
		{&protocol.Error{Code: protocol.SystemBusy}, false},
		{&protocol.Error{Code: protocol.SlaveNotAvailable}, false},
	} {
		require.Equal(t, tc.want, client.SuggestsStaleRoute(tc.err), "%v", tc.err)
	}
}

// gatedSource is a RouteSource that counts its calls and holds each until
// the gate lets it go (a nil gate does not hold).
type gatedSource struct {
	mu    sync.Mutex
	calls int
	addr  string
	gate  chan struct{}
}

func (s *gatedSource) Route(ctx context.Context, topic string) (*client.Route, error) {
	s.mu.Lock()
	s.calls++
	gate, addr := s.gate, s.addr
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return client.NewRoute(topic, &body.TopicRouteData{
		QueueDatas:  []body.QueueData{{BrokerName: "broker-a", ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6}},
		BrokerDatas: []*body.BrokerData{{Cluster: "c", BrokerName: "broker-a", Addrs: map[int64]string{0: addr}}},
	}), nil
}

func (s *gatedSource) set(addr string, gate chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addr, s.gate = addr, gate
}

func (s *gatedSource) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func masterOf(t *testing.T, r *client.Route) string {
	t.Helper()
	a, ok := r.MasterAddr("broker-a")
	require.True(t, ok)
	return a
}

// TestRefreshStaleRouteSharedAndRateLimited checks that concurrent callers
// share one refresh, that none starts again within the interval, and that one
// starts once the interval has passed.
func TestRefreshStaleRouteSharedAndRateLimited(t *testing.T) {
	t.Parallel()
	src := &gatedSource{addr: "A:1"}
	clk := clock.NewManual(time.Unix(1000, 0))
	c := newClient(t, client.WithRouteSource(src), client.WithClock(clk),
		client.StaleRouteRefreshInterval(time.Second))
	r, err := c.Route(t.Context(), "T")
	require.NoError(t, err)
	require.Equal(t, "A:1", masterOf(t, r))
	require.Equal(t, 1, src.count())

	// The master moves; the name servers answer slowly. Eight failing calls
	// at once share one refresh.
	gate := make(chan struct{})
	src.set("B:1", gate)
	var wg sync.WaitGroup
	got := make([]string, 8)
	errs := make([]error, 8)
	for i := range got {
		wg.Go(func() {
			var r *client.Route
			if r, errs[i] = c.RefreshStaleRoute(t.Context(), "T"); errs[i] == nil {
				got[i], _ = r.MasterAddr("broker-a")
			}
		})
	}
	poll.WaitFor(t, 10*time.Second, func() bool { return src.count() == 2 })
	close(gate)
	wg.Wait()
	for i, a := range got {
		require.NoError(t, errs[i])
		require.Equal(t, "B:1", a)
	}
	require.Equal(t, 2, src.count(), "one refresh for all")
	cached, _ := c.CachedRoute("T")
	require.Equal(t, "B:1", masterOf(t, cached))

	// Within the interval no refresh starts: the cached route comes back.
	src.set("C:1", nil)
	clk.Advance(999 * time.Millisecond)
	r, err = c.RefreshStaleRoute(t.Context(), "T")
	require.NoError(t, err)
	require.Equal(t, "B:1", masterOf(t, r))
	c.MarkRouteStale("T")
	require.Equal(t, 2, src.count())

	// After it, one does; MarkRouteStale starts it in the background.
	clk.Advance(time.Millisecond)
	c.MarkRouteStale("T")
	poll.WaitFor(t, 10*time.Second, func() bool {
		r, _ := c.CachedRoute("T")
		a, _ := r.MasterAddr("broker-a")
		return a == "C:1"
	})
	require.Equal(t, 3, src.count())
	// Other topics have their own limit.
	_, err = c.RefreshStaleRoute(t.Context(), "U")
	require.NoError(t, err)
	require.Equal(t, 4, src.count())
}

// TestRefreshStaleRouteOutlivesCaller checks that a caller giving up does not
// cancel the shared refresh, that Close ends one in flight, and that before
// Start the refresh runs on the caller's goroutine.
func TestRefreshStaleRouteOutlivesCaller(t *testing.T) {
	t.Parallel()
	src := &gatedSource{addr: "A:1"}
	c := newClient(t, client.WithRouteSource(src))
	gate := make(chan struct{})
	src.set("B:1", gate)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.RefreshStaleRoute(ctx, "T")
	require.ErrorIs(t, err, context.Canceled)
	close(gate) // the refresh goes on without its first caller
	poll.WaitFor(t, 10*time.Second, func() bool {
		r, ok := c.CachedRoute("T")
		return ok && masterOf(t, r) == "B:1"
	})

	// A refresh held at the source ends with Close.
	c2, err := client.New(client.WithRouteSource(src))
	require.NoError(t, err)
	// Before Start: on the caller's goroutine.
	src.set("C:1", nil)
	r, err := c2.RefreshStaleRoute(t.Context(), "T")
	require.NoError(t, err)
	require.Equal(t, "C:1", masterOf(t, r))
	c2.MarkRouteStale("U") // nothing to run it on: a no-op
	require.NoError(t, c2.Start(t.Context()))
	src.set("D:1", make(chan struct{}))
	n := src.count()
	c2.MarkRouteStale("V")
	poll.WaitFor(t, 10*time.Second, func() bool { return src.count() == n+1 })
	require.NoError(t, c2.Close())
	_, err = c2.RefreshStaleRoute(t.Context(), "T")
	require.ErrorIs(t, err, client.ErrClosed)
}

// TestMovedBrokerGetsHeartbeat checks that an address that takes another role
// in a refreshed route (a slave promoted to master, which restarts in
// controller mode and forgets its clients) gets a heartbeat at once, not at
// the next HeartbeatInterval.
func TestMovedBrokerGetsHeartbeat(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	a := clienttest.StartBroker(t, "broker-a")
	b := clienttest.StartBroker(t, "broker-a")
	route := func(addrs map[int64]string) *body.TopicRouteData {
		return &body.TopicRouteData{
			QueueDatas:  []body.QueueData{{BrokerName: "broker-a", ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6}},
			BrokerDatas: []*body.BrokerData{{Cluster: "c", BrokerName: "broker-a", Addrs: addrs}},
		}
	}
	ns.SetRoute("T", route(map[int64]string{0: a.Addr, 1: b.Addr}))
	c := newClient(t, client.NameServers(ns.Addr), client.HeartbeatInterval(time.Hour))
	_, err := c.RegisterProducer("pg")
	require.NoError(t, err)
	_, err = c.Route(t.Context(), "T")
	require.NoError(t, err)
	poll.WaitFor(t, 10*time.Second, func() bool { return len(a.Heartbeats()) > 0 })
	require.Empty(t, b.Heartbeats(), "producers heartbeat masters only")

	ns.SetRoute("T", route(map[int64]string{0: b.Addr}))
	_, err = c.RefreshStaleRoute(t.Context(), "T")
	require.NoError(t, err)
	poll.WaitFor(t, 10*time.Second, func() bool { return len(b.Heartbeats()) > 0 })
	m, ok := c.MasterAddr("broker-a")
	require.True(t, ok)
	require.Equal(t, b.Addr, m)
}

// TestFailedHeartbeatIsRetriedSoon: a broker that refuses a heartbeat (one
// that is still starting after a role change) gets another within seconds,
// not at the next HeartbeatInterval.
func TestFailedHeartbeatIsRetriedSoon(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	a := clienttest.StartBroker(t, "broker-a")
	var refused atomic.Int32
	a.Intercept(protocol.HeartBeat, func(req *protocol.Command) *protocol.Command {
		refused.Add(1)
		return protocol.NewResponse(req, protocol.SystemError, "starting")
	})
	ns.SetRoute("T", &body.TopicRouteData{
		QueueDatas:  []body.QueueData{{BrokerName: "broker-a", ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6}},
		BrokerDatas: []*body.BrokerData{{Cluster: "c", BrokerName: "broker-a", Addrs: map[int64]string{0: a.Addr}}},
	})
	c := newClient(t, client.NameServers(ns.Addr), client.HeartbeatInterval(time.Hour))
	_, err := c.RegisterProducer("pg")
	require.NoError(t, err)
	_, err = c.Route(t.Context(), "T")
	require.NoError(t, err)
	poll.WaitFor(t, 10*time.Second, func() bool { return refused.Load() > 0 })
	a.Intercept(protocol.HeartBeat, nil)
	poll.WaitFor(t, 10*time.Second, func() bool { return len(a.Heartbeats()) > 0 })
}
