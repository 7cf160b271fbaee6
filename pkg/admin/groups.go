package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
)

// Consumer groups, connections and offsets (mqadmin updateSubGroup,
// deleteSubGroup, consumerConnection, producerConnection, cloneGroupOffset,
// resetOffsetByTime, skipAccumulatedMessage).

// CreateGroup creates or updates a subscription group on one broker
// (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, 200). The group name is given
// without the namespace.
func (a *Admin) CreateGroup(ctx context.Context, brokerAddr string, g body.SubscriptionGroupConfig) error {
	if g.GroupName == "" {
		return errors.New("admin: CreateGroup: empty group name")
	}
	g.GroupName = a.core.Wrap(g.GroupName)
	b, err := json.Marshal(g)
	if err != nil {
		return err
	}
	req := protocol.NewRequest(protocol.UpdateAndCreateSubscription, nil)
	req.Body = b
	if _, err := a.core.Call(ctx, brokerAddr, req); err != nil {
		return fmt.Errorf("admin: create group %q on %s: %w", g.GroupName, brokerAddr, err)
	}
	return nil
}

// DeleteGroup deletes a subscription group on one broker
// (DELETE_SUBSCRIPTIONGROUP, 207), and its offsets too with removeOffset.
func (a *Admin) DeleteGroup(ctx context.Context, brokerAddr, group string, removeOffset bool) error {
	_, err := a.core.Call(ctx, brokerAddr, header.NewRequest(protocol.DeleteSubscriptionGroup,
		&header.DeleteSubscriptionGroup{GroupName: a.core.Wrap(group), RemoveOffset: removeOffset}))
	if err != nil {
		return fmt.Errorf("admin: delete group %q on %s: %w", group, brokerAddr, err)
	}
	return nil
}

