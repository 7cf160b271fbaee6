package commitlog

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"syscall"
	"time"

	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/message"
)

// writeLoop is the writer goroutine, started by Start and stopped by Close. It
// owns the segment files' write side: it takes the write buffer (swapping in a
// spare, so appends continue), writes it with WriteAt, creates and preallocates
// segments, fsyncs a segment before writing into the next one, and publishes
// MaxOffset. On stop it drains the buffer first.
func (l *Log) writeLoop() {
	for {
		select {
		case <-l.writeWake:
			l.writeOnce()
		case r := <-l.raw.truncCh:
			l.writeOnce()
			r.done <- l.truncate(r)
		case <-l.stopWriter:
			l.writeOnce()
			if l.wseg != nil {
				_ = l.wseg.release()
				l.wseg = nil
			}
			close(l.writerDone)
			return
		}
	}
}

func (l *Log) writeOnce() {
	l.mu.Lock()
	buf, spans := l.mu.buf, l.mu.spans
	l.mu.buf, l.mu.spans = l.spare[:0], l.spareSpans[:0]
	l.releaseSpaceLocked()
	failed := l.mu.err != nil
	l.mu.Unlock()
	defer func() { l.spare, l.spareSpans = buf[:0], spans[:0] }()
	if failed {
		return // after a failure, appended bytes are dropped: the log is read-only
	}
	if len(spans) > 0 {
		for _, sp := range spans {
			if err := l.writeSpan(sp.off, buf[sp.start:sp.end]); err != nil {
				l.fail(err)
				return
			}
			l.written.Store(int64(sp.off) + int64(sp.end-sp.start))
		}
		l.completeWritten(nil)
		if l.cfg.OnWritten != nil {
			l.cfg.OnWritten(message.PhysOffset(l.written.Load()))
		}
		if l.nwait.Load() > 0 {
			l.wakeFlusher()
		}
	}
	if err := l.allocate(); err != nil {
		l.fail(err)
	}
}

// writeSpan writes data at off, which lies within one segment.
func (l *Log) writeSpan(off message.PhysOffset, data []byte) error {
	size := message.PhysOffset(l.cfg.SegmentSize)
	base := off - off%size
	if l.wseg == nil || l.wseg.base != base {
		if l.wseg != nil {
			// Make the finished segment durable before anything lands in the next:
			// recovery relies on it (valid data in a later segment means every
			// earlier one is complete).
			if err := l.syncSegment(l.wseg, l.wseg.base+size, l.raw.gen.Load()); err != nil {
				return err
			}
			_ = l.wseg.release()
			l.wseg = nil
		}
		s, err := l.segmentForWrite(base)
		if err != nil {
			return err
		}
		l.wseg = s
	}
	for len(data) > 0 {
		n := min(len(data), maxWriteChunk)
		if _, err := l.wseg.f.WriteAt(data[:n], int64(off-base)); err != nil {
			return fmt.Errorf("commitlog: write %s at %d: %w", l.wseg.path, off-base, err)
		}
		data, off = data[n:], off+message.PhysOffset(n)
	}
	return nil
}

// maxWriteChunk bounds one pwrite of the writer. The writer takes up to the
// whole write buffer (16 MiB by default) at once; writing that with one pwrite
// made async appends of 16 KiB records 3-4x slower in about half of the runs
// on the benchmark VM (the pwrite copied at ~300 MB/s instead of ~3 GB/s),
// while pwrites of at most 1 MiB ran at the speed of a plain file written
// record by record. See docs/perf.md, CommitLog.
const maxWriteChunk = 1 << 20

// advanceSynced raises synced to off (never lowers it).
func (l *Log) advanceSynced(off message.PhysOffset) {
	for {
		cur := l.synced.Load()
		if int64(off) <= cur || l.synced.CompareAndSwap(cur, int64(off)) {
			return
		}
	}
}

// segmentForWrite returns the segment at base with a reference for the caller,
// creating it if needed.
func (l *Log) segmentForWrite(base message.PhysOffset) (*segment, error) {
	if s := l.lookup(base); s != nil {
		return s, nil
	}
	if err := l.createSegment(base); err != nil {
		return nil, err
	}
	if s := l.lookup(base); s != nil {
		return s, nil
	}
	return nil, fmt.Errorf("commitlog: segment %s vanished", SegmentName(base))
}

