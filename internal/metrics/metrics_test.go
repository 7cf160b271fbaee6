package metrics

import (
	"context"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/pkg/protocol"
)

func scrape(t *testing.T, rec *Recorder, st func(time.Time) State) string {
	t.Helper()
	srv := NewServer(ServerConfig{Addr: "127.0.0.1:0"}, rec.Registry(st), func() error { return nil }, nil)
	require.NoError(t, srv.Start(context.Background()))
	defer func() { require.NoError(t, srv.Close()) }()
	body, code := get(t, "http://"+srv.Addr().String()+"/metrics")
	require.Equal(t, http.StatusOK, code)
	return body
}

func get(t *testing.T, url string) (string, int) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b), resp.StatusCode
}

// m formats a series as the exposition writes it: labels (with the identity
// labels cluster="c", node_id="b", node_type="broker") sorted by name,
// a bucket's le last.
func m(name, labels string) string {
	all := []string{`cluster="c"`, `node_id="b"`, `node_type="broker"`}
	le := ""
	for _, l := range strings.Split(labels, ",") {
		switch {
		case l == "":
		case strings.HasPrefix(l, "le="): // a histogram bucket's bound comes last
			le = "," + l
		default:
			all = append(all, l)
		}
	}
	sort.Strings(all)
	return name + "{" + strings.Join(all, ",") + le + "}"
}

// has fails unless body holds the line want (without dumping the body).
func has(t *testing.T, body, want string) {
	t.Helper()
	if !strings.Contains(body, want+"\n") {
		t.Fatalf("scrape lacks %q", want)
	}
}

func TestRecorderCounts(t *testing.T) {
	t.Parallel()
	rec := NewRecorder(Identity{Cluster: "c", Node: "b"}, 0)
	rec.MessagesIn("T", TypeNormal, 1, 300)
	rec.MessagesIn("T", TypeNormal, 3, 3*2000) // a batch: mean size 2000
	rec.MessagesIn("T", TypeDelay, 1, 100)
	rec.MessagesIn("%RETRY%g", TypeNormal, 1, 100) // not counted, as RocketMQ
	rec.MessagesIn("RMQ_SYS_TRACE_TOPIC", TypeNormal, 1, 100)
	rec.Pulled("T", "g", 0, 4, 4, 4000)
	rec.Pulled("T", "g", 1, 0, 0, 0) // not found: no messages
	rec.Pulled("%RETRY%g", "g", 0, 1, 1, 50)
	rec.SentToDLQ("g", "T")
	rec.SentToDLQ("g", "T")
	rec.RPC(protocol.SendMessageV2, protocol.Success, 2*time.Millisecond, false, false)
	rec.RPC(protocol.PullMessage, 0, 0, true, true)
	rec.RPC(protocol.RequestCode(9999), protocol.ResponseCode(777), 0, false, false)
	rec.Flushed(300*time.Microsecond, 3)
	rec.Flushed(2*time.Millisecond, 0)

	body := scrape(t, rec, nil)
	for _, want := range []string{
		m("rocketmq_messages_in_total", `is_system="false",message_type="normal",topic="T"`) + ` 4`,
		m("rocketmq_messages_in_total", `is_system="false",message_type="delay",topic="T"`) + ` 1`,
		m("rocketmq_messages_in_total", `is_system="true",message_type="normal",topic="RMQ_SYS_TRACE_TOPIC"`) + ` 1`,
		m("rocketmq_throughput_in_total", `is_system="false",message_type="normal",topic="T"`) + ` 6300`,
		m("rocketmq_message_size_bucket", `is_system="false",message_type="normal",topic="T",le="1024"`) + ` 1`,
		m("rocketmq_message_size_bucket", `is_system="false",message_type="normal",topic="T",le="4096"`) + ` 2`,
		m("rocketmq_message_size_count", `is_system="false",message_type="normal",topic="T"`) + ` 2`,
		m("rocketmq_messages_out_total", `consumer_group="g",is_retry="false",is_system="false",topic="T"`) + ` 4`,
		m("rocketmq_throughput_out_total", `consumer_group="g",is_retry="false",is_system="false",topic="T"`) + ` 4000`,
		m("rocketmq_messages_out_total", `consumer_group="g",is_retry="true",is_system="false",topic="%RETRY%g"`) + ` 1`,
		m("rocketmq_send_to_dlq_messages_total", `consumer_group="g",is_system="false",topic="T"`) + ` 2`,
		m("rocketmq_rpc_latency_bucket", `is_long_polling="false",protocol_type="remoting",request_code="send_message_v2",response_code="success",result="success",le="3"`) + ` 1`,
		m("rocketmq_rpc_latency_count", `is_long_polling="true",protocol_type="remoting",request_code="pull_message",response_code="deferred",result="deferred"`) + ` 1`,
		m("rocketmq_rpc_latency_count", `is_long_polling="false",protocol_type="remoting",request_code="9999",response_code="777",result="success"`) + ` 1`,
		m("petrel_commitlog_flush_seconds_bucket", `le="0.0005"`) + ` 1`,
		m("petrel_commitlog_flush_seconds_count", ``) + ` 2`,
		m("petrel_commitlog_group_commit_size_count", ``) + ` 1`,
		m("petrel_commitlog_group_commit_size_sum", ``) + ` 3`,
	} {
		has(t, body, want)
	}
	require.NotContains(t, body, `topic="%RETRY%g",le`)
	require.Equal(t, int64(4), rec.PulledOffset("g", "T", 0))
	require.Equal(t, int64(-1), rec.PulledOffset("g", "T", 7))

	rec.Forget("T", "")
	body = scrape(t, rec, nil)
	require.NotContains(t, body, `topic="T"`)
	require.Contains(t, body, `topic="%RETRY%g"`)

	// Prune drops what no longer exists.
	rec.MessagesIn("U", TypeNormal, 1, 10)
	rec.Pulled("U", "gone", 0, 1, 1, 10)
	rec.Pulled("U", "g", 0, 1, 1, 10)
	rec.Prune(func(t string) bool { return t == "U" }, func(g string) bool { return g == "g" })
	body = scrape(t, rec, nil)
	require.Contains(t, body, `topic="U"`)
	require.NotContains(t, body, `consumer_group="gone"`)
	require.NotContains(t, body, `topic="%RETRY%g"`)
	require.Equal(t, int64(-1), rec.PulledOffset("gone", "U", 0))
}

