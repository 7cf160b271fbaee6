package admin

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// QueueProgress is a consumer group's progress on one queue, as
// consumerProgress shows it.
type QueueProgress struct {
	Queue message.MessageQueue
	// BrokerOffset is the offset the queue's next message will get.
	BrokerOffset int64
	// ConsumerOffset is the group's committed offset (the next message it
	// reads); 0 when the group has committed nothing for the queue.
	ConsumerOffset int64
	// MinOffset is the queue's smallest readable offset (messages before it
	// were deleted by retention).
	MinOffset int64
	// Lag is what the group has not consumed yet and can still read:
	// BrokerOffset - max(ConsumerOffset, MinOffset), never negative. A group
	// without a committed offset shows the whole readable backlog.
	Lag int64
	// LastTimestamp is the store time (Unix ms) of the last message the
	// group consumed; 0 when unknown.
	LastTimestamp int64
}

// QueueLag returns the lag of one queue from its offsets: broker offset
// minus the later of the consumer offset and the queue's min offset, never
// negative.
func QueueLag(brokerOffset, consumerOffset, minOffset int64) int64 {
	return max(brokerOffset-max(consumerOffset, minOffset, 0), 0)
}

// Progress returns a group's progress on every queue of topic, or of every
// topic it consumes when topic is "" (GET_CONSUME_STATS, with each topic's
// GET_TOPIC_STATS_INFO for the min offsets), sorted by topic, broker and
// queue, and the group's consume rate (messages per second). The lags sum
// exactly to what is unconsumed and still stored.
func (a *Admin) Progress(ctx context.Context, group, topic string) ([]QueueProgress, float64, error) {
	var cs *body.ConsumeStats
	var err error
	if topic == "" {
		cs, err = a.GroupConsumeStats(ctx, group)
	} else {
		cs, err = a.ConsumeStats(ctx, group, topic)
	}
	if err != nil {
		return nil, 0, err
	}
	mins := map[message.MessageQueue]int64{}
	topics := map[string]bool{}
	for mq := range cs.OffsetTable {
		topics[mq.Topic] = true
	}
	for t := range topics {
		st, err := a.TopicStats(ctx, a.core.Unwrap(t))
		if err != nil {
			continue // the lag is then against offset 0
		}
		for mq, o := range st {
			mq.Topic = t
			mins[mq] = o.MinOffset
		}
	}
	out := make([]QueueProgress, 0, len(cs.OffsetTable))
	for _, mq := range slices.Collect(maps.Keys(cs.OffsetTable)) {
		o := cs.OffsetTable[mq]
		min := mins[mq]
		mq.Topic = a.core.Unwrap(mq.Topic)
		out = append(out, QueueProgress{Queue: mq, BrokerOffset: o.BrokerOffset, ConsumerOffset: max(o.ConsumerOffset, 0),
			MinOffset: min, Lag: QueueLag(o.BrokerOffset, o.ConsumerOffset, min), LastTimestamp: o.LastTimestamp})
	}
	slices.SortFunc(out, func(x, y QueueProgress) int {
		if c := strings.Compare(x.Queue.Topic, y.Queue.Topic); c != 0 {
			return c
		}
		if c := strings.Compare(x.Queue.BrokerName, y.Queue.BrokerName); c != 0 {
			return c
		}
		return int(x.Queue.QueueID - y.Queue.QueueID)
	})
	return out, cs.ConsumeTps, nil
}
