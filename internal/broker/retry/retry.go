package retry

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"

	"github.com/petrelmq/petrel/internal/broker/answer"
	"github.com/petrelmq/petrel/internal/broker/delay"
	"github.com/petrelmq/petrel/internal/broker/meta"
	"github.com/petrelmq/petrel/internal/lifecycle"
	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// baseDelayLevel is added to the reconsume count when the consumer lets the
// broker pick the delay (delayLevel 0): 10 s, 30 s, 1 m, ... by default.
const baseDelayLevel = 3

// Store is what the retry room needs from the store.
type Store interface {
	Put(msgs []*message.MessageExt, q *store.Completions, tag any)
	LookMessageByOffset(phys message.PhysOffset, dst []byte) ([]byte, error)
}

// Deps are the retry room's collaborators.
type Deps struct {
	Store   Store
	Topics  *meta.Topics
	Groups  *meta.Groups
	Runtime *meta.Live
	// Gate admits every write, so Close can wait for them.
	Gate *lifecycle.Gate
	// Delay parks re-stored messages behind their delay level.
	Delay *delay.Service
	// Registered asks for a name-server registration soon (a new retry or
	// dead-letter topic must be routable).
	Registered func()
	// BrokerName is for remarks; StoreHost is the advertised address.
	BrokerName string
	StoreHost  netip.AddrPort
	Log        *slog.Logger
	// Metrics hears of every message moved to a dead-letter queue; nil: none.
	Metrics Metrics
}

// Metrics is the retry room's metrics hook: a message of group's, from
// topic, goes to the group's dead-letter queue. It must be quick.
type Metrics interface {
	SentToDLQ(group, topic string)
}

func (s *Service) sentToDLQ(group, topic string) {
	if s.d.Metrics != nil {
		s.d.Metrics.SentToDLQ(group, topic)
	}
}

// Service is the retry room. Lifecycle: New → Start → Close.
type Service struct {
	d    Deps
	done *store.Completions
	grp  lifecycle.Group
}

// New builds the room.
func New(d Deps) *Service {
	return &Service{d: d, done: store.NewCompletions()}
}

// Start launches the goroutine that answers stored send-backs.
func (s *Service) Start(ctx context.Context) error {
	if err := s.grp.Start(ctx, "retry"); err != nil {
		return err
	}
	s.grp.Go("completions", s.complete)
	return nil
}

// Close stops answering. Call it after the write gate has drained.
func (s *Service) Close() error {
	s.grp.Stop()
	return nil
}

// sendBack is the tag of a stored send-back.
type sendBack struct {
	conn *remoting.Conn
	req  *protocol.Command
}

// complete answers stored send-backs: SUCCESS, or SYSTEM_ERROR naming the
// status when the record is stored but not as durably as configured
// (RocketMQ's answer; the client then falls back to a plain send: a duplicate
// rather than a loss).
func (s *Service) complete(ctx context.Context) {
	var cs []store.Completion
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.done.Ready():
		}
		cs = s.done.Drain(cs[:0])
		for _, c := range cs {
			sb := c.Tag.(sendBack)
			resp := protocol.NewResponse(sb.req, protocol.Success, "")
			switch {
			case c.Err != nil:
				resp = answer.Respond(sb.req, protocol.SystemError, "%v", c.Err)
			case c.Result.Status != store.PutOK:
				resp = answer.Respond(sb.req, protocol.SystemError, "%s", answer.StatusName(c.Result.Status))
			}
			if !sb.req.IsOneway() {
				if err := sb.conn.Reply(resp); err != nil && !errors.Is(err, remoting.ErrConnClosed) {
					s.d.Log.Warn("retry: cannot answer send-back", "peer", sb.conn.RemoteAddr(), "err", err)
				}
			}
			s.d.Gate.Exit()
		}
		clear(cs)
	}
}

