package consumer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
)

// errBadResetBody is matched by errors decoding a RESET_CONSUMER_CLIENT_OFFSET body.
var errBadResetBody = errors.New("consumer: bad reset offset body")

// DecodeResetOffsetBody parses the RESET_CONSUMER_CLIENT_OFFSET (220) body,
// whose offsetTable has MessageQueue objects as keys (fastjson's form):
// {"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:100,...}}.
func DecodeResetOffsetBody(b []byte) (map[message.MessageQueue]message.QueueOffset, error) {
	table, err := body.DecodeResetOffsetBody(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadResetBody, err)
	}
	out := make(map[message.MessageQueue]message.QueueOffset, len(table))
	for mq, off := range table {
		out[mq] = message.QueueOffset(off)
	}
	return out, nil
}

// handleReset answers RESET_CONSUMER_CLIENT_OFFSET (220): the listed queues
// this consumer holds are released, their new offsets stored (broker or
// file), and a rebalance takes them back from there.
func (b *base) handleReset(ctx context.Context, req *client.ServerRequest) *protocol.Command {
	var h header.ResetOffset
	if err := h.Decode(req.Cmd); err != nil {
		b.log.Warn("consumer: reset offsets", "err", err)
		return nil
	}
	if h.Group != b.group {
		return nil
	}
	table, err := DecodeResetOffsetBody(req.Cmd.Body)
	if err != nil {
		b.log.Warn("consumer: reset offsets", "err", err)
		return nil
	}
	b.resetOffsets(ctx, h.Topic, table)
	return nil
}

func (b *base) resetOffsets(ctx context.Context, topic string, table map[message.MessageQueue]message.QueueOffset) {
	b.rb.Lock()
	offs := map[message.MessageQueue]message.QueueOffset{}
	for mq, off := range table {
		if topic != "" && mq.Topic != topic {
			continue
		}
		if _, held := b.queue(mq); held {
			b.releaseLocked(ctx, mq)
		}
		offs[mq] = off
	}
	if err := b.backend.persist(ctx, offs); err != nil {
		b.log.Warn("consumer: store reset offsets", "err", err)
	}
	b.rb.Unlock()
	if b.manual {
		b.restartManual(ctx, offs)
		return
	}
	b.triggerRebalance()
}

// restartManual re-adds assigned (lite pull) queues after a reset.
func (b *base) restartManual(ctx context.Context, offs map[message.MessageQueue]message.QueueOffset) {
	b.rb.Lock()
	defer b.rb.Unlock()
	for mq := range offs {
		if _, held := b.queue(mq); !held && b.wasAssigned(mq) {
			b.addLocked(ctx, mq)
		}
	}
}

// wasAssigned is set by the lite pull consumer; nil means never.
func (b *base) wasAssigned(mq message.MessageQueue) bool {
	if b.assigned == nil {
		return false
	}
	return b.assigned(mq)
}

// handleRunningInfo answers GET_CONSUMER_RUNNING_INFO (307) with a minimal
// ConsumerRunningInfo: properties, subscriptions and the held queues with
// their committed offsets (queue objects as keys, as fastjson writes them).
func (b *base) handleRunningInfo(_ context.Context, req *client.ServerRequest) *protocol.Command {
	var h header.GetConsumerRunningInfo
	if err := h.Decode(req.Cmd); err != nil {
		return protocol.NewResponse(req.Cmd, protocol.SystemError, err.Error())
	}
	if h.ConsumerGroup != b.group {
		return protocol.NewResponse(req.Cmd, protocol.SystemError, "consumer group not found: "+h.ConsumerGroup)
	}
	resp := protocol.NewResponse(req.Cmd, protocol.Success, "")
	resp.Body = b.runningInfo()
	return resp
}

func (b *base) runningInfo() []byte {
	ri := &body.ConsumerRunningInfo{
		Properties: map[string]string{
			body.PropClientVersion:          "V4_9_8",
			body.PropConsumeType:            b.consumeType,
			body.PropConsumeOrderly:         strconv.FormatBool(b.orderly),
			body.PropConsumerStartTimestamp: strconv.FormatInt(b.startedAt.UnixMilli(), 10),
			body.PropNameServerAddr:         strings.Join(b.cli.NameServers(), ";"),
			"PROP_MESSAGE_MODEL":            b.cfg.model.String(),
			"PROP_CONSUME_FROM_WHERE":       b.cfg.from.String(),
			"PROP_CLIENT_SDK":               "petrel",
		},
		SubscriptionSet: b.consumerData().SubscriptionDataSet,
		MQTable:         map[message.MessageQueue]body.ProcessQueueInfo{},
		StatusTable:     map[string]body.ConsumeStatus{},
	}
	for _, mq := range b.heldQueues() {
		var pi body.ProcessQueueInfo
		if pq, ok := b.queue(mq); ok {
			pi = pq.info()
		}
		if off, ok := b.offsets.get(mq); ok {
			pi.CommitOffset = int64(off)
		}
		ri.MQTable[mq] = pi
	}
	for _, s := range ri.SubscriptionSet {
		ri.StatusTable[s.Topic] = body.ConsumeStatus{}
	}
	return ri.Encode()
}

// handleConsumerStatus answers GET_CONSUMER_STATUS_FROM_CLIENT (221): this
// consumer's offsets of the topic's queues it holds, as the Java client
// answers from its offset store.
func (b *base) handleConsumerStatus(_ context.Context, req *client.ServerRequest) *protocol.Command {
	var h header.GetConsumerStatus
	if err := h.Decode(req.Cmd); err != nil {
		return protocol.NewResponse(req.Cmd, protocol.SystemError, err.Error())
	}
	offs := map[message.MessageQueue]int64{}
	if h.Group == b.group {
		for _, mq := range b.heldQueues() {
			if mq.Topic != h.Topic {
				continue
			}
			if off, ok := b.offsets.get(mq); ok {
				offs[mq] = int64(off)
			}
		}
	}
	resp := protocol.NewResponse(req.Cmd, protocol.Success, "")
	resp.Body = body.EncodeConsumerStatus(offs)
	return resp
}