func TestRecorderNil(t *testing.T) {
	t.Parallel()
	var rec *Recorder
	rec.MessagesIn("T", TypeNormal, 1, 1)
	rec.Pulled("T", "g", 0, 1, 1, 1)
	rec.SentToDLQ("g", "T")
	rec.RPC(protocol.SendMessage, protocol.Success, 0, false, false)
	rec.Flushed(time.Millisecond, 1)
	rec.Forget("T", "g")
	require.Equal(t, int64(-1), rec.PulledOffset("g", "T", 0))
}

// Beyond the limit, new label sets are dropped and counted; existing ones
// still count.
func TestCardinalityCap(t *testing.T) {
	t.Parallel()
	rec := NewRecorder(Identity{Cluster: "c", Node: "b"}, 2)
	for _, topic := range []string{"a", "b", "c", "d", "a"} {
		rec.MessagesIn(topic, TypeNormal, 1, 10)
	}
	lags := make([]Lag, 5)
	for i := range lags {
		lags[i] = Lag{Group: "g", Topic: string(rune('a' + i)), Messages: 1}
	}
	body := scrape(t, rec, func(time.Time) State { return State{Lags: lags} })
	has(t, body, m("rocketmq_messages_in_total", `is_system="false",message_type="normal",topic="a"`)+" 2")
	require.NotContains(t, body, `topic="c"`+"} 1\n")
	has(t, body, m("petrel_metrics_dropped_total", `metric="rocketmq_messages_in_total"`)+" 2")
	require.Equal(t, 2, strings.Count(body, "rocketmq_consumer_lag_messages{"))
	has(t, body, m("petrel_metrics_dropped_total", `metric="rocketmq_consumer_lag_messages"`)+" 3")
}

