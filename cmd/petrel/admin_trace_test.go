package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/consumer"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/trace"
)

// printTrace lays records out as mqadmin 4.9's queryMsgTraceById: Pub
// sections, then one section per consumer group of its SubAfter records.
func TestPrintTraceLayout(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local).UnixMilli()
	var b bytes.Buffer
	rec := func(r trace.Record, host string) admin.TraceRecord {
		return admin.TraceRecord{Record: r, TraceHost: host}
	}
	printTrace(&b, []admin.TraceRecord{
		rec(trace.Record{Type: trace.Pub, Timestamp: ts, Group: "pg", ClientHost: "192.0.2.9", CostMillis: 3, Success: true}, "10.0.0.1"),
		rec(trace.Record{Type: trace.SubBefore, Timestamp: ts, Group: "cg", ClientHost: "10.0.0.2"}, "10.0.0.2"),
		rec(trace.Record{Type: trace.SubAfter, Timestamp: ts, Group: "cg2", CostMillis: 0, Success: false}, "10.0.0.3"),
		rec(trace.Record{Type: trace.SubAfter, Timestamp: ts, Group: "cg", CostMillis: 12, Success: true}, "10.0.0.2"),
	})
	want := "#Type      #ProducerGroup       #ClientHost          #SendTime            #CostTimes #Status   \n" +
		"Pub        pg                   10.0.0.1             2026-01-02 03:04:05  3ms        success   \n" +
		"\n" +
		"#Type      #ConsumerGroup       #ClientHost          #ConsumerTime        #CostTimes #Status   \n" +
		"Sub        cg                   10.0.0.2             2026-01-02 03:04:05  12ms       success   \n" +
		"\n" +
		"#Type      #ConsumerGroup       #ClientHost          #ConsumerTime        #CostTimes #Status   \n" +
		"Sub        cg2                  10.0.0.3             2026-01-02 03:04:05  0ms        failed    \n" +
		"\n"
	require.Equal(t, want, b.String())
}

// mustAdmin runs petrel admin with args and returns its output; it fails the
// test on an error.
func mustAdmin(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runAdmin(t, args...)
	require.NoError(t, err, out)
	return out
}

// queryMsgTraceById shows the Pub and Sub records a producer and a consumer
// with client.WithTrace wrote, in text and with -o json.
func TestQueryMsgTraceByID(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t, testutil.WithBrokerConfig(func(cfg *broker.Config) { cfg.TraceTopicEnable = true }))
	ns := c.NameServerAddr
	p, err := producer.New(client.NameServers(ns), producer.Group("cli-trace-pg"), client.WithTrace(""))
	require.NoError(t, err)
	require.NoError(t, p.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	res, err := p.Send(t.Context(), producer.NewMessage("CliTracedT", []byte("body"), producer.Keys("ck")))
	require.NoError(t, err)

	done := make(chan struct{}, 1)
	cons, err := consumer.NewPush(client.NameServers(ns), consumer.Group("cli-trace-cg"), client.WithTrace(""),
		consumer.RebalanceInterval(200*time.Millisecond), consumer.FromWhere(consumer.ConsumeFromFirstOffset))
	require.NoError(t, err)
	require.NoError(t, cons.Subscribe("CliTracedT", consumer.All(), consumer.Concurrently(func(context.Context, []*message.MessageExt) consumer.ConsumeResult {
		select {
		case done <- struct{}{}:
		default:
		}
		return consumer.ConsumeSuccess
	})))
	require.NoError(t, cons.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, cons.Close()) })
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("not consumed")
	}

	var recs []admin.TraceRecord
	testutil.WaitFor(t, 15*time.Second, func() bool {
		recs = nil
		require.NoError(t, json.Unmarshal([]byte(mustAdmin(t, "-n", ns, "queryMsgTraceById", "-i", res.MsgID, "-o", "json")), &recs))
		return len(recs) == 3
	})
	require.Equal(t, []trace.Type{trace.Pub, trace.SubBefore, trace.SubAfter}, []trace.Type{recs[0].Type, recs[1].Type, recs[2].Type})
	require.Equal(t, res.OffsetMsgID, recs[0].OffsetMsgID)
	require.Equal(t, "ck", recs[2].Keys)
	require.Equal(t, "127.0.0.1", recs[0].TraceHost)

	text := mustAdmin(t, "-n", ns, "queryMsgTraceById", "-i", res.MsgID, "-t", trace.DefaultTopic)
	lines := strings.Split(text, "\n")
	require.Regexp(t, `^#Type\s+#ProducerGroup\s+#ClientHost\s+#SendTime\s+#CostTimes\s+#Status`, lines[0])
	require.Regexp(t, `^Pub\s+cli-trace-pg\s+\S+\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\d+ms\s+success`, lines[1])
	require.Regexp(t, `^#Type\s+#ConsumerGroup\s+#ClientHost\s+#ConsumerTime\s+#CostTimes\s+#Status`, lines[3])
	require.Regexp(t, `^Sub\s+cli-trace-cg\s+\S+\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\d+ms\s+success`, lines[4])
}
