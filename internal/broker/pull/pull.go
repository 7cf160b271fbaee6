package pull

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/petrelmq/petrel/internal/broker/answer"
	"github.com/petrelmq/petrel/internal/broker/clients"
	"github.com/petrelmq/petrel/internal/broker/longpoll"
	"github.com/petrelmq/petrel/internal/broker/meta"
	"github.com/petrelmq/petrel/internal/broker/stats"
	"github.com/petrelmq/petrel/internal/broker/subscription"
	"github.com/petrelmq/petrel/internal/lifecycle"
	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// Pull sysFlag bits (PullSysFlag). Part of the wire format.
const (
	flagCommitOffset = 0x1
	flagSuspend      = 0x2
	flagSubscription = 0x4
	flagClassFilter  = 0x8
)

// DefaultMaxPullCount is Config.MaxPullCount's default: RocketMQ's
// maxTransferCountOnMessageInMemory default.
const DefaultMaxPullCount = 32

// Store is what pulls need from the store.
type Store interface {
	GetMessages(ctx context.Context, group, topic string, queueID int32, offset message.QueueOffset,
		maxMsgs int, filter store.MessageFilter, dst []byte) (store.GetResult, error)
	MaxOffsetInQueue(topic string, queueID int32) message.QueueOffset
	AddDispatchQueue(q *store.DispatchQueue)
	QueueIDs(topic string) []int32
}

// Consumers is what pulls need from client management.
type Consumers interface {
	ConsumerGroup(group string) (clients.GroupInfo, bool)
	Subscription(group, topic string) (body.SubscriptionData, bool)
}

// Config configures pulls.
type Config struct {
	BrokerName string
	// MaxHeldPulls bounds long polling; beyond it a pull that would be held
	// is answered SYSTEM_BUSY.
	MaxHeldPulls int
	// SlaveReadEnable is slaveReadEnable: suggest a slave to consumers that
	// fall far behind (the group's whichBrokerWhenConsumeSlowly).
	SlaveReadEnable bool
	// Slave is true on a slave: offsets carried by pulls are not stored, and
	// a consumer is never told to move its offset (offsetCheckInSlave=false).
	Slave bool
	// MaxPullCount caps the messages one pull asks the store for, whatever
	// the request's maxMsgNums; it also bounds how far a filtered pull scans
	// (the store scans max(16000, 20·count) bytes of consume-queue entries).
	// The store's own count and byte caps (maxTransferCountOnMessageInMemory,
	// maxTransferCountOnMessageInDisk and the byte keys) apply below it, so
	// the broker sets it to the larger of the two count caps. 0 means
	// DefaultMaxPullCount.
	MaxPullCount int
}

// Deps are the pull room's collaborators.
type Deps struct {
	Store         Store
	Topics        *meta.Topics
	Groups        *meta.Groups
	Offsets       *meta.Offsets
	Runtime       *meta.Live
	Consumers     Consumers
	Subscriptions *subscription.Compiler
	Stats         *stats.Broker
	Clock         clock.Clock
	Log           *slog.Logger
	// Metrics hears of every pull answered; nil: none.
	Metrics Metrics
}

// Metrics is the pull room's metrics hook: group's pull of topic's queue
// was answered with n messages of bytes, and it pulls from next onwards. It
// must be quick.
type Metrics interface {
	Pulled(topic, group string, queueID int32, next int64, n, bytes int)
}

// Service is the pull room. Lifecycle: New (before the store starts, so
// long polling hears every dispatch) → Start → Close.
type Service struct {
	cfg   Config
	d     Deps
	holds *longpoll.Service
	dq    *store.DispatchQueue
	grp   lifecycle.Group
}

// New builds the room and registers its dispatch queue with the store.
func New(cfg Config, d Deps) *Service {
	if cfg.MaxPullCount <= 0 {
		cfg.MaxPullCount = DefaultMaxPullCount
	}
	s := &Service{cfg: cfg, d: d, dq: store.NewDispatchQueue(store.DefaultDispatchQueueSize)}
	s.holds = longpoll.NewService(d.Clock, cfg.MaxHeldPulls, s.rerun)
	d.Store.AddDispatchQueue(s.dq)
	return s
}

// Start launches long polling and the dispatch drain.
func (s *Service) Start(ctx context.Context) error {
	if err := s.grp.Start(ctx, "pull"); err != nil {
		return err
	}
	if err := s.holds.Start(ctx); err != nil {
		return err
	}
	s.grp.Go("dispatch", s.drain)
	return nil
}

