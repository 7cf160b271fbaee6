package delay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/petrelmq/petrel/internal/broker/meta"
	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
)

// Delay levels (docs/design/timer.md): a message with DELAY=n is parked in
// SCHEDULE_TOPIC_XXXX queue n-1 and moved back to its real topic by the
// scheduler when its level's delay has passed since it was stored.

const (
	delayOffsetFileName = "delayOffset.json"
	// scheduleGroup names the scheduler's reads (the store ignores it).
	scheduleGroup = "SCHEDULE_CONSUMER"
	// scheduleBatch caps the entries the scheduler reads per level and round.
	scheduleBatch = 32
	// scheduleRetryBackoff is how long a level waits after a failed read or put.
	scheduleRetryBackoff = time.Second
	// noneDue marks a level with nothing known to deliver.
	noneDue = int64(math.MaxInt64)
)

// delayOffsetFile is config/delayOffset.json in RocketMQ's shape:
// {"offsetTable":{"1":12,"2":0}}, level → next queue offset to deliver.
type delayOffsetFile struct {
	OffsetTable map[int]int64 `json:"offsetTable"`
}

// scheduler delivers the messages parked in SCHEDULE_TOPIC_XXXX. One goroutine
// (run) serves every level: each level's queue is in delivery-time order (the
// same delay is added to increasing store times), so only each head matters;
// run sleeps until the earliest head is due, and the store's dispatch listener
// wakes it early when an entry arrives for a level that had nothing pending.
//
// Progress is the next queue offset per level, persisted to delayOffset.json
// every FlushDelayOffsetInterval and on Close. An offset is advanced only after
// the store has accepted the re-put messages, so a crash re-delivers (never
// loses) what was put after the last persist.
type scheduler struct {
	st         Store
	cs         meta.ConfigStore
	clk        clock.Clock
	log        *slog.Logger
	delays     []time.Duration
	flushEvery time.Duration
	wake       chan struct{} // capacity 1

	mu struct {
		sync.Mutex
		offsets []int64 // next queue offset of level i+1
		hints   []int64 // earliest delivery time (Unix ms) dispatched since run last looked
		dirty   bool
	}
	persistMu sync.Mutex

	// next is owned by run: the known delivery time of each level's head.
	next []int64
}

func newScheduler(st Store, cs meta.ConfigStore, clk clock.Clock, log *slog.Logger,
	delays []time.Duration, flushEvery time.Duration) *scheduler {
	s := &scheduler{st: st, cs: cs, clk: clk, log: log, delays: delays, flushEvery: flushEvery,
		wake: make(chan struct{}, 1), next: make([]int64, len(delays))}
	s.mu.offsets = make([]int64, len(delays))
	s.mu.hints = make([]int64, len(delays))
	for i := range s.mu.hints {
		s.mu.hints[i] = noneDue
	}
	return s
}

