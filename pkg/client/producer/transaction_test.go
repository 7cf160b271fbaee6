package producer_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil/poll"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/clienttest"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
)

func TestTransactionCommitRollbackAndCheck(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	b := clienttest.StartBroker(t, "broker-a")
	ns.SetRoute("T", clienttest.Route(1, b))
	checked := make(chan *message.MessageExt, 1)
	tp, err := producer.NewTransactional(client.NameServers(ns.Addr), producer.Group("txg"),
		producer.TransactionListener(
			func(_ context.Context, m *message.Message) producer.TransactionState {
				switch string(m.Body) {
				case "commit":
					return producer.TransactionCommit
				case "panic":
					panic("boom")
				}
				return producer.TransactionRollback
			},
			func(_ context.Context, m *message.MessageExt) producer.TransactionState {
				checked <- m
				return producer.TransactionCommit
			}))
	require.NoError(t, err)
	require.NoError(t, tp.Start(t.Context()))
	defer tp.Close()

	for body, want := range map[string]producer.TransactionState{"commit": producer.TransactionCommit, "rollback": producer.TransactionRollback, "panic": producer.TransactionUnknown} {
		res, err := tp.SendInTransaction(t.Context(), producer.NewMessage("T", []byte(body), producer.DelayLevel(3)))
		require.NoError(t, err, body)
		require.Equal(t, want, res.State, body)
	}
	half := b.Messages("T")
	require.Len(t, half, 3)
	for _, m := range half {
		require.Equal(t, "true", m.Property(message.PropertyTransactionPrepared))
		require.Equal(t, "txg", m.Property(message.PropertyProducerGroup))
		require.Empty(t, m.Property(message.PropertyDelayTimeLevel), "DELAY removed")
		require.Equal(t, message.SysFlagTransactionPreparedType, m.SysFlag.TransactionType())
	}
	poll.WaitFor(t, 5*time.Second, func() bool { return len(b.Requests(protocol.EndTransaction)) == 3 })
	states := map[string]string{}
	for _, r := range b.Requests(protocol.EndTransaction) {
		require.True(t, r.IsOneway())
		require.Equal(t, "txg", r.Ext("producerGroup"))
		require.Equal(t, "false", r.Ext("fromTransactionCheck"))
		require.Equal(t, "broker-a", r.Ext("bname"))
		states[r.Ext("msgId")] = r.Ext("commitOrRollback")
	}
	for _, m := range half {
		want := map[string]string{"commit": "8", "rollback": "12", "panic": "0"}[string(m.Body)]
		require.Equal(t, want, states[m.MsgID()], string(m.Body))
		for _, r := range b.Requests(protocol.EndTransaction) {
			if r.Ext("msgId") == m.MsgID() {
				require.Equal(t, strconv.FormatInt(int64(m.PhysOffset), 10), r.Ext("commitLogOffset"))
				require.Equal(t, strconv.FormatInt(int64(m.QueueOffset), 10), r.Ext("tranStateTableOffset"))
			}
		}
	}

	// The broker checks back the unknown one on the producer's connection.
	unknown := half[2]
	for _, m := range half {
		if string(m.Body) == "panic" {
			unknown = m
		}
	}
	unknown.SetProperty(message.PropertyRealTopic, "T")
	rec, err := message.AppendRecord(nil, unknown)
	require.NoError(t, err)
	poll.WaitFor(t, 5*time.Second, func() bool { return b.Conn() != nil })
	check := protocol.NewRequest(protocol.CheckTransactionState, map[string]string{
		"tranStateTableOffset": "77", "commitLogOffset": "1234", "msgId": unknown.MsgID(), "transactionId": unknown.MsgID(),
	})
	check.Body = rec
	require.NoError(t, b.Conn().InvokeOneway(t.Context(), check))
	got := <-checked
	require.Equal(t, "panic", string(got.Body))
	require.Equal(t, "T", got.Topic)
	poll.WaitFor(t, 5*time.Second, func() bool { return len(b.Requests(protocol.EndTransaction)) == 4 })
	end := b.Requests(protocol.EndTransaction)[3]
	require.Equal(t, "true", end.Ext("fromTransactionCheck"))
	require.Equal(t, "8", end.Ext("commitOrRollback"))
	require.Equal(t, "77", end.Ext("tranStateTableOffset"))
	require.Equal(t, "1234", end.Ext("commitLogOffset"))
	require.Equal(t, unknown.MsgID(), end.Ext("msgId"))

	// A check for another group is ignored.
	unknown.SetProperty(message.PropertyProducerGroup, "other")
	rec, err = message.AppendRecord(nil, unknown)
	require.NoError(t, err)
	check = protocol.NewRequest(protocol.CheckTransactionState, map[string]string{"tranStateTableOffset": "1", "commitLogOffset": "1"})
	check.Body = rec
	require.NoError(t, b.Conn().InvokeOneway(t.Context(), check))
	// Then a valid one, to show the ignored one produced nothing before it.
	unknown.SetProperty(message.PropertyProducerGroup, "txg")
	rec, _ = message.AppendRecord(nil, unknown)
	check = protocol.NewRequest(protocol.CheckTransactionState, map[string]string{"tranStateTableOffset": "2", "commitLogOffset": "2"})
	check.Body = rec
	require.NoError(t, b.Conn().InvokeOneway(t.Context(), check))
	<-checked
	poll.WaitFor(t, 5*time.Second, func() bool { return len(b.Requests(protocol.EndTransaction)) == 5 })
	require.Equal(t, "2", b.Requests(protocol.EndTransaction)[4].Ext("tranStateTableOffset"))
}

