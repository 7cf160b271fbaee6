package broker

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// sendTask is a send waiting in the broker's send queue.
type sendTask struct {
	conn    *remoting.Conn
	req     *protocol.Command
	arrived time.Time
}

// sendHeader is the send request header, decoded from either naming scheme.
type sendHeader struct {
	producerGroup         string
	topic                 string
	defaultTopic          string
	defaultTopicQueueNums int32
	queueID               int32
	sysFlag               int32
	bornTimestamp         int64
	flag                  int32
	properties            string
	reconsumeTimes        int32
	batch                 bool
}

// decodeSendHeader reads SEND_MESSAGE's long names or SEND_MESSAGE_V2 /
// SEND_BATCH_MESSAGE's one-letter names.
func decodeSendHeader(req *protocol.Command) (sendHeader, error) {
	r := extReader{req: req}
	var h sendHeader
	if req.RequestCode() == protocol.SendMessageV2 || req.RequestCode() == protocol.SendBatchMessage {
		h = sendHeader{
			producerGroup:         r.str("a", true),
			topic:                 r.str("b", true),
			defaultTopic:          r.str("c", true),
			defaultTopicQueueNums: r.int32("d", true),
			queueID:               r.int32("e", true),
			sysFlag:               r.int32("f", true),
			bornTimestamp:         r.int64("g", true),
			flag:                  r.int32("h", true),
			properties:            r.str("i", false),
			reconsumeTimes:        r.int32("j", false),
			batch:                 r.bool("m"),
		}
	} else {
		h = sendHeader{
			producerGroup:         r.str("producerGroup", true),
			topic:                 r.str("topic", true),
			defaultTopic:          r.str("defaultTopic", true),
			defaultTopicQueueNums: r.int32("defaultTopicQueueNums", true),
			queueID:               r.int32("queueId", true),
			sysFlag:               r.int32("sysFlag", true),
			bornTimestamp:         r.int64("bornTimestamp", true),
			flag:                  r.int32("flag", true),
			properties:            r.str("properties", false),
			reconsumeTimes:        r.int32("reconsumeTimes", false),
			batch:                 r.bool("batch"),
		}
	}
	return h, r.err
}

// acceptSend runs on the small "send" remoting pool: it stamps the arrival time
// and queues the request for a send worker, answering later itself. A full
// queue is answered SYSTEM_BUSY at once; so is everything after Close began
// (SERVICE_NOT_AVAILABLE, which clients retry on another broker).
func (b *Broker) acceptSend(_ context.Context, conn *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	t := &sendTask{conn: conn, req: req, arrived: b.clk.Now()}
	if !b.gate.enter() {
		return b.sendResponse(req, protocol.ServiceNotAvailable, "broker "+b.cfg.BrokerName+" is shutting down"), nil
	}
	select {
	case b.sendQ <- t:
		return nil, nil
	default:
		b.gate.exit()
		return b.sendResponse(req, protocol.SystemBusy, "[OVERLOAD] send queue is full ("+strconv.Itoa(cap(b.sendQ))+" requests), try again later"), nil
	}
}

// sendWorker is one of SendWorkers goroutines: started by Start, stopped by
// Close through ctx. It takes queued sends, refuses those that waited longer
// than waitTimeMillsInSendQueue, and hands the rest to the store.
func (b *Broker) sendWorker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case t := <-b.sendQ:
					b.finishSend(t, b.sendResponse(t.req, protocol.ServiceNotAvailable, "broker is shutting down"))
				default:
					return
				}
			}
		case t := <-b.sendQ:
			waited := b.clk.Now().Sub(t.arrived)
			if waited > b.runtime().WaitTimeInSendQueue {
				b.finishSend(t, b.sendResponse(t.req, protocol.SystemBusy,
					"[TIMEOUT_CLEAN_QUEUE]broker busy, start flow control for a while, period in queue: "+
						strconv.FormatInt(waited.Milliseconds(), 10)+"ms, size of queue: "+strconv.Itoa(len(b.sendQ))))
				continue
			}
			b.send(t)
		}
	}
}

// finishSend answers an admitted send (unless it is oneway) and releases it.
func (b *Broker) finishSend(t *sendTask, resp *protocol.Command) {
	if !t.req.IsOneway() {
		if err := t.conn.Reply(resp); err != nil && !errors.Is(err, remoting.ErrConnClosed) {
			b.log.Warn("broker: cannot answer send", "peer", t.conn.RemoteAddr(), "err", err)
		}
	}
	b.gate.exit()
}

// sendResponse builds a send answer; every send answer carries MSG_REGION and
// TRACE_ON, error answers included.
func (b *Broker) sendResponse(req *protocol.Command, code protocol.ResponseCode, remark string) *protocol.Command {
	resp := protocol.NewResponse(req, code, remark)
	resp.SetExt(message.PropertyMsgRegion, b.cfg.RegionID)
	resp.SetExt(message.PropertyTraceSwitch, strconv.FormatBool(b.cfg.TraceOn))
	return resp
}

