package body

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/pkg/message"
)

func TestConsumerRunningInfoRoundTrip(t *testing.T) {
	t.Parallel()
	mq := message.MessageQueue{Topic: "T", BrokerName: "b", QueueID: 2}
	in := &ConsumerRunningInfo{
		Properties:      map[string]string{PropConsumeType: "CONSUME_PASSIVELY", "k": `a "quoted" {brace}`},
		SubscriptionSet: []SubscriptionData{{Topic: "T", SubString: "*", ExpressionType: "TAG"}},
		MQTable:         map[message.MessageQueue]ProcessQueueInfo{mq: {CommitOffset: 7, CachedMsgCount: 3, Locked: true}},
		StatusTable:     map[string]ConsumeStatus{"T": {PullTPS: 1.5}},
		Jstack:          "thread {1}",
	}
	out, err := DecodeConsumerRunningInfo(in.Encode())
	require.NoError(t, err)
	require.Equal(t, in.Properties, out.Properties)
	require.Equal(t, in.MQTable, out.MQTable)
	require.Equal(t, in.StatusTable, out.StatusTable)
	require.Equal(t, in.Jstack, out.Jstack)
	require.Len(t, out.SubscriptionSet, 1)
	require.Equal(t, "T", out.SubscriptionSet[0].Topic)
}

// TestDecodeConsumerRunningInfoJava: a Java client's answer, with numbers in
// its properties and MessageQueue objects as keys (fastjson).
func TestDecodeConsumerRunningInfoJava(t *testing.T) {
	t.Parallel()
	java := `{"jstack":"","mqTable":{{"brokerName":"broker-a","queueId":0,"topic":"TopicTest"}:{"cachedMsgCount":0,"cachedMsgMaxOffset":0,` +
		`"cachedMsgMinOffset":0,"cachedMsgSizeInMiB":0,"commitOffset":250,"droped":false,"lastConsumeTimestamp":1700000000000,` +
		`"lastLockTimestamp":1700000000000,"lastPullTimestamp":1700000000000,"locked":false,"transactionMsgCount":0,` +
		`"transactionMsgMaxOffset":0,"transactionMsgMinOffset":0,"tryUnlockTimes":0}},"properties":{"PROP_CONSUME_TYPE":"CONSUME_PASSIVELY",` +
		`"PROP_THREADPOOL_CORE_SIZE":20,"PROP_CONSUMER_START_TIMESTAMP":1700000000000,"PROP_CONSUMEORDERLY":"false"},` +
		`"statusTable":{"TopicTest":{"consumeFailedMsgs":0,"consumeFailedTPS":0.0,"consumeOKTPS":0.0,"consumeRT":0.0,"pullRT":1.5,"pullTPS":2.0}},` +
		`"subscriptionSet":[{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1700000000000,"tagsSet":[],"topic":"TopicTest"}]}`
	ri, err := DecodeConsumerRunningInfo([]byte(java))
	require.NoError(t, err)
	require.Equal(t, "20", ri.Properties[PropThreadPoolCoreSize])
	require.Equal(t, "1700000000000", ri.Properties[PropConsumerStartTimestamp])
	require.Equal(t, int64(250), ri.MQTable[message.MessageQueue{Topic: "TopicTest", BrokerName: "broker-a", QueueID: 0}].CommitOffset)
	require.InDelta(t, 2.0, ri.StatusTable["TopicTest"].PullTPS, 0)
	require.Equal(t, "TopicTest", ri.SubscriptionSet[0].Topic)
}

func TestConsumerStatusBodies(t *testing.T) {
	t.Parallel()
	a := message.MessageQueue{Topic: "T", BrokerName: "b", QueueID: 0}
	b := message.MessageQueue{Topic: "T", BrokerName: "b", QueueID: 1}
	one, err := DecodeConsumerStatus(EncodeConsumerStatus(map[message.MessageQueue]int64{a: 3, b: 4}))
	require.NoError(t, err)
	require.Equal(t, map[message.MessageQueue]int64{a: 3, b: 4}, one)

	table := map[string]map[message.MessageQueue]int64{"c1@1": {a: 3}, "c2@2": {b: 4}, "c3@3": {}}
	enc := EncodeConsumerStatusTable(table)
	require.Equal(t, `{"consumerTable":{"c1@1":{{"brokerName":"b","queueId":0,"topic":"T"}:3},"c2@2":{{"brokerName":"b","queueId":1,"topic":"T"}:4},`+
		`"c3@3":{}},"messageQueueTable":{}}`, string(enc))
	got, err := DecodeConsumerStatusTable(enc)
	require.NoError(t, err)
	require.Equal(t, table, got)
	empty, err := DecodeConsumerStatusTable(EncodeConsumerStatusTable(nil))
	require.NoError(t, err)
	require.Empty(t, empty)
}

