package broker_test

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/broker/meta"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/stretchr/testify/require"
)

// shortDelays gives tests levels of 1 s, 2 s and 3 s.
func shortDelays(cfg *broker.Config) { cfg.Store.MessageDelayLevel = "1s 2s 3s" }

// pullMsgs pulls a queue from offset and returns the messages.
func (r *rawBroker) pullMsgs(group, topic string, queueID int, offset int64) []*message.MessageExt {
	r.t.Helper()
	resp := r.call(protocol.PullMessage, pullExt(group, topic, queueID, offset, 4, "*", 0), nil)
	require.Equal(r.t, protocol.Success, resp.ResponseCode(), resp.Remark)
	msgs, err := message.DecodeMessages(resp.Body)
	require.NoError(r.t, err)
	return msgs
}

func TestRawDelayLevel(t *testing.T) {
	r := startRaw(t, testutil.WithBrokerConfig(shortDelays))
	r.createTopic("Delayed", 2, 6)

	props := map[string]string{"DELAY": "1", "TAGS": "TagD", "UNIQ_KEY": "ABCDEF0123456789", "KEYS": "k1"}
	start := time.Now()
	resp := r.call(protocol.SendMessage, sendV1("Delayed", 1, props), []byte("late"))
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	require.Equal(t, "1", resp.Ext("queueId"), "queueId is the queue asked for")
	r.waitMax("SCHEDULE_TOPIC_XXXX", 0, 1)
	if time.Since(start) < 900*time.Millisecond { // else a slow machine may have reached the due time
		require.Zero(t, maxOffset(t, r.cl, r.addr, "Delayed", 1), "not delivered before its delay")
	}

	r.waitMax("Delayed", 1, 1)
	require.GreaterOrEqual(t, time.Since(start), time.Second-5*time.Millisecond, "due = millisecond store time + level")
	msgs := r.pullMsgs("g", "Delayed", 1, 0)
	require.Len(t, msgs, 1)
	m := msgs[0]
	require.Equal(t, "late", string(m.Body))
	require.Equal(t, "Delayed", m.Topic)
	require.Equal(t, "ABCDEF0123456789", m.Properties["UNIQ_KEY"])
	require.Equal(t, "TagD", m.Properties["TAGS"])
	require.Equal(t, "k1", m.Properties["KEYS"])
	for _, k := range []string{"DELAY", "REAL_TOPIC", "REAL_QID"} {
		require.NotContains(t, m.Properties, k)
	}
	// The tags code was recomputed from TAGS: a tag subscription matches.
	resp = r.call(protocol.PullMessage, pullExt("g2", "Delayed", 1, 0, 4, "TagD", 0), nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)

	// A level above the last is capped to it (3 → queue 2).
	resp = r.call(protocol.SendMessage, sendV1("Delayed", 0, map[string]string{"DELAY": "99"}), []byte("capped"))
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	r.waitMax("SCHEDULE_TOPIC_XXXX", 2, 1)

	resp = r.call(protocol.GetAllDelayOffset, nil, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	var table struct {
		OffsetTable map[string]int64 `json:"offsetTable"`
	}
	require.NoError(t, json.Unmarshal(resp.Body, &table))
	require.Equal(t, int64(1), table.OffsetTable["1"])
	require.Len(t, table.OffsetTable, 3)
}

func TestRawSendBackRetryAndDLQ(t *testing.T) {
	r := startRaw(t, testutil.WithBrokerConfig(shortDelays))
	r.createTopic("Work", 1, 6)
	const group = "cg-sendback"

	resp := r.call(protocol.SendMessage, sendV1("Work", 0, map[string]string{"TAGS": "T", "UNIQ_KEY": "U1"}), []byte("job"))
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	firstOffsetID := resp.Ext("msgId")
	_, phys, err := message.ParseOffsetMsgID(firstOffsetID)
	require.NoError(t, err)

	sendBack := func(phys message.PhysOffset, delayLevel, maxTimes int) *protocol.Command {
		return r.call(protocol.ConsumerSendMsgBack, map[string]string{
			"offset": strconv.FormatInt(int64(phys), 10), "group": group, "delayLevel": strconv.Itoa(delayLevel),
			"originMsgId": "U1", "originTopic": "Work", "unitMode": "false",
			"maxReconsumeTimes": strconv.Itoa(maxTimes),
		}, nil)
	}
	// Unknown offset.
	resp = sendBack(1<<40, 0, 3)
	require.Equal(t, protocol.SystemError, resp.ResponseCode())

	// delayLevel 0: the broker picks 3 + reconsumeTimes = 3 (3 s here).
	resp = sendBack(phys, 0, 2)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	r.waitMax("SCHEDULE_TOPIC_XXXX", 2, 1)
	retry := meta.RetryTopic(group)
	r.waitMax(retry, 0, 1)
	msgs := r.pullMsgs(group, retry, 0, 0)
	require.Len(t, msgs, 1)
	m := msgs[0]
	require.Equal(t, "job", string(m.Body))
	require.Equal(t, int32(1), m.ReconsumeTimes)
	require.Equal(t, "Work", m.Properties["RETRY_TOPIC"])
	require.Equal(t, firstOffsetID, m.Properties["ORIGIN_MESSAGE_ID"])
	require.Equal(t, "U1", m.Properties["UNIQ_KEY"])
	require.NotContains(t, m.Properties, "DELAY")

	// Retried once with max 1: straight to the DLQ, which is readable (perm
	// 6, as RocketMQ 4.9 makes it).
	resp = sendBack(m.PhysOffset, 1, 1)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	dlq := meta.DLQTopic(group)
	r.waitMax(dlq, 0, 1)
	resp = r.call(protocol.GetAllTopicConfig, nil, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode())
	var w body.TopicConfigWrapper
	require.NoError(t, json.Unmarshal(resp.Body, &w))
	require.Equal(t, int32(body.PermRead|body.PermWrite), w.TopicConfigTable[dlq].Perm)
	rec := r.call(protocol.PullMessage, pullExt(group, dlq, 0, 0, 4, "*", 0), nil)
	require.Equal(t, protocol.Success, rec.ResponseCode(), "the dead letter can be read: %s", rec.Remark)

	// delayLevel -1 (orderly consumers past their max) goes to the DLQ at once.
	resp = sendBack(phys, -1, 16)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	r.waitMax(dlq, 0, 2)

	// The client's fallback: a plain send to %RETRY% with reconsumeTimes at
	// the max is diverted to the DLQ too.
	ext := sendV1(retry, 0, map[string]string{"DELAY": "1", "RETRY_TOPIC": "Work"})
	ext["reconsumeTimes"], ext["maxReconsumeTimes"] = "2", "2"
	resp = r.call(protocol.SendMessage, ext, []byte("fallback"))
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	r.waitMax(dlq, 0, 3)
	// Below the max it is delayed into the retry topic.
	ext["reconsumeTimes"] = "1"
	resp = r.call(protocol.SendMessage, ext, []byte("fallback-retry"))
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	r.waitMax(retry, 0, 2)

	// Unknown group with auto-create off.
	resp = r.call(protocol.UpdateBrokerConfig, nil, []byte("autoCreateSubscriptionGroup=false\n"))
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	resp = r.call(protocol.ConsumerSendMsgBack, map[string]string{"offset": strconv.FormatInt(int64(phys), 10),
		"group": "nobody", "delayLevel": "0"}, nil)
	require.Equal(t, protocol.SubscriptionGroupNotExist, resp.ResponseCode())
}