// send checks a send and stores it; the store's completion answers it.
func (b *Broker) send(t *sendTask) {
	req := t.req
	h, err := decodeSendHeader(req)
	if err != nil {
		b.finishSend(t, b.sendResponse(req, protocol.SystemError, err.Error()))
		return
	}
	tc, resp := b.checkSend(req, &h)
	if resp != nil {
		b.finishSend(t, resp)
		return
	}
	if h.queueID < 0 || h.queueID >= tc.WriteQueueNums {
		h.queueID = rand.Int32N(tc.WriteQueueNums)
	}
	sysFlag := message.SysFlag(h.sysFlag)
	if tc.TopicFilterType == filterTypeMultiTag {
		sysFlag |= message.SysFlagMultiTags
	}
	bornHost := parseHost(t.conn.RemoteAddr())
	maxSize := b.cfg.Store.MaxMessageSize

	if h.batch {
		if r := b.checkBatch(req, &h, sysFlag); r != nil {
			b.finishSend(t, r)
			return
		}
		batchProps := message.DecodeProperties([]byte(h.properties))
		if batchProps == nil {
			batchProps = map[string]string{}
		}
		batchProps[message.PropertyCluster] = b.cfg.ClusterName
		var msgs []*message.MessageExt
		err := message.ParseBatch(req.Body, func(flag int32, mb, props []byte) error {
			p := message.DecodeProperties(props)
			if p == nil {
				p = make(map[string]string, len(batchProps))
			}
			for k, v := range batchProps {
				p[k] = v
			}
			delete(p, message.PropertyWaitStoreMsgOK)
			msgs = append(msgs, &message.MessageExt{
				Message:        message.Message{Topic: h.topic, Flag: flag, Properties: p, Body: mb},
				QueueID:        h.queueID,
				SysFlag:        sysFlag,
				BornTimestamp:  h.bornTimestamp,
				BornHost:       bornHost,
				StoreHost:      b.advertised,
				ReconsumeTimes: h.reconsumeTimes,
			})
			return nil
		})
		if err != nil || len(msgs) == 0 {
			b.finishSend(t, b.sendResponse(req, protocol.MessageIllegal, "the batch body is malformed or empty"))
			return
		}
		b.put(msgs, func(res store.PutResult, err error) {
			b.finishSend(t, b.putResponse(req, h.queueID, res, err, true))
		})
		return
	}

	if len(req.Body) > maxSize {
		b.finishSend(t, b.sendResponse(req, protocol.MessageIllegal,
			"the message body size "+strconv.Itoa(len(req.Body))+" is larger than the maximum "+strconv.Itoa(maxSize)))
		return
	}
	props := message.DecodeProperties([]byte(h.properties))
	if props == nil {
		props = map[string]string{}
	}
	if props[message.PropertyTransactionPrepared] == "true" || sysFlag.TransactionType() == message.SysFlagTransactionPreparedType {
		b.sendHalf(t, &h, sysFlag, props, bornHost) // transaction.go
		return
	}
	props[message.PropertyCluster] = b.cfg.ClusterName
	delete(props, message.PropertyWaitStoreMsgOK)
	msg := &message.MessageExt{
		Message:        message.Message{Topic: h.topic, Flag: h.flag, Properties: props, Body: req.Body},
		QueueID:        h.queueID,
		SysFlag:        sysFlag,
		BornTimestamp:  h.bornTimestamp,
		BornHost:       bornHost,
		StoreHost:      b.advertised,
		ReconsumeTimes: h.reconsumeTimes,
	}
	if r := b.prepareStore(req, msg); r != nil { // schedule.go: retry→DLQ, delay levels, timers
		b.finishSend(t, r)
		return
	}
	b.put([]*message.MessageExt{msg}, func(res store.PutResult, err error) {
		b.finishSend(t, b.putResponse(req, h.queueID, res, err, false))
	})
}

