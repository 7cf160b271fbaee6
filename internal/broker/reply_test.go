package broker_test

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/remoting"
	"github.com/stretchr/testify/require"
)

func TestRawSendReply(t *testing.T) {
	r := startRaw(t)
	// The requester: a producer connection that takes pushed replies.
	pushed := make(chan *protocol.Command, 1)
	req := remoting.NewClient(remoting.ClientConfig{}, nil)
	t.Cleanup(func() { _ = req.Close() })
	req.Register(protocol.PushReplyMessageToClient, remoting.ProcessorFunc(
		func(_ context.Context, _ *remoting.Conn, cmd *protocol.Command) (*protocol.Command, error) {
			pushed <- cmd
			return protocol.NewResponse(cmd, protocol.Success, ""), nil
		}))
	resp := invoke(t, req, r.addr, protocol.HeartBeat, nil, body.EncodeHeartbeat(&body.HeartbeatData{
		ClientID: "requester@1", ProducerDataSet: []body.ProducerData{{GroupName: "pg-req"}}}))
	require.Equal(t, protocol.Success, resp.ResponseCode())

	const replyTopic = "DefaultCluster_REPLY_TOPIC"
	ext := sendV1(replyTopic, 0, map[string]string{message.PropertyMessageType: "reply",
		message.PropertyCorrelationID: "corr-1", message.PropertyReplyToClient: "requester@1", message.PropertyMessageTTL: "3"})
	resp = r.call(protocol.SendReplyMessage, ext, []byte("the answer"))
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	select {
	case p := <-pushed:
		require.Equal(t, "the answer", string(p.Body))
		require.Equal(t, replyTopic, p.Ext("topic"))
		props := message.DecodeProperties([]byte(p.Ext("properties")))
		require.Equal(t, "corr-1", props[message.PropertyCorrelationID])
		require.NotEmpty(t, props[message.PropertyPushReplyTime])
		require.Equal(t, r.addr, p.Ext("storeHost"))
	case <-time.After(5 * time.Second):
		t.Fatal("reply not pushed")
	}
	r.waitMax(replyTopic, 0, 1) // stored too (storeReplyMessageEnable)

	// Nobody to push to: SYSTEM_ERROR with the reason.
	ext = sendV1(replyTopic, 0, map[string]string{message.PropertyMessageType: "reply",
		message.PropertyCorrelationID: "corr-2", message.PropertyReplyToClient: "gone@2"})
	resp = r.call(protocol.SendReplyMessage, ext, []byte("lost"))
	require.Equal(t, protocol.SystemError, resp.ResponseCode())
	require.Contains(t, resp.Remark, "gone@2")
}

func TestCompatRequestReply(t *testing.T) {
	skipIfRace(t)
	c := testutil.StartCluster(t)
	const topic = "RequestTopic"
	createTopic(t, c, topic, 2)

	// The requester shares its client (instance name) with the responding
	// consumer: v2.1.2 heartbeats only to brokers it learned from routes, and a
	// producer that only requests a topic the name server knows learns none,
	// so on its own it would not be findable for 30 s (with any broker).
	shared := instance(t)
	requester := newProducer(t, c, producer.WithGroupName("pg-requester"), producer.WithInstanceName(shared))

	// The responder: a push consumer that replies with the official utility.
	replier := newProducer(t, c)
	pc, err := consumer.NewPushConsumer(
		consumer.WithNsResolver(primitive.NewPassthroughResolver([]string{c.NameServerAddr})),
		consumer.WithGroupName("cg-responder"),
		consumer.WithInstance(shared),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	)
	require.NoError(t, err)
	// The callback must not touch t: it may still run while the test ends.
	var errMu sync.Mutex
	var replyErrs []error
	require.NoError(t, pc.Subscribe(topic, consumer.MessageSelector{}, func(ctx context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		for _, m := range msgs {
			reply, err := consumer.CreateReplyMessage(m, nil)
			if err != nil {
				errMu.Lock()
				replyErrs = append(replyErrs, err)
				errMu.Unlock()
				continue
			}
			// v2.1.2's CreateReplyMessage parses its body argument as
			// properties; set the body afterwards.
			reply.Body = append([]byte("re: "), m.Body...)
			if _, err := replier.SendSync(ctx, reply); err != nil {
				errMu.Lock()
				replyErrs = append(replyErrs, err)
				errMu.Unlock()
			}
		}
		return consumer.ConsumeSuccess, nil
	}))
	require.NoError(t, pc.Start())
	t.Cleanup(func() { _ = pc.Shutdown() })

	type requestor interface {
		Request(ctx context.Context, timeout time.Duration, msg *primitive.Message) (*primitive.Message, error)
	}
	rq := requester.(requestor)
	for i := range 3 {
		body := "question-" + strconv.Itoa(i)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		reply, err := rq.Request(ctx, 15*time.Second, primitive.NewMessage(topic, []byte(body)))
		cancel()
		errMu.Lock()
		require.Empty(t, replyErrs)
		errMu.Unlock()
		require.NoError(t, err, body)
		require.Equal(t, "re: "+body, string(reply.Body))
	}
}

