package broker_test

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/remoting"
	"github.com/stretchr/testify/require"
)

// These tests speak the protocol directly with Petrel's remoting client, so they
// pin exact codes and fields and also run under -race.

type rawBroker struct {
	t    *testing.T
	c    *testutil.Cluster
	cl   *remoting.Client
	addr string
}

func startRaw(t *testing.T, opts ...testutil.Option) *rawBroker {
	c := testutil.StartCluster(t, opts...)
	return &rawBroker{t: t, c: c, cl: rawClient(t), addr: c.BrokerAddr}
}

func (r *rawBroker) call(code protocol.RequestCode, ext map[string]string, b []byte) *protocol.Command {
	r.t.Helper()
	return invoke(r.t, r.cl, r.addr, code, ext, b)
}

func (r *rawBroker) createTopic(topic string, queues int, perm int) {
	r.t.Helper()
	q := strconv.Itoa(queues)
	resp := r.call(protocol.UpdateAndCreateTopic, map[string]string{"topic": topic, "defaultTopic": "TBW102",
		"readQueueNums": q, "writeQueueNums": q, "perm": strconv.Itoa(perm), "topicFilterType": "SINGLE_TAG",
		"topicSysFlag": "0", "order": "false"}, nil)
	require.Equal(r.t, protocol.Success, resp.ResponseCode(), resp.Remark)
}

func sendV1(topic string, queueID int, props map[string]string) map[string]string {
	p, _ := message.AppendProperties(nil, props)
	return map[string]string{
		"producerGroup": "pg", "topic": topic, "defaultTopic": "TBW102", "defaultTopicQueueNums": "4",
		"queueId": strconv.Itoa(queueID), "sysFlag": "0", "bornTimestamp": "1700000000000", "flag": "0",
		"properties": string(p), "reconsumeTimes": "0", "unitMode": "false", "batch": "false",
	}
}

func (r *rawBroker) send(topic string, queueID int, tag, bodyText string) *protocol.Command {
	r.t.Helper()
	props := map[string]string{message.PropertyWaitStoreMsgOK: "true"}
	if tag != "" {
		props[message.PropertyTags] = tag
	}
	return r.call(protocol.SendMessage, sendV1(topic, queueID, props), []byte(bodyText))
}

func pullExt(group, topic string, queueID int, offset int64, sysFlag int, sub string, suspend time.Duration) map[string]string {
	return map[string]string{
		"consumerGroup": group, "topic": topic, "queueId": strconv.Itoa(queueID),
		"queueOffset": strconv.FormatInt(offset, 10), "maxMsgNums": "32", "sysFlag": strconv.Itoa(sysFlag),
		"commitOffset": "0", "suspendTimeoutMillis": strconv.FormatInt(suspend.Milliseconds(), 10),
		"subscription": sub, "subVersion": "0", "expressionType": "TAG",
	}
}

func (r *rawBroker) waitMax(topic string, queueID int, want int64) {
	r.t.Helper()
	testutil.WaitFor(r.t, 10*time.Second, func() bool { return maxOffset(r.t, r.cl, r.addr, topic, queueID) == want })
}