// drain feeds dispatch events to long polling.
func (s *Service) drain(ctx context.Context) {
	var evs []store.DispatchEvent
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.dq.Ready():
		}
		var lost bool
		evs, lost = s.dq.Drain(evs[:0])
		for _, ev := range evs {
			s.holds.OnDispatch(longpoll.Key{Topic: ev.Topic, QueueID: ev.QueueID}, ev.QueueOffset, ev.TagsCode)
		}
		if lost {
			s.holds.WakeAll()
		}
	}
}

// ReleaseHeld answers every held pull now and refuses to hold more (the first
// step of a shutdown); it returns how many it answered.
func (s *Service) ReleaseHeld() int { return s.holds.Close() }

// Close stops the drain and long polling (answering what is still held).
func (s *Service) Close() error {
	s.holds.Close()
	s.grp.Stop()
	return nil
}

// Held returns the number of held pulls.
func (s *Service) Held() int { return s.holds.Held() }

// OnConnect implements remoting.ConnListener.
func (s *Service) OnConnect(*remoting.Conn) {}

// OnClose implements remoting.ConnListener: the pulls a closed connection
// left held are dropped, since their answers could not be delivered.
func (s *Service) OnClose(c *remoting.Conn) { s.holds.DropConn(c.ID()) }

// held is a held pull's request, kept in longpoll.Pull.Data.
type held struct {
	conn *remoting.Conn
	req  *protocol.Command
}

// rerun re-runs a released pull and answers it (long-poll runners and
// Close).
func (s *Service) rerun(ctx context.Context, p *longpoll.Pull) {
	h := p.Data.(held)
	select {
	case <-h.conn.Closed():
		return
	default:
	}
	resp := s.pull(ctx, h.conn, h.req, false)
	if resp == nil || h.req.IsOneway() {
		return
	}
	if err := h.conn.Reply(resp); err != nil && !errors.Is(err, remoting.ErrConnClosed) {
		s.d.Log.Warn("pull: cannot answer held pull", "peer", h.conn.RemoteAddr(), "err", err)
	}
}

// ProcessPull is the PULL_MESSAGE processor. A pull that finds nothing and may
// be suspended is held and answered later (nil, nil).
func (s *Service) ProcessPull(ctx context.Context, conn *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	return s.pull(ctx, conn, req, true), nil
}

