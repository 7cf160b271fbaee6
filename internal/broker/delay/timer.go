package delay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/petrelmq/petrel/internal/broker/meta"
	"github.com/petrelmq/petrel/internal/store/timer"
	"github.com/petrelmq/petrel/pkg/clock"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/message"
)

// Properties of RocketMQ 5.x timer messages (MessageConst); TIMER_DELIVER_MS
// is message.PropertyTimerDeliverMS.
const (
	propertyTimerDelaySec    = "TIMER_DELAY_SEC"
	propertyTimerDelayMS     = "TIMER_DELAY_MS"
	propertyStartDeliverTime = "__STARTDELIVERTIME"
	propertyTimerOutMS       = "TIMER_OUT_MS"
)

// timerProperties are the properties that make a message a timer message.
var timerProperties = []string{message.PropertyTimerDeliverMS, propertyStartDeliverTime, propertyTimerDelaySec, propertyTimerDelayMS}

// timerService delivers timer messages (docs/design/timer.md). A timer
// message is parked in rmq_sys_wheel_timer queue 0; enqueueLoop reads that
// queue in order and adds (deliverAt, commit-log offset, size) to the timer
// log (internal/store/timer); deliverLoop claims the earliest bucket once it
// starts, re-puts each of its messages at its exact delivery time, and moves
// the cursor past the bucket when it ends. Both loops are started by
// Broker.Start and stopped by its lifetime context; close (from Broker.Close,
// before the store closes) writes the checkpoint.
type timerService struct {
	st         Store
	tl         *timer.Log
	clk        clock.Clock
	log        *slog.Logger
	flushEvery time.Duration
	enqWake    chan struct{} // capacity 1: new entries in the parking queue
	delWake    chan struct{} // capacity 1: new records in the timer log
}

func wakeUp(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// onDispatch is the store's dispatch listener: a parked timer message wakes
// enqueueLoop.
func (ts *timerService) onDispatch(ev store.DispatchEvent) {
	if ev.Topic == meta.TopicTimer {
		wakeUp(ts.enqWake)
	}
}

// sync writes the timer log's checkpoint (the store closes the log).
func (ts *timerService) sync() error {
	if err := ts.tl.Sync(); err != nil && !errors.Is(err, timer.ErrClosed) {
		return err
	}
	return nil
}

// enqueueLoop moves parked timer messages into the timer log and writes the
// checkpoint every flushEvery.
func (ts *timerService) enqueueLoop(ctx context.Context) {
	flush := ts.clk.NewTicker(ts.flushEvery)
	defer flush.Stop()
	for {
		more := ts.enqueueOnce(ctx)
		if more {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-ts.enqWake:
		case <-flush.C():
			if err := ts.tl.Sync(); err != nil && !errors.Is(err, timer.ErrClosed) {
				ts.log.Error("delay: timer checkpoint", "err", err)
			}
		}
	}
}

// enqueueOnce reads one batch of the parking queue into the timer log and
// reports whether there may be more.
func (ts *timerService) enqueueOnce(ctx context.Context) bool {
	off := ts.tl.EnqueueOffset()
	res, err := ts.st.GetMessages(ctx, timerGroup, meta.TopicTimer, 0, message.QueueOffset(off), scheduleBatch, nil, nil)
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, store.ErrClosed) {
			ts.log.Error("delay: read timer messages", "offset", off, "err", err)
		}
		return false
	}
	next := int64(res.NextBeginOffset)
	var recs []timer.Record
	if res.Status == store.GetFound {
		var v message.RecordView
		for b := res.Body; len(b) > 0; b = b[v.TotalSize:] {
			if err := message.ParseRecord(b, &v); err != nil {
				ts.log.Error("delay: malformed timer message", "offset", off, "err", err)
				return false
			}
			at, _ := message.LookupProperty(v.Properties, propertyTimerOutMS)
			ms, err := strconv.ParseInt(string(at), 10, 64)
			if err != nil {
				ts.log.Error("delay: timer message without TIMER_OUT_MS; delivered at once", "phys", v.PhysOffset)
			}
			recs = append(recs, timer.Record{DeliverAt: ms, Phys: v.PhysOffset, Size: v.TotalSize})
		}
	}
	if next == off && len(recs) == 0 {
		return false
	}
	if err := ts.tl.Add(recs, next); err != nil {
		if !errors.Is(err, timer.ErrClosed) {
			ts.log.Error("delay: add to timer log", "err", err)
		}
		return false
	}
	wakeUp(ts.delWake)
	return true
}

// timerGroup names the timer service's reads (the store ignores it).
const timerGroup = "TIMER_CONSUMER"

// deliverLoop delivers due buckets; see timerService.
func (ts *timerService) deliverLoop(ctx context.Context) {
	for {
		now := ts.clk.Now().UnixMilli()
		bucket, recs, next, ok, err := ts.tl.ClaimDue(now)
		if err != nil {
			if errors.Is(err, timer.ErrClosed) {
				return
			}
			ts.log.Error("delay: read timer log", "err", err)
			next = now + scheduleRetryBackoff.Milliseconds()
		}
		if ok {
			if !ts.deliverBucket(ctx, bucket, recs) {
				return
			}
			continue
		}
		if !ts.sleepUntil(ctx, next) {
			return
		}
	}
}