// allocError is a failed segment allocation that leaves the log writable: the
// file could not be created or its space reserved (no space, no file
// descriptor). Nothing was written, so nothing is lost and trying again later
// is safe.
type allocError struct{ err error }

func (e *allocError) Error() string { return e.err.Error() }
func (e *allocError) Unwrap() error { return e.err }

// transientAlloc reports whether err, from creating or reserving a segment
// file, may go away by itself: ENOSPC and EDQUOT (space is freed) or EMFILE
// and ENFILE (descriptors are closed).
func transientAlloc(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// createSegment creates, preallocates and durably links the segment at base.
// Only the writer goroutine creates segments. When the FS reports disk space,
// a segment is created only if the space an unprivileged process may still
// use holds it, so a filesystem that cannot preallocate does not run out of
// space in the middle of a segment either. Failures that leave nothing behind
// and may go away (see transientAlloc) are returned as *allocError.
func (l *Log) createSegment(base message.PhysOffset) error {
	path := l.segPath(base)
	if du, ok := l.fs.(vfs.DiskUsage); ok {
		if sp, err := du.Space(l.cfg.Dir); err == nil && sp.Avail < uint64(l.cfg.SegmentSize) {
			return &allocError{fmt.Errorf("commitlog: create segment %s: %d bytes available, segment needs %d: %w",
				path, sp.Avail, l.cfg.SegmentSize, syscall.ENOSPC)}
		}
	}
	f, err := l.fs.Create(path)
	if err != nil {
		err = fmt.Errorf("commitlog: create segment %s: %w", path, err)
		if transientAlloc(err) {
			_ = l.fs.Remove(path)
			return &allocError{err}
		}
		return err
	}
	if p, ok := f.(vfs.Preallocator); ok {
		if err := p.Preallocate(0, l.cfg.SegmentSize); err != nil {
			f.Close()
			_ = l.fs.Remove(path)
			err = fmt.Errorf("commitlog: preallocate segment %s: %w", path, err)
			if transientAlloc(err) {
				return &allocError{err}
			}
			return err
		}
	}
	if err := vfs.SyncDir(l.fs, l.cfg.Dir); err != nil {
		f.Close()
		return fmt.Errorf("commitlog: %w", err)
	}
	s := newSegment(base, path, f)
	l.segMu.Lock()
	l.segs = append(l.segs, s)
	sort.Slice(l.segs, func(i, j int) bool { return l.segs[i].base < l.segs[j].base })
	l.segMu.Unlock()
	l.mu.Lock()
	l.mu.allocEnd = max(l.mu.allocEnd, base+message.PhysOffset(l.cfg.SegmentSize))
	l.mu.Unlock()
	return nil
}

// allocate runs on the writer after each write: it creates the segment after
// the newest one ahead of need, once the newest is half written, or at once
// when an append waits for it, so a roll never waits for file creation and
// preallocation and no record is ever placed in space that is not reserved.
// A failed allocation that may go away (an *allocError) leaves the log
// writable: it is recorded (appends that need the segment fail with
// ErrNoSegment), logged once, and tried again every allocRetryInterval (a
// timer wakes the writer; an append that needs it wakes it too), whether or
// not anything is appended meanwhile. Any other
// failure is returned, and the caller makes the log read-only.
func (l *Log) allocate() error {
	size := message.PhysOffset(l.cfg.SegmentSize)
	l.mu.Lock()
	base, want, failing := l.mu.allocEnd, l.mu.wantAlloc, l.mu.allocErr != nil
	l.mu.Unlock()
	if !want && !failing && message.PhysOffset(l.written.Load()) < base-size/2 {
		return nil
	}
	now := l.cfg.Clock.Now()
	if failing && now.Before(l.allocRetry) {
		return nil
	}
	var err error
	if s := l.lookup(base); s != nil {
		_ = s.release() // already there (never expected: segments are made here)
		l.mu.Lock()
		l.mu.allocEnd = max(l.mu.allocEnd, base+size)
		l.mu.Unlock()
	} else {
		err = l.createSegment(base)
	}
	var ae *allocError
	transient := errors.As(err, &ae)
	l.mu.Lock()
	l.mu.wantAlloc = false
	switch {
	case err == nil:
		l.mu.allocErr = nil
	case transient:
		l.mu.allocErr = ae.err
		l.allocRetry = now.Add(allocRetryInterval)
	}
	l.releaseSpaceLocked() // waiting appends see the segment, or the failure
	l.mu.Unlock()
	if transient {
		// Try again even if nothing is appended meanwhile, so the failure
		// (and the store's degraded state) clears once space is back.
		l.cfg.Clock.AfterFunc(allocRetryInterval, l.wakeWriter)
	}
	switch {
	case err == nil && failing:
		l.log.Info("commit log can allocate segments again; accepting appends", "segment", SegmentName(base))
	case transient && !failing:
		l.log.Error("commit log cannot allocate its next segment; appends that need it are refused until it can",
			"segment", SegmentName(base), "err", err)
	}
	if l.cfg.OnAllocated != nil {
		l.cfg.OnAllocated(base, err)
	}
	if transient {
		return nil
	}
	return err
}

// lookup returns the segment holding off with a reference, or nil.
func (l *Log) lookup(off message.PhysOffset) *segment {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > off }) - 1
	if i < 0 || off-l.segs[i].base >= message.PhysOffset(l.cfg.SegmentSize) {
		return nil
	}
	s := l.segs[i]
	s.acquire()
	return s
}

