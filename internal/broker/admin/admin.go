package admin

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/petrelmq/petrel/internal/broker/answer"
	"github.com/petrelmq/petrel/internal/broker/clients"
	"github.com/petrelmq/petrel/internal/broker/meta"
	"github.com/petrelmq/petrel/internal/broker/stats"
	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// Store is what administration needs from the store.
type Store interface {
	Stats() store.Stats
	MinOffsetInQueue(topic string, queueID int32) message.QueueOffset
	MaxOffsetInQueue(topic string, queueID int32) message.QueueOffset
	MessageStoreTime(topic string, queueID int32, offset message.QueueOffset) (int64, error)
	DeleteTopic(topic string) error
}

// Consumers is what administration needs from client management.
type Consumers interface {
	ConsumerGroup(group string) (clients.GroupInfo, bool)
	GroupsSubscribing(topic string) []string
}

// Registrar registers the broker with the name servers at once, so a new
// topic or permission is routable when the admin call returns.
type Registrar interface {
	RegisterNow(ctx context.Context) error
}

// Deps are the admin room's collaborators.
type Deps struct {
	Store     Store
	Topics    *meta.Topics
	Groups    *meta.Groups
	Offsets   *meta.Offsets
	Runtime   *meta.Live
	Consumers Consumers
	Stats     *stats.Broker
	Registrar Registrar
	// Config renders the broker's effective configuration with broker.conf
	// key names (GET_BROKER_CONFIG); the runtime keys are added from Runtime.
	Config func() map[string]string
	// Extra adds the broker's own figures (held pulls, queue sizes,
	// replication) to GET_BROKER_RUNTIME_INFO.
	Extra func(kv map[string]string)
	// RegisterTimeout bounds the registration an admin change waits for.
	RegisterTimeout time.Duration
	BrokerName      string
	ClusterName     string
	BootTime        time.Time
	Clock           clock.Clock
	Log             *slog.Logger
}

// Service is the admin room.
type Service struct{ d Deps }

// New builds the room.
func New(d Deps) *Service { return &Service{d: d} }

func jsonResponse(req *protocol.Command, v any) (*protocol.Command, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	resp := protocol.NewResponse(req, protocol.Success, "")
	resp.Body = data
	return resp, nil
}

// ProcessGetAllTopicConfig answers GET_ALL_TOPIC_CONFIG (21).
func (s *Service) ProcessGetAllTopicConfig(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	return jsonResponse(req, s.d.Topics.Snapshot())
}

// ProcessGetAllSubscriptionGroupConfig answers
// GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201), in standard JSON for the Go admin.
func (s *Service) ProcessGetAllSubscriptionGroupConfig(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	return jsonResponse(req, s.d.Groups.Snapshot())
}

// registerNow waits (bounded) for a registration that covers a change.
func (s *Service) registerNow(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, s.d.RegisterTimeout+time.Second)
	defer cancel()
	_ = s.d.Registrar.RegisterNow(rctx)
}

// --- topics ------------------------------------------------------------------

// ProcessCreateTopic answers UPDATE_AND_CREATE_TOPIC (17); system topics and
// the cluster and broker names are refused.
func (s *Service) ProcessCreateTopic(ctx context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	return s.createTopic(ctx, req), nil
}