func TestHalfMessageNotStoredOK(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	b := clienttest.StartBroker(t, "broker-a")
	ns.SetRoute("T", clienttest.Route(1, b))
	ran := false
	tp, err := producer.NewTransactional(client.NameServers(ns.Addr), producer.Group("txg2"),
		producer.TransactionListener(
			func(context.Context, *message.Message) producer.TransactionState {
				ran = true
				return producer.TransactionCommit
			},
			func(context.Context, *message.MessageExt) producer.TransactionState {
				return producer.TransactionUnknown
			}))
	require.NoError(t, err)
	require.NoError(t, tp.Start(t.Context()))
	defer tp.Close()
	b.Intercept(protocol.SendMessageV2, func(req *protocol.Command) *protocol.Command {
		resp := protocol.NewResponse(req, protocol.FlushDiskTimeout, "")
		resp.SetExt("msgId", "7F00000100002A9F0000000000000010")
		resp.SetExt("queueId", "0")
		resp.SetExt("queueOffset", "5")
		return resp
	})
	res, err := tp.SendInTransaction(t.Context(), producer.NewMessage("T", []byte("x")))
	require.NoError(t, err)
	require.False(t, ran, "local transaction skipped")
	require.Equal(t, producer.TransactionRollback, res.State)
	require.Equal(t, producer.SendFlushDiskTimeout, res.Status)
	poll.WaitFor(t, 5*time.Second, func() bool { return len(b.Requests(protocol.EndTransaction)) == 1 })
	require.Equal(t, "16", b.Requests(protocol.EndTransaction)[0].Ext("commitLogOffset"))

	b.Intercept(protocol.SendMessageV2, func(req *protocol.Command) *protocol.Command {
		return protocol.NewResponse(req, protocol.NoPermission, "transactions refused")
	})
	_, err = tp.SendInTransaction(t.Context(), producer.NewMessage("T", []byte("x")))
	require.ErrorIs(t, err, protocol.ErrNoPermission)
}

