package namesrv

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/remoting"
	"github.com/stretchr/testify/require"
)

// fakeBroker answers SEND_MESSAGE and HEART_BEAT like a broker would, just enough
// for the official producer to complete a send.
type fakeBroker struct {
	rs     *remoting.Server
	offset atomic.Int64
	mu     sync.Mutex
	sent   []string // "topic/queueId" of every send
}

func startFakeBroker(t *testing.T) *fakeBroker {
	t.Helper()
	cfg := remoting.DefaultServerConfig()
	cfg.ListenAddr = "127.0.0.1:0"
	rs, err := remoting.NewServer(cfg, discardLogger())
	require.NoError(t, err)
	fb := &fakeBroker{rs: rs}
	pool := remoting.NewPool("fake-broker", 2, 64)
	rs.Register(protocol.SendMessage, remoting.ProcessorFunc(fb.send), pool)
	rs.Register(protocol.HeartBeat, remoting.ProcessorFunc(func(_ context.Context, _ *remoting.Conn, r *protocol.Command) (*protocol.Command, error) {
		return protocol.NewResponse(r, protocol.Success, ""), nil
	}), pool)
	require.NoError(t, rs.Start(context.Background()))
	t.Cleanup(func() { _ = rs.Close() })
	return fb
}

func (fb *fakeBroker) send(_ context.Context, _ *remoting.Conn, r *protocol.Command) (*protocol.Command, error) {
	fb.mu.Lock()
	fb.sent = append(fb.sent, r.Ext("topic")+"/"+r.Ext("queueId"))
	fb.mu.Unlock()
	off := fb.offset.Add(1) - 1
	tcp := fb.rs.Addr().(*net.TCPAddr)
	ip := tcp.IP.To4()
	resp := protocol.NewResponse(r, protocol.Success, "")
	// Offset message id: store host IPv4 (4 bytes), port (4 bytes), commit-log
	// offset (8 bytes), uppercase hex.
	resp.SetExt("msgId", fmt.Sprintf("%02X%02X%02X%02X%08X%016X", ip[0], ip[1], ip[2], ip[3], tcp.Port, off))
	resp.SetExt("queueId", r.Ext("queueId"))
	resp.SetExt("queueOffset", strconv.FormatInt(off, 10))
	return resp, nil
}

// TestOfficialGoClientCompat checks rocketmq-client-go v2.1.2 against the name
// server: its admin lists topics and reads publish queues, and its producer finds
// the route of T and sends to the (fake) broker registered for it.
func TestOfficialGoClientCompat(t *testing.T) {
	rlog.SetLogLevel("error")
	_, nsAddr := startServer(t, testConfig(t.TempDir()), clock.Real{})
	fb := startFakeBroker(t)
	brokerAddr := fb.rs.Addr().String()

	cl := newClient(t)
	requireCode(t, call(t, cl, nsAddr, registerReq(t, "broker-a", brokerAddr, 0,
		topicBody(1, TopicConfig{TopicName: "T", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6}), false)), protocol.Success)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	adm, err := admin.NewAdmin(admin.WithResolver(primitive.NewPassthroughResolver([]string{nsAddr})))
	require.NoError(t, err)
	defer adm.Close()

	tl, err := adm.FetchAllTopicList(ctx)
	require.NoError(t, err)
	require.Contains(t, tl.TopicList, "T")

	mqs, err := adm.FetchPublishMessageQueues(ctx, "T")
	require.NoError(t, err)
	var got []string
	for _, mq := range mqs {
		got = append(got, fmt.Sprintf("%s/%s/%d", mq.Topic, mq.BrokerName, mq.QueueId))
	}
	sort.Strings(got)
	require.Equal(t, []string{"T/broker-a/0", "T/broker-a/1", "T/broker-a/2", "T/broker-a/3"}, got)

	p, err := producer.NewDefaultProducer(
		producer.WithNsResolver(primitive.NewPassthroughResolver([]string{nsAddr})),
		producer.WithGroupName("petrel-compat"),
		producer.WithRetry(0),
		producer.WithSendMsgTimeout(10*time.Second), // default 3s: short for a loaded machine
	)
	require.NoError(t, err)
	require.NoError(t, p.Start())
	defer func() { _ = p.Shutdown() }()

	res, err := p.SendSync(ctx, primitive.NewMessage("T", []byte("hello")))
	require.NoError(t, err)
	require.Equal(t, primitive.SendOK, res.Status)
	require.Equal(t, "broker-a", res.MessageQueue.BrokerName)
	require.Equal(t, "T", res.MessageQueue.Topic)
	require.Len(t, res.OffsetMsgID, 32)

	fb.mu.Lock()
	defer fb.mu.Unlock()
	require.Len(t, fb.sent, 1)
	require.Equal(t, fmt.Sprintf("T/%d", res.MessageQueue.QueueId), fb.sent[0])
}
