package broker_test

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/broker/meta"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/remoting"
	"github.com/stretchr/testify/require"
)

// fastChecks makes the transaction checker run every 50 ms and check halves
// older than 200 ms.
func fastChecks(max int) testutil.Option {
	return testutil.WithBrokerConfig(func(c *broker.Config) {
		c.TransactionCheckInterval = 50 * time.Millisecond
		c.TransactionTimeOut = 200 * time.Millisecond
		c.TransactionCheckMax = max
	})
}

// sendHalf sends a transactional half message as the Go client does.
func (r *rawBroker) sendHalf(topic, group, bodyText string) *protocol.Command {
	r.t.Helper()
	ext := sendV1(topic, 0, map[string]string{message.PropertyTransactionPrepared: "true",
		message.PropertyProducerGroup: group, message.PropertyUniqKey: "UNIQ-" + bodyText})
	ext["sysFlag"] = "4"
	ext["producerGroup"] = group
	resp := r.call(protocol.SendMessage, ext, []byte(bodyText))
	require.Equal(r.t, protocol.Success, resp.ResponseCode(), resp.Remark)
	return resp
}

func endTxExt(group string, resp *protocol.Command, typ int, fromCheck bool) map[string]string {
	_, phys, _ := message.ParseOffsetMsgID(resp.Ext("msgId"))
	return map[string]string{
		"producerGroup": group, "tranStateTableOffset": resp.Ext("queueOffset"),
		"commitLogOffset": strconv.FormatInt(int64(phys), 10), "commitOrRollback": strconv.Itoa(typ),
		"fromTransactionCheck": strconv.FormatBool(fromCheck), "msgId": "x",
	}
}

func (r *rawBroker) pullAll(topic string, queueID int) []*message.MessageExt {
	r.t.Helper()
	resp := r.call(protocol.PullMessage, pullExt("g-"+topic, topic, queueID, 0, 4, "*", 0), nil)
	if resp.ResponseCode() != protocol.Success {
		return nil
	}
	msgs, err := message.DecodeMessages(resp.Body)
	require.NoError(r.t, err)
	return msgs
}

