package broker

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Rates for GET_BROKER_RUNTIME_INFO (putTps, getFoundTps, ...) and
// GET_CONSUME_STATS (consumeTps), as RocketMQ's brokerStatus and
// consumerProgress show them: events per second over the last 10 s, 1 min and
// 10 min. Counters are atomics bumped on the hot paths; a sampler goroutine
// records every counter's total every statsSampleInterval into a ring, and a
// rate is (total now - total at the newest sample at least the window old) /
// the time between them. Before a window has passed, the oldest sample (the
// broker's start) is used.

const (
	statsSampleInterval = 10 * time.Second
	statsSamples        = 61 // 10 min of 10 s samples, plus the current one
)

// tpsWindows are RocketMQ's three windows, in the order its strings list them.
var tpsWindows = [3]time.Duration{10 * time.Second, time.Minute, 10 * time.Minute}

type rateSample struct {
	at    time.Time
	total int64
}

// rate counts events and answers events per second over a past window.
type rate struct {
	total atomic.Int64

	mu   sync.Mutex
	ring [statsSamples]rateSample
	next int // ring index the next sample goes to
	n    int // samples held
}

func (r *rate) add(n int64) { r.total.Add(n) }

// sample records the current total at now.
func (r *rate) sample(now time.Time) {
	t := r.total.Load()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ring[r.next] = rateSample{at: now, total: t}
	r.next = (r.next + 1) % statsSamples
	r.n = min(r.n+1, statsSamples)
}

// perSecond is the rate over the window that ends at now: measured from the
// newest sample at least window old, else from the oldest sample; 0 without
// samples. It never divides by less than one sample interval, so a burst
// right after the first sample (a group's first pull) is not reported as a
// huge rate.
func (r *rate) perSecond(now time.Time, window time.Duration) float64 {
	t := r.total.Load()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == 0 {
		return 0
	}
	from := r.ring[(r.next-r.n+statsSamples)%statsSamples] // oldest
	for i := 1; i <= r.n; i++ {                            // newest first
		s := r.ring[(r.next-i+statsSamples)%statsSamples]
		if !s.at.After(now.Add(-window)) {
			from = s
			break
		}
	}
	secs := max(now.Sub(from.at), statsSampleInterval).Seconds()
	return float64(t-from.total) / secs
}

// tps formats the three windows as RocketMQ does ("1.50 0.25 0.03").
func (r *rate) tps(now time.Time) string {
	var b []byte
	for i, w := range tpsWindows {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendFloat(b, r.perSecond(now, w), 'f', 2, 64)
	}
	return string(b)
}

// brokerStats holds the broker's rates. Put counts come from the store's own
// counter, copied in at each sample and query.
type brokerStats struct {
	put, getFound, getMiss, getTransferred rate

	mu        sync.RWMutex
	groupGets map[string]*rate // "topic@group" -> messages pulled
}

func newBrokerStats() *brokerStats {
	return &brokerStats{groupGets: map[string]*rate{}}
}

// pulled counts one pull answer: found (with n messages) or not.
func (s *brokerStats) pulled(topic, group string, found bool, n int, now time.Time) {
	if !found {
		s.getMiss.add(1)
		return
	}
	s.getFound.add(1)
	s.getTransferred.add(int64(n))
	s.groupRate(topic+"@"+group, now).add(int64(n))
}

// groupRate returns the rate of key, making it (with a first sample at now,
// so that its rate counts from its first pull) if needed.
func (s *brokerStats) groupRate(key string, now time.Time) *rate {
	s.mu.RLock()
	r := s.groupGets[key]
	s.mu.RUnlock()
	if r != nil {
		return r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r = s.groupGets[key]; r == nil {
		r = &rate{}
		r.sample(now)
		s.groupGets[key] = r
	}
	return r
}

// consumeTps is the group's pull rate on topic over the last minute
// (RocketMQ's consumeTps), 0 if it never pulled it.
func (s *brokerStats) consumeTps(topic, group string, now time.Time) float64 {
	s.mu.RLock()
	r := s.groupGets[topic+"@"+group]
	s.mu.RUnlock()
	if r == nil {
		return 0
	}
	return r.perSecond(now, time.Minute)
}

// sampleAll records every rate's total at now.
func (s *brokerStats) sampleAll(now time.Time, putTotal int64) {
	s.put.total.Store(putTotal)
	for _, r := range []*rate{&s.put, &s.getFound, &s.getMiss, &s.getTransferred} {
		r.sample(now)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, r := range s.groupGets {
		r.sample(now)
	}
}

// statsSampler is the goroutine that samples the rates: started by Start,
// stopped by its ctx.
func (b *Broker) statsSampler(ctx context.Context) {
	b.every(ctx, statsSampleInterval, func() { b.stats.sampleAll(b.clk.Now(), b.store.Stats().PutCount) })
}
