//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	ctlclient "github.com/petrelmq/petrel/internal/controller/client"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/consumer"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
)

// adminRunner runs `petrel admin` against one name server, the built binary
// as an operator runs it.
type adminRunner struct {
	t  *testing.T
	ns string
}

// run runs `petrel admin <args> -n ns` (no -n when ns is empty) and returns stdout; a non-zero exit
// fails the test with stderr.
func (r adminRunner) run(args ...string) string {
	r.t.Helper()
	out, errOut, code := r.try(args...)
	require.Zero(r.t, code, "petrel admin %v failed:\n%s%s", args, errOut, out)
	return out
}

// try runs `petrel admin <args> -n ns` and returns stdout, stderr and the
// exit code.
func (r adminRunner) try(args ...string) (string, string, int) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	argv := append([]string{"admin"}, args...)
	if r.ns != "" {
		argv = append(argv, "-n", r.ns)
	}
	cmd := exec.CommandContext(ctx, petrelBin, argv...)
	cmd.Env = append(os.Environ(), "NAMESRV_ADDR=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	require.NoError(r.t, ctx.Err(), "petrel admin %v did not finish", args)
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		r.t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

// json runs the command with -o json (--output json) and decodes stdout into v.
func (r adminRunner) json(v any, args ...string) {
	r.t.Helper()
	out := r.run(append(args, "--output", "json")...)
	require.NoError(r.t, json.Unmarshal([]byte(out), v), "petrel admin %v -o json printed:\n%s", args, out)
}

func startAdminStandalone(t *testing.T) (adminRunner, *standalone) {
	t.Helper()
	s := startStandalone(t, writeBrokerConf(t, "fastListenPort=-1"), t.TempDir(), 0)
	return adminRunner{t: t, ns: s.ns}, s
}

// TestAdminClusterTopicsMessages runs the cluster, topic and message commands
// against `petrel standalone` and checks both layouts of each.
func TestAdminClusterTopicsMessages(t *testing.T) {
	a, s := startAdminStandalone(t)

	// No name server: a clear error, exit 1.
	cmd := exec.Command(petrelBin, "admin", "topicList")
	cmd.Env = append(os.Environ(), "NAMESRV_ADDR=")
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "no name server: give -n HOST:PORT or set NAMESRV_ADDR")
	// NAMESRV_ADDR is used when -n is not given.
	cmd = exec.Command(petrelBin, "admin", "topicList")
	cmd.Env = append(os.Environ(), "NAMESRV_ADDR="+s.ns)
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "TBW102")
	_, errOut, code := a.try("topicList", "-o", "yaml")
	require.NotZero(t, code)
	require.Contains(t, errOut, `unknown output format "yaml"`)

	// clusterList: one master, no "nullms".
	text := a.run("clusterList")
	require.Contains(t, text, "#Cluster Name")
	require.Contains(t, text, "#InTPS(LOAD)")
	require.Regexp(t, `DefaultCluster\s+broker-a\s+0\s+\S+\s+V4_9_8\s+0\.00\(0,0ms\)`, text)
	require.NotContains(t, text, "null")
	var brokers []struct {
		ClusterName, BrokerName, Addr, Version string
		BrokerID                               int64
		SendQueueHeadWaitMs                    int64
	}
	a.json(&brokers, "clusterList")
	require.Len(t, brokers, 1)
	require.Equal(t, "broker-a", brokers[0].BrokerName)
	require.Equal(t, "V4_9_8", brokers[0].Version)
	addr := brokers[0].Addr

	// brokerStatus, getBrokerConfig, updateBrokerConfig.
	require.Regexp(t, `(?m)^brokerVersionDesc\s+: V4_9_8$`, a.run("brokerStatus", "-b", addr))
	require.Regexp(t, `(?m)^sendThreadPoolQueueHeadWaitTimeMills\s*: 0$`, a.run("brokerStatus", "-b", addr))
	var status []struct {
		Addr  string
		Table map[string]string
	}
	a.json(&status, "brokerStatus", "-c", "DefaultCluster")
	require.Len(t, status, 1)
	require.Equal(t, "409", status[0].Table["brokerVersion"])
	require.Contains(t, a.run("updateBrokerConfig", "-b", addr, "-k", "waitTimeMillsInSendQueue", "-v", "300"),
		"update broker config success, "+addr)
	require.Regexp(t, `(?m)^waitTimeMillsInSendQueue\s+=  300$`, a.run("getBrokerConfig", "-b", addr))
	var cfgs []struct {
		Addr  string
		Table map[string]string
	}
	a.json(&cfgs, "getBrokerConfig", "-c", "DefaultCluster")
	require.Equal(t, "300", cfgs[0].Table["waitTimeMillsInSendQueue"])
	_, errOut, code = a.try("updateBrokerConfig", "-b", addr, "-k", "brokerName", "-v", "x")
	require.NotZero(t, code)
	require.Contains(t, errOut, "cannot change at runtime")

	// Name-server config and KV config.
	require.Contains(t, a.run("updateNamesrvConfig", "-k", "orderMessageEnable", "-v", "true"), "update name server config success!")
	require.Regexp(t, `(?m)^orderMessageEnable\s+=  true$`, a.run("getNamesrvConfig"))
	require.Contains(t, a.run("updateKvConfig", "-s", "NS1", "-k", "k", "-v", "v"), "create or update kv config to namespace success.")
	require.Contains(t, a.run("deleteKvConfig", "-s", "NS1", "-k", "k"), "delete kv config from namespace success.")

	// Topics.
	require.Contains(t, a.run("updateTopic", "-c", "DefaultCluster", "-t", "AdmT", "-r", "4", "-w", "4"),
		"TopicConfig [topicName=AdmT, readQueueNums=4, writeQueueNums=4, perm=RW-, topicFilterType=SINGLE_TAG, topicSysFlag=0, order=false]")
	var upd struct {
		Brokers []string
		Config  struct{ TopicName string }
	}
	a.json(&upd, "updateTopic", "-b", addr, "-t", "AdmT2", "-r", "2", "-w", "2")
	require.Equal(t, []string{addr}, upd.Brokers)
	require.Regexp(t, `(?m)^AdmT$`, a.run("topicList"))
	var topics []string
	a.json(&topics, "topicList")
	require.Contains(t, topics, "AdmT2")
	require.Regexp(t, `DefaultCluster\s+AdmT\s`, a.run("topicList", "-c"))
	var route struct {
		QueueDatas []struct {
			BrokerName                    string
			ReadQueueNums, WriteQueueNums int32
			Perm                          int32
		}
		BrokerDatas []struct{ Cluster string }
	}
	a.json(&route, "topicRoute", "-t", "AdmT")
	require.Len(t, route.QueueDatas, 1)
	require.Equal(t, int32(4), route.QueueDatas[0].WriteQueueNums)
	require.Contains(t, a.run("topicRoute", "-t", "AdmT"), `"brokerName":"broker-a"`)
	require.Regexp(t, `(?m)^Total:\s+1\s+4\s+4`, a.run("topicRoute", "-t", "AdmT", "-l"))
	require.Equal(t, "DefaultCluster\n", a.run("topicClusterList", "-t", "AdmT"))
	require.Contains(t, a.run("updateTopicPerm", "-c", "DefaultCluster", "-t", "AdmT2", "-p", "4"), "update topic perm from 6 to 4 in "+addr+" success.")
	a.json(&route, "topicRoute", "-t", "AdmT2")
	require.Equal(t, int32(4), route.QueueDatas[0].Perm)
	require.Contains(t, a.run("updateOrderConf", "-t", "AdmT", "-m", "put", "-v", "broker-a:4"), "update orderConf success.")
	var oc struct{ OrderConf string }
	a.json(&oc, "updateOrderConf", "-t", "AdmT", "-m", "get")
	require.Equal(t, "broker-a:4", oc.OrderConf)
	require.Contains(t, a.run("updateOrderConf", "-t", "AdmT", "-m", "delete"), "delete orderConf success.")
	var alloc struct {
		Result map[string][]struct{ QueueID int32 }
	}
	a.json(&alloc, "allocateMQ", "-t", "AdmT", "-i", "c1,c2")
	require.Len(t, alloc.Result["c1"], 2)
	require.Len(t, alloc.Result["c2"], 2)

	// Messages: send, then every way to read them back.
	text = a.run("sendMessage", "-t", "AdmT", "-p", "hello", "-k", "key1", "-c", "TagA")
	require.Regexp(t, `#Broker Name\s+#QID\s+#Send Result\s+#MsgId`, text)
	require.Regexp(t, `broker-a\s+\d\s+SEND_OK\s+[0-9A-F]{32}`, text)
	type sentJSON struct {
		BrokerName, SendStatus, MsgID, OffsetMsgID string
		QueueID                                    int32
		QueueOffset                                int64
	}
	var sent sentJSON
	for range 8 {
		a.json(&sent, "sendMessage", "-t", "AdmT", "-p", "hello", "-k", "key1", "-c", "TagA")
		require.Equal(t, "SEND_OK", sent.SendStatus)
	}
	a.json(&sent, "sendMessage", "-t", "AdmT", "-p", "to q3", "-b", "broker-a", "-i", "3", "-c", "TagB")
	require.Equal(t, int32(3), sent.QueueID)
	const total = 10

	var qs []struct {
		BrokerName           string
		QueueID              int32
		MinOffset, MaxOffset int64
		LastUpdated          int64
	}
	testutil.WaitFor(t, 10*time.Second, func() bool { // dispatch to the consume queues is asynchronous
		a.json(&qs, "topicStatus", "-t", "AdmT")
		var n int64
		for _, q := range qs {
			n += q.MaxOffset
		}
		return n == total
	})
	require.Len(t, qs, 4)
	require.Regexp(t, `broker-a\s+3\s+0\s+\d+\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}`, a.run("topicStatus", "-t", "AdmT"))

	var hits []struct{ MsgID, OffsetMsgID string }
	testutil.WaitFor(t, 10*time.Second, func() bool { // so is indexing
		a.json(&hits, "queryMsgByKey", "-t", "AdmT", "-k", "key1")
		return len(hits) == total-1
	})
	require.Regexp(t, `#Message ID\s+#QID\s+#Offset`, a.run("queryMsgByKey", "-t", "AdmT", "-k", "key1"))
	text = a.run("queryMsgById", "-i", sent.OffsetMsgID)
	require.Regexp(t, `(?m)^Topic:\s+AdmT$`, text)
	require.Regexp(t, `(?m)^Tags:\s+\[TagB\]$`, text)
	require.Regexp(t, `(?m)^Queue ID:\s+3$`, text)
	type msgJSON struct {
		MsgID, OffsetMsgID, Topic, Tags, Keys, Body string
		QueueID                                     int32
		QueueOffset                                 int64
	}
	var msgs []msgJSON
	a.json(&msgs, "queryMsgById", "-i", sent.OffsetMsgID)
	require.Len(t, msgs, 1)
	require.Equal(t, "to q3", msgs[0].Body)
	a.json(&msgs, "queryMsgByUniqueKey", "-t", "AdmT", "-i", sent.MsgID)
	require.Equal(t, sent.OffsetMsgID, msgs[0].OffsetMsgID)
	require.Regexp(t, `(?m)^OffsetID:\s+`+sent.OffsetMsgID+`$`, a.run("queryMsgByUniqueKey", "-t", "AdmT", "-i", sent.MsgID))
	var one msgJSON
	a.json(&one, "queryMsgByOffset", "-t", "AdmT", "-b", "broker-a", "-i", "3", "-o", strconv.FormatInt(sent.QueueOffset, 10))
	require.Equal(t, sent.MsgID, one.MsgID)
	require.Contains(t, a.run("queryMsgByOffset", "-t", "AdmT", "-b", "broker-a", "-i", "3", "-o", "0"), "Message Body Path:")
	a.json(&msgs, "printMsg", "-t", "AdmT")
	require.Len(t, msgs, total)
	require.Contains(t, a.run("printMsg", "-t", "AdmT", "-s", "TagB"), "BODY: to q3")
	var byQueue struct {
		Messages []msgJSON
		Tags     []struct {
			Tag   string
			Count int
		}
	}
	a.json(&byQueue, "printMsgByQueue", "-t", "AdmT", "-a", "broker-a", "-i", "3", "-f", "true")
	require.NotEmpty(t, byQueue.Tags)
	require.Regexp(t, `Tag: TagB\s+Count: 1`, a.run("printMsgByQueue", "-t", "AdmT", "-a", "broker-a", "-i", "3", "-f", "true"))
	a.json(&msgs, "consumeMessage", "-t", "AdmT", "-c", "4")
	require.Len(t, msgs, 4)
	require.Contains(t, a.run("consumeMessage", "-t", "AdmT", "-c", "2"), "Consume ok, 2 messages")

	var rt struct {
		Sends   []sentJSON
		AvgRTMs float64
	}
	a.json(&rt, "checkMsgSendRT", "-t", "AdmT", "-a", "3", "-s", "16")
	require.Len(t, rt.Sends, 3)
	require.Regexp(t, `(?m)^Avg RT: \d+\.\d\d$`, a.run("checkMsgSendRT", "-t", "AdmT", "-a", "2"))
	const afterRT = total + 3 + 2

	var re sentJSON
	a.json(&re, "resendMsgById", "-i", sent.OffsetMsgID, "-t", "AdmT3")
	require.Equal(t, "SEND_OK", re.SendStatus)
	require.Contains(t, a.run("resendMsgById", "-i", sent.OffsetMsgID), "prepare resend msg. originalMsgId="+sent.OffsetMsgID)

	// statsAll: the 24-hour in-count of the topic, no consumer yet.
	var stats []struct {
		Topic, ConsumerGroup string
		InMsg24Hour          int64
	}
	a.json(&stats, "statsAll", "-t", "AdmT")
	require.Len(t, stats, 1)
	require.Equal(t, int64(afterRT+1), stats[0].InMsg24Hour)
	require.Regexp(t, `AdmT\s+0\s+\d+\.\d\d\s+\d+\s+NO_CONSUMER`, a.run("statsAll", "-t", "AdmT"))

	// clusterRT sends to each broker's own topic.
	require.Regexp(t, `DefaultCluster\s+broker-a\s+\d+\.\d\d\s+3\s+0`, a.run("clusterRT", "-a", "3", "-s", "8"))

	// Write permission, on every name server.
	require.Contains(t, a.run("wipeWritePerm", "-b", "broker-a"), "wipe write perm of broker[broker-a] in name server["+s.ns+"] OK")
	var wp struct{ TopicCount map[string]int32 }
	a.json(&wp, "addWritePerm", "-b", "broker-a")
	require.Positive(t, wp.TopicCount[s.ns])

	// HA: a master without slaves.
	var ha []struct {
		BrokerName string
		SlaveNum   int
		Slaves     []any
	}
	a.json(&ha, "haStatus")
	require.Len(t, ha, 1)
	require.Zero(t, ha[0].SlaveNum)
	require.Contains(t, a.run("haStatus"), "#SlaveNum\t0")
	_, errOut, code = a.try("getSyncStateSet", "-a", "127.0.0.1:1", "--timeout", "1s")
	require.NotZero(t, code)
	require.NotEmpty(t, errOut)

	// deleteTopic.
	require.Contains(t, a.run("deleteTopic", "-t", "AdmT2", "-c", "DefaultCluster"), "delete topic [AdmT2] from NameServer success.")
	a.json(&topics, "topicList")
	require.NotContains(t, topics, "AdmT2")
}