// sleepUntil waits until the Unix ms time at, a wake-up, or ctx's end (false).
func (ts *timerService) sleepUntil(ctx context.Context, at int64) bool {
	var c <-chan time.Time
	if at != noneDue {
		d := time.UnixMilli(at).Sub(ts.clk.Now())
		if d <= 0 {
			return ctx.Err() == nil
		}
		t := ts.clk.NewTimer(d)
		defer t.Stop()
		c = t.C()
	}
	select {
	case <-ctx.Done():
		return false
	case <-c:
	case <-ts.delWake:
	}
	return true
}

// deliverBucket re-puts every record of the claimed bucket at its delivery
// time, including those that join it late, and finishes the bucket once its
// end has passed and every put is done. It returns false if ctx ended (the
// bucket stays unfinished and is delivered again after a restart).
func (ts *timerService) deliverBucket(ctx context.Context, bucket int64, recs []timer.Record) bool {
	end := bucket + ts.tl.Precision()
	q := store.NewCompletions()
	var puts []timer.Record // tag i of q is puts[i]
	// wait collects the completion of every put issued so far; the store
	// completes each one, even while closing.
	wait := func() (failed []timer.Record) {
		for range puts {
			c, _ := q.Next(context.Background())
			r := puts[c.Tag.(int)]
			switch {
			case c.Err == nil:
			case errors.Is(c.Err, store.ErrMessageTooLarge) || errors.Is(c.Err, store.ErrBadMessage):
				ts.log.Error("delay: timer message cannot be stored; dropped", "phys", r.Phys, "err", c.Err)
			default:
				failed = append(failed, r)
				if !errors.Is(c.Err, store.ErrClosed) {
					ts.log.Error("delay: deliver timer message; retrying", "phys", r.Phys, "err", c.Err)
				}
			}
		}
		puts = puts[:0]
		return failed
	}
	for {
		if late := ts.tl.TakeLate(); len(late) > 0 {
			recs = append(recs, late...)
			slices.SortStableFunc(recs, func(a, b timer.Record) int { return cmp.Compare(a.DeliverAt, b.DeliverAt) })
		}
		now := ts.clk.Now().UnixMilli()
		i := 0
		for ; i < len(recs) && recs[i].DeliverAt <= now; i++ {
			if ts.deliver(recs[i], q, len(puts)) {
				puts = append(puts, recs[i])
			}
		}
		recs = recs[i:]
		if len(recs) == 0 && now >= end {
			failed := wait()
			if len(failed) == 0 {
				break
			}
			// Put them again after a pause; the bucket stays active (and is
			// delivered again after a restart) until they are stored.
			if !ts.sleepUntil(ctx, ts.clk.Now().Add(scheduleRetryBackoff).UnixMilli()) {
				return false
			}
			recs = failed
			continue
		}
		at := end
		if len(recs) > 0 {
			at = min(at, recs[0].DeliverAt)
		}
		if !ts.sleepUntil(ctx, at) {
			wait()
			return false
		}
	}
	ts.tl.Finish(bucket)
	return true
}

// deliver re-puts one parked message with tag on q and reports whether it
// did. A message that cannot be read (removed by retention) or has no real
// topic is logged and dropped.
func (ts *timerService) deliver(r timer.Record, q *store.Completions, tag int) bool {
	rec, err := ts.st.LookMessageByOffset(r.Phys, nil)
	if err != nil {
		ts.log.Error("delay: timer message no longer in the commit log; dropped", "phys", r.Phys, "err", err)
		return false
	}
	m, _, err := message.DecodeMessage(rec)
	if err != nil {
		ts.log.Error("delay: malformed timer message; dropped", "phys", r.Phys, "err", err)
		return false
	}
	real, ok := restoreReal(m)
	if !ok {
		ts.log.Error("delay: timer message without REAL_TOPIC/REAL_QID; dropped", "phys", r.Phys)
		return false
	}
	ts.st.Put([]*message.MessageExt{real}, q, tag)
	return true
}

// timerDeliverAt reads a message's delivery time (Unix ms) from, in order,
// TIMER_DELIVER_MS, __STARTDELIVERTIME (absolute), TIMER_DELAY_SEC or
// TIMER_DELAY_MS (relative to now). ok is false without any of them.
func timerDeliverAt(props map[string]string, now int64) (at int64, ok bool, err error) {
	for _, k := range timerProperties {
		v, found := props[k]
		if !found {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, false, fmt.Errorf("property %s=%q is not a non-negative integer", k, v)
		}
		switch k {
		case propertyTimerDelaySec:
			if n > math.MaxInt64/1000-now/1000 {
				return 0, false, fmt.Errorf("property %s=%q is out of range", k, v)
			}
			return now + n*1000, true, nil
		case propertyTimerDelayMS:
			if n > math.MaxInt64-now {
				return 0, false, fmt.Errorf("property %s=%q is out of range", k, v)
			}
			return now + n, true, nil
		}
		return n, true, nil
	}
	return 0, false, nil
}
