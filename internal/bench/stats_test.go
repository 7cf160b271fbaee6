package bench

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Results of sends claimed while warming up show in the interval but never in
// the summary; a Count hands out exactly Count measured messages.
func TestWarmupAndCount(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Count = 5
	p := newPhases(cfg)
	ok, measured := p.claim(1)
	require.True(t, ok)
	require.False(t, measured)
	p.rec.done(1, time.Millisecond, nil, measured)
	p.rec.done(1, 0, errors.New("boom"), measured)
	t0 := time.Now()
	pr := p.rec.tick(time.Second, t0)
	require.True(t, pr.Warmup)
	require.Equal(t, 1.0, pr.TPS)
	require.Equal(t, int64(1), pr.Failed)

	p.begin()
	var n int
	for {
		ok, measured := p.claim(2)
		if !ok {
			break
		}
		require.True(t, measured)
		n += 2
		p.rec.done(2, 2*time.Millisecond, nil, measured)
	}
	require.Equal(t, 6, n, "claims of 2 until 5 are handed out")
	p.rec.done(1, 0, errors.New("late"), true)
	s := p.rec.summary(time.Now(), 100)
	require.Equal(t, int64(6), s.Messages)
	require.Equal(t, int64(1), s.Failed)
	require.Equal(t, map[string]int64{"late": 1}, s.Errors)
	require.Equal(t, 2.0, s.Latency.P50)
	pr = p.rec.tick(time.Second, time.Now())
	require.False(t, pr.Warmup)
	require.Equal(t, int64(6), pr.Messages)
	p.wait()
}
