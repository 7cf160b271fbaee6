//go:build e2e

package e2e

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/header"
	"github.com/petrelmq/petrel/pkg/remoting"
)

var dedupRebuiltRe = regexp.MustCompile(`msg="broker: de-duplication window rebuilt from the commit log" entries=(\d+)`)

// sendKeyed sends one SEND_MESSAGE_V2 carrying UNIQ_KEY uniq, as a retrying
// RocketMQ client does, and returns the answer.
func sendKeyed(t *testing.T, cl *remoting.Client, addr, topic, uniq string, queue int32) *protocol.Command {
	t.Helper()
	ps, err := message.AppendProperties(nil, map[string]string{message.PropertyUniqKey: uniq})
	require.NoError(t, err)
	req := header.NewRequest(protocol.SendMessageV2, &header.SendMessage{ProducerGroup: "pg-dedup", Topic: topic,
		DefaultTopic: "TBW102", DefaultTopicQueueNums: 4, QueueID: queue, BornTimestamp: time.Now().UnixMilli(),
		Properties: string(ps)})
	req.Body = []byte("exactly once")
	resp := call(t, cl, addr, req)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	return resp
}

// TestDedupSurvivesKill9 stores a message on `petrel standalone` with
// duplicateWindowSeconds set, kills the process with SIGKILL before the
// producer's retry, and sends the retry to the restarted broker: it is
// answered with the first copy's result and the topic holds one copy.
func TestDedupSurvivesKill9(t *testing.T) {
	store := filepath.Join(t.TempDir(), "store")
	conf := writeBrokerConf(t, "duplicateWindowSeconds=300")
	s := startStandalone(t, conf, store, 0)
	cl := newRawClient(t)
	const topic = "DedupKill9"
	createTopic(t, cl, s.broker, topic, 4)
	first := sendKeyed(t, cl, s.broker, topic, "KILL9-KEY", 1)

	require.NoError(t, s.p.cmd.Process.Signal(syscall.SIGKILL))
	require.Error(t, s.p.wait(10*time.Second), "petrel should die from SIGKILL")

	s2 := startStandalone(t, conf, store, s.port)
	require.Regexp(t, crashRecoveryRe, s2.p.output())
	require.Equal(t, "1", s2.p.waitLog(dedupRebuiltRe, 10*time.Second))
	cl2 := newRawClient(t)
	retry := sendKeyed(t, cl2, s2.broker, topic, "KILL9-KEY", 3)
	for _, k := range []string{"msgId", "queueId", "queueOffset"} {
		require.Equal(t, first.Ext(k), retry.Ext(k), k)
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		resp := rawCall(t, cl2, s2.broker, protocol.GetBrokerRuntimeInfo, nil)
		var kv struct{ Table map[string]string }
		return json.Unmarshal(resp.Body, &kv) == nil && kv.Table["dispatchBehindBytes"] == "0"
	})
	var n int64
	for q := range 4 {
		n += maxQueueOffset(t, cl2, s2.broker, topic, q)
	}
	require.Equal(t, int64(1), n, "one stored copy")
	require.NoError(t, s2.p.stop(syscall.SIGTERM, 15*time.Second))
}