func (s *Service) createTopic(ctx context.Context, req *protocol.Command) *protocol.Command {
	var h header.CreateTopic
	if err := h.Decode(req); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error())
	}
	tc := body.TopicConfig{
		TopicName:       h.Topic,
		ReadQueueNums:   h.ReadQueueNums,
		WriteQueueNums:  h.WriteQueueNums,
		Perm:            h.Perm,
		TopicFilterType: h.TopicFilterType,
		TopicSysFlag:    h.TopicSysFlag,
		Order:           h.Order,
	}
	if err := meta.ValidateTopicName(tc.TopicName); err != nil {
		return answer.Respond(req, protocol.SystemError, "topic[%s]: %v", tc.TopicName, err)
	}
	if meta.IsSystemTopic(tc.TopicName) || tc.TopicName == s.d.ClusterName || tc.TopicName == s.d.BrokerName {
		return answer.Respond(req, protocol.SystemError, "The topic[%s] is conflict with system topic.", tc.TopicName)
	}
	if tc.ReadQueueNums < 0 || tc.WriteQueueNums < 0 || tc.ReadQueueNums > 4096 || tc.WriteQueueNums > 4096 {
		return answer.Respond(req, protocol.SystemError, "queue numbers (read %d, write %d) must be in [0, 4096]", tc.ReadQueueNums, tc.WriteQueueNums)
	}
	if tc.Perm < 0 || tc.Perm > 7 {
		return answer.Respond(req, protocol.SystemError, "perm %d must be in [0, 7]", tc.Perm)
	}
	switch tc.TopicFilterType {
	case "":
		tc.TopicFilterType = meta.FilterTypeSingleTag
	case meta.FilterTypeSingleTag, meta.FilterTypeMultiTag:
	default:
		return answer.Respond(req, protocol.SystemError, "topicFilterType %q must be SINGLE_TAG or MULTI_TAG", tc.TopicFilterType)
	}
	old, _ := s.d.Topics.Get(tc.TopicName)
	attrs, err := meta.ApplyAttributes(old.Attributes, h.Attributes)
	if err != nil {
		s.d.Log.Warn("admin: topic attributes refused", "topic", tc.TopicName, "attributes", h.Attributes, "err", err)
		return answer.Respond(req, protocol.SystemError, "%v", err)
	}
	tc.Attributes = attrs
	changed, err := s.d.Topics.Put(tc)
	if err != nil {
		return answer.Respond(req, protocol.SystemError, "persist topic config: %v", err)
	}
	if changed {
		s.d.Log.Info("admin: topic created or updated", "topic", tc.TopicName, "read", tc.ReadQueueNums,
			"write", tc.WriteQueueNums, "perm", tc.Perm, "attributes", tc.Attributes)
		s.registerNow(ctx)
	}
	return protocol.NewResponse(req, protocol.Success, "")
}

// ProcessDeleteTopic answers DELETE_TOPIC_IN_BROKER (215): the config, the
// offsets and the consume queues go.
func (s *Service) ProcessDeleteTopic(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	var h header.DeleteTopic
	if err := h.Decode(req); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
	}
	topic := h.Topic
	if meta.IsSystemTopic(topic) {
		return answer.Respond(req, protocol.SystemError, "The topic[%s] is conflict with system topic.", topic), nil
	}
	existed, err := s.d.Topics.Delete(topic)
	if err != nil {
		return answer.Respond(req, protocol.SystemError, "persist topic config: %v", err), nil
	}
	s.d.Offsets.RemoveTopic(topic)
	if err := s.d.Store.DeleteTopic(topic); err != nil {
		return answer.Respond(req, protocol.SystemError, "delete the queues of topic %s: %v", topic, err), nil
	}
	if existed {
		s.d.Log.Info("admin: topic deleted", "topic", topic)
	}
	return protocol.NewResponse(req, protocol.Success, ""), nil
}

// --- subscription groups ---------------------------------------------------

// ProcessCreateGroup answers UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200).
func (s *Service) ProcessCreateGroup(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	var g body.SubscriptionGroupConfig
	if err := json.Unmarshal(req.Body, &g); err != nil {
		return answer.Respond(req, protocol.SystemError, "bad SubscriptionGroupConfig body: %v", err), nil
	}
	if g.GroupName == "" {
		return answer.Respond(req, protocol.SystemError, "SubscriptionGroupConfig.groupName is empty"), nil
	}
	if err := s.d.Groups.Put(g); err != nil {
		return answer.Respond(req, protocol.SystemError, "persist subscription group: %v", err), nil
	}
	s.d.Log.Info("admin: subscription group created or updated", "group", g.GroupName, "consumeEnable", g.ConsumeEnable)
	return protocol.NewResponse(req, protocol.Success, ""), nil
}

// ProcessDeleteGroup answers DELETE_SUBSCRIPTIONGROUP (207), dropping the
// group's offsets too with removeOffset.
func (s *Service) ProcessDeleteGroup(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	var h header.DeleteSubscriptionGroup
	if err := h.Decode(req); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
	}
	if _, err := s.d.Groups.Delete(h.GroupName); err != nil {
		return answer.Respond(req, protocol.SystemError, "persist subscription groups: %v", err), nil
	}
	if h.RemoveOffset {
		s.d.Offsets.RemoveGroup(h.GroupName)
	}
	return protocol.NewResponse(req, protocol.Success, ""), nil
}