// syncSegment fsyncs s and, if that succeeds and the log has not failed,
// raises synced to upTo, unless a Truncate or Reset ran since the caller read
// gen (the log's raw.gen) before choosing s and upTo. It holds syncMu throughout and records a failure as the
// sticky error before releasing it: after a failed fsync the kernel may have
// dropped the dirty pages and report the next fsync of the file as successful,
// so no fsync after a failure may count. The caller fails the log on error.
func (l *Log) syncSegment(s *segment, upTo message.PhysOffset, gen uint64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if err := l.Err(); err != nil {
		return err
	}
	if err := vfs.SyncData(s.f); err != nil {
		err = fmt.Errorf("commitlog: sync %s: %w", s.path, err)
		l.setSticky(err)
		return err
	}
	if l.raw.gen.Load() == gen {
		l.advanceSynced(upTo)
	}
	return nil
}

// waiter is one request to be told when data up to upTo is durable.
type waiter struct {
	upTo     message.PhysOffset
	deadline int64 // Clock time in ns after which it gets ErrFlushTimeout
	done     func(error)
}

// SyncAsync asks for everything below upTo to be made durable and calls done
// exactly once: with nil when it is, with ErrFlushTimeout after
// Config.FlushTimeout, with the sticky error after an I/O failure, or ErrClosed
// when the log closes first. done may run on the caller's goroutine (if upTo is
// already durable or the log has failed), on the flusher goroutine, or on a timer
// goroutine; it must be quick and must not block. No goroutine is parked and no
// timer is started per request: one fsync completes every waiter it covers
// (group commit), and one timer, armed for the oldest waiter, enforces the
// timeout (waiters share it, so their deadlines come in arrival order).
func (l *Log) SyncAsync(upTo message.PhysOffset, done func(error)) {
	if message.PhysOffset(l.synced.Load()) >= upTo {
		done(nil)
		return
	}
	l.mu.Lock()
	err, closed := l.mu.err, l.mu.closed
	l.mu.Unlock()
	switch {
	case err != nil:
		done(err)
		return
	case closed:
		done(ErrClosed)
		return
	}
	for {
		cur := l.maxWait.Load()
		if int64(upTo) <= cur || l.maxWait.CompareAndSwap(cur, int64(upTo)) {
			break
		}
	}
	l.fmu.Lock()
	deadline := l.cfg.Clock.Now().Add(l.cfg.FlushTimeout).UnixNano()
	l.waiters = append(l.waiters, waiter{upTo: upTo, deadline: deadline, done: done})
	n := int32(len(l.waiters))
	l.nwait.Store(n)
	if !l.ftimerOn {
		l.armTimerLocked(l.cfg.FlushTimeout)
	}
	l.fmu.Unlock()
	// Re-check after queueing: a failure or close between the check above and
	// the queueing would otherwise leave the waiter to the timer.
	l.mu.Lock()
	err, closed = l.mu.err, l.mu.closed
	l.mu.Unlock()
	if err != nil {
		l.completeWaiters(err, true)
	} else if closed {
		l.completeWaiters(ErrClosed, true)
	}
	// The flusher needs waking for the first waiter and once as many are queued
	// as it is gathering for; in between, the writer wakes it as data lands.
	if n == 1 || n >= l.gatherWant.Load() {
		l.wakeFlusher()
	}
}

