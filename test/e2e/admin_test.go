//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil"
)

// adminRunner runs `petrel admin` against one name server, the built binary
// as an operator runs it.
type adminRunner struct {
	t  *testing.T
	ns string
}

// run runs `petrel admin <args> -n ns` and returns stdout; a non-zero exit
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
	cmd := exec.CommandContext(ctx, petrelBin, append(append([]string{"admin"}, args...), "-n", r.ns)...)
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
	require.Contains(t, a.run("topicRoute", "-t", "AdmT"), `"brokerName": "broker-a"`)
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
		QueueID                                    int32
		QueueOffset                                int64
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
