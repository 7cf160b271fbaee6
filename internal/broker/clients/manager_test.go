package clients

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/petrelmq/petrel/internal/testutil/poll"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/remoting"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type env struct {
	m    *Manager
	srv  *remoting.Server
	addr string
	clk  *clock.Manual
}

func startEnv(t *testing.T, cfg Config, hooks Hooks) *env {
	t.Helper()
	clk := clock.NewManual(t0)
	m := New(cfg, nil, clk, hooks)
	scfg := remoting.DefaultServerConfig()
	scfg.ListenAddr = "127.0.0.1:0"
	srv, err := remoting.NewServer(scfg, nil)
	require.NoError(t, err)
	m.Register(srv, remoting.NewPool("clients-test", 2, 64))
	require.NoError(t, srv.Start(context.Background()))
	require.NoError(t, m.Start(context.Background()))
	t.Cleanup(func() {
		require.NoError(t, srv.Close())
		require.NoError(t, m.Close())
	})
	return &env{m: m, srv: srv, addr: srv.Addr().String(), clk: clk}
}

// notifyRecorder is a client-side processor for NOTIFY_CONSUMER_IDS_CHANGED.
type notifyRecorder struct {
	mu   sync.Mutex
	reqs []*protocol.Command
}

func (n *notifyRecorder) Process(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.reqs = append(n.reqs, req)
	return nil, nil
}

func (n *notifyRecorder) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.reqs)
}

func (n *notifyRecorder) last() *protocol.Command {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.reqs[len(n.reqs)-1]
}

type testClient struct {
	*remoting.Client
	notes *notifyRecorder
}

func newClient(t *testing.T) *testClient {
	t.Helper()
	cl := remoting.NewClient(remoting.DefaultClientConfig(), nil)
	n := &notifyRecorder{}
	cl.Register(protocol.NotifyConsumerIDsChanged, n)
	t.Cleanup(func() { require.NoError(t, cl.Close()) })
	return &testClient{Client: cl, notes: n}
}

func invoke(t *testing.T, cl *testClient, addr string, req *protocol.Command) *protocol.Command {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cl.Invoke(ctx, addr, req)
	require.NoError(t, err)
	return resp
}

func heartbeatReq(clientID string, groups ...string) *protocol.Command {
	hb := &body.HeartbeatData{ClientID: clientID}
	for _, g := range groups {
		hb.ConsumerDataSet = append(hb.ConsumerDataSet, body.ConsumerData{
			GroupName: g, ConsumeType: body.ConsumePassively, MessageModel: body.Clustering, ConsumeFromWhere: "CONSUME_FROM_LAST_OFFSET",
			SubscriptionDataSet: []body.SubscriptionData{
				{Topic: "T", SubString: "*", SubVersion: 1, ExpressionType: body.ExpressionTag},
				{Topic: "%RETRY%" + g, SubString: "*", SubVersion: 1, ExpressionType: body.ExpressionTag},
			},
		})
	}
	req := protocol.NewRequest(protocol.HeartBeat, nil)
	req.Body = body.EncodeHeartbeat(hb)
	return req
}

func consumerList(t *testing.T, cl *testClient, addr, group string) *protocol.Command {
	t.Helper()
	return invoke(t, cl, addr, protocol.NewRequest(protocol.GetConsumerListByGroup, map[string]string{"consumerGroup": group}))
}

