package delay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/petrelmq/petrel/internal/broker/meta"
	"github.com/petrelmq/petrel/internal/lifecycle"
	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/internal/store/timer"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// Store is what the delay services need from the store.
type Store interface {
	Put(msgs []*message.MessageExt, q *store.Completions, tag any)
	GetMessages(ctx context.Context, group, topic string, queueID int32, offset message.QueueOffset,
		maxMsgs int, filter store.MessageFilter, dst []byte) (store.GetResult, error)
	LookMessageByOffset(phys message.PhysOffset, dst []byte) ([]byte, error)
	AddDispatchQueue(q *store.DispatchQueue)
	meta.ConfigStore
}

// Config configures a Service.
type Config struct {
	// Levels is messageDelayLevel ("1s 5s 10s ...").
	Levels string
	// FlushInterval is flushDelayOffsetInterval: how often delayOffset.json and
	// the timer checkpoint are written.
	FlushInterval time.Duration
	// TimerMaxDelay is timerMaxDelaySec: longer timers are refused.
	TimerMaxDelay time.Duration
	// Deliver is true on a master: park and deliver. A slave neither parks nor
	// delivers.
	Deliver bool
}

// Service is the delay room. Lifecycle: Open → Start → Close.
type Service struct {
	cfg    Config
	cs     meta.ConfigStore
	clk    clock.Clock
	log    *slog.Logger
	levels []time.Duration
	sched  *scheduler    // nil unless Deliver
	timer  *timerService // nil unless Deliver
	dq     *store.DispatchQueue
	grp    lifecycle.Group
}

// Open builds the service over an opened (not yet started) store, so its
// dispatch queue sees every entry: it loads delayOffset.json and takes the
// store's timer log.
func Open(st Store, tl *timer.Log, cfg Config, clk clock.Clock, log *slog.Logger) (*Service, error) {
	levels, err := store.ParseDelayLevels(cfg.Levels)
	if err != nil {
		return nil, fmt.Errorf("delay: messageDelayLevel: %w", err)
	}
	s := &Service{cfg: cfg, cs: st, clk: clk, log: log, levels: levels}
	if !cfg.Deliver {
		return s, nil
	}
	s.sched = newScheduler(st, st, clk, log, levels, cfg.FlushInterval)
	if err := s.sched.load(); err != nil {
		return nil, err
	}
	s.timer = &timerService{st: st, tl: tl, clk: clk, log: log, flushEvery: cfg.FlushInterval,
		enqWake: make(chan struct{}, 1), delWake: make(chan struct{}, 1)}
	s.dq = store.NewDispatchQueue(store.DefaultDispatchQueueSize)
	st.AddDispatchQueue(s.dq)
	return s, nil
}

// Start launches the scheduler, the timer loops and the dispatch drain.
func (s *Service) Start(ctx context.Context) error {
	if err := s.grp.Start(ctx, "delay"); err != nil {
		return err
	}
	if s.sched == nil {
		return nil
	}
	s.grp.Go("scheduler", s.sched.run)
	s.grp.Go("timer-enqueue", s.timer.enqueueLoop)
	s.grp.Go("timer-deliver", s.timer.deliverLoop)
	s.grp.Go("dispatch", s.drain)
	return nil
}

// drain hands dispatch events to the scheduler and the timer.
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
			s.sched.onDispatch(ev)
			s.timer.onDispatch(ev)
		}
		if lost {
			s.sched.wakeAll()
			wakeUp(s.timer.enqWake)
		}
	}
}

// Close stops the goroutines, then persists delayOffset.json and the timer
// checkpoint. Call it before the store closes. Idempotent.
func (s *Service) Close() error {
	s.grp.Stop()
	if s.sched == nil {
		return nil
	}
	return errors.Join(s.sched.persist(), s.timer.sync())
}

// Levels returns the configured delays, level 1 first.
func (s *Service) Levels() []time.Duration { return s.levels }

// ParkLevel moves msg to SCHEDULE_TOPIC_XXXX queue level-1 (level capped at the
// last configured one), keeping its real topic and queue in properties.
func (s *Service) ParkLevel(msg *message.MessageExt, level int) {
	level = min(level, len(s.levels))
	msg.Properties[message.PropertyDelayTimeLevel] = strconv.Itoa(level)
	msg.Properties[message.PropertyRealTopic] = msg.Topic
	msg.Properties[message.PropertyRealQueueID] = strconv.Itoa(int(msg.QueueID))
	msg.Topic = meta.TopicSchedule
	msg.QueueID = int32(level - 1)
}