func TestRawQueryAndView(t *testing.T) {
	r := startRaw(t)
	r.createTopic("Q", 2, 6)
	var ids []string
	for i := range 4 {
		resp := r.sendProps("Q", i%2, "q"+strconv.Itoa(i), map[string]string{
			message.PropertyKeys: "order-" + strconv.Itoa(i%2) + " common", message.PropertyUniqKey: "U" + strconv.Itoa(i)})
		ids = append(ids, resp.Ext("msgId"))
	}
	r.waitMax("Q", 1, 2)
	now := time.Now().UnixMilli()
	query := func(key string, uniq bool) *protocol.Command {
		ext := map[string]string{"topic": "Q", "key": key, "maxNum": "10", "beginTimestamp": "0",
			"endTimestamp": strconv.FormatInt(now+60_000, 10)}
		if uniq {
			ext["_UNIQUE_KEY_QUERY"] = "true"
		}
		var resp *protocol.Command
		testutil.WaitFor(t, 5*time.Second, func() bool { // the index is built asynchronously
			resp = r.call(protocol.QueryMessage, ext, nil)
			return resp.ResponseCode() == protocol.Success || key == "nope"
		})
		return resp
	}
	resp := query("order-1", false)
	require.NotEmpty(t, resp.Ext("indexLastUpdateTimestamp"))
	require.NotEmpty(t, resp.Ext("indexLastUpdatePhyoffset"))
	require.ElementsMatch(t, []string{"q1", "q3"}, bodies(t, resp))
	require.ElementsMatch(t, []string{"q0", "q1", "q2", "q3"}, bodies(t, query("common", false)))
	require.Equal(t, []string{"q2"}, bodies(t, query("U2", true)))
	resp = query("nope", false)
	require.Equal(t, protocol.QueryNotFound, resp.ResponseCode())

	// VIEW_MESSAGE_BY_ID takes the offset from an offset message id.
	_, phys, err := message.ParseOffsetMsgID(ids[3])
	require.NoError(t, err)
	resp = r.call(protocol.ViewMessageByID, map[string]string{"offset": strconv.FormatInt(int64(phys), 10)}, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	require.Equal(t, []string{"q3"}, bodies(t, resp))
	resp = r.call(protocol.ViewMessageByID, map[string]string{"offset": "123456789"}, nil)
	require.Equal(t, protocol.SystemError, resp.ResponseCode())
	require.Equal(t, "can not find message by the offset, 123456789", resp.Remark)

	// QUERY_CONSUME_TIME_SPAN.
	resp = r.call(protocol.UpdateConsumerOffset, map[string]string{"consumerGroup": "g", "topic": "Q", "queueId": "0", "commitOffset": "1"}, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode())
	resp = r.call(protocol.QueryConsumeTimeSpan, map[string]string{"topic": "Q", "group": "g"}, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	var span struct {
		ConsumeTimeSpanSet []struct {
			MessageQueue struct {
				Topic   string
				QueueID int32 `json:"queueId"`
			}
			MinTimeStamp, MaxTimeStamp, ConsumeTimeStamp, DelayTime int64
		}
	}
	require.NoError(t, json.Unmarshal(resp.Body, &span))
	require.Len(t, span.ConsumeTimeSpanSet, 2)
	q0 := span.ConsumeTimeSpanSet[0]
	require.Equal(t, "Q", q0.MessageQueue.Topic)
	require.Positive(t, q0.MinTimeStamp)
	require.GreaterOrEqual(t, q0.MaxTimeStamp, q0.MinTimeStamp)
	require.Equal(t, q0.MaxTimeStamp-q0.ConsumeTimeStamp, q0.DelayTime)
}