// load reads delayOffset.json. Levels beyond the configured ones are ignored.
func (s *scheduler) load() error {
	data, err := s.cs.LoadConfig(delayOffsetFileName)
	if err != nil {
		return fmt.Errorf("delay: load %s: %w", delayOffsetFileName, err)
	}
	if len(data) == 0 {
		return nil
	}
	var f delayOffsetFile
	if err := json.Unmarshal(meta.QuoteIntKeys(data), &f); err != nil {
		return fmt.Errorf("delay: parse %s: %w", delayOffsetFileName, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for lvl, off := range f.OffsetTable {
		if lvl >= 1 && lvl <= len(s.delays) && off >= 0 {
			s.mu.offsets[lvl-1] = off
		}
	}
	return nil
}

// encode returns the offset table as delayOffset.json's JSON (also the body of
// GET_ALL_DELAY_OFFSET).
func (s *scheduler) encode() []byte {
	s.mu.Lock()
	f := delayOffsetFile{OffsetTable: make(map[int]int64, len(s.mu.offsets))}
	for i, off := range s.mu.offsets {
		f.OffsetTable[i+1] = off
	}
	s.mu.dirty = false
	s.mu.Unlock()
	data, _ := json.Marshal(f) // a map of ints always marshals
	return data
}

// persist writes delayOffset.json.
func (s *scheduler) persist() error {
	s.persistMu.Lock()
	defer s.persistMu.Unlock()
	if err := s.cs.SaveConfig(delayOffsetFileName, s.encode()); err != nil {
		s.mu.Lock()
		s.mu.dirty = true
		s.mu.Unlock()
		return fmt.Errorf("delay: save %s: %w", delayOffsetFileName, err)
	}
	return nil
}

func (s *scheduler) offset(level int) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.offsets[level]
}

func (s *scheduler) setOffset(level int, off int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.offsets[level] != off {
		s.mu.offsets[level] = off
		s.mu.dirty = true
	}
}

// onDispatch is the store's dispatch listener: an entry of SCHEDULE_TOPIC_XXXX
// records its delivery time (the tags code) as a hint and wakes run.
func (s *scheduler) onDispatch(ev store.DispatchEvent) {
	if ev.Topic != meta.TopicSchedule || ev.QueueID < 0 || int(ev.QueueID) >= len(s.delays) {
		return
	}
	s.mu.Lock()
	if ev.TagsCode < s.mu.hints[ev.QueueID] {
		s.mu.hints[ev.QueueID] = ev.TagsCode
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// wakeAll makes run look at every level (dispatch events were lost).
func (s *scheduler) wakeAll() {
	s.mu.Lock()
	for i := range s.mu.hints {
		s.mu.hints[i] = 0
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// takeHint returns and clears a level's hint.
func (s *scheduler) takeHint(level int) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.mu.hints[level]
	s.mu.hints[level] = noneDue
	return h
}

// run is the scheduler goroutine, started by Broker.Start and stopped by ctx
// (Broker.Close persists the offsets after it returns). It owns next.
func (s *scheduler) run(ctx context.Context) {
	for i := range s.next {
		s.next[i] = 0 // unknown: look at every level once
	}
	flush := s.clk.NewTicker(s.flushEvery)
	defer flush.Stop()
	for {
		now := s.clk.Now().UnixMilli()
		earliest := noneDue
		for lvl := range s.delays {
			s.next[lvl] = min(s.next[lvl], s.takeHint(lvl))
			if s.next[lvl] <= now {
				s.next[lvl] = s.deliverLevel(ctx, lvl, now)
			}
			earliest = min(earliest, s.next[lvl])
		}
		if ctx.Err() != nil {
			return
		}
		if earliest == noneDue {
			if !s.wait(ctx, nil, flush) {
				return
			}
			continue
		}
		d := time.UnixMilli(earliest).Sub(s.clk.Now())
		if d <= 0 {
			continue
		}
		t := s.clk.NewTimer(d)
		ok := s.wait(ctx, t.C(), flush)
		t.Stop()
		if !ok {
			return
		}
	}
}

// wait blocks until timeout fires, a wake-up, or ctx ends (false). A flush tick
// persists the offsets if they changed and keeps waiting.
func (s *scheduler) wait(ctx context.Context, timeout <-chan time.Time, flush clock.Ticker) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-timeout:
			return true
		case <-s.wake:
			return true
		case <-flush.C():
			s.mu.Lock()
			dirty := s.mu.dirty
			s.mu.Unlock()
			if dirty {
				if err := s.persist(); err != nil {
					s.log.Error("delay: persist delay offsets", "err", err)
				}
			}
		}
	}
}

// tagsCapture is a store.MessageFilter that accepts everything and records the
// tags code (the delivery time) of every record it returns, in order.
type tagsCapture struct {
	last  int64
	codes []int64
}

func (f *tagsCapture) MatchTagsCode(code int64) bool { f.last = code; return true }
func (f *tagsCapture) MatchRecord([]byte) bool       { f.codes = append(f.codes, f.last); return true }

// deliverLevel re-puts the due entries at the head of one level's queue and
// returns the delivery time of the first entry that is not due yet, now when
// it should be called again at once, or noneDue when the level is caught up.
func (s *scheduler) deliverLevel(ctx context.Context, lvl int, now int64) int64 {
	off := s.offset(lvl)
	f := &tagsCapture{}
	res, err := s.st.GetMessages(ctx, scheduleGroup, meta.TopicSchedule, int32(lvl), message.QueueOffset(off),
		scheduleBatch, f, nil)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, store.ErrClosed) {
			return noneDue
		}
		s.log.Error("delay: read delayed messages", "level", lvl+1, "offset", off, "err", err)
		return now + scheduleRetryBackoff.Milliseconds()
	}
	switch res.Status {
	case store.GetFound:
	case store.GetOffsetTooSmall, store.GetOffsetOverflowBadly, store.GetOffsetFoundNull,
		store.GetMessageWasRemoving, store.GetNoMatchedMessage:
		if next := int64(res.NextBeginOffset); next != off {
			s.log.Warn("delay: delay level offset moved", "level", lvl+1, "from", off, "to", next,
				"status", int(res.Status))
			s.setOffset(lvl, next)
			return now
		}
		return noneDue
	default: // no queue, empty queue, or caught up
		return noneDue
	}

	var (
		body   = res.Body
		q      = store.NewCompletions()
		puts   int
		head   = noneDue
		stopAt = int64(res.NextBeginOffset)
	)
	for i := 0; len(body) > 0 && i < len(f.codes); i++ {
		m, n, err := message.DecodeMessage(body)
		if err != nil {
			s.log.Error("delay: malformed delayed message; skipping the rest of the batch", "level", lvl+1, "err", err)
			return now + scheduleRetryBackoff.Milliseconds()
		}
		body = body[n:]
		if f.codes[i] > now {
			head, stopAt = f.codes[i], int64(m.QueueOffset)
			break
		}
		qo := int64(m.QueueOffset)
		real, ok := restoreReal(m)
		if !ok {
			s.log.Error("delay: delayed message without REAL_TOPIC/REAL_QID; dropped", "level", lvl+1, "queueOffset", qo)
			continue
		}
		s.st.Put([]*message.MessageExt{real}, q, qo)
		puts++
	}
	// Wait for every put, so none is outstanding when this returns; keep the
	// offset at the first failure: it and everything after it are put again
	// later (at least once).
	failedAt, putErr := int64(-1), error(nil)
	for range puts {
		c, _ := q.Next(context.Background()) // the store completes every put, even when closing
		qo := c.Tag.(int64)
		switch {
		case c.Err == nil:
		case errors.Is(c.Err, store.ErrMessageTooLarge) || errors.Is(c.Err, store.ErrBadMessage):
			s.log.Error("delay: delayed message cannot be stored; dropped", "level", lvl+1,
				"queueOffset", qo, "err", c.Err)
		case failedAt < 0 || qo < failedAt:
			failedAt, putErr = qo, c.Err
		}
	}
	if failedAt >= 0 {
		s.setOffset(lvl, failedAt)
		if !errors.Is(putErr, store.ErrClosed) {
			s.log.Error("delay: re-put delayed message", "level", lvl+1, "queueOffset", failedAt, "err", putErr)
		}
		return now + scheduleRetryBackoff.Milliseconds()
	}
	s.setOffset(lvl, stopAt)
	if head != noneDue {
		return head
	}
	return now
}

