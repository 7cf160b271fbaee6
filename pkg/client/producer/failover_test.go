package producer_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/producer"
)

// masterSwitch is a broker set "broker-a" whose master moves from one real
// broker to another at the name server, as in controller mode: the master
// (old) registers as id 0; the other broker (next) is listed as slave id 1
// until the switch, when the old master goes away and next registers as id 0
// from its own address. next is a standalone master of its own (its
// registrar talks to a name server of its own), so it takes sends at once.
type masterSwitch struct {
	c    *testutil.Cluster // name server and the old master
	next *testutil.Cluster // the broker promoted at the switch
	reg  *testutil.Registrar
	// topics registered for next, with their queue counts.
	topics map[string]int32
}

func startMasterSwitch(t *testing.T, topics map[string]int32) *masterSwitch {
	t.Helper()
	s := &masterSwitch{c: testutil.StartCluster(t), topics: topics}
	s.next = testutil.StartCluster(t, testutil.WithBrokerConfig(func(cfg *broker.Config) { cfg.BrokerName = "broker-a" }))
	a, err := admin.New(client.NameServers(s.c.NameServerAddr))
	require.NoError(t, err)
	defer a.Close()
	for topic, n := range topics {
		for _, addr := range []string{s.c.BrokerAddr, s.next.BrokerAddr} {
			require.NoError(t, a.CreateTopic(t.Context(), addr, admin.TopicSpec{Topic: topic, ReadQueues: n, WriteQueues: n}))
		}
	}
	s.reg = testutil.NewRegistrar(t, s.c.NameServerAddr)
	master := s.reg.Register(testutil.Registration{BrokerName: "broker-a", BrokerAddr: s.next.BrokerAddr, BrokerID: 1, Topics: topics})
	require.Equal(t, s.c.BrokerAddr, master)
	testutil.WaitFor(t, 10*time.Second, func() bool {
		for topic := range topics {
			r, err := a.TopicRoute(t.Context(), topic)
			if err != nil || len(r.PublishQueues()) == 0 {
				return false
			}
		}
		return true
	})
	return s
}

// kill stops the old master (its connection to the name server closes and
// it unregisters, so the route lists only the slave).
func (s *masterSwitch) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, s.c.Broker.Close())
}

// promote registers next as the master, id 0, from its own address, and
// returns when the name server has answered.
func (s *masterSwitch) promote(t *testing.T) time.Time {
	t.Helper()
	s.reg.Register(testutil.Registration{BrokerName: "broker-a", BrokerAddr: s.next.BrokerAddr, BrokerID: 0, Topics: s.topics, DataVersion: 2})
	return time.Now()
}

// TestSendsFollowMasterSwitch checks that sends resume on the new master
// within moments of its registration at the name server, with the default
// route refresh interval (30s): the failed send to the old master refreshes
// the topic's route at once and the retry goes to the new address.
func TestSendsFollowMasterSwitch(t *testing.T) {
	t.Parallel()
	const topic = "Switch"
	s := startMasterSwitch(t, map[string]int32{topic: 2})
	p := startReal(t, s.c.NameServerAddr)
	for range 4 {
		res, err := p.Send(t.Context(), producer.NewMessage(topic, []byte("before")))
		require.NoError(t, err)
		require.Equal(t, producer.SendOK, res.Status)
	}

	s.kill(t)
	// Between masters: sends fail (the route has no master), fast.
	_, err := p.Send(t.Context(), producer.NewMessage(topic, []byte("gap")))
	require.Error(t, err)

	switched := s.promote(t)
	var res *producer.SendResult
	testutil.WaitFor(t, 10*time.Second, func() bool {
		res, err = p.Send(t.Context(), producer.NewMessage(topic, []byte("after")))
		return err == nil
	})
	took := time.Since(switched)
	t.Logf("first send acknowledged by the new master %s after its registration", took)
	require.Less(t, took, 5*time.Second, "sends resume long before the 30s route refresh")
	require.Equal(t, producer.SendOK, res.Status)
	// The first sends may have gone through the auto-create topic's route,
	// fresher than the topic's own while that one's refresh was
	// rate-limited; the topic's route follows within the interval.
	testutil.WaitFor(t, 10*time.Second, func() bool {
		_, err := p.Send(t.Context(), producer.NewMessage(topic, []byte("after")))
		require.NoError(t, err)
		r, _ := p.Client().CachedRoute(topic)
		m, _ := r.MasterAddr("broker-a")
		return m == s.next.BrokerAddr
	})

	// Async sends go there too.
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		p.SendAsync(t.Context(), producer.NewMessage(topic, []byte("async")), func(_ *producer.SendResult, err error) {
			defer wg.Done()
			assertNoError(t, err)
		})
	}
	wg.Wait()
	a := newAdmin(t, s.next.NameServerAddr)
	testutil.WaitFor(t, 10*time.Second, func() bool {
		return len(readAll(t, a, topic)) >= 11 // consume queues are written after the acknowledgement
	}) // the new master stored what was sent after the switch
}

// TestSendRetryFollowsMasterSwitch checks the retry itself: the producer
// still caches the old master when the switch is complete at the name
// server; its send fails on the old address, refreshes the route and is
// retried on the new master within the same Send.
func TestSendRetryFollowsMasterSwitch(t *testing.T) {
	t.Parallel()
	const topic = "SwitchRetry"
	s := startMasterSwitch(t, map[string]int32{topic: 2})
	h := &sendHook{}
	p := startReal(t, s.c.NameServerAddr, client.WithHooks(h))
	_, err := p.Send(t.Context(), producer.NewMessage(topic, []byte("before")))
	require.NoError(t, err)

	s.kill(t)
	s.promote(t)
	res, err := p.Send(t.Context(), producer.NewMessage(topic, []byte("after")))
	require.NoError(t, err, "one Send: a failed attempt on the old master, a retry on the new one")
	require.Equal(t, producer.SendOK, res.Status)
	h.mu.Lock()
	defer h.mu.Unlock()
	var addrs []string
	for _, ev := range h.events[1:] {
		addrs = append(addrs, ev.Addr)
		if ev.Addr == s.c.BrokerAddr {
			require.Error(t, ev.Err)
		}
	}
	require.Equal(t, []string{s.c.BrokerAddr, s.next.BrokerAddr}, addrs)
}
