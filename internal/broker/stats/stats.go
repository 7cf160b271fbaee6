package stats

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// SampleInterval is how often the broker samples every rate.
	SampleInterval = 10 * time.Second
	samples        = 61 // 10 min of 10 s samples, plus the current one
	// LongInterval is the spacing of the long ring, which keeps a day and
	// a bit for VIEW_BROKER_STATS_DATA's hour and day windows.
	LongInterval = 10 * time.Minute
	longSamples  = 6*24 + 2
)

// TPSWindows are RocketMQ's three windows, in the order its strings list them.
var TPSWindows = [3]time.Duration{10 * time.Second, time.Minute, 10 * time.Minute}

type sample struct {
	at    time.Time
	total int64
}

// Rate counts events and answers events per second over a past window.
type Rate struct {
	total atomic.Int64

	mu   sync.Mutex
	ring [samples]sample
	next int // ring index the next sample goes to
	n    int // samples held
	// long keeps one sample per LongInterval, for windows past 10 min.
	long      [longSamples]sample
	lnext, ln int
}

func (r *Rate) Add(n int64) { r.total.Add(n) }

// Set replaces the total (for counters kept elsewhere, such as the store's
// put count).
func (r *Rate) Set(total int64) { r.total.Store(total) }

// sample records the current total at now.
func (r *Rate) sample(now time.Time) {
	t := r.total.Load()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ring[r.next] = sample{at: now, total: t}
	r.next = (r.next + 1) % samples
	r.n = min(r.n+1, samples)
	if r.ln == 0 || !now.Before(r.long[(r.lnext-1+longSamples)%longSamples].at.Add(LongInterval)) {
		r.long[r.lnext] = sample{at: now, total: t}
		r.lnext = (r.lnext + 1) % longSamples
		r.ln = min(r.ln+1, longSamples)
	}
}

// Window is a Rate's count over a past window and its events per second
// (VIEW_BROKER_STATS_DATA's statsMinute, statsHour and statsDay).
type Window struct {
	Sum int64
	TPS float64
}

// Window returns the count over the window that ends at now, measured from
// the newest sample at least window old (the 10 s ring for windows up to
// 10 min, the long ring beyond), else from the oldest sample: before a
// window has passed since the Rate's first sample, the count since then. A
// total that went down (a deleted and recreated topic) counts from zero.
func (r *Rate) Window(now time.Time, window time.Duration) Window {
	t := r.total.Load()
	r.mu.Lock()
	defer r.mu.Unlock()
	ring, next, n, size := r.ring[:], r.next, r.n, samples
	if window > time.Duration(samples-1)*SampleInterval {
		ring, next, n, size = r.long[:], r.lnext, r.ln, longSamples
	}
	if n == 0 {
		return Window{}
	}
	from := ring[(next-n+size)%size]
	for i := 1; i <= n; i++ {
		s := ring[(next-i+size)%size]
		if !s.at.After(now.Add(-window)) {
			from = s
			break
		}
	}
	sum := max(t-from.total, 0)
	secs := max(now.Sub(from.at), SampleInterval).Seconds()
	return Window{Sum: sum, TPS: float64(sum) / secs}
}

// perSecond is the Rate over the window that ends at now: measured from the
// newest sample at least window old, else from the oldest sample; 0 without
// samples. It never divides by less than one sample interval, so a burst
// right after the first sample (a group's first pull) is not reported as a
// huge Rate.
func (r *Rate) PerSecond(now time.Time, window time.Duration) float64 {
	t := r.total.Load()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == 0 {
		return 0
	}
	from := r.ring[(r.next-r.n+samples)%samples] // oldest
	for i := 1; i <= r.n; i++ {                  // newest first
		s := r.ring[(r.next-i+samples)%samples]
		if !s.at.After(now.Add(-window)) {
			from = s
			break
		}
	}
	secs := max(now.Sub(from.at), SampleInterval).Seconds()
	return float64(t-from.total) / secs
}

