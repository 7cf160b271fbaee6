package stats

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRateWindows(t *testing.T) {
	t.Parallel()
	var r Rate
	t0 := time.Unix(1000, 0)
	require.Zero(t, r.PerSecond(t0, time.Minute), "no samples")
	r.sample(t0)
	// 10 events a second for 70 s, sampled every 10 s.
	for i := 1; i <= 7; i++ {
		r.Add(100)
		r.sample(t0.Add(time.Duration(i) * 10 * time.Second))
	}
	now := t0.Add(75 * time.Second)
	r.Add(50) // 10/s since the last sample too
	require.InDelta(t, 10, r.PerSecond(now, 10*time.Second), 0.01)
	require.InDelta(t, 10, r.PerSecond(now, time.Minute), 0.01)
	require.InDelta(t, 10, r.PerSecond(now, 10*time.Minute), 0.01, "younger than the window: from the first sample")
	require.Equal(t, "10.00 10.00 10.00", r.TPS(now))

	// Then nothing for a minute: the 10 s figure drops to 0 first.
	for i := 8; i <= 14; i++ {
		r.sample(t0.Add(time.Duration(i) * 10 * time.Second))
	}
	now = t0.Add(145 * time.Second)
	require.Zero(t, r.PerSecond(now, 10*time.Second))
	require.Zero(t, r.PerSecond(now, time.Minute), "the sample at 80 s already had the last events")
	require.InDelta(t, 550.0/125, r.PerSecond(now, 2*time.Minute), 0.01, "from the sample at 20 s")
}

func TestRateRingWraps(t *testing.T) {
	t.Parallel()
	var r Rate
	t0 := time.Unix(0, 0)
	for i := 0; i < 3*samples; i++ {
		r.Add(10)
		r.sample(t0.Add(time.Duration(i) * time.Second))
	}
	now := t0.Add(time.Duration(3*samples-1) * time.Second)
	require.InDelta(t, 10, r.PerSecond(now, 30*time.Second), 0.01)
	require.InDelta(t, 10, r.PerSecond(now, time.Hour), 0.01, "oldest sample still in the ring")
}

func TestBrokerStatsConsumeTps(t *testing.T) {
	t.Parallel()
	s := NewBroker()
	t0 := time.Unix(1000, 0)
	require.Zero(t, s.ConsumeTPS("T", "g", t0))
	s.Pulled("T", "g", true, 30, t0)
	s.Pulled("T", "g", false, 0, t0)
	require.InDelta(t, 3, s.ConsumeTPS("T", "g", t0.Add(10*time.Second)), 0.01)
	require.Zero(t, s.ConsumeTPS("T", "other", t0.Add(10*time.Second)))
	require.InDelta(t, 3, s.ConsumeTPS("T", "g", t0.Add(100*time.Millisecond)), 0.01,
		"a burst just after the first pull is spread over one sample interval")
	require.Equal(t, int64(1), s.GetMiss.total.Load())
	require.Equal(t, int64(30), s.GetTransferred.total.Load())
}

// TestRateDayWindows: a day of one message a minute, sampled every 10 s:
// the minute, hour and day windows (VIEW_BROKER_STATS_DATA) count 1, 60 and
// 1440, and the long ring keeps no more than it needs.
func TestRateDayWindows(t *testing.T) {
	t.Parallel()
	var r Rate
	t0 := time.Unix(1_000_000, 0)
	r.sample(t0)
	require.Equal(t, Window{Sum: 0, TPS: 0}, r.Window(t0, 24*time.Hour))
	const steps = 2 * 24 * 60 * 6 // two days of 10 s samples
	for i := 1; i <= steps; i++ {
		if i%6 == 0 {
			r.Add(1)
		}
		r.sample(t0.Add(time.Duration(i) * SampleInterval))
	}
	now := t0.Add(steps * SampleInterval)
	require.Equal(t, int64(1), r.Window(now, time.Minute).Sum)
	require.Equal(t, int64(60), r.Window(now, time.Hour).Sum)
	require.Equal(t, int64(1440), r.Window(now, 24*time.Hour).Sum)
	require.InDelta(t, 1.0/60, r.Window(now, time.Hour).TPS, 0.0001)
	require.LessOrEqual(t, r.ln, longSamples)

	// Younger than the window: everything since the first sample.
	var young Rate
	young.sample(t0)
	young.Add(5)
	young.sample(t0.Add(time.Minute))
	require.Equal(t, int64(5), young.Window(t0.Add(time.Minute), 24*time.Hour).Sum)
}

// TestSampleTopics: topics present at the first sample count from their
// total then; later ones from zero; a deleted topic is forgotten.
func TestSampleTopics(t *testing.T) {
	t.Parallel()
	s := NewBroker()
	t0 := time.Unix(1_000_000, 0)
	s.SampleTopics(t0, map[string]int64{"old": 100})
	r := s.TopicPuts("old", 130, t0.Add(5*time.Second))
	require.Equal(t, int64(30), r.Window(t0.Add(5*time.Second), time.Minute).Sum)
	r = s.TopicPuts("new", 7, t0.Add(5*time.Second))
	require.Equal(t, int64(7), r.Window(t0.Add(5*time.Second), 24*time.Hour).Sum, "created after the start: every message counts")
	s.SampleTopics(t0.Add(10*time.Second), map[string]int64{"new": 7})
	require.Equal(t, int64(0), s.TopicPuts("old", 0, t0.Add(11*time.Second)).Window(t0.Add(11*time.Second), time.Minute).Sum,
		"forgotten, then seen again: counts from zero")
	s.Pulled("T", "g", true, 4, t0)
	require.Equal(t, int64(4), s.GroupGets("T", "g").Window(t0, time.Minute).Sum)
	require.Nil(t, s.GroupGets("T", "other"))
}