func TestRawTransactionCommitRollback(t *testing.T) {
	r := startRaw(t)
	r.createTopic("Tx", 1, 6)

	h1 := r.sendHalf("Tx", "pg", "commit-me")
	require.Len(t, h1.Ext("msgId"), 32)
	require.Equal(t, "0", h1.Ext("queueId"), "the queue asked for")
	require.Equal(t, "0", h1.Ext("queueOffset"), "offset in the half queue")
	h2 := r.sendHalf("Tx", "pg", "roll-me-back")
	r.waitMax(meta.TopicTransHalf, 0, 2)
	require.Zero(t, maxOffset(t, r.cl, r.addr, "Tx", 0), "half messages are invisible")

	// Checks of END_TRANSACTION.
	bad := endTxExt("other", h1, 8, false)
	require.Equal(t, "The producer group wrong", r.call(protocol.EndTransaction, bad, nil).Remark)
	bad = endTxExt("pg", h1, 8, false)
	bad["tranStateTableOffset"] = "7"
	require.Equal(t, "The transaction state table offset wrong", r.call(protocol.EndTransaction, bad, nil).Remark)
	bad = endTxExt("pg", h1, 8, false)
	bad["commitLogOffset"] = "999999"
	require.Equal(t, protocol.SystemError, r.call(protocol.EndTransaction, bad, nil).ResponseCode())

	resp := r.call(protocol.EndTransaction, endTxExt("pg", h1, 8, false), nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	resp = r.call(protocol.EndTransaction, endTxExt("pg", h2, 12, false), nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	// A repeated commit is answered but stores nothing.
	resp = r.call(protocol.EndTransaction, endTxExt("pg", h1, 8, true), nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	// Committing a rolled-back transaction does nothing either.
	resp = r.call(protocol.EndTransaction, endTxExt("pg", h2, 8, true), nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)

	r.waitMax("Tx", 0, 1)
	r.waitMax(meta.TopicTransOpHalf, 0, 2)
	msgs := r.pullAll("Tx", 0)
	require.Len(t, msgs, 1)
	m := msgs[0]
	require.Equal(t, "commit-me", string(m.Body))
	require.Equal(t, message.SysFlagTransactionCommitType, m.SysFlag.TransactionType())
	_, halfPhys, _ := message.ParseOffsetMsgID(h1.Ext("msgId"))
	require.Equal(t, halfPhys, m.PreparedTransactionOffset)
	require.Equal(t, "true", m.Properties[message.PropertyTransactionPrepared])
	require.Equal(t, "UNIQ-commit-me", m.Properties[message.PropertyUniqKey])
	require.NotContains(t, m.Properties, message.PropertyRealTopic)
	require.Equal(t, "Tx", m.Topic)
	holds(t, 200*time.Millisecond, func() bool { return maxOffset(t, r.cl, r.addr, "Tx", 0) == 1 })
}

// holds fails the test if ok turns false within d (polled on the test
// goroutine, so ok may use require).
func holds(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		require.True(t, ok())
	}
}

// txProducer is a raw producer connection that answers check-backs.
type txProducer struct {
	t     *testing.T
	cl    *remoting.Client
	addr  string
	group string
	// decide answers a check: 8, 12, 0, or -1 to stay silent.
	decide func(m *message.MessageExt) int
	mu     sync.Mutex
	checks []*protocol.Command
}

func newTxProducer(t *testing.T, addr, group string, decide func(*message.MessageExt) int) *txProducer {
	p := &txProducer{t: t, cl: remoting.NewClient(remoting.ClientConfig{}, nil), addr: addr, group: group, decide: decide}
	t.Cleanup(func() { _ = p.cl.Close() })
	p.cl.Register(protocol.CheckTransactionState, remoting.ProcessorFunc(p.onCheck))
	resp := invoke(t, p.cl, addr, protocol.HeartBeat, nil, body.EncodeHeartbeat(&body.HeartbeatData{
		ClientID: "tx-" + group, ProducerDataSet: []body.ProducerData{{GroupName: group}}}))
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	return p
}

func (p *txProducer) onCheck(_ context.Context, conn *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	p.mu.Lock()
	p.checks = append(p.checks, req)
	p.mu.Unlock()
	msgs, err := message.DecodeMessages(req.Body)
	if err != nil || len(msgs) != 1 {
		return nil, nil // the tests see the missing answer
	}
	typ := p.decide(msgs[0])
	if typ < 0 {
		return nil, nil
	}
	end := protocol.NewRequest(protocol.EndTransaction, map[string]string{
		"producerGroup": p.group, "tranStateTableOffset": req.Ext("tranStateTableOffset"),
		"commitLogOffset": req.Ext("commitLogOffset"), "commitOrRollback": strconv.Itoa(typ),
		"fromTransactionCheck": "true", "msgId": req.Ext("msgId"), "transactionId": req.Ext("transactionId"),
	})
	_ = conn.InvokeOneway(context.Background(), end)
	return nil, nil
}

func (p *txProducer) checkCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.checks)
}

