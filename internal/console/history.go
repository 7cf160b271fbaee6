package console

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"
)

// historyLen is how many samples the charts keep: an hour at the default
// 30 s interval.
const historyLen = 120

// Point is one sample of a series: a time (Unix ms) and a value.
type Point struct {
	T int64   `json:"t"`
	V float64 `json:"v"`
}

// history keeps the last historyLen samples of each series: the cluster's
// put and get TPS (brokers summed) and each group-topic pair's lag. Safe for
// concurrent use.
type history struct {
	mu     sync.Mutex
	series map[string][]Point
}

func (h *history) add(name string, t time.Time, v float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.series == nil {
		h.series = map[string][]Point{}
	}
	s := append(h.series[name], Point{T: t.UnixMilli(), V: v})
	if len(s) > historyLen {
		s = s[len(s)-historyLen:]
	}
	h.series[name] = s
}

// snapshot copies the series whose names start with prefix.
func (h *history) snapshot(prefix string) map[string][]Point {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string][]Point{}
	for k, v := range h.series {
		if strings.HasPrefix(k, prefix) {
			out[k] = append([]Point(nil), v...)
		}
	}
	return out
}

// sample records one point of every series. It reuses the pages' own
// computations (and their cache).
func (s *Server) sample(ctx context.Context) {
	now := time.Now()
	if v, err := s.cluster(ctx, nil); err == nil {
		var put, get float64
		for _, b := range v.(map[string]any)["brokers"].([]*Broker) {
			put += firstFloat(b.PutTPS)
			get += firstFloat(b.GetTPS)
		}
		s.hist.add("tps/put", now, put)
		s.hist.add("tps/get", now, get)
	}
	if v, err := s.groups(ctx, nil); err == nil {
		for _, g := range v.(map[string]any)["groups"].([]*GroupLag) {
			s.hist.add("lag/"+g.Group+" "+g.Topic, now, float64(g.Lag))
		}
	}
}

// firstFloat parses the first figure of RocketMQ's "10s 1min 10min" TPS string.
func firstFloat(s string) float64 {
	f, _, _ := strings.Cut(strings.TrimSpace(s), " ")
	v, _ := strconv.ParseFloat(f, 64)
	return v
}

// sampleLoop samples every SampleInterval until ctx ends. Started by Start,
// stopped by Close.
func (s *Server) sampleLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.SampleInterval)
	defer t.Stop()
	for {
		s.sampleOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) sampleOnce(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	s.sample(ctx)
}