// tps formats the three windows as RocketMQ does ("1.50 0.25 0.03").
func (r *Rate) TPS(now time.Time) string {
	var b []byte
	for i, w := range TPSWindows {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendFloat(b, r.PerSecond(now, w), 'f', 2, 64)
	}
	return string(b)
}

// Broker holds the broker's rates. Put counts come from the store's own
// counter, copied in at each sample and query.
type Broker struct {
	Put, GetFound, GetMiss, GetTransferred Rate

	mu        sync.RWMutex
	groupGets map[string]*Rate // "topic@group" -> messages pulled
	topicPuts map[string]*Rate // topic -> messages stored (the sum of its queues' max offsets)
	seeded    bool             // SampleTopics ran once: later topics count from 0
}

func NewBroker() *Broker {
	return &Broker{groupGets: map[string]*Rate{}, topicPuts: map[string]*Rate{}}
}

// SampleTopics records each topic's stored-message total (the sum of its
// queues' max offsets) at now; topics not listed are forgotten. Call it
// after SampleAll, at every sample. The first call (at the broker's start)
// takes each total as the topic's baseline; a topic that appears later
// counts from zero, as every message in it arrived since.
func (s *Broker) SampleTopics(now time.Time, totals map[string]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.topicPuts {
		if _, ok := totals[t]; !ok {
			delete(s.topicPuts, t)
		}
	}
	for t, n := range totals {
		r := s.topicRateLocked(t, now)
		r.Set(n)
		r.sample(now)
	}
	s.seeded = true
}

func (s *Broker) topicRateLocked(topic string, now time.Time) *Rate {
	r := s.topicPuts[topic]
	if r == nil {
		r = &Rate{}
		if s.seeded {
			r.sample(now) // baseline 0
		}
		s.topicPuts[topic] = r
	}
	return r
}

// TopicPuts returns the Rate of messages stored in topic with its total set
// to total (the topic's current stored count), making it if needed.
func (s *Broker) TopicPuts(topic string, total int64, now time.Time) *Rate {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.topicRateLocked(topic, now)
	r.Set(total)
	return r
}

// GroupGets returns the Rate of messages group pulled from topic, or nil
// if it never pulled it.
func (s *Broker) GroupGets(topic, group string) *Rate {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.groupGets[topic+"@"+group]
}

// pulled counts one pull answer: found (with n messages) or not.
func (s *Broker) Pulled(topic, group string, found bool, n int, now time.Time) {
	if !found {
		s.GetMiss.Add(1)
		return
	}
	s.GetFound.Add(1)
	s.GetTransferred.Add(int64(n))
	s.groupRate(topic+"@"+group, now).Add(int64(n))
}

// groupRate returns the Rate of key, making it (with a first sample at now,
// so that its Rate counts from its first pull) if needed.
func (s *Broker) groupRate(key string, now time.Time) *Rate {
	s.mu.RLock()
	r := s.groupGets[key]
	s.mu.RUnlock()
	if r != nil {
		return r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r = s.groupGets[key]; r == nil {
		r = &Rate{}
		r.sample(now)
		s.groupGets[key] = r
	}
	return r
}

// consumeTps is the group's pull Rate on topic over the last minute
// (RocketMQ's consumeTps), 0 if it never pulled it.
func (s *Broker) ConsumeTPS(topic, group string, now time.Time) float64 {
	s.mu.RLock()
	r := s.groupGets[topic+"@"+group]
	s.mu.RUnlock()
	if r == nil {
		return 0
	}
	return r.PerSecond(now, time.Minute)
}

// sampleAll records every Rate's total at now.
func (s *Broker) SampleAll(now time.Time, putTotal int64) {
	s.Put.total.Store(putTotal)
	for _, r := range []*Rate{&s.Put, &s.GetFound, &s.GetMiss, &s.GetTransferred} {
		r.sample(now)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, r := range s.groupGets {
		r.sample(now)
	}
}
