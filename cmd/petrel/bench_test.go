package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/bench"
	"github.com/petrelmq/petrel/internal/testutil"
)

// runBench runs `petrel bench` with args and returns standard output,
// standard error and the error.
func runBench(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errw bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errw)
	root.SetArgs(append([]string{"bench"}, args...))
	err := root.Execute()
	return out.String(), errw.String(), err
}

// `petrel bench` against a running cluster: progress lines on standard error,
// the summary as text or JSON on standard output; the name server comes from
// -n or NAMESRV_ADDR.
func TestBenchCommand(t *testing.T) {
	c := testutil.StartCluster(t)
	out, errOut, err := runBench(t, "producer", "-n", c.NameServerAddr, "-w", "4", "-s", "256", "-c", "300",
		"--warmup", "100ms", "-i", "50ms", "-k", "--tag", "T")
	require.NoError(t, err, errOut)
	require.Contains(t, out, "scenario producer (sync), topic BenchmarkTest, 256-byte bodies, 4 threads")
	require.Contains(t, out, "messages 300, failed 0")
	require.Contains(t, out, "latency ms: mean")
	require.Regexp(t, `tps \d+ \| p50 [\d.]+ ms \| p99 [\d.]+ ms \| p99.9 [\d.]+ ms \| failed 0`, errOut)

	t.Setenv("NAMESRV_ADDR", c.NameServerAddr)
	out, _, err = runBench(t, "producer", "-m", "async", "-c", "500", "-q", "-o", "json")
	require.NoError(t, err)
	var s bench.Summary
	require.NoError(t, json.Unmarshal([]byte(out), &s))
	require.Equal(t, "async", s.Mode)
	require.Equal(t, int64(500), s.Messages)
	require.Positive(t, s.TPS)

	out, _, err = runBench(t, "consumer", "-t", "BenchCmd", "--prefill", "500", "-q", "-o", "json")
	require.NoError(t, err)
	s = bench.Summary{}
	require.NoError(t, json.Unmarshal([]byte(out), &s))
	require.Equal(t, "consumer", s.Scenario)
	require.GreaterOrEqual(t, s.Messages, int64(500))

	out, _, err = runBench(t, "transaction", "-c", "20", "-w", "2", "-q")
	require.NoError(t, err)
	require.Contains(t, out, "messages 20, failed 0")

	_, _, err = runBench(t, "producer", "-m", "bogus", "-q")
	require.ErrorContains(t, err, `unknown mode "bogus"`)
	_, _, err = runBench(t, "producer", "-o", "yaml")
	require.ErrorContains(t, err, "-o")
	t.Setenv("NAMESRV_ADDR", "")
	_, _, err = runBench(t, "producer", "-q")
	require.ErrorContains(t, err, "no name server")
}
