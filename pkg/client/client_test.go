package client_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil/poll"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/clienttest"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
)

func newClient(t *testing.T, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(opts...)
	require.NoError(t, err)
	require.NoError(t, c.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

func TestRouteCacheSurvivesNameServerStop(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	b := clienttest.StartBroker(t, "broker-a")
	ns.SetRoute("T", clienttest.Route(4, b))
	var updates atomic.Int32
	c := newClient(t, client.NameServers(ns.Addr), client.RouteRefreshInterval(5*time.Millisecond),
		client.NameServerTimeout(5*time.Second),
		client.WithHooks(routeHook(func(string, *client.Route) { updates.Add(1) })))

	r, err := c.Route(t.Context(), "T")
	require.NoError(t, err)
	require.Len(t, r.PublishQueues(), 4)
	poll.WaitFor(t, 5*time.Second, func() bool { return ns.Requests() >= 3 }) // refreshed
	require.Equal(t, int32(1), updates.Load(), "an unchanged route is not an update")
	rd := clienttest.Route(2, b)
	ns.SetRoute("T", rd)
	poll.WaitFor(t, 5*time.Second, func() bool { return updates.Load() == 2 })
	r, err = c.Route(t.Context(), "T")
	require.NoError(t, err)
	require.Len(t, r.PublishQueues(), 2)

	ns.Close()
	before := updates.Load()
	// Refreshes now fail; the cached route keeps being served.
	_, err = c.RefreshRoute(t.Context(), "T")
	require.ErrorIs(t, err, client.ErrNoNameServer)
	r2, err := c.Route(t.Context(), "T")
	require.NoError(t, err)
	require.Same(t, r, r2)
	require.Equal(t, before, updates.Load())
	// An unknown topic cannot be found.
	_, err = c.Route(t.Context(), "Other")
	require.ErrorIs(t, err, client.ErrNoNameServer)
}

type routeHook func(string, *client.Route)

func (f routeHook) OnRouteUpdated(topic string, r *client.Route) { f(topic, r) }

func TestNameServerFailoverIsSticky(t *testing.T) {
	t.Parallel()
	dead := clienttest.StartNameServer(t)
	dead.Close()
	ns1 := clienttest.StartNameServer(t)
	ns2 := clienttest.StartNameServer(t)
	b := clienttest.StartBroker(t, "broker-a")
	for _, n := range []*clienttest.NameServer{ns1, ns2} {
		n.SetRoute("T", clienttest.Route(1, b))
	}
	c, err := client.New(client.NameServers(dead.Addr, ns1.Addr, ns2.Addr), client.WithRandIntN(func(int) int { return 0 }))
	require.NoError(t, err)
	defer c.Close()
	for range 3 {
		_, err := c.RefreshRoute(t.Context(), "T")
		require.NoError(t, err)
	}
	require.Equal(t, 3, ns1.Requests(), "sticks to the first name server that answers")
	require.Equal(t, 0, ns2.Requests())
	ns1.Close()
	_, err = c.RefreshRoute(t.Context(), "T")
	require.NoError(t, err)
	require.Equal(t, 1, ns2.Requests())
}

// TestFirstNameServerIsRandom checks that clients do not all start on the
// first name server of the list: the pick is random, and a client that
// starts on the last one wraps around to the first when it fails.
func TestFirstNameServerIsRandom(t *testing.T) {
	t.Parallel()
	var nss []*clienttest.NameServer
	var addrs []string
	b := clienttest.StartBroker(t, "broker-a")
	for range 3 {
		n := clienttest.StartNameServer(t)
		n.SetRoute("T", clienttest.Route(1, b))
		nss = append(nss, n)
		addrs = append(addrs, n.Addr)
	}
	// The default pick: 60 clients all starting on one of three name
	// servers would happen by chance with probability 3^-59.
	for range 60 {
		c, err := client.New(client.NameServers(addrs...))
		require.NoError(t, err)
		_, err = c.RefreshRoute(t.Context(), "T")
		require.NoError(t, err)
		require.NoError(t, c.Close())
	}
	for i, n := range nss {
		require.Positive(t, n.Requests(), "name server %d never picked first", i)
	}

	// The picked one is asked first; on failure the next, wrapping around.
	picked := func(int) int { return 2 }
	before := []int{nss[0].Requests(), nss[1].Requests(), nss[2].Requests()}
	c, err := client.New(client.NameServers(addrs...), client.WithRandIntN(picked))
	require.NoError(t, err)
	defer c.Close()
	_, err = c.RefreshRoute(t.Context(), "T")
	require.NoError(t, err)
	require.Equal(t, before[2]+1, nss[2].Requests())
	nss[2].Close()
	_, err = c.RefreshRoute(t.Context(), "T")
	require.NoError(t, err)
	require.Equal(t, before[0]+1, nss[0].Requests(), "after the last name server comes the first")
	require.Equal(t, before[1], nss[1].Requests())
}

// TestClientIDsAreUniquePerInstance checks that two clients of one process
// get different ids (RocketMQ's "<pid>#..." instance names), that an id does
// not change over a client's life, and that InstanceName still sets it.
func TestClientIDsAreUniquePerInstance(t *testing.T) {
	t.Parallel()
	a, err := client.New(client.NameServers("127.0.0.1:9876"), client.ClientIP("10.0.0.1"))
	require.NoError(t, err)
	defer a.Close()
	b, err := client.New(client.NameServers("127.0.0.1:9876"), client.ClientIP("10.0.0.1"))
	require.NoError(t, err)
	defer b.Close()
	require.NotEqual(t, a.ID(), b.ID())
	require.Regexp(t, `^10\.0\.0\.1@[0-9]+#[0-9]+$`, a.ID())
	id := a.ID()
	require.NoError(t, a.Start(t.Context()))
	require.Equal(t, id, a.ID())
	n, err := client.New(client.NameServers("127.0.0.1:9876"), client.ClientIP("10.0.0.1"), client.InstanceName("orders-1"))
	require.NoError(t, err)
	defer n.Close()
	require.Equal(t, "10.0.0.1@orders-1", n.ID())
}

func TestRouteNotFoundAndFastJSON(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	ns.SetFastJSON(true)
	b := clienttest.StartBroker(t, "broker-a")
	rd := clienttest.Route(2, b)
	rd.BrokerDatas[0].Addrs[1] = "127.0.0.1:1"
	ns.SetRoute("T", rd)
	c, err := client.New(client.NameServers(ns.Addr))
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Route(t.Context(), "Missing")
	require.ErrorIs(t, err, protocol.ErrTopicNotExist)
	r, err := c.Route(t.Context(), "T")
	require.NoError(t, err)
	bd, _ := r.Broker("broker-a")
	require.Equal(t, map[int64]string{0: b.Addr, 1: "127.0.0.1:1"}, bd.Addrs)
}

func TestHeartbeatsGoToMastersWithGroups(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	a := clienttest.StartBroker(t, "broker-a")
	slave := clienttest.StartBroker(t, "broker-a-slave")
	rd := clienttest.Route(1, a)
	rd.BrokerDatas[0].Addrs[1] = slave.Addr
	ns.SetRoute("T", rd)
	c := newClient(t, client.NameServers(ns.Addr), client.InstanceName("hb"), client.ClientIP("10.9.8.7"))

	_, err := c.Route(t.Context(), "T")
	require.NoError(t, err)
	require.NoError(t, c.SendHeartbeat(t.Context()))
	require.Empty(t, a.Heartbeats(), "no group: nothing to report")

	un, err := c.RegisterProducer("pg")
	require.NoError(t, err)
	_, err = c.RegisterProducer("pg")
	require.ErrorIs(t, err, client.ErrGroupRegistered)
	poll.WaitFor(t, 5*time.Second, func() bool { return len(a.Heartbeats()) > 0 })
	hb := a.Heartbeats()[0]
	require.Equal(t, "10.9.8.7@hb", hb.ClientID)
	require.Equal(t, []body.ProducerData{{GroupName: "pg"}}, hb.ProducerDataSet)
	require.Empty(t, slave.Heartbeats(), "producers only heartbeat masters")

	unc, err := c.RegisterConsumer("cg", func() body.ConsumerData {
		return body.ConsumerData{GroupName: "cg", ConsumeType: body.ConsumePassively, MessageModel: body.Clustering, ConsumeFromWhere: "CONSUME_FROM_LAST_OFFSET"}
	})
	require.NoError(t, err)
	poll.WaitFor(t, 5*time.Second, func() bool { return len(slave.Heartbeats()) > 0 })
	require.Equal(t, "cg", slave.Heartbeats()[0].ConsumerDataSet[0].GroupName)
	un()
	unc()
	hd, has := c.HeartbeatData()
	require.False(t, has)
	require.Empty(t, hd.ProducerDataSet)
}

type callHook struct {
	mu     sync.Mutex
	events []client.CallEvent
}

func (h *callHook) OnCallDone(ev client.CallEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, ev)
}

func TestInvokeHooksAndErrors(t *testing.T) {
	t.Parallel()
	b := clienttest.StartBroker(t, "broker-a")
	h := &callHook{}
	c, err := client.New(client.NameServers("127.0.0.1:1"), client.WithHooks(h))
	require.NoError(t, err)
	_, err = c.Call(t.Context(), b.Addr, protocol.NewRequest(999, nil))
	require.ErrorIs(t, err, protocol.ErrRequestCodeNotSupported)
	resp, err := c.Call(t.Context(), b.Addr, protocol.NewRequest(protocol.GetMaxOffset, map[string]string{"topic": "T", "queueId": "0"}))
	require.NoError(t, err)
	require.Equal(t, "0", resp.Ext("offset"))
	h.mu.Lock()
	require.Len(t, h.events, 2)
	require.Equal(t, protocol.RequestCodeNotSupported, h.events[0].RespCode)
	h.mu.Unlock()
	require.NoError(t, c.Close())
	_, err = c.Invoke(t.Context(), b.Addr, protocol.NewRequest(protocol.GetMaxOffset, nil))
	require.ErrorIs(t, err, client.ErrClosed)
	_, err = c.Route(t.Context(), "T")
	require.ErrorIs(t, err, client.ErrClosed)
}

func TestPullDecodesMessages(t *testing.T) {
	t.Parallel()
	b := clienttest.StartBroker(t, "broker-a")
	c, err := client.New(client.NameServers("127.0.0.1:1"))
	require.NoError(t, err)
	defer c.Close()
	// Store one compressed message through a raw send.
	z, err := client.Compress([]byte("hello hello hello hello"), 5)
	require.NoError(t, err)
	req := header.NewRequest(protocol.SendMessage, &header.SendMessage{ProducerGroup: "pg", Topic: "T",
		DefaultTopic: "TBW102", DefaultTopicQueueNums: 4, SysFlag: 1, Properties: "TAGS\x01a"})
	req.Body = z
	_, err = c.Call(t.Context(), b.Addr, req)
	require.NoError(t, err)

	mq := message.MessageQueue{Topic: "T", BrokerName: "broker-a", QueueID: 0}
	res, err := c.Pull(t.Context(), b.Addr, client.PullRequest{Queue: mq, Group: "g", Expression: "*"})
	require.NoError(t, err)
	require.Equal(t, client.PullFound, res.Status)
	require.Len(t, res.Messages, 1)
	require.Equal(t, "hello hello hello hello", string(res.Messages[0].Body))
	require.Equal(t, "a", res.Messages[0].Tags())
	require.Equal(t, message.QueueOffset(1), res.NextBeginOffset)

	res, err = c.Pull(t.Context(), b.Addr, client.PullRequest{Queue: mq, Group: "g", Offset: 1})
	require.NoError(t, err)
	require.Equal(t, client.PullNoNewMsg, res.Status)
	res, err = c.Pull(t.Context(), b.Addr, client.PullRequest{Queue: mq, Group: "g", Offset: 5})
	require.NoError(t, err)
	require.Equal(t, client.PullOffsetIllegal, res.Status)
	require.Equal(t, message.QueueOffset(1), res.NextBeginOffset)
}

func TestStaticRoutes(t *testing.T) {
	t.Parallel()
	b := clienttest.StartBroker(t, "broker-a")
	src := client.NewStaticRoutes(map[string]*body.TopicRouteData{"T": clienttest.Route(2, b)})
	c, err := client.New(client.WithRouteSource(src))
	require.NoError(t, err)
	defer c.Close()
	r, err := c.Route(t.Context(), "T")
	require.NoError(t, err)
	require.Len(t, r.PublishQueues(), 2)
	src.Set("T", nil)
	_, err = c.RefreshRoute(t.Context(), "T")
	require.ErrorIs(t, err, protocol.ErrTopicNotExist)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = src.Route(ctx, "T")
	require.True(t, errors.Is(err, context.Canceled))
}

func TestCompressRoundTrip(t *testing.T) {
	t.Parallel()
	in := make([]byte, 10000)
	for i := range in {
		in[i] = byte(i % 7)
	}
	z, err := client.Compress(in, 5)
	require.NoError(t, err)
	require.Less(t, len(z), len(in))
	out, err := client.Decompress(message.SysFlagCompressed, z)
	require.NoError(t, err)
	require.Equal(t, in, out)
	out, err = client.Decompress(message.SysFlagCompressed|message.SysFlagCompressionZLIB, z)
	require.NoError(t, err)
	require.Equal(t, in, out)
	_, err = client.Decompress(message.SysFlagCompressed|message.SysFlagCompressionLZ4, z)
	require.Error(t, err, "zlib bytes are not an LZ4 frame")
	_, err = client.Decompress(message.SysFlagCompressed|0x400, z)
	require.ErrorIs(t, err, client.ErrUnsupportedCompression)
	_, err = client.Decompress(message.SysFlagCompressed, []byte("junk"))
	require.Error(t, err)
	same, err := client.Decompress(0, []byte("raw"))
	require.NoError(t, err)
	require.Equal(t, "raw", string(same))
}
