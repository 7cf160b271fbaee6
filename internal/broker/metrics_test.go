package broker_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
)

// metricValue returns the value of the one series named name whose labels
// include every label in want ("k=v"), and whether there is exactly one.
func metricValue(body, name string, want ...string) (float64, bool) {
	var found []float64
	for _, line := range strings.Split(body, "\n") {
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		labels, val, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		match := true
		for _, w := range want {
			k, v, _ := strings.Cut(w, "=")
			if !strings.Contains(","+labels+",", ","+k+`="`+v+`",`) {
				match = false
				break
			}
		}
		if match {
			f, err := strconv.ParseFloat(val, 64)
			if err != nil {
				return 0, false
			}
			found = append(found, f)
		}
	}
	if len(found) != 1 {
		return 0, false
	}
	return found[0], true
}

func httpGet(t *testing.T, url string) (string, int) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b), resp.StatusCode
}

// requireMetric fails unless the series has exactly the value want.
func requireMetric(t *testing.T, body string, want float64, name string, labels ...string) {
	t.Helper()
	got, ok := metricValue(body, name, labels...)
	require.True(t, ok, "no single series %s%v in the scrape", name, labels)
	require.Equal(t, want, got, "%s%v", name, labels)
}

// TestMetricsAfterKnownTraffic sends with the official Go client, pulls and
// commits with the raw protocol, moves a message to the DLQ, and checks
// the scraped counters and gauges exactly.
func TestMetricsAfterKnownTraffic(t *testing.T) {
	r := startRaw(t, testutil.WithBrokerConfig(func(c *broker.Config) {
		c.Metrics = broker.MetricsConfig{ExporterType: broker.MetricsProm, Host: "127.0.0.1", Port: 0, CardinalityLimit: 1000}
	}))
	addr := r.c.Broker.MetricsAddr()
	require.NotNil(t, addr)
	base := "http://" + addr.String()

	body, code := httpGet(t, base+"/healthz")
	require.Equal(t, http.StatusOK, code, body)
	body, code = httpGet(t, base+"/readyz")
	require.Equal(t, http.StatusOK, code, body)

	r.createTopic("Metered", 2, 6)
	p := newProducer(t, r.c)
	const sent = 5
	for i := range sent {
		res, err := p.SendSync(context.Background(), primitive.NewMessage("Metered", []byte("body-"+strconv.Itoa(i))))
		require.NoError(t, err)
		require.Equal(t, primitive.SendOK, res.Status)
	}
	var stored int64
	testutil.WaitFor(t, 10*time.Second, func() bool {
		stored = maxOffset(t, r.cl, r.addr, "Metered", 0) + maxOffset(t, r.cl, r.addr, "Metered", 1)
		return stored == sent
	})

	// Pull everything from both queues as group "mg"; commit one message of
	// queue 0 and none of queue 1.
	var pulledBytes int
	var first *message.MessageExt
	pulled := map[int]int{}
	for q := range 2 {
		resp := r.call(protocol.PullMessage, pullExt("mg", "Metered", q, 0, 4, "*", 0), nil)
		if resp.ResponseCode() != protocol.Success {
			continue
		}
		msgs, err := message.DecodeMessages(resp.Body)
		require.NoError(t, err)
		pulled[q] = len(msgs)
		pulledBytes += len(resp.Body)
		if first == nil {
			first = msgs[0]
		}
	}
	require.Equal(t, sent, pulled[0]+pulled[1])
	require.Positive(t, pulled[0])
	for q, off := range map[int]int{0: 1, 1: 0} {
		resp := r.call(protocol.UpdateConsumerOffset, map[string]string{"consumerGroup": "mg", "topic": "Metered",
			"queueId": strconv.Itoa(q), "commitOffset": strconv.Itoa(off)}, nil)
		require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	}

	body, code = httpGet(t, base+"/metrics")
	require.Equal(t, http.StatusOK, code)
	in := []string{"topic=Metered", "message_type=normal", "is_system=false", "cluster=DefaultCluster", "node_id=broker-a", "node_type=broker"}
	requireMetric(t, body, sent, "rocketmq_messages_in_total", in...)
	// Every stored byte so far is one of these messages' records.
	clBytes, ok := metricValue(body, "petrel_commitlog_bytes")
	require.True(t, ok)
	require.Positive(t, clBytes)
	requireMetric(t, body, clBytes, "rocketmq_throughput_in_total", in...)
	requireMetric(t, body, sent, "rocketmq_message_size_count", in...) // one observation per send
	out := []string{"topic=Metered", "consumer_group=mg", "is_retry=false", "is_system=false"}
	requireMetric(t, body, sent, "rocketmq_messages_out_total", out...)
	requireMetric(t, body, float64(pulledBytes), "rocketmq_throughput_out_total", out...)
	lag := []string{"topic=Metered", "consumer_group=mg", "is_retry=false"}
	requireMetric(t, body, sent-1, "rocketmq_consumer_lag_messages", lag...)
	requireMetric(t, body, sent-1, "rocketmq_consumer_inflight_messages", lag...)
	requireMetric(t, body, 0, "rocketmq_consumer_queueing_latency", lag...)
	requireMetric(t, body, float64(pulled[0]-1), "petrel_consumer_queue_lag_messages", "topic=Metered", "consumer_group=mg", "queue_id=0")
	requireMetric(t, body, float64(pulled[1]), "petrel_consumer_queue_lag_messages", "topic=Metered", "consumer_group=mg", "queue_id=1")
	requireMetric(t, body, sent, "rocketmq_rpc_latency_count", "request_code=send_message", "response_code=deferred")
	requireMetric(t, body, 2, "rocketmq_rpc_latency_count", "request_code=pull_message", "response_code=success", "is_long_polling=false")
	requireMetric(t, body, 2, "rocketmq_rpc_latency_count", "request_code=update_consumer_offset", "response_code=success")
	requireMetric(t, body, 6, "rocketmq_broker_permission")
	requireMetric(t, body, 0, "petrel_store_degraded")
	conns, ok := metricValue(body, "petrel_connections")
	require.True(t, ok)
	require.GreaterOrEqual(t, conns, 2.0) // the producer and the raw client
	lat, ok := metricValue(body, "rocketmq_consumer_lag_latency", lag...)
	require.True(t, ok)
	require.GreaterOrEqual(t, lat, 0.0)
	require.Contains(t, body, "\ngo_goroutines ")
	require.Contains(t, body, "\nprocess_open_fds ")

	// Straight to the dead-letter queue.
	resp := r.call(protocol.ConsumerSendMsgBack, map[string]string{"offset": strconv.FormatInt(int64(first.PhysOffset), 10),
		"group": "mg", "delayLevel": "-1", "originMsgId": first.MsgID(), "originTopic": "Metered"}, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	body, _ = httpGet(t, base+"/metrics")
	requireMetric(t, body, 1, "rocketmq_send_to_dlq_messages_total", "consumer_group=mg", "topic=Metered", "is_system=false")
	requireMetric(t, body, sent, "rocketmq_messages_in_total", in...) // the DLQ copy is not an incoming message
}

// The metrics endpoint has no authentication: with no
// metricsPromExporterHost it binds 127.0.0.1, not brokerIP1 (RocketMQ's
// default), and binds the configured host when there is one.
func TestMetricsBindsLoopbackByDefault(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs 127.0.0.2, which only Linux routes to the loopback interface by default")
	}
	for host, want := range map[string]string{"": "127.0.0.1", "127.0.0.3": "127.0.0.3"} {
		c := testutil.StartCluster(t, testutil.WithBrokerConfig(func(c *broker.Config) {
			c.BrokerIP1 = "127.0.0.2"
			c.Metrics = broker.MetricsConfig{ExporterType: broker.MetricsProm, Host: host, Port: 0, CardinalityLimit: 1000}
		}))
		require.Equal(t, "127.0.0.2", strings.Split(c.BrokerAddr, ":")[0], "brokerIP1 is advertised")
		addr := c.Broker.MetricsAddr()
		require.NotNil(t, addr)
		got, _, err := net.SplitHostPort(addr.String())
		require.NoError(t, err)
		require.Equal(t, want, got, "metricsPromExporterHost=%q", host)
	}
}
