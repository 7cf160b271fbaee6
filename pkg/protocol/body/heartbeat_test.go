package body

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/petrelmq/petrel/pkg/message"
	"github.com/stretchr/testify/require"
)

// goHeartbeat is the §4.2 example of the protocol reference: the output of
// rocketmq-client-go's heartbeat encoder.
const goHeartbeat = `{"clientID":"10.0.0.1@12345","producerDataSet":[{"groupName":"pg"}],"consumerDataSet":[{"groupName":"cg","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","subscriptionDataSet":[{"classFilterMode":false,"topic":"T","subString":"a || b","tagsSet":["a","b"],"codeSet":["97","98"],"subVersion":1700000000000000000,"expressionType":"TAG"},{"classFilterMode":false,"topic":"%RETRY%cg","subString":"*","tagsSet":[],"codeSet":[],"subVersion":1700000000000000001,"expressionType":"TAG"}],"unitMode":false}]}`

// javaHeartbeat is what a Java 4.9 client sends (fastjson: alphabetical keys,
// numeric codeSet, subVersion in ms, extra fields).
const javaHeartbeat = `{"clientID":"10.0.0.2@4242#123","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"cg","messageModel":"BROADCASTING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[2598919,-1],"expressionType":"TAG","subString":"TagA || x","subVersion":1700000000123,"tagsSet":["TagA","x"],"topic":"T"}],"unitMode":false}],"producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"}]}`

func goExample() *HeartbeatData {
	return &HeartbeatData{
		ClientID:        "10.0.0.1@12345",
		ProducerDataSet: []ProducerData{{GroupName: "pg"}},
		ConsumerDataSet: []ConsumerData{{
			GroupName:        "cg",
			ConsumeType:      ConsumePassively,
			MessageModel:     Clustering,
			ConsumeFromWhere: "CONSUME_FROM_LAST_OFFSET",
			SubscriptionDataSet: []SubscriptionData{
				{Topic: "T", SubString: "a || b", TagsSet: []string{"a", "b"}, CodeSet: []int32{97, 98}, SubVersion: 1700000000000000000, ExpressionType: ExpressionTag},
				{Topic: "%RETRY%cg", SubString: "*", SubVersion: 1700000000000000001, ExpressionType: ExpressionTag},
			},
		}},
	}
}

func TestDecodeHeartbeatGo(t *testing.T) {
	h, err := DecodeHeartbeat([]byte(goHeartbeat))
	require.NoError(t, err)
	require.Equal(t, goExample(), h)
	// subVersion survives exactly: a float64 would round 1700000000000000001.
	require.Equal(t, int64(1700000000000000001), h.ConsumerDataSet[0].SubscriptionDataSet[1].SubVersion)
}

func TestDecodeHeartbeatJava(t *testing.T) {
	h, err := DecodeHeartbeat([]byte(javaHeartbeat))
	require.NoError(t, err)
	require.Equal(t, "10.0.0.2@4242#123", h.ClientID)
	require.Equal(t, []ProducerData{{GroupName: "CLIENT_INNER_PRODUCER"}}, h.ProducerDataSet)
	cd := h.ConsumerDataSet[0]
	require.Equal(t, Broadcasting, cd.MessageModel)
	require.Equal(t, SubscriptionData{
		Topic: "T", SubString: "TagA || x", TagsSet: []string{"TagA", "x"}, CodeSet: []int32{2598919, -1},
		SubVersion: 1700000000123, ExpressionType: ExpressionTag,
	}, cd.SubscriptionDataSet[0])
}

func TestEncodeHeartbeatExact(t *testing.T) {
	require.Equal(t, goHeartbeat, string(EncodeHeartbeat(goExample())))
	// Round trip through the decoder.
	h, err := DecodeHeartbeat(EncodeHeartbeat(goExample()))
	require.NoError(t, err)
	require.Equal(t, goExample(), h)
	// Sets are sorted by their JSON text; empty sets are [].
	got := EncodeHeartbeat(&HeartbeatData{ClientID: "c", ConsumerDataSet: []ConsumerData{{GroupName: "z"}, {GroupName: "a"}}})
	require.Equal(t, `{"clientID":"c","producerDataSet":[],"consumerDataSet":[{"groupName":"a","consumeType":"","messageModel":"","consumeFromWhere":"","subscriptionDataSet":[],"unitMode":false},{"groupName":"z","consumeType":"","messageModel":"","consumeFromWhere":"","subscriptionDataSet":[],"unitMode":false}]}`, string(got))
}

func TestDecodeSubscriptionNumbers(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    SubscriptionData
		wantErr bool
	}{
		{in: `{"topic":"T","subVersion":"1700000000000000001","codeSet":["1",2,null]}`, want: SubscriptionData{Topic: "T", SubVersion: 1700000000000000001, CodeSet: []int32{1, 2}}},
		{in: `{"topic":"T","subVersion":9223372036854775807}`, want: SubscriptionData{Topic: "T", SubVersion: 9223372036854775807}},
		{in: `{"topic":"T"}`, want: SubscriptionData{Topic: "T"}},
		{in: `{"topic":"T","subVersion":1.5}`, wantErr: true},
		{in: `{"topic":"T","subVersion":1e18}`, wantErr: true},
		{in: `{"topic":"T","codeSet":[2147483648]}`, wantErr: true},
		{in: `{"topic":"T","codeSet":["x"]}`, wantErr: true},
		{in: `{"topic":"T","codeSet":{}}`, wantErr: true},
	} {
		var s SubscriptionData
		err := json.Unmarshal([]byte(tc.in), &s)
		if tc.wantErr {
			require.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, s, tc.in)
	}
}