// Prepare parks a message about to be stored by a send when it asks for a
// delay: a DELAY level parks it in SCHEDULE_TOPIC_XXXX, else timer properties
// park it for the timer. It returns a non-empty refusal (MESSAGE_ILLEGAL) for
// a timer too far away or malformed. Transactional half messages are left
// alone (their delay applies at commit). On a slave it does nothing.
func (s *Service) Prepare(msg *message.MessageExt) (refusal string) {
	if !s.cfg.Deliver {
		return ""
	}
	if tt := msg.SysFlag.TransactionType(); tt != message.SysFlagTransactionNotType && tt != message.SysFlagTransactionCommitType {
		return ""
	}
	// Most messages have no level: parsing "" would allocate a *NumError.
	if v, ok := msg.Properties[message.PropertyDelayTimeLevel]; ok && len(s.levels) > 0 {
		if lvl, _ := strconv.Atoi(v); lvl > 0 {
			for _, k := range timerProperties {
				delete(msg.Properties, k)
			}
			s.ParkLevel(msg, lvl)
			return ""
		}
	}
	return s.parkTimer(msg)
}

// parkTimer hands a message with timer properties to the timer: it is refused
// when its delivery time is more than TimerMaxDelay away, stored as is when
// that time has passed, and otherwise parked in rmq_sys_wheel_timer queue 0
// with its real topic and queue in properties and the delivery time (Unix ms)
// in TIMER_OUT_MS.
func (s *Service) parkTimer(msg *message.MessageExt) string {
	now := s.clk.Now().UnixMilli()
	at, ok, err := timerDeliverAt(msg.Properties, now)
	if err != nil {
		return "timer message: " + err.Error()
	}
	if !ok {
		return ""
	}
	if maxMs := s.cfg.TimerMaxDelay.Milliseconds(); at-now > maxMs {
		return fmt.Sprintf("timer message delay %d ms is longer than timerMaxDelaySec %d s", at-now, maxMs/1000)
	}
	if at <= now {
		return "" // due already: deliver at once
	}
	msg.Properties[message.PropertyRealTopic] = msg.Topic
	msg.Properties[message.PropertyRealQueueID] = strconv.Itoa(int(msg.QueueID))
	msg.Properties[propertyTimerOutMS] = strconv.FormatInt(at, 10)
	msg.Topic, msg.QueueID = meta.TopicTimer, 0
	return ""
}

// ClearParked removes the properties of a parked message (a message sent
// back for retry or diverted to a dead-letter queue is parked afresh).
func ClearParked(props map[string]string) {
	for _, k := range parkedProperties {
		delete(props, k)
	}
}

// Offsets returns the delay-level progress as delayOffset.json's JSON
// (GET_ALL_DELAY_OFFSET's body; a slave's copy of its master's).
func (s *Service) Offsets() []byte {
	if s.sched == nil {
		return []byte(`{"offsetTable":{}}`)
	}
	return s.sched.encodeNoClear()
}

// ApplyMasterOffsets stores a master's delay-level progress (the body of its
// GET_ALL_DELAY_OFFSET) as this slave's delayOffset.json, as RocketMQ's slave
// does, so that a slave that becomes master resumes delivery where its master
// was. Only a slave (no scheduler) applies it.
func (s *Service) ApplyMasterOffsets(data []byte) error {
	if s.sched != nil {
		return nil
	}
	var f delayOffsetFile
	if err := json.Unmarshal(meta.QuoteIntKeys(data), &f); err != nil {
		return fmt.Errorf("delay: master's delay offsets: %w", err)
	}
	norm, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return s.cs.SaveConfig(delayOffsetFileName, norm)
}

// ProcessGetAllDelayOffset answers GET_ALL_DELAY_OFFSET (45).
func (s *Service) ProcessGetAllDelayOffset(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	resp := protocol.NewResponse(req, protocol.Success, "")
	resp.Body = s.Offsets()
	return resp, nil
}

// encodeNoClear is encode without clearing the dirty flag (admin reads).
func (s *scheduler) encodeNoClear() []byte {
	s.mu.Lock()
	f := delayOffsetFile{OffsetTable: make(map[int]int64, len(s.mu.offsets))}
	for i, off := range s.mu.offsets {
		f.OffsetTable[i+1] = off
	}
	s.mu.Unlock()
	data, _ := json.Marshal(f)
	return data
}