// armTimerLocked schedules the timeout timer in d. fmu is held.
func (l *Log) armTimerLocked(d time.Duration) {
	l.ftimerOn = true
	if l.ftimer == nil {
		l.ftimer = l.cfg.Clock.AfterFunc(d, l.expireWaiters)
		return
	}
	l.ftimer.Reset(d)
}

// expireWaiters runs on the timeout timer: it completes the waiters whose
// deadline has passed with ErrFlushTimeout (nil if their data became durable
// meanwhile) and re-arms the timer for the oldest remaining one.
func (l *Log) expireWaiters() {
	synced := message.PhysOffset(l.synced.Load())
	now := l.cfg.Clock.Now().UnixNano()
	l.fmu.Lock()
	l.ftimerOn = false
	var ready []waiter
	keep := l.waiters[:0]
	for _, w := range l.waiters {
		if w.upTo <= synced || w.deadline <= now {
			ready = append(ready, w)
		} else {
			keep = append(keep, w)
		}
	}
	clear(l.waiters[len(keep):])
	l.waiters = keep
	l.nwait.Store(int32(len(keep)))
	if len(keep) > 0 && !l.closedForTimer() {
		l.armTimerLocked(time.Duration(keep[0].deadline - now))
	}
	l.fmu.Unlock()
	for _, w := range ready {
		if w.upTo <= synced {
			w.done(nil)
		} else {
			w.done(ErrFlushTimeout)
		}
	}
}

// closedForTimer reports whether Close has begun; the timer is not re-armed
// then (Close completes every waiter itself).
func (l *Log) closedForTimer() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.closed
}