func TestRawSendAndPull(t *testing.T) {
	r := startRaw(t)
	r.createTopic("Raw", 2, 6)

	resp := r.send("Raw", 1, "TagA", "hello")
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	require.Equal(t, "1", resp.Ext("queueId"))
	require.Equal(t, "0", resp.Ext("queueOffset"))
	require.Len(t, resp.Ext("msgId"), 32)
	require.Equal(t, "DefaultRegion", resp.Ext("MSG_REGION"))
	require.Equal(t, "true", resp.Ext("TRACE_ON"))
	host, phys, err := message.ParseOffsetMsgID(resp.Ext("msgId"))
	require.NoError(t, err)
	require.Equal(t, r.addr, host.String())
	require.Equal(t, message.PhysOffset(0), phys)

	// SEND_MESSAGE_V2 with short names.
	props, _ := message.AppendProperties(nil, map[string]string{"TAGS": "TagB", "k": "v"})
	resp = r.call(protocol.SendMessageV2, map[string]string{"a": "pg", "b": "Raw", "c": "TBW102", "d": "4", "e": "1",
		"f": "0", "g": "1700000000001", "h": "7", "i": string(props), "j": "0", "k": "false", "m": "false"}, []byte("v2"))
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	require.Equal(t, "1", resp.Ext("queueOffset"))

	// SEND_BATCH_MESSAGE: three messages, consecutive offsets, comma-joined ids.
	batch, err := message.AppendBatch(nil, []*message.Message{
		{Body: []byte("b0"), Properties: map[string]string{"TAGS": "TagA"}},
		{Body: []byte("b1")},
		{Body: []byte("b2"), Flag: 3},
	})
	require.NoError(t, err)
	resp = r.call(protocol.SendBatchMessage, map[string]string{"a": "pg", "b": "Raw", "c": "TBW102", "d": "4", "e": "1",
		"f": "0", "g": "1700000000002", "h": "0", "i": "", "j": "0", "k": "false", "m": "true"}, batch)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	require.Equal(t, "2", resp.Ext("queueOffset"))
	require.Len(t, strings.Split(resp.Ext("msgId"), ","), 3)

	r.waitMax("Raw", 1, 5)
	resp = r.call(protocol.PullMessage, pullExt("g", "Raw", 1, 0, 4, "*", 0), nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	require.Equal(t, "5", resp.Ext("nextBeginOffset"))
	require.Equal(t, "0", resp.Ext("minOffset"))
	require.Equal(t, "5", resp.Ext("maxOffset"))
	require.Equal(t, "0", resp.Ext("suggestWhichBrokerId"))
	msgs, err := message.DecodeMessages(resp.Body)
	require.NoError(t, err)
	require.Len(t, msgs, 5)
	var bodies []string
	for i, m := range msgs {
		bodies = append(bodies, string(m.Body))
		require.Equal(t, message.QueueOffset(i), m.QueueOffset)
		require.Equal(t, "Raw", m.Topic)
		require.Equal(t, "DefaultCluster", m.Properties["CLUSTER"])
		require.NotContains(t, m.Properties, "WAIT")
		require.Equal(t, r.addr, m.StoreHost.String())
		require.True(t, m.BornHost.Addr().IsLoopback())
	}
	require.Equal(t, []string{"hello", "v2", "b0", "b1", "b2"}, bodies)
	require.Equal(t, int32(7), msgs[1].Flag)
	require.Equal(t, "v", msgs[1].Properties["k"])
	require.Equal(t, int32(3), msgs[4].Flag)

	// Tag filter: only TagA, and the next offset still covers what was skipped.
	resp = r.call(protocol.PullMessage, pullExt("g", "Raw", 1, 0, 4, "TagA || TagC", 0), nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	msgs, err = message.DecodeMessages(resp.Body)
	require.NoError(t, err)
	require.Len(t, msgs, 2)
	require.Equal(t, "hello", string(msgs[0].Body))
	require.Equal(t, "b0", string(msgs[1].Body))
	require.Equal(t, "5", resp.Ext("nextBeginOffset"))
	resp = r.call(protocol.PullMessage, pullExt("g", "Raw", 1, 1, 4, "TagZ", 0), nil)
	require.Equal(t, protocol.PullRetryImmediately, resp.ResponseCode())
	require.Equal(t, "5", resp.Ext("nextBeginOffset"))
}

func TestRawSendChecks(t *testing.T) {
	r := startRaw(t)
	r.createTopic("Checks", 2, 6)
	r.createTopic("ReadOnly", 1, 4)
	code := func(resp *protocol.Command) protocol.ResponseCode { return resp.ResponseCode() }

	require.Equal(t, protocol.SystemError, code(r.send("bad topic", 0, "", "x")))
	require.Equal(t, protocol.NoPermission, code(r.send("SCHEDULE_TOPIC_XXXX", 0, "", "x")))
	require.Equal(t, protocol.NoPermission, code(r.send("ReadOnly", 0, "", "x")))
	ext := sendV1("NoSuchTopic", 0, nil)
	ext["defaultTopic"] = "NotATemplate"
	require.Equal(t, protocol.TopicNotExist, code(r.call(protocol.SendMessage, ext, []byte("x"))))
	delete(ext, "bornTimestamp")
	require.Equal(t, protocol.SystemError, code(r.call(protocol.SendMessage, ext, []byte("x"))))
	require.Equal(t, protocol.MessageIllegal, code(r.send("Checks", 0, "", strings.Repeat("x", 4<<20+1))))
	resp := r.call(protocol.SendMessage, sendV1("Checks", 0, map[string]string{"TIMER_DELAY_SEC": "99999999"}), []byte("x"))
	require.Equal(t, protocol.MessageIllegal, resp.ResponseCode())
	require.Equal(t, "DefaultRegion", resp.Ext("MSG_REGION"), "error answers carry MSG_REGION too")
	resp = r.call(protocol.SendMessage, sendV1("Checks", 0, map[string]string{"TRAN_MSG": "true"}), []byte("x"))
	require.Equal(t, protocol.Success, resp.ResponseCode(), "half messages are accepted (transaction.go)")

	// queueId -1 or beyond the write queues: the broker picks one.
	for _, q := range []int{-1, 2, 99} {
		resp := r.send("Checks", q, "", "x")
		require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
		id, _ := strconv.Atoi(resp.Ext("queueId"))
		require.True(t, id == 0 || id == 1, id)
	}

	// %RETRY% topics are created on send even with auto-create off.
	ext = sendV1("%RETRY%grp", 0, nil)
	ext["defaultTopic"] = "NotATemplate"
	require.Equal(t, protocol.Success, code(r.call(protocol.SendMessage, ext, []byte("x"))))

	// Broker permission 4 (read-only) refuses sends; restoring it accepts them.
	resp = r.call(protocol.UpdateBrokerConfig, nil, []byte("brokerPermission=4\n"))
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	require.Equal(t, protocol.NoPermission, code(r.send("Checks", 0, "", "x")))
	resp = r.call(protocol.UpdateBrokerConfig, nil, []byte("brokerPermission=6\n"))
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	require.Equal(t, protocol.Success, code(r.send("Checks", 0, "", "x")))
}

func TestRawAutoCreateOff(t *testing.T) {
	r := startRaw(t, testutil.WithBrokerConfig(func(c *broker.Config) { c.AutoCreateTopicEnable = false }))
	resp := r.send("NewTopic", 0, "", "x")
	require.Equal(t, protocol.TopicNotExist, resp.ResponseCode())
	all := r.call(protocol.GetAllTopicConfig, nil, nil)
	require.NotContains(t, string(all.Body), `"TBW102"`)
}

func TestRawPullCodes(t *testing.T) {
	r := startRaw(t)
	r.createTopic("P", 1, 6)
	require.Equal(t, protocol.Success, r.send("P", 0, "TagA", "m0").ResponseCode())
	r.waitMax("P", 0, 1)
	pull := func(ext map[string]string) *protocol.Command { return r.call(protocol.PullMessage, ext, nil) }

	require.Equal(t, protocol.TopicNotExist, pull(pullExt("g", "Nope", 0, 0, 4, "*", 0)).ResponseCode())
	require.Equal(t, protocol.SystemError, pull(pullExt("g", "P", 1, 0, 4, "*", 0)).ResponseCode())
	resp := pull(pullExt("g", "P", 0, 9, 4, "*", 0))
	require.Equal(t, protocol.PullOffsetMoved, resp.ResponseCode())
	require.Equal(t, "0", resp.Ext("nextBeginOffset"), "past the end with min offset 0: back to 0, as RocketMQ")
	resp = pull(pullExt("g", "P", 0, 1, 4, "*", 0))
	require.Equal(t, protocol.PullNotFound, resp.ResponseCode(), "caught up, no suspend flag")
	require.Equal(t, "1", resp.Ext("nextBeginOffset"))
	require.Equal(t, protocol.SubscriptionParseFailed, pull(pullExt("g", "P", 0, 0, 4, "||", 0)).ResponseCode())
	ext := pullExt("g", "P", 0, 0, 4, "a > 1", 0)
	ext["expressionType"] = "SQL92"
	require.Equal(t, protocol.PullRetryImmediately, pull(ext).ResponseCode(), "SQL92 served (enablePropertyFilter); no message has a")
	require.Equal(t, protocol.SubscriptionNotExist, pull(pullExt("g", "P", 0, 0, 0, "", 0)).ResponseCode(), "no heartbeat")
	delete(ext, "queueOffset")
	require.Equal(t, protocol.SystemError, pull(ext).ResponseCode())

	// A disabled group may not consume.
	g := body.DefaultSubscriptionGroupConfig("off")
	g.ConsumeEnable = false
	data, _ := json.Marshal(g)
	require.Equal(t, protocol.Success, r.call(protocol.UpdateAndCreateSubscription, nil, data).ResponseCode())
	require.Equal(t, protocol.NoPermission, pull(pullExt("off", "P", 0, 0, 4, "*", 0)).ResponseCode())
	require.Equal(t, protocol.Success, r.call(protocol.DeleteSubscriptionGroup, map[string]string{"groupName": "off"}, nil).ResponseCode())
	require.Equal(t, protocol.Success, pull(pullExt("off", "P", 0, 0, 4, "*", 0)).ResponseCode(), "auto-created again with defaults")
}

// pullAsync sends a pull and delivers its answer on the returned channel.
func (r *rawBroker) pullAsync(ext map[string]string) <-chan *protocol.Command {
	ch := make(chan *protocol.Command, 1)
	req := protocol.NewRequest(protocol.PullMessage, ext)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := r.cl.InvokeAsync(ctx, r.addr, req, func(resp *protocol.Command, err error) {
		defer cancel()
		if err != nil {
			resp = protocol.NewResponse(req, -1, err.Error())
		}
		ch <- resp
	})
	require.NoError(r.t, err)
	return ch
}

func TestRawLongPolling(t *testing.T) {
	r := startRaw(t)
	r.createTopic("LP", 1, 6)

	ch := r.pullAsync(pullExt("g", "LP", 0, 0, 2|4, "TagA", 20*time.Second))
	testutil.WaitFor(t, 5*time.Second, func() bool { return r.c.Broker.HeldPulls() == 1 })
	// A message the filter rejects does not wake the pull.
	require.Equal(t, protocol.Success, r.send("LP", 0, "TagB", "skip").ResponseCode())
	r.waitMax("LP", 0, 1)
	require.Equal(t, 1, r.c.Broker.HeldPulls())
	sent := time.Now()
	require.Equal(t, protocol.Success, r.send("LP", 0, "TagA", "match").ResponseCode())
	select {
	case resp := <-ch:
		require.Less(t, time.Since(sent), 10*time.Second, "woken, not timed out (20 s)")
		require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
		msgs, err := message.DecodeMessages(resp.Body)
		require.NoError(t, err)
		require.Len(t, msgs, 1)
		require.Equal(t, "match", string(msgs[0].Body))
		require.Equal(t, "2", resp.Ext("nextBeginOffset"))
	case <-time.After(15 * time.Second):
		t.Fatal("held pull not woken")
	}
	require.Equal(t, 0, r.c.Broker.HeldPulls())

	// A pull past the end with the suspend flag times out with PULL_NOT_FOUND.
	start := time.Now()
	ch = r.pullAsync(pullExt("g", "LP", 0, 2, 2|4, "*", 300*time.Millisecond))
	resp := <-ch
	require.Equal(t, protocol.PullNotFound, resp.ResponseCode())
	require.GreaterOrEqual(t, time.Since(start), 250*time.Millisecond)

	// Close answers held pulls instead of dropping them.
	ch = r.pullAsync(pullExt("g", "LP", 0, 2, 2|4, "*", 20*time.Second))
	testutil.WaitFor(t, 5*time.Second, func() bool { return r.c.Broker.HeldPulls() == 1 })
	require.NoError(t, r.c.Broker.Close())
	resp = <-ch
	require.Equal(t, protocol.PullNotFound, resp.ResponseCode())
}

// TestRawHeldPullDroppedOnClose: a pull held for a connection that closes is
// forgotten at once, not kept until its suspend deadline.
func TestRawHeldPullDroppedOnClose(t *testing.T) {
	r := startRaw(t)
	r.createTopic("LPClose", 1, 6)
	other := remoting.NewClient(remoting.ClientConfig{}, nil)
	req := protocol.NewRequest(protocol.PullMessage, pullExt("g", "LPClose", 0, 0, 2|4, "*", 60*time.Second))
	require.NoError(t, other.InvokeAsync(context.Background(), r.addr, req, func(*protocol.Command, error) {}))
	testutil.WaitFor(t, 5*time.Second, func() bool { return r.c.Broker.HeldPulls() == 1 })
	require.NoError(t, other.Close())
	testutil.WaitFor(t, 10*time.Second, func() bool { return r.c.Broker.HeldPulls() == 0 })
	// The broker still serves: a message sent now is stored and pullable.
	require.Equal(t, protocol.Success, r.send("LPClose", 0, "", "after").ResponseCode())
	r.waitMax("LPClose", 0, 1)
}

// TestRawVIPChannel: the VIP channel (fastListenPort) serves the same
// requests as the client port: a message sent through it is pulled through
// the client port.
func TestRawVIPChannel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	r := startRaw(t, testutil.WithBrokerConfig(func(c *broker.Config) { c.FastListenPort = port }))
	require.Equal(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), r.c.Broker.FastAddr().String())
	r.createTopic("VIP", 1, 6)

	main := r.addr
	r.addr = r.c.Broker.FastAddr().String()
	resp := r.send("VIP", 0, "TagV", "via vip")
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	r.addr = main
	r.waitMax("VIP", 0, 1)
	msgs := r.pullMsgs("g", "VIP", 0, 0)
	require.Len(t, msgs, 1)
	require.Equal(t, "via vip", string(msgs[0].Body))

	// An explicit port that is taken fails the start with a clear error.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = busy.Close() })
	cfg := broker.DefaultConfig()
	cfg.ListenAddr = "127.0.0.1:0"
	cfg.Store.RootDir = t.TempDir()
	cfg.FastListenPort = busy.Addr().(*net.TCPAddr).Port
	b, err := broker.New(cfg, nil, clock.Real{})
	require.NoError(t, err)
	err = b.Start(context.Background())
	require.ErrorContains(t, err, "fastListenPort")
	require.NoError(t, b.Close())
}