// State gauges: lag is clamped at 0 whatever the broker reports.
func TestStateGauges(t *testing.T) {
	t.Parallel()
	rec := NewRecorder(Identity{Cluster: "c", Node: "b"}, 0)
	body := scrape(t, rec, func(time.Time) State {
		return State{Topics: 3, Groups: 2, Permission: 6,
			Processors: []Processor{{Name: "send", Queued: 5}},
			Lags: []Lag{{Group: "g", Topic: "T", Messages: -4, Latency: 1500 * time.Millisecond, Inflight: 2, Queueing: time.Second},
				{Group: "g", Topic: "%RETRY%g", Messages: 1}},
			Queues:      []QueueLag{{Group: "g", Topic: "T", Queue: 3, Messages: 7}},
			Store:       Store{CommitLogBytes: 100, ExpiredSegmentsDeleted: 2, Degraded: true},
			Connections: 4, MemoryUsed: 10, MemoryLimit: 20,
			Replication: &Replication{Role: "master", SyncStateSet: 2, Slaves: []Replica{{Addr: "s:1", LagBytes: 9, InSync: true}}},
		}
	})
	for _, want := range []string{
		m("rocketmq_topic_number", ``) + ` 3`,
		m("rocketmq_consumer_group_number", ``) + ` 2`,
		m("rocketmq_broker_permission", ``) + ` 6`,
		m("rocketmq_processor_watermark", `processor="send"`) + ` 5`,
		m("rocketmq_consumer_lag_messages", `consumer_group="g",is_retry="false",is_system="false",topic="T"`) + ` 0`,
		m("rocketmq_consumer_lag_latency", `consumer_group="g",is_retry="false",is_system="false",topic="T"`) + ` 1500`,
		m("rocketmq_consumer_inflight_messages", `consumer_group="g",is_retry="false",is_system="false",topic="T"`) + ` 2`,
		m("rocketmq_consumer_queueing_latency", `consumer_group="g",is_retry="false",is_system="false",topic="T"`) + ` 1000`,
		m("rocketmq_consumer_lag_messages", `consumer_group="g",is_retry="true",is_system="false",topic="%RETRY%g"`) + ` 1`,
		m("petrel_consumer_queue_lag_messages", `consumer_group="g",queue_id="3",topic="T"`) + ` 7`,
		m("petrel_commitlog_bytes", ``) + ` 100`,
		m("petrel_retention_segments_deleted_total", `reason="expired"`) + ` 2`,
		m("petrel_store_degraded", ``) + ` 1`,
		m("petrel_connections", ``) + ` 4`,
		m("petrel_memory_budget_used_bytes", ``) + ` 10`,
		m("petrel_replication_lag_bytes", `slave="s:1"`) + ` 9`,
		m("petrel_replication_slave_in_sync", `slave="s:1"`) + ` 1`,
		m("petrel_replication_sync_state_set_size", ``) + ` 2`,
	} {
		has(t, body, want)
	}
	require.Contains(t, body, "\ngo_goroutines ")
	require.Contains(t, body, "\nprocess_resident_memory_bytes ")
	// The registry's own consistency checks pass (no duplicate series, label
	// sets match their descriptions).
	mfs, err := rec.Registry(func(time.Time) State { return State{Lags: []Lag{{Group: "g", Topic: "T"}}} }).Gather()
	require.NoError(t, err)
	require.NotEmpty(t, mfs)
}

func TestServerEndpoints(t *testing.T) {
	t.Parallel()
	rec := NewRecorder(Identity{Cluster: "c", Node: "b"}, 0)
	var mu sync.Mutex
	readyErr := error(nil)
	ready := func() error { mu.Lock(); defer mu.Unlock(); return readyErr }
	for _, pprofOn := range []bool{false, true} {
		srv := NewServer(ServerConfig{Addr: "127.0.0.1:0", Pprof: pprofOn}, rec.Registry(nil), ready, nil)
		require.NoError(t, srv.Start(context.Background()))
		base := "http://" + srv.Addr().String()
		body, code := get(t, base+"/healthz")
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "ok\n", body)
		body, code = get(t, base+"/readyz")
		require.Equal(t, http.StatusOK, code, body)
		mu.Lock()
		readyErr = io.ErrUnexpectedEOF
		mu.Unlock()
		body, code = get(t, base+"/readyz")
		require.Equal(t, http.StatusServiceUnavailable, code)
		require.Equal(t, "not ready: unexpected EOF\n", body)
		mu.Lock()
		readyErr = nil
		mu.Unlock()
		_, code = get(t, base+"/debug/pprof/")
		if pprofOn {
			require.Equal(t, http.StatusOK, code)
		} else {
			require.Equal(t, http.StatusNotFound, code)
		}
		require.NoError(t, srv.Close())
		require.NoError(t, srv.Close()) // idempotent
	}
	// A taken port is a clear start error.
	a := NewServer(ServerConfig{Addr: "127.0.0.1:0"}, rec.Registry(nil), ready, nil)
	require.NoError(t, a.Start(context.Background()))
	defer a.Close()
	b := NewServer(ServerConfig{Addr: a.Addr().String()}, rec.Registry(nil), ready, nil)
	err := b.Start(context.Background())
	require.ErrorContains(t, err, "metricsPromExporterHost/Port")
}

func TestCodeName(t *testing.T) {
	t.Parallel()
	require.Equal(t, "send_message_v2", codeName(protocol.SendMessageV2.String()))
	require.Equal(t, "pull_not_found", codeName(protocol.PullNotFound.String()))
	require.Equal(t, "12345", codeName(protocol.RequestCode(12345).String()))
	require.Equal(t, "-3", codeName(protocol.ResponseCode(-3).String()))
}