// Sync blocks until everything below upTo is durable, ctx ends, or SyncAsync
// would report an error; it returns that error (or ctx.Err()).
func (l *Log) Sync(ctx context.Context, upTo message.PhysOffset) error {
	ch := make(chan error, 1)
	l.SyncAsync(upTo, func(err error) { ch <- err })
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// completeWaiters completes the waiters covered by the synced offset with nil; if
// all, it completes the rest with err. It returns how many it completed and how
// many are left.
func (l *Log) completeWaiters(err error, all bool) (completed, left int) {
	synced := message.PhysOffset(l.synced.Load())
	l.fmu.Lock()
	var ready []waiter
	keep := l.waiters[:0]
	for _, w := range l.waiters {
		if w.upTo <= synced || all {
			ready = append(ready, w)
		} else {
			keep = append(keep, w)
		}
	}
	clear(l.waiters[len(keep):])
	l.waiters = keep
	l.nwait.Store(int32(len(keep)))
	l.fmu.Unlock()
	for _, w := range ready {
		if w.upTo <= synced {
			w.done(nil)
		} else {
			w.done(err)
		}
	}
	return len(ready), len(keep)
}

// flushLoop is the flusher goroutine, started by Start and stopped by Close. It
// is the only caller of fsync besides the writer's fsync at a segment roll. It
// serves waiters (group commit: one fsync covers every waiter whose data was
// written when the fsync began) and, in FlushAsync mode, flushes on a timer:
// every FlushInterval if at least FlushLeastPages pages are dirty, and whatever
// is dirty once ThoroughFlushInterval has passed since the last flush. On stop it
// flushes everything written.
//
// Gathering: n concurrent writers that each wait for their own durability would,
// if every fsync started as soon as a waiter's data was written, split into two
// groups that alternate (one waits while the other's fsync runs), so each fsync
// would cover about n/2 of them. Instead, before an fsync for waiters, the
// flusher waits until as many waiters are queued as the previous fsync completed
// plus those it left queued (the writers' concurrency), and their data is
// written, but at most as long as the previous fsync took: a gather longer than
// an fsync would cost more than the fsync it saves. With one writer, or with a
// clock that does not advance (tests), it does not wait.
func (l *Log) flushLoop() {
	var tick <-chan time.Time
	if l.cfg.FlushMode == FlushAsync {
		t := l.cfg.Clock.NewTicker(l.cfg.FlushInterval)
		defer t.Stop()
		tick = t.C()
	}
	// The gather budget is real time, not the Log's clock: it bounds how long
	// the flusher waits for a group to form, which only real time can (a manual
	// test clock never moves on its own, and a gather on it would wait forever
	// for waiters that are not coming).
	var gt *time.Timer
	defer func() {
		if gt != nil {
			gt.Stop()
		}
	}()
	lastFlush := l.cfg.Clock.Now()
	var lastSync time.Duration // how long the last fsync for waiters took
	for {
		force, waiters := false, false
		select {
		case <-l.syncWake:
			force, waiters = true, true
		case <-tick:
			dirty := l.written.Load() - l.synced.Load()
			thorough := l.cfg.Clock.Now().Sub(lastFlush) >= l.cfg.ThoroughFlushInterval
			force = dirty >= int64(l.cfg.FlushLeastPages)*pageSize || (thorough && dirty > 0)
		case <-l.stopFlusher:
			// Close stops the flusher only after the writer drained the buffer.
			l.flush()
			return
		}
		if !force {
			continue
		}
		if waiters && lastSync > 0 {
			gt = l.gather(gt, lastSync)
		}
		start := time.Now()
		synced, completed, left := l.flush()
		if synced {
			if l.cfg.OnFlush != nil {
				l.cfg.OnFlush(time.Since(start), completed)
			}
			lastFlush = l.cfg.Clock.Now()
			if waiters {
				lastSync = time.Since(start)
			}
		}
		if completed > 0 {
			l.gatherWant.Store(int32(completed + left))
		}
		if left > 0 && l.written.Load() > l.synced.Load() {
			// Waiters queued during the fsync may have had their wake-up
			// absorbed; their data is written, so go again. (If it is not, the
			// writer wakes the flusher once it is.)
			l.wakeFlusher()
		}
	}
}

// gather waits, for at most limit, until gatherWant waiters are queued and their
// data is written; see flushLoop. It returns the (reusable) timer it used.
func (l *Log) gather(gt *time.Timer, limit time.Duration) *time.Timer {
	want := l.gatherWant.Load()
	ready := func() bool {
		n := l.nwait.Load()
		return n == 0 || (n >= want && l.written.Load() >= l.maxWait.Load())
	}
	if want <= 1 || ready() {
		return gt
	}
	if gt == nil {
		gt = time.NewTimer(limit)
	} else {
		gt.Reset(limit)
	}
	defer gt.Stop()
	for !ready() {
		select {
		case <-l.syncWake:
		case <-gt.C:
			return gt
		case <-l.stopFlusher: // closed: stays readable for flushLoop
			return gt
		}
	}
	return gt
}

// flush fsyncs written data not yet synced and completes the waiters it covers.
// It reports whether it synced anything, and how many waiters it completed and
// left queued.
func (l *Log) flush() (synced bool, completed, left int) {
	if l.Err() != nil {
		return false, 0, 0
	}
	gen := l.raw.gen.Load() // before target: see syncSegment
	target := message.PhysOffset(l.written.Load())
	if target <= message.PhysOffset(l.synced.Load()) {
		completed, left = l.completeWaiters(nil, false)
		return false, completed, left
	}
	// Earlier segments were fsynced by the writer before it moved on, so the
	// segment holding the last written byte is the only one with dirty data.
	s := l.lookup(target - 1)
	if s == nil && l.raw.gen.Load() != gen {
		return false, 0, 0 // a Truncate or Reset removed it meanwhile
	}
	if s == nil {
		// Retention never removes a segment that is not durable, so this is a
		// broken invariant; never count unsynced data as synced.
		l.fail(fmt.Errorf("commitlog: no segment holds written offset %d", target-1))
		return false, 0, 0
	}
	err := l.syncSegment(s, target, gen)
	_ = s.release()
	if err != nil {
		l.fail(err)
		return false, 0, 0
	}
	completed, left = l.completeWaiters(nil, false)
	return true, completed, left
}
