package metrics

import (
	"sync"
	"sync/atomic"
)

// table is one metric's series, keyed by its label values. get makes a series
// on its first use, up to limit series; beyond that it returns nil and counts
// the dropped event.
type table[K comparable, V any] struct {
	mu      sync.RWMutex
	m       map[K]*V
	limit   int
	dropped atomic.Int64
}

func newTable[K comparable, V any](limit int) *table[K, V] {
	return &table[K, V]{m: map[K]*V{}, limit: limit}
}

// get returns k's series, or nil (and counts a drop) when the table is full.
// The common case is a read-locked lookup that does not allocate.
func (t *table[K, V]) get(k K) *V {
	t.mu.RLock()
	v := t.m[k]
	t.mu.RUnlock()
	if v != nil {
		return v
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if v = t.m[k]; v != nil {
		return v
	}
	if len(t.m) >= t.limit {
		t.dropped.Add(1)
		return nil
	}
	if c, ok := any(k).(interface{ clone() K }); ok {
		k = c.clone() // the table outlives the request the key's strings came from
	}
	v = new(V)
	t.m[k] = v
	return v
}

// each calls fn for every series, under the read lock (fn must not call get).
func (t *table[K, V]) each(fn func(K, *V)) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for k, v := range t.m {
		fn(k, v)
	}
}

// remove drops the series for which drop reports true (a deleted topic or group).
func (t *table[K, V]) remove(drop func(K) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.m {
		if drop(k) {
			delete(t.m, k)
		}
	}
}

// hist is a fixed-bucket histogram of int64 observations, updated with atomics.
// bounds are shared (one slice per metric); counts[i] counts observations
// <= bounds[i], non-cumulatively; counts[len(bounds)] the rest.
type hist struct {
	counts [maxBuckets + 1]atomic.Uint64
	sum    atomic.Int64
}

const maxBuckets = 16

func (h *hist) observe(bounds []int64, v int64) {
	i := 0
	for i < len(bounds) && v > bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(v)
}

// snapshot returns the cumulative bucket counts (keyed by upper bound divided
// by div), the sum (divided by div) and the count, as Prometheus wants them.
func (h *hist) snapshot(bounds []int64, div float64) (map[float64]uint64, float64, uint64) {
	buckets := make(map[float64]uint64, len(bounds))
	var cum uint64
	for i, b := range bounds {
		cum += h.counts[i].Load()
		buckets[float64(b)/div] = cum
	}
	n := cum + h.counts[len(bounds)].Load()
	return buckets, float64(h.sum.Load()) / div, n
}