// ProcessSendBack serves CONSUMER_SEND_MSG_BACK (36). It answers once the new
// record is stored (from the completion goroutine), and counts as an admitted
// write so a shutdown waits for it.
func (s *Service) ProcessSendBack(_ context.Context, conn *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	if !s.d.Gate.Enter() {
		return answer.Respond(req, protocol.ServiceNotAvailable, "broker %s is shutting down", s.d.BrokerName), nil
	}
	msg, resp := s.build(req)
	if resp != nil || msg == nil {
		s.d.Gate.Exit()
		if resp == nil { // retryQueueNums <= 0: dropped on purpose
			resp = protocol.NewResponse(req, protocol.Success, "")
		}
		return resp, nil
	}
	s.d.Store.Put([]*message.MessageExt{msg}, s.done, sendBack{conn, req})
	return nil, nil
}

// build applies RocketMQ's send-back rules and returns the record to store,
// nil to drop the message (the group has no retry queues), or the answer
// that refuses the request.
func (s *Service) build(req *protocol.Command) (*message.MessageExt, *protocol.Command) {
	var h header.ConsumerSendMsgBack
	if err := h.Decode(req); err != nil {
		return nil, protocol.NewResponse(req, protocol.SystemError, err.Error())
	}
	rt := s.d.Runtime.Get()
	g, ok, err := s.d.Groups.FindOrCreate(h.Group, rt.AutoCreateSubscriptionGroup)
	if err != nil {
		s.d.Log.Error("retry: persist subscription group", "group", h.Group, "err", err)
	}
	if !ok {
		return nil, answer.Respond(req, protocol.SubscriptionGroupNotExist, "subscription group not exist, %s", h.Group)
	}
	if rt.BrokerPermission&body.PermWrite == 0 {
		return nil, answer.Respond(req, protocol.NoPermission, "the broker[%s] sending message is forbidden", s.d.BrokerName)
	}
	if g.RetryQueueNums <= 0 {
		return nil, nil
	}
	retryTC, created, err := s.d.Topics.CreateRetryTopic(h.Group, g.RetryQueueNums)
	if err != nil {
		s.d.Log.Error("retry: persist retry topic", "group", h.Group, "err", err)
	}
	if created {
		s.d.Registered()
	}
	if retryTC.Perm&body.PermWrite == 0 {
		return nil, answer.Respond(req, protocol.NoPermission, "the topic[%s] sending message is forbidden", retryTC.TopicName)
	}

	rec, err := s.d.Store.LookMessageByOffset(message.PhysOffset(h.Offset), nil)
	if err != nil {
		return nil, answer.Respond(req, protocol.SystemError, "look message by offset failed, %d", h.Offset)
	}
	orig, _, err := message.DecodeMessage(rec)
	if err != nil {
		return nil, answer.Respond(req, protocol.SystemError, "look message by offset failed, %d: %v", h.Offset, err)
	}
	props := orig.Properties
	if props == nil {
		props = map[string]string{}
	}
	if props[message.PropertyRetryTopic] == "" {
		props[message.PropertyRetryTopic] = orig.Topic
	}
	if props[message.PropertyOriginMessageID] == "" {
		props[message.PropertyOriginMessageID] = orig.OffsetMsgID()
	}
	delay.ClearParked(props)

	maxTimes := g.RetryMaxTimes
	if h.MaxReconsumeTimes.Set {
		maxTimes = h.MaxReconsumeTimes.V
	}
	msg := &message.MessageExt{
		Message:        message.Message{Flag: orig.Flag, Properties: props, Body: orig.Body},
		SysFlag:        orig.SysFlag,
		BornTimestamp:  orig.BornTimestamp,
		BornHost:       orig.BornHost,
		StoreHost:      s.d.StoreHost,
		ReconsumeTimes: orig.ReconsumeTimes + 1,
	}
	delayLevel := int(h.DelayLevel)
	if orig.ReconsumeTimes >= maxTimes || delayLevel < 0 {
		dlq, resp := s.ensureDLQ(req, h.Group)
		if resp != nil {
			return nil, resp
		}
		s.sentToDLQ(h.Group, props[message.PropertyRetryTopic])
		msg.Topic, msg.QueueID = dlq.TopicName, rand.Int32N(max(dlq.WriteQueueNums, 1))
		return msg, nil
	}
	if delayLevel == 0 {
		delayLevel = baseDelayLevel + int(orig.ReconsumeTimes)
	}
	msg.Topic, msg.QueueID = retryTC.TopicName, rand.Int32N(max(retryTC.WriteQueueNums, 1))
	s.d.Delay.ParkLevel(msg, delayLevel)
	return msg, nil
}