func TestHeartbeatThenConsumerList(t *testing.T) {
	e := startEnv(t, DefaultConfig(), Hooks{})
	cl := newClient(t)

	resp := consumerList(t, cl, e.addr, "cg")
	require.Equal(t, protocol.SystemError, resp.ResponseCode())
	require.Equal(t, "no consumer for this group, cg", resp.Remark)
	require.Empty(t, resp.Body)

	// The §4.2 example, exactly as the Go client writes it.
	req := protocol.NewRequest(protocol.HeartBeat, nil)
	req.Body = []byte(`{"clientID":"10.0.0.1@12345","producerDataSet":[{"groupName":"pg"}],"consumerDataSet":[{"groupName":"cg","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","subscriptionDataSet":[{"classFilterMode":false,"topic":"T","subString":"a || b","tagsSet":["a","b"],"codeSet":["97","98"],"subVersion":1700000000000000000,"expressionType":"TAG"},{"classFilterMode":false,"topic":"%RETRY%cg","subString":"*","tagsSet":[],"codeSet":[],"subVersion":1700000000000000001,"expressionType":"TAG"}],"unitMode":false}]}`)
	resp = invoke(t, cl, e.addr, req)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	require.Equal(t, protocol.CurrentVersion, resp.Version)

	// Listed at once, with no wait.
	resp = consumerList(t, cl, e.addr, "cg")
	require.Equal(t, protocol.Success, resp.ResponseCode())
	require.JSONEq(t, `{"consumerIdList":["10.0.0.1@12345"]}`, string(resp.Body))

	sub, ok := e.m.Subscription("cg", "T")
	require.True(t, ok)
	require.Equal(t, body.SubscriptionData{Topic: "T", SubString: "a || b", TagsSet: []string{"a", "b"}, CodeSet: []int32{97, 98},
		SubVersion: 1700000000000000000, ExpressionType: "TAG"}, sub)
	require.Equal(t, []string{"cg"}, e.m.GroupsSubscribing("%RETRY%cg"))
	require.Equal(t, []string{"cg"}, e.m.ConsumerGroups())
	require.Len(t, e.m.ProducerConns("pg"), 1)
	require.Len(t, e.m.ConsumerConns("cg"), 1)

	// A Java client: numeric codeSet, subVersion in ms, alphabetical keys.
	req = protocol.NewRequest(protocol.HeartBeat, nil)
	req.Language = protocol.LanguageJava
	req.Version = 409
	req.Body = []byte(`{"clientID":"10.0.0.2@4242","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"jg","messageModel":"BROADCASTING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[2598919],"expressionType":"TAG","subString":"TagA","subVersion":1700000000123,"tagsSet":["TagA"],"topic":"T"}],"unitMode":false}],"producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"}]}`)
	resp = invoke(t, cl, e.addr, req)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	g, ok := e.m.ConsumerGroup("jg")
	require.True(t, ok)
	require.Equal(t, body.Broadcasting, g.MessageModel)
	require.Equal(t, []string{"10.0.0.2@4242"}, g.ClientIDs)
	require.Equal(t, body.SubscriptionData{Topic: "T", SubString: "TagA", TagsSet: []string{"TagA"}, CodeSet: []int32{2598919},
		SubVersion: 1700000000123, ExpressionType: "TAG"}, g.Subscriptions["T"])
	require.Equal(t, "JAVA", g.Channels[0].Language)
	require.Equal(t, int32(409), g.Channels[0].Version)
	require.Equal(t, []string{"cg", "jg"}, e.m.GroupsSubscribing("T"))
}

func TestNotifyOnJoinAndClose(t *testing.T) {
	e := startEnv(t, DefaultConfig(), Hooks{})
	c1, c2 := newClient(t), newClient(t)

	require.Equal(t, protocol.Success, invoke(t, c1, e.addr, heartbeatReq("c1@1", "cg")).ResponseCode())
	// The joining client is told too, as RocketMQ tells every channel.
	poll.WaitFor(t, 5*time.Second, func() bool { return c1.notes.count() == 1 })

	require.Equal(t, protocol.Success, invoke(t, c2, e.addr, heartbeatReq("c2@2", "cg")).ResponseCode())
	poll.WaitFor(t, 5*time.Second, func() bool { return c1.notes.count() == 2 })
	// c2 is told of its own join too (oneway, so it may arrive later).
	poll.WaitFor(t, 5*time.Second, func() bool { return c2.notes.count() == 1 })
	n := c1.notes.last()
	require.Equal(t, protocol.NotifyConsumerIDsChanged, n.RequestCode())
	require.Equal(t, "cg", n.Ext("consumerGroup"))
	require.True(t, n.IsOneway(), "sent oneway, as the Java broker does")
	require.Empty(t, n.Body)
	resp := consumerList(t, c1, e.addr, "cg")
	require.JSONEq(t, `{"consumerIdList":["c1@1","c2@2"]}`, string(resp.Body))

	// A repeated heartbeat changes nothing and notifies nobody.
	before := c2.notes.count()
	require.Equal(t, protocol.Success, invoke(t, c2, e.addr, heartbeatReq("c2@2", "cg")).ResponseCode())

	// c2 leaves by closing its connection: c1 is told and the list shrinks.
	c2.CloseConn(e.addr)
	poll.WaitFor(t, 5*time.Second, func() bool { return c1.notes.count() == 3 })
	require.Equal(t, "cg", c1.notes.last().Ext("consumerGroup"))
	resp = consumerList(t, c1, e.addr, "cg")
	require.JSONEq(t, `{"consumerIdList":["c1@1"]}`, string(resp.Body))
	require.Equal(t, before, c2.notes.count())
}

