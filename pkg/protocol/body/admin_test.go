package body

import (
	"encoding/json"
	"testing"

	"github.com/petrelmq/petrel/pkg/message"
	"github.com/stretchr/testify/require"
)

func TestSubscriptionGroupConfigDefaults(t *testing.T) {
	t.Parallel()
	var c SubscriptionGroupConfig
	require.NoError(t, json.Unmarshal([]byte(`{"groupName":"g","retryMaxTimes":3}`), &c))
	want := DefaultSubscriptionGroupConfig("g")
	want.RetryMaxTimes = 3
	require.Equal(t, want, c)

	w := SubscriptionGroupWrapper{
		SubscriptionGroupTable: map[string]SubscriptionGroupConfig{"g": want},
		DataVersion:            DataVersion{Counter: 2, Timestamp: 5},
	}
	b, err := json.Marshal(w)
	require.NoError(t, err)
	require.Equal(t, `{"subscriptionGroupTable":{"g":{"groupName":"g","consumeEnable":true,"consumeFromMinEnable":true,"consumeBroadcastEnable":true,"retryQueueNums":1,"retryMaxTimes":3,"brokerId":0,"whichBrokerWhenConsumeSlowly":1,"notifyConsumerIdsChangedEnable":true}},"dataVersion":{"counter":2,"timestamp":5}}`, string(b))

	// The Go admin client (v2.1.2) decodes with encoding/json into capitalised
	// field names; case-insensitive matching must find every field.
	var goAdmin struct {
		SubscriptionGroupTable map[string]struct {
			GroupName     string
			ConsumeEnable bool
			RetryMaxTimes int
		}
		DataVersion struct {
			Timestamp int64
			Counter   int32
		}
	}
	require.NoError(t, json.Unmarshal(b, &goAdmin))
	require.Equal(t, "g", goAdmin.SubscriptionGroupTable["g"].GroupName)
	require.True(t, goAdmin.SubscriptionGroupTable["g"].ConsumeEnable)
	require.Equal(t, 3, goAdmin.SubscriptionGroupTable["g"].RetryMaxTimes)
	require.Equal(t, int32(2), goAdmin.DataVersion.Counter)
}

func TestEncodeGroupList(t *testing.T) {
	t.Parallel()
	require.Equal(t, `{"groupList":[]}`, string(EncodeGroupList(nil)))
	require.Equal(t, `{"groupList":["a","b"]}`, string(EncodeGroupList([]string{"b", "a"})))
}

func TestTopicStatsTableRoundTrip(t *testing.T) {
	t.Parallel()
	q0 := message.MessageQueue{Topic: "T", BrokerName: "broker-a", QueueID: 0}
	q1 := message.MessageQueue{Topic: "T", BrokerName: "broker-a", QueueID: 1}
	in := map[message.MessageQueue]TopicOffset{
		q1: {MinOffset: 0, MaxOffset: 7, LastUpdateTimestamp: 99},
		q0: {MinOffset: 1, MaxOffset: 2},
	}
	b := EncodeTopicStatsTable(in)
	require.Equal(t, `{"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:{"lastUpdateTimestamp":0,"maxOffset":2,"minOffset":1},{"brokerName":"broker-a","queueId":1,"topic":"T"}:{"lastUpdateTimestamp":99,"maxOffset":7,"minOffset":0}}}`, string(b))
	out, err := DecodeTopicStatsTable(b)
	require.NoError(t, err)
	require.Equal(t, in, out)

	empty, err := DecodeTopicStatsTable(EncodeTopicStatsTable(nil))
	require.NoError(t, err)
	require.Empty(t, empty)

	// Quoted keys (a gson-like writer) parse too.
	out, err = DecodeTopicStatsTable([]byte(`{"offsetTable": {"{\"brokerName\":\"b\",\"queueId\":3,\"topic\":\"X\"}" : {"maxOffset":4}}}`))
	require.NoError(t, err)
	require.Equal(t, map[message.MessageQueue]TopicOffset{{Topic: "X", BrokerName: "b", QueueID: 3}: {MaxOffset: 4}}, out)

	for _, bad := range []string{``, `{}`, `{"offsetTable":[]}`, `{"offsetTable":{{"topic":1}:{}}}`, `{"offsetTable":{{"topic":"a"}}}`, `{"offsetTable":{{"topic":"a"}:{}`} {
		_, err := DecodeTopicStatsTable([]byte(bad))
		require.ErrorIs(t, err, ErrBadAdminBody, bad)
	}
}

func TestConsumeStatsRoundTrip(t *testing.T) {
	t.Parallel()
	q := message.MessageQueue{Topic: "T", BrokerName: "b", QueueID: 2}
	cs := &ConsumeStats{OffsetTable: map[message.MessageQueue]OffsetWrapper{q: {BrokerOffset: 10, ConsumerOffset: 4, LastTimestamp: 1}}}
	b := EncodeConsumeStats(cs)
	require.Equal(t, `{"consumeTps":0.0,"offsetTable":{{"brokerName":"b","queueId":2,"topic":"T"}:{"brokerOffset":10,"consumerOffset":4,"lastTimestamp":1}}}`, string(b))
	out, err := DecodeConsumeStats(b)
	require.NoError(t, err)
	require.Equal(t, cs, out)
	require.Equal(t, int64(6), out.Diff())

	cs.ConsumeTps = 1.5
	out, err = DecodeConsumeStats(EncodeConsumeStats(cs))
	require.NoError(t, err)
	require.InDelta(t, 1.5, out.ConsumeTps, 1e-9)
}

func TestResetOffsetBodyRoundTrip(t *testing.T) {
	t.Parallel()
	table := map[message.MessageQueue]int64{
		{Topic: "T", BrokerName: "broker-a", QueueID: 1}: 200,
		{Topic: "T", BrokerName: "broker-a", QueueID: 0}: 100,
	}
	b := EncodeResetOffsetBody(table)
	// The form of the reference (§4.8), which the official Go client parses.
	require.Equal(t, `{"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:100,{"brokerName":"broker-a","queueId":1,"topic":"T"}:200}}`, string(b))
	out, err := DecodeResetOffsetBody(b)
	require.NoError(t, err)
	require.Equal(t, table, out)
	empty, err := DecodeResetOffsetBody(EncodeResetOffsetBody(nil))
	require.NoError(t, err)
	require.Empty(t, empty)
	for _, bad := range []string{`{}`, `{"offsetTable":{{"topic":"T"}}}`, `{"offsetTable":{{"topic":"T"}:"x"}}`, `{"offsetTable":{{"topic":"T"}:1.5}}`} {
		_, err := DecodeResetOffsetBody([]byte(bad))
		require.ErrorIs(t, err, ErrBadAdminBody, bad)
	}
}

func FuzzDecodeResetOffsetBody(f *testing.F) {
	f.Add(EncodeResetOffsetBody(map[message.MessageQueue]int64{{Topic: "T", BrokerName: "b", QueueID: 3}: 7}))
	f.Add([]byte(`{"offsetTable":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		table, err := DecodeResetOffsetBody(b)
		if err != nil {
			return
		}
		again, err := DecodeResetOffsetBody(EncodeResetOffsetBody(table))
		if err != nil || len(again) != len(table) {
			t.Fatalf("round trip of %q: %v, %d != %d", b, err, len(again), len(table))
		}
	})
}