func TestConsumeStatsListRoundTrip(t *testing.T) {
	t.Parallel()
	mq := message.MessageQueue{Topic: "T", BrokerName: "b", QueueID: 1}
	in := &ConsumeStatsList{BrokerAddr: "10.0.0.1:10911", TotalDiff: 5, Groups: []GroupConsumeStats{
		{Group: "g1", Stats: []*ConsumeStats{{OffsetTable: map[message.MessageQueue]OffsetWrapper{mq: {BrokerOffset: 9, ConsumerOffset: 4}}, ConsumeTps: 1.5}}},
		{Group: "g2", Stats: []*ConsumeStats{}},
	}}
	out, err := DecodeConsumeStatsList(in.Encode())
	require.NoError(t, err)
	require.Equal(t, in.BrokerAddr, out.BrokerAddr)
	require.Equal(t, in.TotalDiff, out.TotalDiff)
	require.Len(t, out.Groups, 2)
	require.Equal(t, "g1", out.Groups[0].Group)
	require.Equal(t, in.Groups[0].Stats[0].OffsetTable, out.Groups[0].Stats[0].OffsetTable)
	require.Equal(t, "g2", out.Groups[1].Group)
	require.Empty(t, out.Groups[1].Stats)
}

func TestConsumeStatsDiffNeverNegative(t *testing.T) {
	t.Parallel()
	cs := &ConsumeStats{OffsetTable: map[message.MessageQueue]OffsetWrapper{
		{QueueID: 0}: {BrokerOffset: 10, ConsumerOffset: 4},
		{QueueID: 1}: {BrokerOffset: 3, ConsumerOffset: 5},  // ahead: a slave had less
		{QueueID: 2}: {BrokerOffset: 6, ConsumerOffset: -1}, // none committed (RocketMQ's -1)
	}}
	require.Equal(t, int64(6+0+6), cs.Diff())
}

func FuzzDecodeAdminRelayBodies(f *testing.F) {
	mq := message.MessageQueue{Topic: "T", BrokerName: "b", QueueID: 1}
	f.Add((&ConsumerRunningInfo{MQTable: map[message.MessageQueue]ProcessQueueInfo{mq: {}}}).Encode())
	f.Add(EncodeConsumerStatusTable(map[string]map[message.MessageQueue]int64{"c": {mq: 1}}))
	f.Add((&ConsumeStatsList{Groups: []GroupConsumeStats{{Group: "g", Stats: []*ConsumeStats{{}}}}}).Encode())
	f.Add([]byte(`{"mqTable":{"consumerTable":{"consumeStatsList":[{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = DecodeConsumerRunningInfo(b)
		_, _ = DecodeConsumerStatus(b)
		_, _ = DecodeConsumerStatusTable(b)
		_, _ = DecodeConsumeStatsList(b)
	})
}

func TestConsumeMessageDirectlyResultForms(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`{"order":false,"autoCommit":true,"consumeResult":"CR_LATER","remark":"","spentTimeMills":3}`: CMResultLater,
		`{"order":false,"autoCommit":true,"consumeResult":0,"remark":"","spentTimeMills":3}`:          CMResultSuccess, // official Go client
		`{"order":false,"autoCommit":true,"consumeResult":5}`:                                         CMResultReturnNull,
	} {
		var r ConsumeMessageDirectlyResult
		require.NoError(t, DecodeJSON("r", []byte(in), &r))
		require.Equal(t, want, r.ConsumeResult)
	}
	var r ConsumeMessageDirectlyResult
	require.Error(t, DecodeJSON("r", []byte(`{"consumeResult":9}`), &r))
}