// restoreReal builds the message to deliver from a parked one: its real topic
// and queue from REAL_TOPIC / REAL_QID, DELAY and the timer properties removed,
// everything else (body, flag, other properties incl. UNIQ_KEY, sysFlag, born
// and store host, born time, reconsume times) kept. The store recomputes the
// tags code from TAGS.
func restoreReal(m *message.MessageExt) (*message.MessageExt, bool) {
	topic := m.Properties[message.PropertyRealTopic]
	qid, err := strconv.ParseInt(m.Properties[message.PropertyRealQueueID], 10, 32)
	if topic == "" || err != nil || qid < 0 {
		return nil, false
	}
	props := m.Properties
	for _, k := range parkedProperties {
		delete(props, k)
	}
	return &message.MessageExt{
		Message:                   message.Message{Topic: topic, Flag: m.Flag, Properties: props, Body: m.Body},
		QueueID:                   int32(qid),
		SysFlag:                   m.SysFlag,
		BornTimestamp:             m.BornTimestamp,
		BornHost:                  m.BornHost,
		StoreHost:                 m.StoreHost,
		ReconsumeTimes:            m.ReconsumeTimes,
		PreparedTransactionOffset: m.PreparedTransactionOffset,
	}, true
}

// parkedProperties are removed when a parked message is delivered. The
// de-dup marker goes too: a delivered copy is not a send
// (docs/design/dedup.md).
var parkedProperties = []string{
	message.PropertyDelayTimeLevel, message.PropertyRealTopic, message.PropertyRealQueueID,
	message.PropertyTimerDeliverMS, propertyTimerDelaySec, propertyTimerDelayMS, propertyStartDeliverTime,
	message.PropertyDedupGroup,
}
