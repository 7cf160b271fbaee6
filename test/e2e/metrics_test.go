//go:build e2e

package e2e

import (
	"context"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil"
)

var metricsListenRe = regexp.MustCompile(`msg="petrel metrics listening" addr=(\S+)`)

// scrapeValue returns the value of the series of name whose labels contain
// every `k="v"` in want, or -1 if there is none.
func scrapeValue(t *testing.T, body, name string, want ...string) float64 {
	t.Helper()
	for _, line := range strings.Split(body, "\n") {
		labels, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		labels, val, ok := strings.Cut(labels, "} ")
		if !ok {
			continue
		}
		all := true
		for _, w := range want {
			all = all && strings.Contains(","+labels+",", ","+w+",")
		}
		if all {
			f, err := strconv.ParseFloat(val, 64)
			require.NoError(t, err)
			return f
		}
	}
	return -1
}

func httpText(t *testing.T, url string) (string, int) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b), resp.StatusCode
}

// `petrel standalone` serves metrics and health on a local port; after 7
// sends with the official client the counters say 7 exactly, /readyz is
// ready and `petrel health --http` agrees.
func TestStandaloneMetrics(t *testing.T) {
	conf := writeBrokerConf(t, "brokerClusterName=E2ECluster", "brokerName=metered")
	s := startStandalone(t, conf, t.TempDir(), 0)
	m := metricsListenRe.FindStringSubmatch(s.p.output())
	require.NotNil(t, m, "no metrics start line:\n%s", s.p.output())
	base := "http://" + m[1]
	require.True(t, strings.HasPrefix(m[1], "127.0.0.1:"), m[1])

	var body string
	testutil.WaitFor(t, 10*time.Second, func() bool {
		var code int
		body, code = httpText(t, base+"/readyz")
		return code == http.StatusOK
	})
	require.Equal(t, "ready\n", body)
	out, err := exec.Command(petrelBin, "health", "--http", m[1]).CombinedOutput()
	require.NoError(t, err, string(out))
	require.Equal(t, "ok: broker at "+m[1]+" is ready\n", string(out))

	p, _ := newOfficialProducer(t, s.ns)
	const sent = 7
	for i := range sent {
		res, err := p.SendSync(context.Background(), primitive.NewMessage("MeteredE2E", []byte("m"+strconv.Itoa(i))))
		require.NoError(t, err)
		require.Equal(t, primitive.SendOK, res.Status)
	}
	body, code := httpText(t, base+"/metrics")
	require.Equal(t, http.StatusOK, code)
	id := []string{`cluster="E2ECluster"`, `node_id="metered"`, `node_type="broker"`}
	in := append([]string{`topic="MeteredE2E"`, `message_type="normal"`}, id...)
	require.Equal(t, float64(sent), scrapeValue(t, body, "rocketmq_messages_in_total", in...))
	require.Equal(t, scrapeValue(t, body, "petrel_commitlog_bytes", id...),
		scrapeValue(t, body, "rocketmq_throughput_in_total", in...))
	require.Equal(t, float64(sent), scrapeValue(t, body, "rocketmq_rpc_latency_count",
		`request_code="send_message"`, `response_code="deferred"`))
	require.Contains(t, body, "\ngo_goroutines ")
	// pprof is off unless metricsPprofEnable=true.
	_, code = httpText(t, base+"/debug/pprof/")
	require.Equal(t, http.StatusNotFound, code)
}