// --- topic and consumer statistics ------------------------------------------

// ProcessTopicStats answers GET_TOPIC_STATS_INFO (202).
func (s *Service) ProcessTopicStats(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	var h header.GetTopicStatsInfo
	if err := h.Decode(req); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
	}
	tc, ok := s.d.Topics.Get(h.Topic)
	if !ok {
		return answer.Respond(req, protocol.TopicNotExist, "topic[%s] not exist", h.Topic), nil
	}
	table := map[message.MessageQueue]body.TopicOffset{}
	for q := range tc.WriteQueueNums {
		mq := message.MessageQueue{Topic: h.Topic, BrokerName: s.d.BrokerName, QueueID: q}
		o := body.TopicOffset{
			MinOffset: max(int64(s.d.Store.MinOffsetInQueue(h.Topic, q)), 0),
			MaxOffset: max(int64(s.d.Store.MaxOffsetInQueue(h.Topic, q)), 0),
		}
		if o.MaxOffset > 0 {
			if t, err := s.d.Store.MessageStoreTime(h.Topic, q, message.QueueOffset(o.MaxOffset-1)); err == nil {
				o.LastUpdateTimestamp = t
			}
		}
		table[mq] = o
	}
	resp := protocol.NewResponse(req, protocol.Success, "")
	resp.Body = body.EncodeTopicStatsTable(table)
	return resp, nil
}

// ProcessConsumeStats answers GET_CONSUME_STATS (208): per queue of each
// topic the group consumes, the broker's and the group's offsets, and the
// group's consume rate.
func (s *Service) ProcessConsumeStats(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	var h header.GetConsumeStats
	if err := h.Decode(req); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
	}
	group := h.ConsumerGroup
	topics := []string{h.Topic}
	if h.Topic == "" {
		topics = s.d.Offsets.TopicsOf(group)
	}
	info, online := s.d.Consumers.ConsumerGroup(group)
	cs := &body.ConsumeStats{OffsetTable: map[message.MessageQueue]body.OffsetWrapper{}}
	now := s.d.Clock.Now()
	for _, topic := range topics {
		tc, ok := s.d.Topics.Get(topic)
		if !ok {
			continue
		}
		// Like RocketMQ: when the group is online, skip topics it no longer
		// subscribes to.
		if online && len(info.Subscriptions) > 0 {
			if _, subscribed := info.Subscriptions[topic]; !subscribed {
				continue
			}
		}
		cs.ConsumeTps += s.d.Stats.ConsumeTPS(topic, group, now)
		offs := s.d.Offsets.QueueOffsets(group, topic)
		for q := range tc.WriteQueueNums {
			mq := message.MessageQueue{Topic: topic, BrokerName: s.d.BrokerName, QueueID: q}
			o := body.OffsetWrapper{BrokerOffset: max(int64(s.d.Store.MaxOffsetInQueue(topic, q)), 0)}
			if c, ok := offs[q]; ok && c > 0 {
				o.ConsumerOffset = c
				if t, err := s.d.Store.MessageStoreTime(topic, q, message.QueueOffset(c-1)); err == nil {
					o.LastTimestamp = t
				}
			}
			cs.OffsetTable[mq] = o
		}
	}
	resp := protocol.NewResponse(req, protocol.Success, "")
	resp.Body = body.EncodeConsumeStats(cs)
	return resp, nil
}

// ProcessConsumeByWho answers QUERY_TOPIC_CONSUME_BY_WHO (300): the groups
// subscribing to a topic now or holding offsets for it.
func (s *Service) ProcessConsumeByWho(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	var h header.QueryTopicConsumeByWho
	if err := h.Decode(req); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
	}
	set := map[string]struct{}{}
	for _, g := range s.d.Consumers.GroupsSubscribing(h.Topic) {
		set[g] = struct{}{}
	}
	for _, g := range s.d.Offsets.GroupsOf(h.Topic) {
		set[g] = struct{}{}
	}
	resp := protocol.NewResponse(req, protocol.Success, "")
	resp.Body = body.EncodeGroupList(slices.Collect(maps.Keys(set)))
	return resp, nil
}