func TestRawShortPolling(t *testing.T) {
	r := startRaw(t, testutil.WithBrokerConfig(func(c *broker.Config) {
		c.LongPollingEnable = false
		c.ShortPollingTime = 200 * time.Millisecond
	}))
	r.createTopic("SP", 1, 6)
	start := time.Now()
	resp := <-r.pullAsync(pullExt("g", "SP", 0, 0, 2|4, "*", 20*time.Second))
	require.Equal(t, protocol.PullNotFound, resp.ResponseCode())
	require.Less(t, time.Since(start), 10*time.Second, "answered after the short-polling time, not the 20 s suspend")
}

func TestRawConsumerOffsets(t *testing.T) {
	dir := t.TempDir()
	cfg := func(c *broker.Config) { c.Store.RootDir = dir }
	r := startRaw(t, testutil.WithBrokerConfig(cfg))
	r.createTopic("O", 2, 6)
	query := func(group string, q int) *protocol.Command {
		return r.call(protocol.QueryConsumerOffset, map[string]string{"consumerGroup": group, "topic": "O", "queueId": strconv.Itoa(q)}, nil)
	}
	resp := query("g", 0)
	require.Equal(t, protocol.Success, resp.ResponseCode(), "young queue: start at 0")
	require.Equal(t, "0", resp.Ext("offset"))
	resp = r.call(protocol.UpdateConsumerOffset, map[string]string{"consumerGroup": "g", "topic": "O", "queueId": "1", "commitOffset": "42"}, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode())
	require.Equal(t, "42", query("g", 1).Ext("offset"))

	// Commit through the pull flag.
	ext := pullExt("g", "O", 0, 0, 1|4, "*", 0)
	ext["commitOffset"] = "7"
	require.Equal(t, protocol.PullNotFound, r.call(protocol.PullMessage, ext, nil).ResponseCode())
	require.Equal(t, "7", query("g", 0).Ext("offset"))

	// Stats and who-consumes.
	resp = r.call(protocol.GetConsumeStats, map[string]string{"consumerGroup": "g"}, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	cs, err := body.DecodeConsumeStats(resp.Body)
	require.NoError(t, err)
	require.Equal(t, int64(42), cs.OffsetTable[message.MessageQueue{Topic: "O", BrokerName: "broker-a", QueueID: 1}].ConsumerOffset)
	resp = r.call(protocol.QueryTopicConsumeByWho, map[string]string{"topic": "O"}, nil)
	require.JSONEq(t, `{"groupList":["g"]}`, string(resp.Body))

	// Offsets and topics survive a restart.
	require.NoError(t, r.c.Broker.Close())
	bcfg := broker.DefaultConfig()
	bcfg.ListenAddr = "127.0.0.1:0"
	cfg(&bcfg)
	b, err := broker.New(bcfg, nil, clock.Real{})
	require.NoError(t, err)
	require.NoError(t, b.Start(context.Background()))
	t.Cleanup(func() { _ = b.Close() })
	r.addr = b.Addr()
	require.Equal(t, "42", query("g", 1).Ext("offset"))
	require.Equal(t, "7", query("g", 0).Ext("offset"))
	all := r.call(protocol.GetAllTopicConfig, nil, nil)
	require.Contains(t, string(all.Body), `"O":{"topicName":"O"`)
}

func TestRawAdminReads(t *testing.T) {
	r := startRaw(t)
	r.createTopic("S", 2, 6)
	require.Equal(t, protocol.Success, r.send("S", 0, "", "x").ResponseCode())
	r.waitMax("S", 0, 1)

	resp := r.call(protocol.GetTopicStatsInfo, map[string]string{"topic": "S"}, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	ts, err := body.DecodeTopicStatsTable(resp.Body)
	require.NoError(t, err)
	require.Len(t, ts, 2)
	q0 := ts[message.MessageQueue{Topic: "S", BrokerName: "broker-a", QueueID: 0}]
	require.Equal(t, int64(1), q0.MaxOffset)
	require.Positive(t, q0.LastUpdateTimestamp)
	require.Equal(t, protocol.TopicNotExist, r.call(protocol.GetTopicStatsInfo, map[string]string{"topic": "none"}, nil).ResponseCode())

	resp = r.call(protocol.GetBrokerRuntimeInfo, nil, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode())
	var kv struct{ Table map[string]string }
	require.NoError(t, json.Unmarshal(resp.Body, &kv))
	require.Equal(t, "V4_9_8", kv.Table["brokerVersionDesc"])
	require.NotEmpty(t, kv.Table["commitLogMaxOffset"])
	require.Equal(t, "OK", kv.Table["storeHealth"], "a healthy store says so")
	require.NotEmpty(t, kv.Table["consumeQueueDiskRatio"])
	require.Equal(t, "0", kv.Table["segmentsDeletedUnexpired"])

	// Rates: the put above and a found pull count since the broker started.
	resp = r.call(protocol.PullMessage, pullExt("gs", "S", 0, 0, 4, "*", 0), nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	require.NoError(t, json.Unmarshal(r.call(protocol.GetBrokerRuntimeInfo, nil, nil).Body, &kv))
	for _, key := range []string{"putTps", "getFoundTps", "getTransferedTps", "getTotalTps"} {
		f := strings.Fields(kv.Table[key])
		require.Len(t, f, 3, key)
		v, err := strconv.ParseFloat(f[0], 64)
		require.NoError(t, err, key)
		require.Positive(t, v, "%s = %q", key, kv.Table[key])
	}
	resp = r.call(protocol.GetConsumeStats, map[string]string{"consumerGroup": "gs", "topic": "S"}, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	cs, err := body.DecodeConsumeStats(resp.Body)
	require.NoError(t, err)
	require.Positive(t, cs.ConsumeTps)

	resp = r.call(protocol.GetBrokerConfig, nil, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode())
	require.Contains(t, string(resp.Body), "brokerName=broker-a\n")
	require.Contains(t, resp.Ext("version"), `"counter"`)
	resp = r.call(protocol.UpdateBrokerConfig, nil, []byte("brokerName=other\n"))
	require.Equal(t, protocol.SystemError, resp.ResponseCode())
	require.Contains(t, resp.Remark, "brokerName")

	for _, code := range []protocol.RequestCode{protocol.GetMinOffset, protocol.GetEarliestMsgStoretime} {
		resp = r.call(code, map[string]string{"topic": "S", "queueId": "0"}, nil)
		require.Equal(t, protocol.Success, resp.ResponseCode())
	}
	resp = r.call(protocol.SearchOffsetByTimestamp, map[string]string{"topic": "S", "queueId": "0", "timestamp": "0"}, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode())
	require.Equal(t, "0", resp.Ext("offset"))

	// System topics cannot be created or deleted by admin tools.
	resp = r.call(protocol.UpdateAndCreateTopic, map[string]string{"topic": "TBW102", "readQueueNums": "1", "writeQueueNums": "1", "perm": "6"}, nil)
	require.Equal(t, protocol.SystemError, resp.ResponseCode())
	require.Equal(t, protocol.SystemError, r.call(protocol.DeleteTopicInBroker, map[string]string{"topic": "SCHEDULE_TOPIC_XXXX"}, nil).ResponseCode())
	require.Equal(t, protocol.Success, r.call(protocol.DeleteTopicInBroker, map[string]string{"topic": "S"}, nil).ResponseCode())
	require.Equal(t, protocol.TopicNotExist, r.call(protocol.GetTopicStatsInfo, map[string]string{"topic": "S"}, nil).ResponseCode())
}
