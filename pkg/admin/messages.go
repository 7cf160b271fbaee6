package admin

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
)

// Message lookups and topic statistics (mqadmin queryMsgById, topicStatus,
// printMsgByQueue's ranges).

// ViewMessage reads one message by its offset message id (the id that
// encodes the store host and commit-log offset) from the broker that stored
// it (VIEW_MESSAGE_BY_ID, 33). The body is decompressed.
func (a *Admin) ViewMessage(ctx context.Context, offsetMsgID string) (*message.MessageExt, error) {
	host, off, err := message.ParseOffsetMsgID(offsetMsgID)
	if err != nil {
		return nil, fmt.Errorf("admin: message id %q: %w", offsetMsgID, err)
	}
	resp, err := a.core.Call(ctx, host.String(), header.NewRequest(protocol.ViewMessageByID, &header.ViewMessage{Offset: int64(off)}))
	if err != nil {
		return nil, fmt.Errorf("admin: view message %s on %s: %w", offsetMsgID, host, err)
	}
	m, _, err := message.DecodeMessage(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("admin: view message %s: %w", offsetMsgID, err)
	}
	if b, err := client.Decompress(m.SysFlag, m.Body); err == nil {
		m.Body = b
	}
	return m, nil
}

// TopicStats returns every queue's offset range and last store time over
// the topic's masters (GET_TOPIC_STATS_INFO, 202). Queue topics are as
// given (no namespace).
func (a *Admin) TopicStats(ctx context.Context, topic string) (map[message.MessageQueue]body.TopicOffset, error) {
	_, masters, err := a.masters(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := map[message.MessageQueue]body.TopicOffset{}
	for _, addr := range slices.Sorted(maps.Values(masters)) {
		resp, err := a.core.Call(ctx, addr, header.NewRequest(protocol.GetTopicStatsInfo,
			&header.GetTopicStatsInfo{Topic: a.core.Wrap(topic)}))
		if err != nil {
			return nil, fmt.Errorf("admin: stats of topic %q on %s: %w", topic, addr, err)
		}
		t, err := body.DecodeTopicStatsTable(resp.Body)
		if err != nil {
			return nil, err
		}
		for mq, o := range t {
			mq.Topic = topic
			out[mq] = o
		}
	}
	return out, nil
}

// GroupsOfTopic lists the groups that consume a topic now or hold offsets
// for it, over the topic's masters (QUERY_TOPIC_CONSUME_BY_WHO, 300), sorted.
func (a *Admin) GroupsOfTopic(ctx context.Context, topic string) ([]string, error) {
	_, masters, err := a.masters(ctx, topic)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, addr := range masters {
		resp, err := a.core.Call(ctx, addr, header.NewRequest(protocol.QueryTopicConsumeByWho,
			&header.QueryTopicConsumeByWho{Topic: a.core.Wrap(topic)}))
		if err != nil {
			return nil, fmt.Errorf("admin: groups of topic %q on %s: %w", topic, addr, err)
		}
		var gl body.GroupList
		if err := body.DecodeJSON("GroupList", resp.Body, &gl); err != nil {
			return nil, err
		}
		for _, g := range gl.GroupList {
			set[a.core.Unwrap(g)] = true
		}
	}
	return slices.Sorted(maps.Keys(set)), nil
}
