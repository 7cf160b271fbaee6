package bench_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/bench"
	"github.com/petrelmq/petrel/internal/testutil"
)

func config(ns, scenario string) bench.Config {
	cfg := bench.DefaultConfig()
	cfg.Scenario = scenario
	cfg.NameServers = []string{ns}
	cfg.Threads = 4
	cfg.Interval = 100 * time.Millisecond
	return cfg
}

// Every producer mode sends exactly Count measured messages (a batch may
// round up to whole batches), none fails, and progress is reported.
func TestProducerModes(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t)
	for _, mode := range []string{bench.ModeSync, bench.ModeAsync, bench.ModeOneway, bench.ModeBatch} {
		cfg := config(c.NameServerAddr, bench.ScenarioProducer)
		cfg.Mode, cfg.Count, cfg.Keys, cfg.Tag, cfg.Batch = mode, 200, true, "TagA", 8
		cfg.Warmup = 200 * time.Millisecond
		var mu sync.Mutex
		var lines []bench.Progress
		cfg.Progress = func(p bench.Progress) { mu.Lock(); lines = append(lines, p); mu.Unlock() }
		s, err := bench.Run(t.Context(), cfg)
		require.NoError(t, err, mode)
		require.Equal(t, int64(200), s.Messages, mode)
		require.Zero(t, s.Failed, mode)
		require.Equal(t, mode, s.Mode)
		require.Positive(t, s.TPS)
		require.Positive(t, s.Latency.Max)
		require.LessOrEqual(t, s.Latency.P50, s.Latency.P99)
		mu.Lock()
		require.NotEmpty(t, lines, mode)
		mu.Unlock()
	}
}

// A run for a Duration stops on time.
func TestDurationAndFailures(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t)
	cfg := config(c.NameServerAddr, bench.ScenarioProducer)
	cfg.Duration = 500 * time.Millisecond
	start := time.Now()
	s, err := bench.Run(t.Context(), cfg)
	require.NoError(t, err)
	require.Less(t, time.Since(start), 10*time.Second)
	// The phase ends at 0.5s; sends in flight then still finish (a loaded
	// machine may take a while), and count.
	require.GreaterOrEqual(t, s.Seconds, 0.5)
	require.Less(t, s.Seconds, 5.0)
	require.Positive(t, s.Messages)

	// A topic the SDK refuses: the run does not start and says why.
	cfg.Topic = "bad topic!"
	_, err = bench.Run(t.Context(), cfg)
	require.ErrorContains(t, err, "first send")
}

// The consumer scenario consumes the prefilled backlog; the transaction
// scenario commits; e2e measures receive latency at a rate.
func TestConsumerE2ETransaction(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t)
	cfg := config(c.NameServerAddr, bench.ScenarioConsumer)
	cfg.Topic, cfg.Prefill = "BenchBacklog", 2000
	s, err := bench.Run(t.Context(), cfg)
	require.NoError(t, err)
	require.GreaterOrEqual(t, s.Messages, int64(2000))
	require.Positive(t, s.TPS)

	cfg = config(c.NameServerAddr, bench.ScenarioTransaction)
	cfg.Count = 50
	s, err = bench.Run(t.Context(), cfg)
	require.NoError(t, err)
	require.Equal(t, int64(50), s.Messages)
	require.Zero(t, s.Failed)

	cfg = config(c.NameServerAddr, bench.ScenarioE2E)
	cfg.Topic, cfg.Rate, cfg.Count = "BenchE2E", 200, 100
	s, err = bench.Run(t.Context(), cfg)
	require.NoError(t, err)
	require.GreaterOrEqual(t, s.Messages, int64(100))
	require.Positive(t, s.Latency.Max)
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]func(*bench.Config){
		"no name server": func(c *bench.Config) { c.NameServers = nil },
		"scenario":       func(c *bench.Config) { c.Scenario = "x" },
		"mode":           func(c *bench.Config) { c.Mode = "x" },
		"size":           func(c *bench.Config) { c.Size = 1 },
		"window":         func(c *bench.Config) { c.Window = 0 },
		"count":          func(c *bench.Config) { c.Count = -1 },
		"pull batch":     func(c *bench.Config) { c.PullBatch = 5000 },
	} {
		cfg := config("127.0.0.1:1", bench.ScenarioProducer)
		f(&cfg)
		_, err := bench.Run(t.Context(), cfg)
		require.Error(t, err, name)
	}
}
