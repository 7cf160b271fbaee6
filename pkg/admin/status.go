package admin

import (
	"context"
	"fmt"

	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
)

// Calls of mqadmin getConsumerStatus, brokerConsumeStats and queryCq.

// ConsumerStatus asks the masters of topic for the offsets the group's
// online clients hold in memory (INVOKE_BROKER_TO_GET_CONSUMER_STATUS, 223;
// each broker asks its clients with GET_CONSUMER_STATUS_FROM_CLIENT, 221),
// merged by client id. clientID "" asks every client. Queue topics are as
// on the wire.
func (a *Admin) ConsumerStatus(ctx context.Context, group, topic, clientID string) (map[string]map[message.MessageQueue]int64, error) {
	_, masters, err := a.masters(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := map[string]map[message.MessageQueue]int64{}
	for _, addr := range masters {
		resp, err := a.core.Call(ctx, addr, header.NewRequest(protocol.InvokeBrokerToGetConsumerStatus, &header.GetConsumerStatus{
			Topic: a.core.Wrap(topic), Group: a.core.Wrap(group), ClientAddr: clientID,
		}))
		if err != nil {
			return nil, fmt.Errorf("admin: consumer status of %q on %s: %w", group, addr, err)
		}
		t, err := body.DecodeConsumerStatusTable(resp.Body)
		if err != nil {
			return nil, err
		}
		for id, offs := range t {
			if out[id] == nil {
				out[id] = map[message.MessageQueue]int64{}
			}
			for mq, off := range offs {
				out[id][mq] = off
			}
		}
	}
	return out, nil
}

// BrokerConsumeStats returns every subscription group's consume stats on
// one broker (GET_BROKER_CONSUME_STATS, 317); onlyOrder keeps ordered
// topics only.
func (a *Admin) BrokerConsumeStats(ctx context.Context, brokerAddr string, onlyOrder bool) (*body.ConsumeStatsList, error) {
	resp, err := a.core.Call(ctx, brokerAddr, header.NewRequest(protocol.GetBrokerConsumeStats,
		&header.GetBrokerConsumeStats{IsOrder: onlyOrder}))
	if err != nil {
		return nil, fmt.Errorf("admin: consume stats of %s: %w", brokerAddr, err)
	}
	return body.DecodeConsumeStatsList(resp.Body)
}

// QueryConsumeQueue reads count entries of a consume queue from index on
// one broker (QUERY_CONSUME_QUEUE, 321), with the group's subscription when
// group is given.
func (a *Admin) QueryConsumeQueue(ctx context.Context, brokerAddr, topic string, queueID int32, index int64, count int32, group string) (*body.QueryConsumeQueueBody, error) {
	h := &header.QueryConsumeQueue{Topic: a.core.Wrap(topic), QueueID: queueID, Index: index, Count: count}
	if group != "" {
		h.ConsumerGroup = a.core.Wrap(group)
	}
	resp, err := a.core.Call(ctx, brokerAddr, header.NewRequest(protocol.QueryConsumeQueue, h))
	if err != nil {
		return nil, fmt.Errorf("admin: consume queue %s/%d on %s: %w", topic, queueID, brokerAddr, err)
	}
	var b body.QueryConsumeQueueBody
	if len(resp.Body) > 0 {
		if err := body.DecodeJSON("QueryConsumeQueueResponseBody", resp.Body, &b); err != nil {
			return nil, err
		}
	}
	return &b, nil
}