// checkSend applies RocketMQ's send checks in order and returns the topic's
// config, or the answer that refuses the send.
func (b *Broker) checkSend(req *protocol.Command, h *sendHeader) (body.TopicConfig, *protocol.Command) {
	rt := b.runtime()
	if rt.BrokerPermission&body.PermWrite == 0 {
		return body.TopicConfig{}, b.sendResponse(req, protocol.NoPermission,
			"the broker["+b.cfg.BrokerName+"] sending message is forbidden")
	}
	if err := validateTopicName(h.topic); err != nil {
		return body.TopicConfig{}, b.sendResponse(req, protocol.SystemError, "topic["+h.topic+"]: "+err.Error())
	}
	if isSendForbiddenTopic(h.topic) {
		return body.TopicConfig{}, b.sendResponse(req, protocol.NoPermission,
			"Sending message to topic["+h.topic+"] is forbidden.")
	}
	tc, created, ok, err := b.topics.createOnSend(h.topic, h.defaultTopic, h.defaultTopicQueueNums, rt.AutoCreateTopicEnable)
	if err != nil {
		b.log.Error("broker: persist auto-created topic", "topic", h.topic, "err", err)
	}
	if !ok && strings.HasPrefix(h.topic, RetryTopicPrefix) {
		tc, created, err = b.topics.createIfAbsent(newTopicConfig(h.topic, 1, body.PermRead|body.PermWrite))
		ok = err == nil
		if err != nil {
			b.log.Error("broker: persist retry topic", "topic", h.topic, "err", err)
		}
	}
	if !ok {
		return body.TopicConfig{}, b.sendResponse(req, protocol.TopicNotExist,
			"topic["+h.topic+"] not exist, apply first please!")
	}
	if created {
		b.log.Info("broker: auto-created topic", "topic", h.topic, "queues", tc.WriteQueueNums, "perm", tc.Perm,
			"producerGroup", h.producerGroup)
		b.reg.trigger()
	}
	if tc.Perm&body.PermWrite == 0 {
		return tc, b.sendResponse(req, protocol.NoPermission, "the topic["+h.topic+"] sending message is forbidden")
	}
	if tc.WriteQueueNums <= 0 {
		return tc, b.sendResponse(req, protocol.SystemError, "topic["+h.topic+"] has no write queues")
	}
	return tc, nil
}

// checkBatch applies the batch-only checks.
func (b *Broker) checkBatch(req *protocol.Command, h *sendHeader, sysFlag message.SysFlag) *protocol.Command {
	switch {
	case len(req.Body) > b.cfg.Store.MaxMessageSize:
		return b.sendResponse(req, protocol.MessageIllegal, "the batch body size "+strconv.Itoa(len(req.Body))+
			" is larger than the maximum "+strconv.Itoa(b.cfg.Store.MaxMessageSize))
	case strings.HasPrefix(h.topic, RetryTopicPrefix):
		return b.sendResponse(req, protocol.MessageIllegal, "batch request does not support retry group "+h.topic)
	case sysFlag.TransactionType() != message.SysFlagTransactionNotType:
		return b.sendResponse(req, protocol.MessageIllegal, "batch message does not support transaction")
	}
	if v, ok := message.LookupProperty([]byte(h.properties), message.PropertyDelayTimeLevel); ok {
		if lvl, _ := strconv.Atoi(string(v)); lvl > 0 {
			return b.sendResponse(req, protocol.MessageIllegal, "batch message does not support delay level")
		}
	}
	return nil
}

// putResponse maps a store result to the send answer.
func (b *Broker) putResponse(req *protocol.Command, queueID int32, res store.PutResult, err error, batch bool) *protocol.Command {
	if err != nil {
		switch {
		case errors.Is(err, store.ErrMessageTooLarge), errors.Is(err, store.ErrBadBatch), errors.Is(err, store.ErrBadMessage):
			return b.sendResponse(req, protocol.MessageIllegal, err.Error())
		case errors.Is(err, store.ErrDiskFull):
			return b.sendResponse(req, protocol.ServiceNotAvailable,
				"service not available now: the disk is full, new messages are refused ("+err.Error()+")")
		case errors.Is(err, store.ErrNotWritable):
			return b.sendResponse(req, protocol.ServiceNotAvailable,
				"service not available now: the store is read-only after an I/O error ("+err.Error()+")")
		case errors.Is(err, store.ErrClosed):
			return b.sendResponse(req, protocol.ServiceNotAvailable, "service not available now: broker is shutting down")
		}
		b.log.Error("broker: put failed", "topic", req.Ext("topic")+req.Ext("b"), "err", err)
		return b.sendResponse(req, protocol.SystemError, err.Error())
	}
	code := protocol.Success
	switch res.Status {
	case store.PutFlushDiskTimeout:
		code = protocol.FlushDiskTimeout
	case store.PutFlushSlaveTimeout:
		code = protocol.FlushSlaveTimeout
	case store.PutSlaveNotAvailable:
		code = protocol.SlaveNotAvailable
	}
	resp := b.sendResponse(req, code, "")
	msgID := res.MsgID
	if batch && len(res.MsgIDs) > 0 {
		msgID = strings.Join(res.MsgIDs, ",")
	}
	resp.SetExt("msgId", msgID)
	resp.SetExt("queueId", strconv.Itoa(int(queueID)))
	resp.SetExt("queueOffset", strconv.FormatInt(int64(res.QueueOffset), 10))
	return resp
}

// parseHost parses a connection's remote "ip:port"; an unparsable one gives
// the zero AddrPort (written as 0.0.0.0:0).
func parseHost(s string) netip.AddrPort {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
