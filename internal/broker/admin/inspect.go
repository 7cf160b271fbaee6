package admin

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/petrelmq/petrel/internal/broker/answer"
	"github.com/petrelmq/petrel/internal/broker/stats"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// Inspection requests of mqadmin's brokerConsumeStats, queryCq, statsAll
// and cloneGroupOffset.

// ProcessBrokerConsumeStats answers GET_BROKER_CONSUME_STATS (317): the
// consume stats of every subscription group on every topic it has offsets
// for (only ordered topics with isOrder), and the total lag.
func (s *Service) ProcessBrokerConsumeStats(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	var h header.GetBrokerConsumeStats
	if err := h.Decode(req); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
	}
	now := s.d.Clock.Now()
	list := &body.ConsumeStatsList{BrokerAddr: s.d.BrokerAddr}
	groups := s.d.Groups.Snapshot().SubscriptionGroupTable
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	slices.Sort(names)
	for _, g := range names {
		entry := body.GroupConsumeStats{Group: g, Stats: []*body.ConsumeStats{}}
		for _, topic := range s.d.Offsets.TopicsOf(g) {
			cs, ok := s.consumeStats(g, topic, h.IsOrder, now)
			if !ok {
				continue
			}
			list.TotalDiff += cs.Diff()
			entry.Stats = append(entry.Stats, cs)
		}
		list.Groups = append(list.Groups, entry)
	}
	resp := protocol.NewResponse(req, protocol.Success, "")
	resp.Body = list.Encode()
	return resp, nil
}

// ProcessQueryConsumeQueue answers QUERY_CONSUME_QUEUE (321): count entries
// of a consume queue from index, and, with a consumer group, the group's
// subscription. Petrel keeps no consume-queue extension, so extendDataJson
// and bitMap are always empty.
func (s *Service) ProcessQueryConsumeQueue(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	var h header.QueryConsumeQueue
	if err := h.Decode(req); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
	}
	entries, ok, err := s.d.Store.ConsumeQueueEntries(h.Topic, h.QueueID, message.QueueOffset(h.Index), int(h.Count))
	if !ok {
		return answer.Respond(req, protocol.SystemError, "%d@%s is not exist!", h.QueueID, h.Topic), nil
	}
	b := body.QueryConsumeQueueBody{
		MaxQueueIndex: int64(s.d.Store.MaxOffsetInQueue(h.Topic, h.QueueID)),
		MinQueueIndex: int64(s.d.Store.MinOffsetInQueue(h.Topic, h.QueueID)),
		QueueData:     []body.QueueEntry{},
	}
	if h.ConsumerGroup != "" {
		if sub, ok := s.d.Consumers.Subscription(h.ConsumerGroup, h.Topic); ok {
			b.SubscriptionData = &sub
			b.FilterData = "null"
		} else {
			b.FilterData = h.ConsumerGroup + "@" + h.Topic + " is not online!"
		}
	}
	resp := protocol.NewResponse(req, protocol.Success, "")
	if err != nil || len(entries) == 0 {
		// As RocketMQ, the reason goes in the remark; the body still has
		// the queue's range (RocketMQ sends none, which its tool cannot print).
		resp.Remark = "Index " + itoa(h.Index) + " of " + itoa(int64(h.QueueID)) + "@" + h.Topic + " is not exist!"
	}
	for _, e := range entries {
		b.QueueData = append(b.QueueData, body.QueueEntry{PhysicOffset: int64(e.Phys), PhysicSize: e.Size, TagsCode: e.TagsCode})
	}
	data, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	resp.Body = data
	return resp, nil
}

// ProcessViewBrokerStatsData answers VIEW_BROKER_STATS_DATA (315) for the
// statistics mqadmin's statsAll reads: TOPIC_PUT_NUMS (key: topic; messages
// stored) and GROUP_GET_NUMS (key: topic@group; messages pulled), each over
// the last minute, hour and day. Before a window has passed since the
// broker started (or the group first pulled) its figures count from then.
func (s *Service) ProcessViewBrokerStatsData(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	var h header.ViewBrokerStatsData
	if err := h.Decode(req); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
	}
	now := s.d.Clock.Now()
	var r *stats.Rate
	switch h.StatsName {
	case body.StatsTopicPutNums:
		if tc, ok := s.d.Topics.Get(h.StatsKey); ok {
			var total int64
			for q := range max(tc.WriteQueueNums, tc.ReadQueueNums) {
				total += max(int64(s.d.Store.MaxOffsetInQueue(h.StatsKey, q)), 0)
			}
			r = s.d.Stats.TopicPuts(h.StatsKey, total, now)
		}
	case body.StatsGroupGetNums:
		r = s.d.Stats.GroupGets(splitStatsKey(h.StatsKey))
	}
	if r == nil {
		return answer.Respond(req, protocol.SystemError, "The stats <%s> <%s> not exist", h.StatsName, h.StatsKey), nil
	}
	item := func(w stats.Window, window int64) body.BrokerStatsItem {
		return body.BrokerStatsItem{Sum: w.Sum, TPS: w.TPS, AvgPT: float64(w.Sum) / float64(window)}
	}
	d := body.BrokerStatsData{
		StatsMinute: item(r.Window(now, minute), 6),
		StatsHour:   item(r.Window(now, hour), 6),
		StatsDay:    item(r.Window(now, day), 24),
	}
	return jsonResponse(req, d)
}

// splitStatsKey splits "topic@group" at its last '@'.
func splitStatsKey(k string) (topic, group string) {
	for i := len(k) - 1; i >= 0; i-- {
		if k[i] == '@' {
			return k[:i], k[i+1:]
		}
	}
	return k, ""
}

// ProcessCloneGroupOffset answers CLONE_GROUP_OFFSET (314): the source
// group's committed offsets on the topic (every topic it has offsets for
// when none is given) are copied to the destination group. Unless offline
// is set, topics an online source group no longer subscribes to are
// skipped, as in RocketMQ.
func (s *Service) ProcessCloneGroupOffset(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	var h header.CloneGroupOffset
	if err := h.Decode(req); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
	}
	topics := []string{h.Topic}
	if h.Topic == "" {
		topics = s.d.Offsets.TopicsOf(h.SrcGroup)
	}
	info, online := s.d.Consumers.ConsumerGroup(h.SrcGroup)
	for _, t := range topics {
		if _, ok := s.d.Topics.Get(t); !ok {
			continue
		}
		if !h.Offline && online && len(info.Subscriptions) > 0 {
			if _, ok := info.Subscriptions[t]; !ok {
				continue
			}
		}
		for q, off := range s.d.Offsets.QueueOffsets(h.SrcGroup, t) {
			s.d.Offsets.Commit(h.DestGroup, t, q, off)
		}
	}
	s.d.Log.Info("admin: group offsets cloned", "src", h.SrcGroup, "dest", h.DestGroup, "topic", h.Topic)
	return protocol.NewResponse(req, protocol.Success, ""), nil
}

// Windows of VIEW_BROKER_STATS_DATA.
const (
	minute = time.Minute
	hour   = time.Hour
	day    = 24 * time.Hour
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