// pull runs one pass of a pull. first is false for the re-run of a held pull:
// it is never held again and does not commit offsets. It returns nil when the
// request was held.
func (s *Service) pull(ctx context.Context, conn *remoting.Conn, req *protocol.Command, first bool) *protocol.Command {
	var h header.PullMessage
	if err := h.Decode(req); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error())
	}
	rt := s.d.Runtime.Get()
	if rt.BrokerPermission&body.PermRead == 0 {
		return answer.Respond(req, protocol.NoPermission, "the broker[%s] pulling message is forbidden", s.cfg.BrokerName)
	}
	group, ok, err := s.d.Groups.FindOrCreate(h.ConsumerGroup, rt.AutoCreateSubscriptionGroup)
	if err != nil {
		s.d.Log.Error("pull: persist subscription group", "group", h.ConsumerGroup, "err", err)
	}
	if !ok {
		return answer.Respond(req, protocol.SubscriptionGroupNotExist, "subscription group [%s] does not exist", h.ConsumerGroup)
	}
	if !group.ConsumeEnable {
		return answer.Respond(req, protocol.NoPermission, "subscription group no permission, %s", h.ConsumerGroup)
	}
	tc, ok := s.topic(h.Topic)
	if !ok {
		return answer.Respond(req, protocol.TopicNotExist, "topic[%s] not exist, apply first please!", h.Topic)
	}
	if tc.Perm&body.PermRead == 0 {
		return answer.Respond(req, protocol.NoPermission, "the topic[%s] pulling message is forbidden", h.Topic)
	}
	if h.QueueID < 0 || h.QueueID >= tc.ReadQueueNums {
		return answer.Respond(req, protocol.SystemError, "queueId[%d] is illegal, topic:[%s] topicConfig.readQueueNums:[%d] consumer:[%s]",
			h.QueueID, h.Topic, tc.ReadQueueNums, conn.RemoteAddr())
	}
	filter, resp := s.filter(req, &h, &group)
	if resp != nil {
		return resp
	}

	maxMsgs := min(max(int(h.MaxMsgNums), 1), s.cfg.MaxPullCount)
	res, err := s.d.Store.GetMessages(ctx, h.ConsumerGroup, h.Topic, h.QueueID, message.QueueOffset(h.QueueOffset), maxMsgs, filter, nil)
	if err != nil {
		if errors.Is(err, store.ErrClosed) || (ctx.Err() != nil && errors.Is(err, context.Canceled)) {
			// Closing: the store, or the server that cancels requests in
			// progress. Clients take this answer as "look up the route again".
			return answer.Respond(req, protocol.ServiceNotAvailable, "broker is shutting down")
		}
		return answer.Respond(req, protocol.SystemError, "read queue %s:%d: %v", h.Topic, h.QueueID, err)
	}
	code := Code(res.Status, h.QueueOffset)
	if code == protocol.PullNotFound && first && h.SysFlag&flagSuspend != 0 {
		hold := time.Duration(h.SuspendTimeoutMillis) * time.Millisecond
		if !rt.LongPollingEnable {
			hold = rt.ShortPollingTime
		}
		if hold > 0 {
			s.commitOffset(&h, first)
			key := longpoll.Key{Topic: h.Topic, QueueID: h.QueueID}
			p := &longpoll.Pull{Key: key, Offset: message.QueueOffset(h.QueueOffset), Filter: filter,
				Deadline: s.d.Clock.Now().Add(hold), ConnID: conn.ID(), Data: held{conn, req}}
			switch s.holds.Hold(p, conn.Closed()) {
			case nil:
				if mo := s.d.Store.MaxOffsetInQueue(h.Topic, h.QueueID); mo > message.QueueOffset(h.QueueOffset) {
					// A message may have arrived between the read and the hold,
					// before the hold could hear of it: re-run at once.
					s.holds.WakeQueue(key, mo)
				}
				return nil
			case longpoll.ErrFull:
				return answer.Respond(req, protocol.SystemBusy, "[OVERLOAD] too many pulls held (max %d), try again later", s.cfg.MaxHeldPulls)
			}
			// Long polling closed: answer now.
		}
	}
	s.commitOffset(&h, first)
	s.d.Stats.Pulled(h.Topic, h.ConsumerGroup, code == protocol.Success, res.Count, s.d.Clock.Now())

	out := header.PullMessageResponse{
		SuggestWhichBrokerID: s.suggest(&group, res.SuggestPullFromSlave),
		NextBeginOffset:      int64(res.NextBeginOffset),
		MinOffset:            int64(res.MinOffset),
		MaxOffset:            int64(res.MaxOffset),
	}
	if s.cfg.Slave && code == protocol.PullOffsetMoved {
		// offsetCheckInSlave=false: a slave never moves a consumer's offset;
		// it sends the consumer back to the group's broker.
		code, out.NextBeginOffset, out.SuggestWhichBrokerID = protocol.PullRetryImmediately, h.QueueOffset, group.BrokerID
	}
	resp = header.NewResponse(req, code, StatusName(res.Status), &out)
	if code == protocol.Success {
		resp.Body = res.Body
	}
	if s.d.Metrics != nil && (code == protocol.Success || code == protocol.PullNotFound) {
		n := 0
		if code == protocol.Success {
			n = res.Count
		}
		s.d.Metrics.Pulled(h.Topic, h.ConsumerGroup, h.QueueID, out.NextBeginOffset, n, len(resp.Body))
	}
	return resp
}

// topic returns the topic's config. A slave whose metadata sync has not yet
// brought a topic (its master may be gone) still serves the topic's
// replicated queues: it answers as for a readable topic of
// implicitQueues queues (it cannot know how many the master has; a queue
// with no data yet answers as an empty one). RocketMQ's slave refuses such
// pulls, which can hide acknowledged messages until the master returns.
func (s *Service) topic(name string) (body.TopicConfig, bool) {
	if tc, ok := s.d.Topics.Get(name); ok || !s.cfg.Slave {
		return tc, ok
	}
	ids := s.d.Store.QueueIDs(name)
	if len(ids) == 0 {
		return body.TopicConfig{}, false
	}
	n := max(ids[len(ids)-1]+1, implicitQueues)
	return body.TopicConfig{TopicName: name, ReadQueueNums: n, WriteQueueNums: n, Perm: body.PermRead | body.PermWrite}, true
}

// implicitQueues is the queue count a slave assumes for a replicated topic
// whose config it has not synced: RocketMQ's largest (the pull only checks
// the queue id against it).
const implicitQueues = 1024

// suggest is the pull answer's suggestWhichBrokerId (RocketMQ 4.9's rule):
// with slaveReadEnable, the group's whichBrokerWhenConsumeSlowly when the
// consumer is so far behind that its data is no longer in memory, else the
// group's brokerId; without it, always the master.
func (s *Service) suggest(g *body.SubscriptionGroupConfig, farBehind bool) int64 {
	switch {
	case !s.cfg.SlaveReadEnable:
		return body.MasterID
	case farBehind:
		return g.WhichBrokerWhenConsumeSlowly
	}
	return g.BrokerID
}