func TestNotifyDisabled(t *testing.T) {
	cfg := DefaultConfig()
	cfg.NotifyConsumerIDsChanged = false
	e := startEnv(t, cfg, Hooks{})
	c1, c2 := newClient(t), newClient(t)
	require.Equal(t, protocol.Success, invoke(t, c1, e.addr, heartbeatReq("c1@1", "cg")).ResponseCode())
	require.Equal(t, protocol.Success, invoke(t, c2, e.addr, heartbeatReq("c2@2", "cg")).ResponseCode())
	// A request on the same connection after the heartbeats: a notification
	// would have been queued before its answer.
	consumerList(t, c1, e.addr, "cg")
	e.m.mu.Lock()
	require.Empty(t, e.m.mu.pending)
	e.m.mu.Unlock()
	require.Zero(t, c1.notes.count())
}

func TestExpiryWithManualClock(t *testing.T) {
	e := startEnv(t, DefaultConfig(), Hooks{})
	c1, c2 := newClient(t), newClient(t)
	require.Equal(t, protocol.Success, invoke(t, c1, e.addr, heartbeatReq("c1@1", "cg")).ResponseCode())
	// Wait for the first round before the second join; changes to a group that
	// arrive before the notifier runs share one notification.
	poll.WaitFor(t, 5*time.Second, func() bool { return c1.notes.count() == 1 })
	require.Equal(t, protocol.Success, invoke(t, c2, e.addr, heartbeatReq("c2@2", "cg")).ResponseCode())
	poll.WaitFor(t, 5*time.Second, func() bool { return c1.notes.count() == 2 })

	// The scan ticker is armed by Start's goroutine.
	poll.WaitFor(t, 5*time.Second, func() bool { return e.clk.Waiters() > 0 })
	// c1 keeps heartbeating; c2 goes silent.
	for range 4 {
		e.clk.Advance(30 * time.Second)
		require.Equal(t, protocol.Success, invoke(t, c1, e.addr, heartbeatReq("c1@1", "cg")).ResponseCode())
	}
	e.clk.Advance(10 * time.Second) // 130s: the next scan drops c2
	poll.WaitFor(t, 5*time.Second, func() bool {
		g, _ := e.m.ConsumerGroup("cg")
		return len(g.ClientIDs) == 1
	})
	g, _ := e.m.ConsumerGroup("cg")
	require.Equal(t, []string{"c1@1"}, g.ClientIDs)
	poll.WaitFor(t, 5*time.Second, func() bool { return c1.notes.count() == 3 })
	// c2's connection stays open; its next heartbeat brings it back.
	require.Equal(t, protocol.Success, invoke(t, c2, e.addr, heartbeatReq("c2@2", "cg")).ResponseCode())
	g, _ = e.m.ConsumerGroup("cg")
	require.Equal(t, []string{"c1@1", "c2@2"}, g.ClientIDs)
}

func lockReq(code protocol.RequestCode, group, client string, qs ...int32) *protocol.Command {
	lb := body.LockBatchRequestBody{ConsumerGroup: group, ClientID: client}
	for _, q := range qs {
		lb.MQSet = append(lb.MQSet, message.MessageQueue{Topic: "T", BrokerName: "broker-a", QueueID: q})
	}
	req := protocol.NewRequest(code, nil)
	var err error
	req.Body, err = json.Marshal(lb)
	if err != nil {
		panic(err)
	}
	return req
}