func TestDecodeHeartbeatRejects(t *testing.T) {
	for _, in := range []string{"", "  ", "{", `{"clientID":5}`, `[]`, `{"consumerDataSet":[{"subscriptionDataSet":[{"subVersion":"x"}]}]}`} {
		_, err := DecodeHeartbeat([]byte(in))
		require.Error(t, err, in)
		require.True(t, errors.Is(err, ErrBadClientBody), in)
	}
}

func TestLockBodies(t *testing.T) {
	req, err := DecodeLockBatchRequest([]byte(`{"consumerGroup":"cg","clientId":"10.0.0.1@12345","mqSet":[{"topic":"T","brokerName":"broker-a","queueId":0}]}`))
	require.NoError(t, err)
	require.Equal(t, &LockBatchRequestBody{ConsumerGroup: "cg", ClientID: "10.0.0.1@12345",
		MQSet: []message.MessageQueue{{Topic: "T", BrokerName: "broker-a", QueueID: 0}}}, req)
	un, err := DecodeUnlockBatchRequest([]byte(`{"clientId":"c","consumerGroup":"cg","mqSet":[]}`))
	require.NoError(t, err)
	require.Equal(t, "c", un.ClientID)
	_, err = DecodeLockBatchRequest([]byte(`{"mqSet":[{"queueId":"x"}]}`))
	require.ErrorIs(t, err, ErrBadClientBody)
	_, err = DecodeUnlockBatchRequest(nil)
	require.ErrorIs(t, err, ErrBadClientBody)

	require.Equal(t, `{"lockOKMQSet":[]}`, string((&LockBatchResponseBody{}).Encode()))
	resp := &LockBatchResponseBody{LockOKMQSet: []message.MessageQueue{{Topic: "T", BrokerName: "broker-a", QueueID: 3}}}
	require.Equal(t, `{"lockOKMQSet":[{"topic":"T","brokerName":"broker-a","queueId":3}]}`, string(resp.Encode()))
	back, err := DecodeLockBatchResponse(resp.Encode())
	require.NoError(t, err)
	require.Equal(t, resp, back)
	empty, err := DecodeLockBatchResponse(nil)
	require.NoError(t, err)
	require.Empty(t, empty.LockOKMQSet)
}

func TestConsumerBodies(t *testing.T) {
	require.Equal(t, `{"consumerIdList":[]}`, string((&GetConsumerListByGroupResponseBody{}).Encode()))
	require.Equal(t, `{"consumerIdList":["a@1","b@2"]}`, string((&GetConsumerListByGroupResponseBody{ConsumerIDList: []string{"a@1", "b@2"}}).Encode()))

	cc := &ConsumerConnection{
		ConnectionSet: []Connection{
			{ClientAddr: "10.0.0.2:5", ClientID: "b@2", Language: "JAVA", Version: 409},
			{ClientAddr: "10.0.0.1:5", ClientID: "a@1", Language: "GO", Version: 317},
		},
		ConsumeFromWhere: "CONSUME_FROM_LAST_OFFSET",
		ConsumeType:      ConsumePassively,
		MessageModel:     Clustering,
		SubscriptionTable: map[string]SubscriptionData{
			"T": {Topic: "T", SubString: "a", TagsSet: []string{"a"}, CodeSet: []int32{97}, SubVersion: 5, ExpressionType: ExpressionTag},
		},
	}
	want := `{"connectionSet":[{"clientAddr":"10.0.0.1:5","clientId":"a@1","language":"GO","version":317},{"clientAddr":"10.0.0.2:5","clientId":"b@2","language":"JAVA","version":409}],` +
		`"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING",` +
		`"subscriptionTable":{"T":{"classFilterMode":false,"codeSet":[97],"expressionType":"TAG","subString":"a","subVersion":5,"tagsSet":["a"],"topic":"T"}}}`
	require.Equal(t, want, string(cc.Encode()))
	back, err := DecodeConsumerConnection(cc.Encode())
	require.NoError(t, err)
	require.Equal(t, cc.SubscriptionTable, back.SubscriptionTable)
	require.Len(t, back.ConnectionSet, 2)

	pc := &ProducerConnection{ConnectionSet: []Connection{{ClientAddr: "x:1", ClientID: "p@1", Language: "GO", Version: 317}}}
	require.Equal(t, `{"connectionSet":[{"clientAddr":"x:1","clientId":"p@1","language":"GO","version":317}]}`, string(pc.Encode()))
	pback, err := DecodeProducerConnection(pc.Encode())
	require.NoError(t, err)
	require.Equal(t, pc, pback)
}

func FuzzDecodeHeartbeat(f *testing.F) {
	f.Add([]byte(goHeartbeat))
	f.Add([]byte(javaHeartbeat))
	f.Add([]byte(`{"consumerDataSet":[{"subscriptionDataSet":[{"codeSet":["1",null]}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHeartbeat(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes and decodes to the same value, modulo the
		// normalisation of set order.
		if _, err := DecodeHeartbeat(EncodeHeartbeat(h)); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}