// ensureDLQ creates %DLQ%<group> if missing and checks that it may be
// written.
func (s *Service) ensureDLQ(req *protocol.Command, group string) (body.TopicConfig, *protocol.Command) {
	tc, created, err := s.d.Topics.CreateDLQTopic(group)
	if err != nil {
		s.d.Log.Error("retry: persist dead-letter topic", "group", group, "err", err)
	}
	if created {
		s.d.Log.Info("retry: created dead-letter topic", "topic", tc.TopicName)
		s.d.Registered()
	}
	if tc.Perm&body.PermWrite == 0 {
		return tc, answer.Respond(req, protocol.NoPermission, "the topic[%s] sending message is forbidden", tc.TopicName)
	}
	return tc, nil
}

// DivertToDLQ applies SEND_MESSAGE's retry-topic rule to a message for
// %RETRY%<group>: once its reconsume count reaches maxReconsumeTimes (the
// send header's, else the group's retryMaxTimes) it goes to %DLQ%<group>
// without delay. It reports whether it diverted msg, or the answer that
// refuses the send (code and remark).
func (s *Service) DivertToDLQ(req *protocol.Command, h *header.SendMessage, msg *message.MessageExt) (diverted bool, refuse *protocol.Command) {
	group := strings.TrimPrefix(msg.Topic, meta.RetryTopicPrefix)
	g, ok, err := s.d.Groups.FindOrCreate(group, s.d.Runtime.Get().AutoCreateSubscriptionGroup)
	if err != nil {
		s.d.Log.Error("retry: persist subscription group", "group", group, "err", err)
	}
	if !ok {
		return false, answer.Respond(req, protocol.SubscriptionGroupNotExist, "subscription group not exist, %s", group)
	}
	maxTimes := g.RetryMaxTimes
	if h.MaxReconsumeTimes.Set {
		maxTimes = h.MaxReconsumeTimes.V
	}
	if msg.ReconsumeTimes < maxTimes {
		return false, nil
	}
	dlq, resp := s.ensureDLQ(req, group)
	if resp != nil {
		return false, resp
	}
	from := msg.Properties[message.PropertyRetryTopic]
	if from == "" {
		from = msg.Topic
	}
	s.sentToDLQ(group, from)
	msg.Topic, msg.QueueID = dlq.TopicName, rand.Int32N(max(dlq.WriteQueueNums, 1))
	delay.ClearParked(msg.Properties)
	return true, nil
}

// OnConsumerHeartbeat makes sure a consumer group's subscription config
// exists (or refuses the heartbeat with SUBSCRIPTION_GROUP_NOT_EXIST when
// autoCreateSubscriptionGroup is off) and, for clustering consumers, creates
// the group's retry topic and has it registered at once: the Go client never
// pulls retries from a topic that is not in the route.
func (s *Service) OnConsumerHeartbeat(group string, clustering bool) error {
	g, ok, err := s.d.Groups.FindOrCreate(group, s.d.Runtime.Get().AutoCreateSubscriptionGroup)
	if err != nil {
		s.d.Log.Error("retry: persist subscription group", "group", group, "err", err)
	}
	if !ok {
		return &protocol.Error{Code: protocol.SubscriptionGroupNotExist,
			Remark: "subscription group [" + group + "] does not exist and autoCreateSubscriptionGroup is off"}
	}
	if !clustering {
		return nil
	}
	_, created, err := s.d.Topics.CreateRetryTopic(group, g.RetryQueueNums)
	if err != nil {
		s.d.Log.Error("retry: persist retry topic", "group", group, "err", err)
	}
	if created {
		s.d.Registered()
	}
	return nil
}