func lockedIDs(t *testing.T, resp *protocol.Command) []int32 {
	t.Helper()
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	lb, err := body.DecodeLockBatchResponse(resp.Body)
	require.NoError(t, err)
	var ids []int32
	for _, q := range lb.LockOKMQSet {
		ids = append(ids, q.QueueID)
	}
	return ids
}

func TestLockProcessors(t *testing.T) {
	e := startEnv(t, DefaultConfig(), Hooks{})
	cl := newClient(t)
	require.Equal(t, []int32{0, 1, 2}, lockedIDs(t, invoke(t, cl, e.addr, lockReq(protocol.LockBatchMQ, "cg", "A", 0, 1, 2))))
	require.Equal(t, []int32{3}, lockedIDs(t, invoke(t, cl, e.addr, lockReq(protocol.LockBatchMQ, "cg", "B", 1, 2, 3))))
	resp := invoke(t, cl, e.addr, lockReq(protocol.LockBatchMQ, "cg", "B", 1))
	require.Equal(t, `{"lockOKMQSet":[]}`, string(resp.Body))

	// Unlock by a non-owner does nothing; by the owner frees the queue.
	require.Equal(t, protocol.Success, invoke(t, cl, e.addr, lockReq(protocol.UnlockBatchMQ, "cg", "B", 1)).ResponseCode())
	require.Empty(t, lockedIDs(t, invoke(t, cl, e.addr, lockReq(protocol.LockBatchMQ, "cg", "B", 1))))
	require.Equal(t, protocol.Success, invoke(t, cl, e.addr, lockReq(protocol.UnlockBatchMQ, "cg", "A", 1)).ResponseCode())
	require.Equal(t, []int32{1}, lockedIDs(t, invoke(t, cl, e.addr, lockReq(protocol.LockBatchMQ, "cg", "B", 1))))

	// After the lock expiry without renewal, B takes A's queues.
	e.clk.Advance(61 * time.Second)
	require.Equal(t, []int32{0, 2}, lockedIDs(t, invoke(t, cl, e.addr, lockReq(protocol.LockBatchMQ, "cg", "B", 0, 2))))
}

func TestConnectionLists(t *testing.T) {
	e := startEnv(t, DefaultConfig(), Hooks{})
	cl := newClient(t)
	resp := invoke(t, cl, e.addr, protocol.NewRequest(protocol.GetConsumerConnectionList, map[string]string{"consumerGroup": "cg"}))
	require.Equal(t, protocol.ConsumerNotOnline, resp.ResponseCode())
	require.Equal(t, "the consumer group[cg] not online", resp.Remark)
	resp = invoke(t, cl, e.addr, protocol.NewRequest(protocol.GetProducerConnectionList, map[string]string{"producerGroup": "pg"}))
	require.Equal(t, protocol.SystemError, resp.ResponseCode())
	require.Equal(t, "the producer group[pg] not exist", resp.Remark)

	req := heartbeatReq("c1@1", "cg")
	hb, err := body.DecodeHeartbeat(req.Body)
	require.NoError(t, err)
	hb.ProducerDataSet = []body.ProducerData{{GroupName: "pg"}}
	req.Body = body.EncodeHeartbeat(hb)
	require.Equal(t, protocol.Success, invoke(t, cl, e.addr, req).ResponseCode())

	resp = invoke(t, cl, e.addr, protocol.NewRequest(protocol.GetConsumerConnectionList, map[string]string{"consumerGroup": "cg"}))
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	cc, err := body.DecodeConsumerConnection(resp.Body)
	require.NoError(t, err)
	require.Len(t, cc.ConnectionSet, 1)
	conn := cc.ConnectionSet[0]
	require.Equal(t, "c1@1", conn.ClientID)
	require.Equal(t, "GO", conn.Language)
	require.Equal(t, int32(protocol.CurrentVersion), conn.Version)
	require.Contains(t, conn.ClientAddr, "127.0.0.1:")
	require.Equal(t, body.Clustering, cc.MessageModel)
	require.Equal(t, body.ConsumePassively, cc.ConsumeType)
	require.Equal(t, "CONSUME_FROM_LAST_OFFSET", cc.ConsumeFromWhere)
	require.Contains(t, cc.SubscriptionTable, "T")
	require.Contains(t, cc.SubscriptionTable, "%RETRY%cg")

	resp = invoke(t, cl, e.addr, protocol.NewRequest(protocol.GetProducerConnectionList, map[string]string{"producerGroup": "pg"}))
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	pc, err := body.DecodeProducerConnection(resp.Body)
	require.NoError(t, err)
	require.Len(t, pc.ConnectionSet, 1)
	require.Equal(t, "c1@1", pc.ConnectionSet[0].ClientID)
}

