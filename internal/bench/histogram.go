package bench

import (
	"math"
	"math/bits"
	"time"
)

// subBuckets is the number of buckets per power of two above it: values
// below subBuckets µs are exact, larger ones are kept within 1/subBuckets.
const subBuckets = 64

// histBuckets covers up to 2^40 µs (about 12 days).
const histBuckets = subBuckets * 36

// Histogram counts latencies in log-linear buckets of microseconds. The zero
// value is empty and ready. It is not safe for concurrent use.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    uint64 // µs
	max    uint64 // µs
}

func bucketOf(us uint64) int {
	if us < subBuckets {
		return int(us)
	}
	shift := bits.Len64(us) - 7 // us>>shift is in [64, 128)
	i := subBuckets*(shift+1) + int(us>>uint(shift)) - subBuckets
	return min(i, histBuckets-1)
}

// upperOf returns the largest value that falls in bucket i.
func upperOf(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	shift := i/subBuckets - 1
	base := uint64(i%subBuckets+subBuckets) << uint(shift)
	return base + (1 << uint(shift)) - 1
}

// Record adds one latency (negative ones count as 0).
func (h *Histogram) Record(d time.Duration) {
	us := uint64(max(d.Microseconds(), 0))
	h.counts[bucketOf(us)]++
	h.n++
	h.sum += us
	h.max = max(h.max, us)
}

// Merge adds o's samples to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// Reset empties h.
func (h *Histogram) Reset() { *h = Histogram{} }

// Count returns the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Quantile returns the latency at or below which a fraction q (0..1) of the
// samples fall, as the upper bound of its bucket (never above the maximum);
// 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(upperOf(i), h.max)) * time.Microsecond
		}
	}
	return time.Duration(h.max) * time.Microsecond
}

// Mean returns the average latency; 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum/h.n) * time.Microsecond
}

// Max returns the largest latency recorded.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) * time.Microsecond }