// commitOffset stores the pull's commitOffset when the flag asks for it, on
// the first pass only and never on a slave (clients clear the flag for
// slaves; a slave's offsets come from its master). The hold path calls it
// before holding; the caller skips it then by clearing the flag.
func (s *Service) commitOffset(h *header.PullMessage, first bool) {
	if first && h.SysFlag&flagCommitOffset != 0 {
		if !s.cfg.Slave {
			s.d.Offsets.Commit(h.ConsumerGroup, h.Topic, h.QueueID, h.CommitOffset)
		}
		h.SysFlag &^= flagCommitOffset
	}
}

// filter returns the pull's filter: from the request when it carries its
// subscription, else from the group's last heartbeat, with RocketMQ's checks.
func (s *Service) filter(req *protocol.Command, h *header.PullMessage, group *body.SubscriptionGroupConfig) (*subscription.Filter, *protocol.Command) {
	if h.SysFlag&flagClassFilter != 0 {
		return subscription.MatchAll, nil
	}
	expr, exprType, subVersion := h.Subscription, h.ExpressionType, h.SubVersion
	if h.SysFlag&flagSubscription == 0 {
		info, ok := s.d.Consumers.ConsumerGroup(h.ConsumerGroup)
		if !ok {
			return nil, answer.Respond(req, protocol.SubscriptionNotExist, "the consumer's group info not exist, group: %s", h.ConsumerGroup)
		}
		if !group.ConsumeBroadcastEnable && info.MessageModel == "BROADCASTING" {
			return nil, answer.Respond(req, protocol.NoPermission, "the consumer group[%s] can not consume by broadcast way", h.ConsumerGroup)
		}
		sub, ok := s.d.Consumers.Subscription(h.ConsumerGroup, h.Topic)
		if !ok {
			return nil, answer.Respond(req, protocol.SubscriptionNotExist, "the consumer's subscription not exist, group: %s, topic: %s",
				h.ConsumerGroup, h.Topic)
		}
		if sub.SubVersion < h.SubVersion {
			return nil, answer.Respond(req, protocol.SubscriptionNotLatest, "the consumer's subscription not latest, group: %s, topic: %s",
				h.ConsumerGroup, h.Topic)
		}
		if sub.ClassFilterMode {
			return subscription.MatchAll, nil
		}
		expr, exprType, subVersion = sub.SubString, sub.ExpressionType, sub.SubVersion
	}
	f, err := s.d.Subscriptions.Filter(h.ConsumerGroup, h.Topic, subVersion, expr, exprType)
	switch {
	case errors.Is(err, subscription.ErrSQL92Disabled):
		return nil, protocol.NewResponse(req, protocol.SystemError, err.Error())
	case err != nil:
		return nil, answer.Respond(req, protocol.SubscriptionParseFailed, "parse the consumer's subscription[%s] failed, group: %s: %v",
			expr, h.ConsumerGroup, err)
	}
	return f, nil
}

// Code maps a store status to the pull answer code (RocketMQ 4.9.8).
func Code(s store.GetStatus, offset int64) protocol.ResponseCode {
	switch s {
	case store.GetFound:
		return protocol.Success
	case store.GetNoMatchedMessage, store.GetMessageWasRemoving:
		return protocol.PullRetryImmediately
	case store.GetNoMatchedLogicQueue, store.GetNoMessageInQueue:
		if offset != 0 {
			return protocol.PullOffsetMoved
		}
		return protocol.PullNotFound
	case store.GetOffsetFoundNull, store.GetOffsetOverflowOne:
		return protocol.PullNotFound
	case store.GetOffsetOverflowBadly, store.GetOffsetTooSmall:
		return protocol.PullOffsetMoved
	}
	return protocol.SystemError
}

// StatusName is RocketMQ's GetMessageStatus name, the pull answer's remark.
func StatusName(s store.GetStatus) string {
	switch s {
	case store.GetFound:
		return "FOUND"
	case store.GetNoMatchedMessage:
		return "NO_MATCHED_MESSAGE"
	case store.GetMessageWasRemoving:
		return "MESSAGE_WAS_REMOVING"
	case store.GetOffsetFoundNull:
		return "OFFSET_FOUND_NULL"
	case store.GetOffsetOverflowBadly:
		return "OFFSET_OVERFLOW_BADLY"
	case store.GetOffsetOverflowOne:
		return "OFFSET_OVERFLOW_ONE"
	case store.GetOffsetTooSmall:
		return "OFFSET_TOO_SMALL"
	case store.GetNoMatchedLogicQueue:
		return "NO_MATCHED_LOGIC_QUEUE"
	case store.GetNoMessageInQueue:
		return "NO_MESSAGE_IN_QUEUE"
	}
	return "UNKNOWN"
}
