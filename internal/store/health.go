package store

import (
	"sort"
	"sync"
	"time"

	"github.com/petrelmq/petrel/pkg/message"
)

// Problem is one way the store is degraded right now: derived data that a
// write failed for and that is being repaired, flushes that fail, a disk too
// full to accept messages, a commit log that cannot allocate its next segment
// or is read-only. Stats lists them; an empty list means healthy.
type Problem struct {
	// What names the degraded part, for example "consumequeue TopicA/3",
	// "index", "flush", "disk", "commitlog".
	What string
	// Since is when it started, by the store's clock.
	Since time.Time
	// Err describes the latest failure and what it means for clients.
	Err string
}

// ConsumerProgress tells the store how far consumer groups have consumed, so
// that deleting unconsumed messages (a commit-log segment deleted before its
// retention time because the disk is nearly full) can be reported per group.
// The broker implements it over its consumer offsets and hands it to
// (*Store).SetConsumerProgress. Implementations must be safe for concurrent
// use and quick: the cleaner calls them once per queue of a deleted segment.
type ConsumerProgress interface {
	// CommittedOffsets returns, for every consumer group with a committed
	// offset on (topic, queueID), that offset: the next queue offset the
	// group will consume. The store does not keep or modify the map.
	CommittedOffsets(topic string, queueID int32) map[string]message.QueueOffset
}

// SetConsumerProgress installs p (nil removes it). Without it, a forced
// deletion is logged without the per-group counts. Safe to call at any time.
func (s *Store) SetConsumerProgress(p ConsumerProgress) {
	if p == nil {
		s.progress.Store(nil)
		return
	}
	s.progress.Store(&p)
}

// consumerProgress returns the installed ConsumerProgress, or nil.
func (s *Store) consumerProgress() ConsumerProgress {
	if p := s.progress.Load(); p != nil {
		return *p
	}
	return nil
}

// health is the set of current problems reported by the store's goroutines
// (the dispatcher for repairs, the flusher for flushes). Safe for concurrent
// use.
type health struct {
	mu sync.Mutex
	m  map[string]Problem
}

// set records (or updates) the problem what; Since stays that of its first
// report. It reports whether the problem is new.
func (h *health) set(what string, since time.Time, err error) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = make(map[string]Problem)
	}
	p, ok := h.m[what]
	if !ok {
		p = Problem{What: what, Since: since}
	}
	if err != nil {
		p.Err = err.Error()
	}
	h.m[what] = p
	return !ok
}

// clear removes the problem what and reports whether it was there.
func (h *health) clear(what string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.m[what]
	delete(h.m, what)
	return ok
}

// list appends the current problems to dst.
func (h *health) list(dst []Problem) []Problem {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.m {
		dst = append(dst, p)
	}
	return dst
}

// problems returns every current problem, sorted by What: those reported by
// the goroutines, plus the disk guard, the commit log's allocation failure
// and its sticky error.
func (s *Store) problems() []Problem {
	ps := s.health.list(nil)
	if s.diskFull.Load() {
		ps = append(ps, Problem{What: "disk", Since: time.UnixMilli(s.diskFullSince.Load()),
			Err: s.diskFullReason() + "; new messages are refused"})
	}
	if err := s.clog.AllocErr(); err != nil {
		ps = append(ps, Problem{What: "commitlog", Since: time.UnixMilli(s.allocFailSince.Load()),
			Err: err.Error() + "; messages that need the next segment are refused"})
	}
	if err := s.clog.Err(); err != nil {
		ps = append(ps, Problem{What: "commitlog", Err: err.Error() + "; every message is refused until a restart"})
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].What < ps[j].What })
	return ps
}