func TestRequestReply(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	b := clienttest.StartBroker(t, "broker-a")
	ns.SetRoute("T", clienttest.Route(1, b))
	p := start(t, ns, producer.Group("req"))
	// The fake broker plays the responder: on a request it pushes a reply to
	// the requester's connection, as a broker does after SEND_REPLY_MESSAGE.
	b.Intercept(protocol.SendMessageV2, func(req *protocol.Command) *protocol.Command {
		props := message.DecodeProperties([]byte(req.Ext("i")))
		z, _ := client.Compress([]byte("pong:"+props["q"]), 5)
		push := protocol.NewRequest(protocol.PushReplyMessageToClient, map[string]string{
			"topic": "DefaultCluster_REPLY_TOPIC", "queueId": "0", "sysFlag": "1", "bornTimestamp": "1", "flag": "0",
			"properties": "CORRELATION_ID\x01" + props[message.PropertyCorrelationID] + "\x02MSG_TYPE\x01reply",
			"bornHost":   "127.0.0.1:1", "storeHost": "127.0.0.1:2", "storeTimestamp": "2", "reconsumeTimes": "0",
		})
		push.Body = z
		go func() {
			resp, err := b.Conn().Invoke(context.Background(), push)
			if err == nil && resp.ResponseCode() != protocol.Success {
				panic("reply push refused")
			}
		}()
		resp := protocol.NewResponse(req, protocol.Success, "")
		resp.SetExt("msgId", "7F00000100002A9F0000000000000010")
		resp.SetExt("queueId", "0")
		resp.SetExt("queueOffset", "0")
		return resp
	})
	reply, err := p.Request(t.Context(), producer.NewMessage("T", []byte("ping"), producer.Property("q", "1")), 5*time.Second)
	require.NoError(t, err)
	require.Equal(t, "pong:1", string(reply.Body))
	require.Equal(t, "reply", reply.Property(message.PropertyMessageType))
	require.NotEmpty(t, reply.Property(message.PropertyReplyMessageArriveTime))
	req := b.Requests(protocol.SendMessageV2)[0]
	props := message.DecodeProperties([]byte(req.Ext("i")))
	require.Equal(t, p.Client().ID(), props[message.PropertyReplyToClient])
	require.Equal(t, "5000", props[message.PropertyMessageTTL])
	require.NotEmpty(t, b.Heartbeats(), "heartbeat before the request so the broker can push")

	b.Intercept(protocol.SendMessageV2, nil)
	// The timeout covers the send too; it must succeed first for the wait for
	// the reply to time out.
	_, err = p.Request(t.Context(), producer.NewMessage("T", []byte("ping")), 2*time.Second)
	require.ErrorIs(t, err, producer.ErrRequestTimeout)
}

func TestSendReply(t *testing.T) {
	t.Parallel()
	ns := clienttest.StartNameServer(t)
	b := clienttest.StartBroker(t, "broker-a")
	ns.SetRoute("DefaultCluster_REPLY_TOPIC", clienttest.Route(1, b))
	b.Intercept(protocol.SendReplyMessageV2, func(req *protocol.Command) *protocol.Command {
		resp := protocol.NewResponse(req, protocol.Success, "")
		resp.SetExt("msgId", "0")
		resp.SetExt("queueId", "0")
		resp.SetExt("queueOffset", "0")
		return resp
	})
	p := start(t, ns, client.Namespace("ns"))
	request := &message.MessageExt{Message: *producer.NewMessage("T", []byte("q"),
		producer.Property(message.PropertyCluster, "DefaultCluster"),
		producer.Property(message.PropertyCorrelationID, "C1"),
		producer.Property(message.PropertyReplyToClient, "10.0.0.1@1"))}
	_, err := p.SendReply(t.Context(), request, []byte("answer"))
	require.NoError(t, err)
	req := b.Requests(protocol.SendReplyMessageV2)[0]
	require.Equal(t, "DefaultCluster_REPLY_TOPIC", req.Ext("b"))
	props := message.DecodeProperties([]byte(req.Ext("i")))
	require.Equal(t, "C1", props[message.PropertyCorrelationID])
	require.Equal(t, "reply", props[message.PropertyMessageType])
	_, err = p.SendReply(t.Context(), &message.MessageExt{}, []byte("x"))
	require.ErrorIs(t, err, producer.ErrBadMessage)
}