func TestRawTransactionCheckBack(t *testing.T) {
	r := startRaw(t, fastChecks(15))
	r.createTopic("TxCheck", 1, 6)
	p := newTxProducer(t, r.addr, "pg-check", func(m *message.MessageExt) int {
		if string(m.Body) == "yes" {
			return 8
		}
		return 12
	})
	h := r.sendHalf("TxCheck", "pg-check", "yes")
	r.sendHalf("TxCheck", "pg-check", "no")
	r.waitMax("TxCheck", 0, 1)
	testutil.WaitFor(t, 5*time.Second, func() bool { return p.checkCount() >= 2 })

	var req *protocol.Command
	p.mu.Lock()
	for _, c := range p.checks {
		if c.Ext("msgId") == "UNIQ-yes" {
			req = c
		}
	}
	p.mu.Unlock()
	require.NotNil(t, req)
	require.Equal(t, "UNIQ-yes", req.Ext("msgId"))
	require.Equal(t, "UNIQ-yes", req.Ext("transactionId"))
	require.Len(t, req.Ext("offsetMsgId"), 32)
	require.NotEqual(t, h.Ext("queueOffset"), req.Ext("tranStateTableOffset"), "the check names the copy")
	m, _, err := message.DecodeMessage(req.Body)
	require.NoError(t, err)
	require.Equal(t, "TxCheck", m.Topic, "shown with its real topic")
	require.Equal(t, "pg-check", m.Properties[message.PropertyProducerGroup])
	require.Equal(t, "1", m.Properties[message.PropertyTransactionCheckTimes])

	msgs := r.pullAll("TxCheck", 0)
	require.Len(t, msgs, 1)
	require.Equal(t, "yes", string(msgs[0].Body))
	// Resolved transactions are not checked again.
	n := p.checkCount()
	holds(t, 400*time.Millisecond, func() bool { return p.checkCount() == n })
	require.Equal(t, int64(1), maxOffset(t, r.cl, r.addr, "TxCheck", 0))
}

func TestRawTransactionCheckMax(t *testing.T) {
	r := startRaw(t, fastChecks(2))
	r.createTopic("TxMax", 1, 6)
	p := newTxProducer(t, r.addr, "pg-max", func(*message.MessageExt) int { return 0 }) // always unknown
	r.sendHalf("TxMax", "pg-max", "undecided")
	r.waitMax(meta.TopicTransCheckMax, 0, 1)
	require.Equal(t, 2, p.checkCount())
	holds(t, 400*time.Millisecond, func() bool { return p.checkCount() == 2 })
	require.Zero(t, maxOffset(t, r.cl, r.addr, "TxMax", 0))
}