// TestAdminConsumers runs the group, offset, lag and relay commands with a
// real consumer (Petrel's SDK in this process) against `petrel standalone`:
// consumerStatus (307), getConsumerStatus (223 and 221) and queryMsgById -g
// -d (309) are answered by the consumer through the broker.
func TestAdminConsumers(t *testing.T) {
	a, s := startAdminStandalone(t)
	ctx := t.Context()
	a.run("updateTopic", "-c", "DefaultCluster", "-t", "LagT", "-r", "4", "-w", "4")
	require.Contains(t, a.run("updateSubGroup", "-c", "DefaultCluster", "-g", "gA", "-r", "3"), "retryMaxTimes=3")
	var gcfg []struct {
		BrokerName string
		Config     struct {
			GroupName     string
			RetryMaxTimes int32
		}
	}
	a.json(&gcfg, "getConsumerConfig", "-g", "gA")
	require.Equal(t, int32(3), gcfg[0].Config.RetryMaxTimes)
	require.Regexp(t, `(?m)^retryMaxTimes\s+=  3$`, a.run("getConsumerConfig", "-g", "gA"))

	p, err := producer.New(client.NameServers(s.ns), producer.Group("pg1"))
	require.NoError(t, err)
	require.NoError(t, p.Start(ctx))
	defer p.Close()
	send := func(n int) []*producer.SendResult {
		var out []*producer.SendResult
		for i := range n {
			r, err := p.Send(ctx, producer.NewMessage("LagT", []byte("m"+strconv.Itoa(i)), producer.Tags("T")))
			require.NoError(t, err)
			out = append(out, r)
		}
		return out
	}
	sent := send(12)

	// A group that has never consumed: its progress is its whole backlog
	// once a consumer subscribes; before, it has nothing to show.
	var prog struct {
		Group     string
		DiffTotal int64
		Queues    []struct {
			Topic                        string
			QueueID                      int32
			BrokerOffset, ConsumerOffset int64
			Lag                          int64
		}
	}
	var mu sync.Mutex
	got := 0
	block := make(chan struct{})
	c, err := consumer.NewPush(client.NameServers(s.ns), consumer.Group("gA"), consumer.FromWhere(consumer.ConsumeFromFirstOffset),
		consumer.CommitInterval(100*time.Millisecond))
	require.NoError(t, err)
	require.NoError(t, c.Subscribe("LagT", consumer.All(), consumer.Concurrently(
		func(ctx context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
			select {
			case <-block:
			case <-ctx.Done():
				return consumer.ConsumeRetryLater
			}
			mu.Lock()
			defer mu.Unlock()
			got += len(msgs)
			return consumer.ConsumeSuccess
		})))
	require.NoError(t, c.Start(ctx))
	defer c.Close()
	clientID := c.Client().ID()

	// While the handler blocks nothing is committed: the lag is the backlog.
	testutil.WaitFor(t, 20*time.Second, func() bool {
		a.json(&prog, "consumerProgress", "-g", "gA")
		return prog.DiffTotal == 12
	})
	for _, q := range prog.Queues {
		require.GreaterOrEqual(t, q.Lag, int64(0))
	}
	close(block)
	testutil.WaitFor(t, 30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return got == 12 })
	testutil.WaitFor(t, 20*time.Second, func() bool {
		a.json(&prog, "consumerProgress", "-g", "gA")
		return prog.DiffTotal == 0
	})
	text := a.run("consumerProgress", "-g", "gA")
	require.Regexp(t, `#Topic\s+#Broker Name\s+#QID\s+#Broker Offset\s+#Consumer Offset\s+#Diff\s+#LastTime`, text)
	require.Regexp(t, `(?m)^Diff Total: 0$`, text)
	require.Regexp(t, `LagT\s+broker-a\s+\d\s+\d+\s+\d+\s+0\s+\d{4}-\d\d-\d\d`, text)
	require.Regexp(t, `LagT\s+broker-a\s+\d\s+\d+\s+\d+\s+\S+\s+0\s+`, a.run("consumerProgress", "-g", "gA", "-s", "true"))
	require.Regexp(t, `gA\s+1\s+V4_9_8\s+PUSH\s+CLUSTERING\s+\d+\s+0`, a.run("consumerProgress"))

	// Connections.
	var conns struct {
		Connections   []struct{ ClientID, Language string }
		Subscriptions []struct{ Topic, SubExpression string }
		ConsumeType   string
	}
	a.json(&conns, "consumerConnection", "-g", "gA")
	require.Len(t, conns.Connections, 1)
	require.Equal(t, clientID, conns.Connections[0].ClientID)
	require.Contains(t, conns.Subscriptions, struct{ Topic, SubExpression string }{"LagT", "*"})
	text = a.run("consumerConnection", "-g", "gA")
	require.Contains(t, text, "Below is subscription:")
	require.Contains(t, text, "ConsumeType: CONSUME_PASSIVELY")
	var pconns struct{ Connections []struct{ ClientID string } }
	a.json(&pconns, "producerConnection", "-g", "pg1", "-t", "LagT")
	require.Len(t, pconns.Connections, 1)
	require.Regexp(t, `0001\s+`+regexp.QuoteMeta(p.Client().ID())+`\s+\S+\s+GO\s+V4_9_8`, a.run("producerConnection", "-g", "pg1", "-t", "LagT"))

	// 307 relayed to the consumer: the queues it holds.
	var status struct {
		Clients []struct {
			ClientID string
			Queues   []struct {
				Topic        string
				QueueID      int32
				CommitOffset int64
			}
		}
		RebalanceOK, SameSubscription bool
	}
	a.json(&status, "consumerStatus", "-g", "gA", "-i", clientID)
	require.Len(t, status.Clients, 1)
	lagQueues := 0
	for _, q := range status.Clients[0].Queues {
		if q.Topic == "LagT" {
			lagQueues++
		}
	}
	require.Equal(t, 4, lagQueues)
	text = a.run("consumerStatus", "-g", "gA", "-i", clientID)
	require.Contains(t, text, "#Consumer Subscription#")
	require.Regexp(t, `001 Topic: \S+\s+ClassFilter: false\s+SubExpression: `, text)
	text = a.run("consumerStatus", "-g", "gA")
	require.Contains(t, text, "Rebalance OK")
	require.Contains(t, text, clientID)

	// 223 → 221: the offsets the client holds.
	var offs []struct {
		ClientID   string
		BrokerName string
		QueueID    int32
		Offset     int64
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		a.json(&offs, "getConsumerStatus", "-g", "gA", "-t", "LagT")
		var sum int64
		for _, o := range offs {
			sum += o.Offset
		}
		return len(offs) == 4 && sum == 12
	})
	require.Equal(t, clientID, offs[0].ClientID)
	require.Contains(t, a.run("getConsumerStatus", "-g", "gA", "-t", "LagT"), "get consumer status from client. group=gA, topic=LagT")

	// 309: the consumer consumes one stored message now.
	text = a.run("queryMsgById", "-i", sent[0].OffsetMsgID, "-g", "gA", "-d", clientID)
	require.Contains(t, text, "consumeResult=CR_SUCCESS")
	testutil.WaitFor(t, 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return got == 13 })

	// brokerConsumeStats (317), queryCq (321), statsAll's out-counts (315).
	var bcs struct {
		TotalDiff int64
		Queues    []struct{ Topic, Group string }
	}
	a.json(&bcs, "brokerConsumeStats", "-b", s.broker)
	require.Zero(t, bcs.TotalDiff)
	require.Contains(t, bcs.Queues, struct{ Topic, Group string }{"LagT", "gA"})
	require.Regexp(t, `(?m)^Diff Total: 0$`, a.run("brokerConsumeStats", "-b", s.broker))
	var cq struct {
		MaxQueueIndex, MinQueueIndex int64
		QueueData                    []struct{ PhysicOffset, TagsCode int64 }
		SubscriptionData             *json.RawMessage
	}
	a.json(&cq, "queryCq", "-t", "LagT", "-q", "0", "-i", "0", "-c", "2", "-g", "gA")
	require.Len(t, cq.QueueData, 2)
	require.NotNil(t, cq.SubscriptionData)
	require.Regexp(t, `idx: 0\nConsumeQueueData\{physicOffset=\d+, physicSize=\d+, tagsCode=84,`, a.run("queryCq", "-t", "LagT", "-q", "0", "-i", "0"))
	var st []struct {
		Topic, ConsumerGroup      string
		Accumulation              int64
		InMsg24Hour, OutMsg24Hour int64
	}
	a.json(&st, "statsAll", "-t", "LagT")
	require.Len(t, st, 1)
	require.Equal(t, "gA", st[0].ConsumerGroup)
	require.Equal(t, int64(12), st[0].InMsg24Hour)
	require.GreaterOrEqual(t, st[0].OutMsg24Hour, int64(12))
	require.Regexp(t, `LagT\s+gA\s+0\s+\d+\.\d\d\s+\d+\.\d\d\s+12\s+\d+`, a.run("statsAll", "-t", "LagT", "-a"))

	// Offsets: back to the start (the consumer re-reads), then skip all.
	var reset struct {
		Online  bool
		Offsets []struct{ Offset int64 }
	}
	a.json(&reset, "resetOffsetByTime", "-g", "gA", "-t", "LagT", "-s", "0")
	require.True(t, reset.Online)
	require.Len(t, reset.Offsets, 4)
	for _, o := range reset.Offsets {
		require.Zero(t, o.Offset)
	}
	testutil.WaitFor(t, 30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return got == 25 })
	require.Contains(t, a.run("resetOffsetByTime", "-g", "gA", "-t", "LagT", "-s", "now"), "rollback consumer offset by specified group[gA], topic[LagT]")
	var skip struct{ Offsets []struct{ Offset int64 } }
	a.json(&skip, "skipAccumulatedMessage", "-g", "gA", "-t", "LagT")
	var sum int64
	for _, o := range skip.Offsets {
		sum += o.Offset
	}
	require.Equal(t, int64(12), sum)

	// cloneGroupOffset to a group that never ran.
	require.Contains(t, a.run("cloneGroupOffset", "-s", "gA", "-d", "gClone", "-t", "LagT", "-o", "true"),
		"clone group offset success. srcGroup[gA], destGroup=[gClone], topic[LagT]")
	var clone struct{ DiffTotal int64 }
	a.json(&clone, "consumerProgress", "-g", "gClone")
	require.Zero(t, clone.DiffTotal)

	// A stopped consumer falls behind a producer: the lag is what was sent since.
	require.NoError(t, c.Close())
	send(5)
	testutil.WaitFor(t, 10*time.Second, func() bool {
		a.json(&prog, "consumerProgress", "-g", "gA")
		return prog.DiffTotal == 5
	})
	require.Regexp(t, `(?m)^Diff Total: 5$`, a.run("consumerProgress", "-g", "gA"))
	// An offline group resets queue by queue.
	a.json(&reset, "resetOffsetByTime", "-g", "gA", "-t", "LagT", "-s", "0")
	require.False(t, reset.Online)
	a.json(&prog, "consumerProgress", "-g", "gA")
	require.Equal(t, int64(17), prog.DiffTotal)

	// Dead letters: a consumer that always fails sends them to %DLQ%gD at once.
	a.run("updateTopic", "-c", "DefaultCluster", "-t", "DlqT", "-r", "1", "-w", "1")
	dlqDone := false
	d, err := consumer.NewPush(client.NameServers(s.ns), consumer.Group("gD"), consumer.FromWhere(consumer.ConsumeFromFirstOffset),
		consumer.MaxReconsumeTimes(0))
	require.NoError(t, err)
	var dmu sync.Mutex
	retries := 0
	require.NoError(t, d.Subscribe("DlqT", consumer.All(), consumer.Concurrently(
		func(_ context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
			dmu.Lock()
			defer dmu.Unlock()
			if !dlqDone {
				return consumer.ConsumeRetryLater
			}
			retries += len(msgs)
			return consumer.ConsumeSuccess
		})))
	require.NoError(t, d.Start(ctx))
	defer d.Close()
	for i := range 3 {
		_, err := p.Send(ctx, producer.NewMessage("DlqT", []byte("dead"+strconv.Itoa(i))))
		require.NoError(t, err)
	}
	var dlqStatus []struct{ MaxOffset int64 }
	testutil.WaitFor(t, 30*time.Second, func() bool {
		_, _, code := a.try("topicStatus", "-t", "%DLQ%gD")
		if code != 0 {
			return false
		}
		a.json(&dlqStatus, "topicStatus", "-t", "%DLQ%gD")
		return len(dlqStatus) == 1 && dlqStatus[0].MaxOffset == 3
	})
	dmu.Lock()
	dlqDone = true
	dmu.Unlock()
	var moved struct {
		RetryTopic string
		Resent     []struct{ SendStatus string }
	}
	a.json(&moved, "resendDlqMsg", "-g", "gD")
	require.Equal(t, "%RETRY%gD", moved.RetryTopic)
	require.Len(t, moved.Resent, 3)
	testutil.WaitFor(t, 60*time.Second, func() bool { dmu.Lock(); defer dmu.Unlock(); return retries == 3 })
	require.Contains(t, a.run("resendDlqMsg", "-g", "gD"), "moved 0 messages from %DLQ%gD to %RETRY%gD")

	// deleteSubGroup.
	require.Contains(t, a.run("deleteSubGroup", "-c", "DefaultCluster", "-g", "gClone", "-r", "true"),
		"delete subscription group [gClone] from broker ["+s.broker+"] in cluster [DefaultCluster] success.")
}