func TestUnregisterClient(t *testing.T) {
	e := startEnv(t, DefaultConfig(), Hooks{})
	c1, c2 := newClient(t), newClient(t)
	require.Equal(t, protocol.Success, invoke(t, c1, e.addr, heartbeatReq("c1@1", "cg")).ResponseCode())
	// Wait for the first round before the second join; changes to a group that
	// arrive before the notifier runs share one notification.
	poll.WaitFor(t, 5*time.Second, func() bool { return c1.notes.count() == 1 })
	require.Equal(t, protocol.Success, invoke(t, c2, e.addr, heartbeatReq("c2@2", "cg")).ResponseCode())
	poll.WaitFor(t, 5*time.Second, func() bool { return c1.notes.count() == 2 })

	resp := invoke(t, c2, e.addr, protocol.NewRequest(protocol.UnregisterClient, map[string]string{"clientID": "c2@2", "consumerGroup": "cg"}))
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	poll.WaitFor(t, 5*time.Second, func() bool { return c1.notes.count() == 3 })
	g, _ := e.m.ConsumerGroup("cg")
	require.Equal(t, []string{"c1@1"}, g.ClientIDs)

	resp = invoke(t, c2, e.addr, protocol.NewRequest(protocol.UnregisterClient, map[string]string{"consumerGroup": "cg"}))
	require.Equal(t, protocol.SystemError, resp.ResponseCode())
	require.Contains(t, resp.Remark, "clientID")
}

func TestBadRequests(t *testing.T) {
	hookErr := errors.New("boom")
	e := startEnv(t, DefaultConfig(), Hooks{OnConsumerHeartbeat: func(group string, subs []body.SubscriptionData, clustering bool) error {
		switch group {
		case "denied":
			return &protocol.Error{Code: protocol.NoPermission, Remark: "no permission for " + group}
		case "broken":
			return hookErr
		}
		return nil
	}})
	cl := newClient(t)
	withBody := func(code protocol.RequestCode, b string) *protocol.Command {
		req := protocol.NewRequest(code, nil)
		req.Body = []byte(b)
		return req
	}
	for _, tc := range []struct {
		name   string
		req    *protocol.Command
		code   protocol.ResponseCode
		remark string
	}{
		{"heartbeat without body", withBody(protocol.HeartBeat, ""), protocol.SystemError, "empty heartbeat body"},
		{"heartbeat not json", withBody(protocol.HeartBeat, "{"), protocol.SystemError, "heartbeat"},
		{"heartbeat float subVersion", withBody(protocol.HeartBeat, `{"clientID":"c","consumerDataSet":[{"groupName":"g","subscriptionDataSet":[{"topic":"T","subVersion":1.5}]}]}`), protocol.SystemError, "subVersion"},
		{"heartbeat without client id", withBody(protocol.HeartBeat, `{"consumerDataSet":[]}`), protocol.SystemError, "clientID"},
		{"heartbeat without group", withBody(protocol.HeartBeat, `{"clientID":"c","consumerDataSet":[{"groupName":""}]}`), protocol.SystemError, "groupName"},
		{"heartbeat hook protocol error", heartbeatReq("c@1", "ok", "denied"), protocol.NoPermission, "no permission for denied"},
		{"heartbeat hook error", heartbeatReq("c@1", "broken"), protocol.SystemError, "boom"},
		{"consumer list without group", protocol.NewRequest(protocol.GetConsumerListByGroup, nil), protocol.SystemError, "consumerGroup"},
		{"lock without body", withBody(protocol.LockBatchMQ, ""), protocol.SystemError, "empty lock batch body"},
		{"lock bad json", withBody(protocol.LockBatchMQ, `{"mqSet":5}`), protocol.SystemError, "lock batch"},
		{"lock without client", withBody(protocol.LockBatchMQ, `{"consumerGroup":"g","mqSet":[]}`), protocol.SystemError, "clientId"},
		{"unlock bad json", withBody(protocol.UnlockBatchMQ, `[`), protocol.SystemError, "unlock batch"},
		{"unlock without group", withBody(protocol.UnlockBatchMQ, `{"clientId":"c"}`), protocol.SystemError, "consumerGroup"},
		{"consumer connections without group", protocol.NewRequest(protocol.GetConsumerConnectionList, nil), protocol.SystemError, "consumerGroup"},
		{"producer connections without group", protocol.NewRequest(protocol.GetProducerConnectionList, nil), protocol.SystemError, "producerGroup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := invoke(t, cl, e.addr, tc.req)
			require.Equal(t, tc.code, resp.ResponseCode(), resp.Remark)
			require.Contains(t, resp.Remark, tc.remark)
		})
	}
	// A failed hook records nothing of the heartbeat, not even the groups before it.
	require.Empty(t, e.m.ConsumerGroups())
}