// restartBroker closes c's broker and starts a new one on the same address
// and store.
func restartBroker(t *testing.T, c *testutil.Cluster, cfgs ...func(*broker.Config)) *broker.Broker {
	t.Helper()
	require.NoError(t, c.Broker.Close())
	cfg := broker.DefaultConfig()
	cfg.ListenAddr = c.BrokerAddr
	// Not listenPort+1 (what the first broker had): a port freed in the
	// ephemeral range may be taken by any outgoing connection meanwhile.
	cfg.HAListenPort = testutil.StablePort(t)
	cfg.WaitTimeInSendQueue = 10 * time.Second // as testutil's brokers
	cfg.BrokerIP1 = "127.0.0.1"
	cfg.NameServers = []string{c.NameServerAddr}
	cfg.Store.RootDir = c.StoreDir
	cfg.FS = vfs.OS
	for _, f := range cfgs {
		f(&cfg)
	}
	b, err := broker.New(cfg, slog.New(slog.DiscardHandler), clock.Real{})
	require.NoError(t, err)
	require.NoError(t, b.Start(context.Background()))
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestRawTransactionRestart(t *testing.T) {
	slow := testutil.WithBrokerConfig(func(c *broker.Config) { c.TransactionCheckInterval = time.Hour })
	c := testutil.StartCluster(t, slow)
	r := &rawBroker{t: t, c: c, cl: rawClient(t), addr: c.BrokerAddr}
	r.createTopic("TxRestart", 1, 6)
	h1 := r.sendHalf("TxRestart", "pg-rs", "committed")
	r.sendHalf("TxRestart", "pg-rs", "pending")
	require.Equal(t, protocol.Success, r.call(protocol.EndTransaction, endTxExt("pg-rs", h1, 8, false), nil).ResponseCode())
	r.waitMax("TxRestart", 0, 1)

	restartBroker(t, c, func(cfg *broker.Config) {
		cfg.TransactionCheckInterval = 50 * time.Millisecond
		cfg.TransactionTimeOut = 100 * time.Millisecond
	})
	r.cl = rawClient(t)
	// A late duplicate commit of the first after the restart stores nothing.
	require.Equal(t, protocol.Success, r.call(protocol.EndTransaction, endTxExt("pg-rs", h1, 8, true), nil).ResponseCode())
	// The pending one is checked back and committed; the first is not checked.
	var wrong atomic.Int32
	p := newTxProducer(t, r.addr, "pg-rs", func(m *message.MessageExt) int {
		if string(m.Body) != "pending" {
			wrong.Add(1) // a resolved transaction checked again
		}
		return 8
	})
	r.waitMax("TxRestart", 0, 2)
	n := p.checkCount()
	holds(t, 400*time.Millisecond, func() bool {
		return p.checkCount() == n && maxOffset(t, r.cl, r.addr, "TxRestart", 0) == 2
	})
	require.Zero(t, wrong.Load(), "resolved transactions checked again")
	var got []string
	for _, m := range r.pullAll("TxRestart", 0) {
		got = append(got, string(m.Body))
	}
	require.Equal(t, []string{"committed", "pending"}, got)
}

// txListener is an official-client transaction listener.
type txListener struct {
	local func(*primitive.Message) primitive.LocalTransactionState
	check func(*primitive.MessageExt) primitive.LocalTransactionState
	mu    sync.Mutex
	n     int
}

func (l *txListener) ExecuteLocalTransaction(m *primitive.Message) primitive.LocalTransactionState {
	return l.local(m)
}

func (l *txListener) CheckLocalTransaction(m *primitive.MessageExt) primitive.LocalTransactionState {
	l.mu.Lock()
	l.n++
	l.mu.Unlock()
	return l.check(m)
}

func (l *txListener) checks() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func TestCompatTransactions(t *testing.T) {
	c := testutil.StartCluster(t, fastChecks(15))
	const topic = "TxOfficial"
	createTopic(t, c, topic, 2)
	l := &txListener{
		local: func(m *primitive.Message) primitive.LocalTransactionState {
			switch string(m.Body) {
			case "commit":
				return primitive.CommitMessageState
			case "rollback":
				return primitive.RollbackMessageState
			}
			return primitive.UnknowState
		},
		check: func(m *primitive.MessageExt) primitive.LocalTransactionState {
			if string(m.Body) == "unknown-then-commit" {
				return primitive.CommitMessageState
			}
			return primitive.RollbackMessageState
		},
	}
	p, err := producer.NewTransactionProducer(l,
		producer.WithNsResolver(primitive.NewPassthroughResolver([]string{c.NameServerAddr})),
		producer.WithGroupName("pg-tx-official"),
		producer.WithInstanceName(instance(t)),
		producer.WithRetry(1),
	)
	require.NoError(t, err)
	require.NoError(t, p.Start())
	t.Cleanup(func() { _ = p.Shutdown() })

	ctx := context.Background()
	for _, b := range []string{"commit", "rollback", "unknown-then-commit", "unknown-then-rollback"} {
		res, err := p.SendMessageInTransaction(ctx, primitive.NewMessage(topic, []byte(b)))
		require.NoError(t, err, b)
		require.Equal(t, primitive.SendOK, res.Status)
	}
	cl := rawClient(t)
	total := func() int64 {
		return maxOffset(t, cl, c.BrokerAddr, topic, 0) + maxOffset(t, cl, c.BrokerAddr, topic, 1)
	}
	testutil.WaitFor(t, 15*time.Second, func() bool { return total() == 2 && l.checks() >= 2 })
	holds(t, 500*time.Millisecond, func() bool { return total() == 2 })
	var got []string
	r := &rawBroker{t: t, c: c, cl: cl, addr: c.BrokerAddr}
	for q := range 2 {
		for _, m := range r.pullAll(topic, q) {
			got = append(got, string(m.Body))
			require.Equal(t, message.SysFlagTransactionCommitType, m.SysFlag.TransactionType())
		}
	}
	require.ElementsMatch(t, []string{"commit", "unknown-then-commit"}, got)
}