// groupBrokers returns the master addresses serving a consumer group: those
// of its retry topic's route, as RocketMQ's tools find them, else every
// master the name servers know.
func (a *Admin) groupBrokers(ctx context.Context, group string) ([]string, error) {
	if _, masters, err := a.masters(ctx, client.RetryGroupTopicPrefix+group); err == nil {
		return slices.Sorted(maps.Values(masters)), nil
	}
	ci, err := a.ClusterInfo(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, bd := range ci.BrokerAddrTable {
		if addr := bd.Addrs[body.MasterID]; addr != "" {
			out = append(out, addr)
		}
	}
	if len(out) == 0 {
		return nil, ErrNoBroker
	}
	slices.Sort(out)
	return out, nil
}

// ConsumerConnection returns the online clients of a consumer group with
// their subscriptions (GET_CONSUMER_CONNECTION_LIST, 203), asked of the
// first broker of the group that knows it. A group with no client online
// gives an error matching protocol.ErrConsumerNotOnline.
func (a *Admin) ConsumerConnection(ctx context.Context, group string) (*body.ConsumerConnection, error) {
	addrs, err := a.groupBrokers(ctx, group)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for _, addr := range addrs {
		resp, err := a.core.Call(ctx, addr, protocol.NewRequest(protocol.GetConsumerConnectionList,
			map[string]string{"consumerGroup": a.core.Wrap(group)}))
		if err != nil {
			lastErr = err
			continue
		}
		return body.DecodeConsumerConnection(resp.Body)
	}
	return nil, fmt.Errorf("admin: connections of group %q: %w", group, lastErr)
}

// ProducerConnection returns the online clients of a producer group
// (GET_PRODUCER_CONNECTION_LIST, 204), asked of the masters of topic,
// merged.
func (a *Admin) ProducerConnection(ctx context.Context, group, topic string) (*body.ProducerConnection, error) {
	_, masters, err := a.masters(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := &body.ProducerConnection{}
	seen := map[body.Connection]bool{}
	var lastErr error
	for _, addr := range slices.Sorted(maps.Values(masters)) {
		resp, err := a.core.Call(ctx, addr, protocol.NewRequest(protocol.GetProducerConnectionList,
			map[string]string{"producerGroup": group}))
		if err != nil {
			lastErr = err
			continue
		}
		pc, err := body.DecodeProducerConnection(resp.Body)
		if err != nil {
			return nil, err
		}
		for _, c := range pc.ConnectionSet {
			if !seen[c] {
				seen[c] = true
				out.ConnectionSet = append(out.ConnectionSet, c)
			}
		}
	}
	if len(out.ConnectionSet) == 0 && lastErr != nil {
		return nil, fmt.Errorf("admin: producers of group %q: %w", group, lastErr)
	}
	return out, nil
}

// GroupConsumeStats is ConsumeStats over every topic the group has offsets
// for on the masters that serve it (GET_CONSUME_STATS with no topic).
func (a *Admin) GroupConsumeStats(ctx context.Context, group string) (*body.ConsumeStats, error) {
	addrs, err := a.groupBrokers(ctx, group)
	if err != nil {
		return nil, err
	}
	out := &body.ConsumeStats{OffsetTable: map[message.MessageQueue]body.OffsetWrapper{}}
	for _, addr := range addrs {
		resp, err := a.core.Call(ctx, addr, header.NewRequest(protocol.GetConsumeStats,
			&header.GetConsumeStats{ConsumerGroup: a.core.Wrap(group)}))
		if err != nil {
			return nil, fmt.Errorf("admin: consume stats of %q on %s: %w", group, addr, err)
		}
		cs, err := body.DecodeConsumeStats(resp.Body)
		if err != nil {
			return nil, err
		}
		maps.Copy(out.OffsetTable, cs.OffsetTable)
		out.ConsumeTps += cs.ConsumeTps
	}
	return out, nil
}

// UpdateConsumerOffset stores a group's offset of one queue on the queue's
// master (UPDATE_CONSUMER_OFFSET, 15).
func (a *Admin) UpdateConsumerOffset(ctx context.Context, group string, mq message.MessageQueue, off message.QueueOffset) error {
	addr, err := a.masterOf(ctx, mq)
	if err != nil {
		return err
	}
	_, err = a.core.Call(ctx, addr, header.NewRequest(protocol.UpdateConsumerOffset, &header.UpdateConsumerOffset{
		ConsumerGroup: a.core.Wrap(group), Topic: a.core.Wrap(mq.Topic), QueueID: mq.QueueID, CommitOffset: int64(off),
	}))
	if err != nil {
		return fmt.Errorf("admin: update offset of %q on %s: %w", group, mq, err)
	}
	return nil
}

func (a *Admin) masterOf(ctx context.Context, mq message.MessageQueue) (string, error) {
	addr, ok := a.core.MasterAddr(mq.BrokerName)
	if !ok {
		if _, err := a.TopicRoute(ctx, mq.Topic); err != nil {
			return "", err
		}
		if addr, ok = a.core.MasterAddr(mq.BrokerName); !ok {
			return "", fmt.Errorf("%w %q", ErrNoBroker, mq.BrokerName)
		}
	}
	return addr, nil
}

// SearchOffset returns the offset of the first message of the queue stored
// at or after ts (SEARCH_OFFSET_BY_TIMESTAMP, 29).
func (a *Admin) SearchOffset(ctx context.Context, mq message.MessageQueue, ts time.Time) (message.QueueOffset, error) {
	var resp header.SearchOffsetResponse
	err := a.queueCall(ctx, mq, protocol.SearchOffsetByTimestamp,
		&header.SearchOffset{Topic: a.core.Wrap(mq.Topic), QueueID: mq.QueueID, Timestamp: ts.UnixMilli()}, &resp)
	return message.QueueOffset(resp.Offset), err
}

// ResetOffsetOffline moves the offsets of a group that has no consumer
// online, queue by queue with UPDATE_CONSUMER_OFFSET, as mqadmin
// resetOffsetByTime does when the brokers answer CONSUMER_NOT_ONLINE: to the
// first message stored at or after ts, or to the end of each queue when
// toEnd is set. Without force a queue already before that point keeps its
// offset. It returns the new offset of every queue.
func (a *Admin) ResetOffsetOffline(ctx context.Context, group, topic string, ts time.Time, toEnd, force bool) (map[message.MessageQueue]message.QueueOffset, error) {
	r, err := a.TopicRoute(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := map[message.MessageQueue]message.QueueOffset{}
	for _, q := range r.SubscribeQueues() {
		q.Topic = topic
		var target message.QueueOffset
		if toEnd {
			target, err = a.MaxOffset(ctx, q)
		} else {
			target, err = a.SearchOffset(ctx, q, ts)
		}
		if err != nil {
			return out, err
		}
		if !force {
			if cur, err := a.ConsumerOffset(ctx, group, q); err == nil && cur >= 0 && cur <= target {
				target = cur
			}
		}
		if err := a.UpdateConsumerOffset(ctx, group, q, target); err != nil {
			return out, err
		}
		out[q] = target
	}
	return out, nil
}

// SkipAccumulated moves a group's offsets on a topic to the end of every
// queue (mqadmin skipAccumulatedMessage): through the brokers when the group
// is online (INVOKE_BROKER_TO_RESET_OFFSET with timestamp -1, the consumers
// are told), else queue by queue.
func (a *Admin) SkipAccumulated(ctx context.Context, group, topic string) (map[message.MessageQueue]message.QueueOffset, error) {
	_, masters, err := a.masters(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := map[message.MessageQueue]message.QueueOffset{}
	for _, addr := range slices.Sorted(maps.Values(masters)) {
		resp, err := a.core.Call(ctx, addr, header.NewRequest(protocol.InvokeBrokerToResetOffset, &header.ResetOffset{
			Topic: a.core.Wrap(topic), Group: a.core.Wrap(group), Timestamp: -1, IsForce: true,
		}))
		if errors.Is(err, protocol.ErrConsumerNotOnline) {
			return a.ResetOffsetOffline(ctx, group, topic, time.Time{}, true, true)
		}
		if err != nil {
			return nil, fmt.Errorf("admin: skip backlog of %q on %s: %w", group, addr, err)
		}
		table, err := body.DecodeResetOffsetBody(resp.Body)
		if err != nil {
			return nil, err
		}
		for mq, off := range table {
			mq.Topic = topic
			out[mq] = message.QueueOffset(off)
		}
	}
	return out, nil
}

// CloneGroupOffset copies the committed offsets of srcGroup on topic to
// destGroup on every master of the topic (CLONE_GROUP_OFFSET, 314; mqadmin
// cloneGroupOffset). Unless offline, an online srcGroup's topics it no
// longer subscribes to are skipped by the brokers.
func (a *Admin) CloneGroupOffset(ctx context.Context, srcGroup, destGroup, topic string, offline bool) error {
	_, masters, err := a.masters(ctx, topic)
	if err != nil {
		return err
	}
	for _, addr := range slices.Sorted(maps.Values(masters)) {
		_, err := a.core.Call(ctx, addr, header.NewRequest(protocol.CloneGroupOffset, &header.CloneGroupOffset{
			SrcGroup: a.core.Wrap(srcGroup), DestGroup: a.core.Wrap(destGroup), Topic: a.core.Wrap(topic), Offline: offline,
		}))
		if err != nil {
			return fmt.Errorf("admin: clone offsets of %q to %q on %s: %w", srcGroup, destGroup, addr, err)
		}
	}
	return nil
}

// ConsumerRunningInfo asks one consumer client, through a broker of its
// group, for its running state: properties, subscriptions, the queues it
// holds and its rates (GET_CONSUMER_RUNNING_INFO, 307, which the broker
// relays to the client). jstack asks a Java client for its thread dump.
func (a *Admin) ConsumerRunningInfo(ctx context.Context, group, clientID string, jstack bool) (*body.ConsumerRunningInfo, error) {
	addrs, err := a.groupBrokers(ctx, group)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for _, addr := range addrs {
		resp, err := a.core.Call(ctx, addr, header.NewRequest(protocol.GetConsumerRunningInfo, &header.GetConsumerRunningInfo{
			ConsumerGroup: a.core.Wrap(group), ClientID: clientID, JstackEnable: jstack,
		}))
		if err != nil {
			lastErr = err
			continue
		}
		if len(resp.Body) == 0 {
			// The official Go client answers SUCCESS with no body when it
			// cannot encode its running info; its remark says why.
			return nil, fmt.Errorf("admin: running info of %s in group %q: the client answered none (%s)", clientID, group, resp.Remark)
		}
		return body.DecodeConsumerRunningInfo(resp.Body)
	}
	return nil, fmt.Errorf("admin: running info of %s in group %q: %w", clientID, group, lastErr)
}

// ConsumeMessageDirectly has one consumer client consume one stored message
// now, through a broker of its group (CONSUME_MESSAGE_DIRECTLY, 309, which
// the broker relays to the client), and returns how its listener handled
// it. offsetMsgID names the message.
func (a *Admin) ConsumeMessageDirectly(ctx context.Context, group, clientID, offsetMsgID string) (*body.ConsumeMessageDirectlyResult, error) {
	host, _, err := message.ParseOffsetMsgID(offsetMsgID)
	if err != nil {
		return nil, fmt.Errorf("admin: message id %q: %w", offsetMsgID, err)
	}
	resp, err := a.core.Call(ctx, host.String(), header.NewRequest(protocol.ConsumeMessageDirectly, &header.ConsumeMessageDirectly{
		ConsumerGroup: a.core.Wrap(group), ClientID: clientID, MsgID: offsetMsgID,
	}))
	if err != nil {
		return nil, fmt.Errorf("admin: consume %s directly by %s: %w", offsetMsgID, clientID, err)
	}
	var r body.ConsumeMessageDirectlyResult
	if err := body.DecodeJSON("ConsumeMessageDirectlyResult", resp.Body, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
