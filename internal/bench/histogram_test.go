package bench

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHistogramBuckets(t *testing.T) {
	t.Parallel()
	// Every value falls in a bucket whose bounds contain it, and buckets are
	// ordered.
	prev := -1
	for _, us := range []uint64{0, 1, 63, 64, 65, 127, 128, 129, 1000, 4095, 4096, 1 << 20, 1<<40 - 1} {
		i := bucketOf(us)
		require.GreaterOrEqual(t, i, prev, "us %d", us)
		prev = i
		require.GreaterOrEqual(t, upperOf(i), us, "us %d", us)
		if i > 0 {
			require.Less(t, upperOf(i-1), us, "us %d", us)
		}
		// Relative width at most 1/64.
		require.LessOrEqual(t, float64(upperOf(i)-us), float64(us)/64+1, "us %d", us)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	t.Parallel()
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	var h Histogram
	var all []time.Duration
	for range 100000 {
		d := time.Duration(r.ExpFloat64()*2000) * time.Microsecond
		h.Record(d)
		all = append(all, d.Truncate(time.Microsecond))
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		want := all[int(q*float64(len(all)))-1]
		got := h.Quantile(q)
		require.InDelta(t, float64(want), float64(got), float64(want)/50+float64(time.Microsecond), "q %v", q)
	}
	require.Equal(t, all[len(all)-1], h.Max())
	var m Histogram
	m.Merge(&h)
	m.Merge(&h)
	require.Equal(t, 2*h.Count(), m.Count())
	require.Equal(t, h.Quantile(0.99), m.Quantile(0.99))
	m.Reset()
	require.Zero(t, m.Quantile(0.5))
	require.Zero(t, m.Mean())
}