func TestLifecycle(t *testing.T) {
	m := New(Config{}, nil, nil, Hooks{})
	require.NoError(t, m.Close())
	require.NoError(t, m.Close())
	require.ErrorIs(t, m.Start(context.Background()), ErrClosed)

	m = New(DefaultConfig(), nil, clock.Real{}, Hooks{})
	require.NoError(t, m.Start(context.Background()))
	require.Error(t, m.Start(context.Background()))
	require.NoError(t, m.Close())
	require.NoError(t, m.Close())

	require.Panics(t, func() { New(Config{ScanInterval: -1}, nil, nil, Hooks{}) })
}

// TestNotifyCoalesces: changes made before the notifier runs (here: before
// Start) give each channel of the group one notification, not one per change.
func TestNotifyCoalesces(t *testing.T) {
	m := New(DefaultConfig(), nil, clock.NewManual(t0), Hooks{})
	scfg := remoting.DefaultServerConfig()
	scfg.ListenAddr = "127.0.0.1:0"
	srv, err := remoting.NewServer(scfg, nil)
	require.NoError(t, err)
	m.Register(srv, remoting.NewPool("clients-test", 2, 64))
	require.NoError(t, srv.Start(context.Background()))
	t.Cleanup(func() {
		require.NoError(t, srv.Close())
		require.NoError(t, m.Close())
	})
	addr := srv.Addr().String()
	cls := []*testClient{newClient(t), newClient(t), newClient(t)}
	for i, cl := range cls {
		require.Equal(t, protocol.Success, invoke(t, cl, addr, heartbeatReq("c@"+string(rune('a'+i)), "cg")).ResponseCode())
	}
	cls[2].CloseConn(addr)
	poll.WaitFor(t, 5*time.Second, func() bool {
		g, _ := m.ConsumerGroup("cg")
		return len(g.ClientIDs) == 2
	})
	require.Zero(t, cls[0].notes.count())

	require.NoError(t, m.Start(context.Background()))
	poll.WaitFor(t, 5*time.Second, func() bool { return cls[0].notes.count() == 1 && cls[1].notes.count() == 1 })
	// A request answered after the notifications were sent: nothing more came.
	invoke(t, cls[0], addr, protocol.NewRequest(protocol.GetConsumerListByGroup, map[string]string{"consumerGroup": "cg"}))
	invoke(t, cls[1], addr, protocol.NewRequest(protocol.GetConsumerListByGroup, map[string]string{"consumerGroup": "cg"}))
	require.Equal(t, 1, cls[0].notes.count())
	require.Equal(t, 1, cls[1].notes.count())
}
