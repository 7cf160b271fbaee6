package broker

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// resetNotifyTimeout bounds queuing one RESET_CONSUMER_CLIENT_OFFSET.
const resetNotifyTimeout = 3 * time.Second

// resetOffset serves INVOKE_BROKER_TO_RESET_OFFSET (222), the broker side of
// mqadmin resetOffsetByTime: for every queue of topic on this broker the new
// offset is the one found for timestamp (-1: the queue's max offset), unless
// the group's current offset is already lower and isForce is false. The
// offsets are stored at once (so consumer progress shows them) and sent to
// every online consumer of the group with RESET_CONSUMER_CLIENT_OFFSET (220,
// oneway), which makes the clients drop the queues and take them back from
// the new offsets. No online consumer: CONSUMER_NOT_ONLINE, nothing changed
// (as RocketMQ; offsets of an offline group are set with
// UPDATE_CONSUMER_OFFSET).
func (b *Broker) resetOffset(ctx context.Context, req *protocol.Command) *protocol.Command {
	r := extReader{req: req}
	topic, group := r.str("topic", true), r.str("group", true)
	ts := r.int64("timestamp", true)
	force := r.bool("isForce")
	if r.err != nil {
		return protocol.NewResponse(req, protocol.SystemError, r.err.Error())
	}
	tc, ok := b.topics.get(topic)
	if !ok {
		return respond(req, protocol.SystemError, "[reset-offset] reset offset failed, no topic in this broker. topic=%s", topic)
	}
	conns := b.clients.ConsumerConns(group)
	if len(conns) == 0 {
		return respond(req, protocol.ConsumerNotOnline, "Consumer not online, so can not reset offset, Group: %s Topic: %s", group, topic)
	}

	current := b.offsets.queueOffsets(group, topic)
	table := make(map[message.MessageQueue]int64, tc.WriteQueueNums)
	for q := range tc.WriteQueueNums {
		var target int64
		if ts == -1 {
			target = int64(b.store.MaxOffsetInQueue(topic, q))
		} else {
			target = int64(b.store.OffsetByTime(topic, q, ts))
		}
		target = max(target, 0)
		if cur, has := current[q]; has && !force && cur <= target {
			target = cur
		}
		table[message.MessageQueue{Topic: topic, BrokerName: b.cfg.BrokerName, QueueID: q}] = target
		b.offsets.commit(group, topic, q, target)
	}
	enc := body.EncodeResetOffsetBody(table)

	for _, c := range conns {
		notify := protocol.NewRequest(protocol.ResetConsumerClientOffset, map[string]string{
			"topic": topic, "group": group, "timestamp": strconv.FormatInt(ts, 10), "isForce": strconv.FormatBool(force),
		})
		notify.Body = enc
		sctx, cancel := context.WithTimeout(ctx, resetNotifyTimeout)
		err := c.InvokeOneway(sctx, notify)
		cancel()
		if err != nil && !errors.Is(err, remoting.ErrConnClosed) {
			b.log.Warn("broker: send RESET_CONSUMER_CLIENT_OFFSET", "group", group, "peer", c.RemoteAddr(), "err", err)
		}
	}
	b.log.Info("broker: consumer offsets reset", "group", group, "topic", topic, "timestamp", ts,
		"force", force, "consumers", len(conns))

	resp := protocol.NewResponse(req, protocol.Success, "")
	resp.Body = enc
	return resp
}