// TestAdminControllerCommands runs getSyncStateSet and electMaster against a
// `petrel controller` (a one-node Raft group) with one registered broker.
func TestAdminControllerCommands(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	conf := writeFile(t, "c.conf", strings.Join([]string{
		"controllerDLegerGroup=admin",
		"controllerDLegerPeers=n0-" + addr,
		"controllerDLegerSelfId=n0",
		"controllerStorePath=" + filepath.Join(t.TempDir(), "controller"),
		"controllerListenAddr=" + addr,
		"scanNotActiveBrokerInterval=200",
	}, "\n")+"\n")
	p := start(t, nil, "controller", "-c", conf)
	require.Equal(t, addr, p.waitLog(controllerListenRe, 20*time.Second))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bc, err := ctlclient.New(ctlclient.Config{Addrs: []string{addr}, Cluster: "DefaultCluster", BrokerName: "broker-a",
		BrokerID: 0, BrokerAddr: "127.0.0.1:10911", HAAddr: "127.0.0.1:10912", HeartbeatTimeout: 3 * time.Second}, nil)
	require.NoError(t, err)
	defer bc.Close()
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		_ = bc.Run(runCtx, 200*time.Millisecond, func() ctlclient.Progress { return ctlclient.Progress{MaxOffset: 42} })
	}()
	defer func() { stopRun(); <-runDone }()
	testutil.WaitFor(t, 30*time.Second, func() bool {
		v, ok := bc.Latest()
		return ok && v.IsMaster(0)
	})

	a := adminRunner{t: t} // no -n: these commands ask the controllers only, as mqadmin's do
	var sets []struct {
		BrokerName     string
		MasterBrokerID int64
		MasterAddress  string
		SyncStateSet   []int64
	}
	a.json(&sets, "getSyncStateSet", "-a", addr, "-c", "DefaultCluster")
	require.Len(t, sets, 1)
	require.Equal(t, "broker-a", sets[0].BrokerName)
	require.Equal(t, []int64{0}, sets[0].SyncStateSet)
	text := a.run("getSyncStateSet", "-a", addr, "-b", "broker-a")
	require.Contains(t, text, "#brokerName\tbroker-a\n#MasterBrokerId\t0\n#MasterAddr\t127.0.0.1:10911\n")
	require.Contains(t, text, "InSyncReplica:\tReplica{brokerId=0, brokerAddress=127.0.0.1:10911}")

	text = a.run("electMaster", "-a", addr, "-c", "DefaultCluster", "-bn", "broker-a", "-b", "0")
	require.Contains(t, text, "#BrokerName\tbroker-a\n#BrokerMasterAddr\t127.0.0.1:10911\n")
	_, errOut, code := a.try("electMaster", "-a", addr, "-c", "DefaultCluster", "-bn", "broker-a", "-b", "7")
	require.NotZero(t, code, "broker 7 is not a replica of the set")
	require.Contains(t, errOut, "petrel: ")
}
