package console_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/console"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// post sends a JSON body and decodes the JSON answer into v (if not nil).
func (w *world) post(t *testing.T, path, body string, v any) int {
	t.Helper()
	resp, err := http.Post(w.base+path, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if v != nil {
		require.NoError(t, json.Unmarshal(b, v), string(b))
	}
	return resp.StatusCode
}

type apiErr struct {
	Error string `json:"error"`
}

// The topic page's update changes perm and queue numbers on the broker,
// and its send form sends a message that is then found by id with its tag,
// keys and body. Bad input is refused with 400 and a reason.
func TestConsoleTopicUpdateAndSend(t *testing.T) {
	w := setup(t)

	var upd struct {
		Updated string   `json:"updated"`
		Brokers []string `json:"brokers"`
	}
	require.Equal(t, http.StatusOK, w.post(t, "/api/topic/update", `{"name":"ConsoleT","perm":6,"readQueues":6,"writeQueues":5}`, &upd))
	require.Equal(t, []string{w.c.BrokerAddr}, upd.Brokers)
	var topic struct {
		Route  console.Route   `json:"route"`
		Queues []console.Queue `json:"queues"`
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		require.Equal(t, http.StatusOK, w.getJSON(t, "/api/topic?name=ConsoleT", &topic))
		qd := topic.Route.QueueDatas
		return len(qd) == 1 && qd[0].ReadQueues == 6 && qd[0].WriteQueues == 5 && len(topic.Queues) == 6
	})
	require.Equal(t, int32(6), topic.Route.QueueDatas[0].Perm)
	require.Equal(t, []console.RouteBroker{{Name: "broker-a", Cluster: "DefaultCluster", Addrs: map[string]string{"0": w.c.BrokerAddr}}},
		topic.Route.BrokerDatas)
	// The page reads these field names (RocketMQ's TopicRouteData's).
	var raw map[string]any
	require.Equal(t, http.StatusOK, w.getJSON(t, "/api/topic?name=ConsoleT", &raw))
	b, err := json.Marshal(raw["route"])
	require.NoError(t, err)
	require.Contains(t, string(b), `"brokerAddrs":{"0":"`+w.c.BrokerAddr+`"}`)
	require.Contains(t, string(b), `"readQueueNums":6`)
	// Read only.
	require.Equal(t, http.StatusOK, w.post(t, "/api/topic/update", `{"name":"ConsoleT","perm":4,"readQueues":6,"writeQueues":5}`, nil))
	testutil.WaitFor(t, 10*time.Second, func() bool {
		require.Equal(t, http.StatusOK, w.getJSON(t, "/api/topic?name=ConsoleT", &topic))
		return topic.Route.QueueDatas[0].Perm == 4
	})
	var e apiErr
	for body, want := range map[string]string{
		`{"name":"ConsoleT","perm":5,"readQueues":4,"writeQueues":4}`:    "perm must be",
		`{"name":"ConsoleT","perm":6,"readQueues":0,"writeQueues":4}`:    "between 1 and 1024",
		`{"name":"ConsoleT","perm":6,"readQueues":4,"writeQueues":5000}`: "between 1 and 1024",
		`{"perm":6,"readQueues":4,"writeQueues":4}`:                      "name is required",
		`{"name":`: "bad request body",
	} {
		e = apiErr{}
		require.Equal(t, http.StatusBadRequest, w.post(t, "/api/topic/update", body, &e), body)
		require.Contains(t, e.Error, want, body)
	}
	require.Equal(t, http.StatusBadRequest, w.post(t, "/api/topic", `{"name":"X","perm":3}`, &e))
	require.Contains(t, e.Error, "perm must be")
	// Back to read and write.
	require.Equal(t, http.StatusOK, w.post(t, "/api/topic/update", `{"name":"ConsoleT","perm":6,"readQueues":6,"writeQueues":6}`, nil))
	testutil.WaitFor(t, 10*time.Second, func() bool {
		require.Equal(t, http.StatusOK, w.getJSON(t, "/api/topic?name=ConsoleT", &topic))
		return topic.Route.QueueDatas[0].Perm == 6 && topic.Route.QueueDatas[0].WriteQueues == 6
	})

	var sent console.SendResult
	require.Equal(t, http.StatusOK, w.post(t, "/api/topic/send", `{"topic":"ConsoleT","tag":"TagA","keys":"ka kb","body":"hello console"}`, &sent))
	require.Equal(t, "SEND_OK", sent.Status)
	require.NotEmpty(t, sent.MsgID)
	require.Equal(t, "broker-a", sent.Broker)
	require.GreaterOrEqual(t, sent.QueueOffset, int64(0))
	var msgs struct {
		Messages []console.Message `json:"messages"`
	}
	require.Equal(t, http.StatusOK, w.getJSON(t, "/api/messages?id="+sent.OffsetMsgID, &msgs))
	require.Len(t, msgs.Messages, 1)
	m := msgs.Messages[0]
	require.Equal(t, "hello console", m.Body)
	require.Equal(t, "TagA", m.Tags)
	require.Equal(t, "ka kb", m.Keys)
	require.Equal(t, sent.MsgID, m.ID)
	require.Equal(t, sent.QueueID, m.QueueID)
	require.Equal(t, sent.QueueOffset, m.QueueOffset)
	for body, want := range map[string]string{
		`{"tag":"a","body":"x"}`:                      "topic is required",
		`{"topic":"ConsoleT","body":""}`:              "body is required",
		`{"topic":"ConsoleT","tag":"a|b","body":"x"}`: "one tag",
		`{"topic":"bad topic!","body":"x"}`:           "has characters outside",
		`[]`:                                          "bad request body",
	} {
		e = apiErr{}
		require.Equal(t, http.StatusBadRequest, w.post(t, "/api/topic/send", body, &e), body)
		require.Contains(t, e.Error, want, body)
	}
}

// The producers page lists a producer group's online clients, per broker
// or from a topic's route; a group with none online is a 404 that says so.
func TestConsoleProducers(t *testing.T) {
	w := setup(t) // its producer, group console-pg, stays online
	type answer struct {
		Connections []console.ProducerConn `json:"connections"`
	}
	var a answer
	testutil.WaitFor(t, 15*time.Second, func() bool {
		a = answer{}
		return w.getJSON(t, "/api/producers?group=console-pg", &a) == http.StatusOK && len(a.Connections) == 1
	})
	c := a.Connections[0]
	require.Equal(t, w.c.BrokerAddr, c.Broker)
	require.NotEmpty(t, c.ClientID)
	require.NotEmpty(t, c.Addr)
	require.Equal(t, "GO", c.Language)
	a = answer{}
	require.Equal(t, http.StatusOK, w.getJSON(t, "/api/producers?group=console-pg&topic=ConsoleT", &a))
	require.Len(t, a.Connections, 1)
	require.Equal(t, c.ClientID, a.Connections[0].ClientID)

	var e apiErr
	require.Equal(t, http.StatusNotFound, w.getJSON(t, "/api/producers?group=nobody", &e))
	require.Contains(t, e.Error, "no client online")
	require.Equal(t, http.StatusNotFound, w.getJSON(t, "/api/producers?group=nobody&topic=ConsoleT", &e))
	require.Equal(t, http.StatusBadRequest, w.getJSON(t, "/api/producers", &e))
	require.Contains(t, e.Error, "group is required")
}

// deadLetters sends n messages to topic and moves each to %DLQ%<group> as a
// consumer does after its last retry (CONSUMER_SEND_MSG_BACK, delay level
// -1). It returns the messages' ids.
func deadLetters(t *testing.T, w *world, topic, group string, n int) []string {
	t.Helper()
	ctx := context.Background()
	p, err := producer.New(client.NameServers(w.c.NameServerAddr), producer.Group("dlq-maker"))
	require.NoError(t, err)
	require.NoError(t, p.Start(ctx))
	defer func() { _ = p.Close() }()
	cl := remoting.NewClient(remoting.DefaultClientConfig(), slog.New(slog.DiscardHandler))
	defer func() { _ = cl.Close() }()
	var ids []string
	for i := range n {
		res, err := p.Send(ctx, producer.NewMessage(topic, []byte("dead,\"body\"\n"+strconv.Itoa(i)),
			producer.Keys("dk"+strconv.Itoa(i)), producer.Tags("dt")))
		require.NoError(t, err)
		_, phys, err := message.ParseOffsetMsgID(res.OffsetMsgID)
		require.NoError(t, err)
		back, err := cl.Invoke(ctx, w.c.BrokerAddr, protocol.NewRequest(protocol.ConsumerSendMsgBack, map[string]string{
			"offset": strconv.FormatInt(int64(phys), 10), "group": group, "delayLevel": "-1",
			"originMsgId": res.MsgID, "originTopic": topic}))
		require.NoError(t, err)
		require.Equal(t, protocol.Success, back.ResponseCode(), back.Remark)
		ids = append(ids, res.MsgID)
	}
	return ids
}

// Dead letters of a group are listed and exported as JSON lines and CSV,
// every field and the body (base64) intact.
func TestConsoleDLQExport(t *testing.T) {
	w := setup(t)
	ids := deadLetters(t, w, "DlqExportT", "xg", 3)

	var list struct {
		Topic    string            `json:"topic"`
		Total    int64             `json:"total"`
		Messages []console.Message `json:"messages"`
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		return w.getJSON(t, "/api/dlq?group=xg", &list) == http.StatusOK && len(list.Messages) == 3
	})
	require.Equal(t, "%DLQ%xg", list.Topic)
	require.Equal(t, int64(3), list.Total)
	require.Equal(t, http.StatusOK, w.getJSON(t, "/api/dlq?group=xg&max=2", &list))
	require.Len(t, list.Messages, 2)

	get := func(q string) (*http.Response, []byte) {
		resp, err := http.Get(w.base + "/api/dlq/export?" + q)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, b
	}
	resp, b := get("group=xg&format=jsonl")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	require.Equal(t, "application/x-ndjson", resp.Header.Get("Content-Type"))
	require.Contains(t, resp.Header.Get("Content-Disposition"), `filename="dlq-xg.jsonl"`)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	require.Len(t, lines, 3)
	var got []string
	for i, l := range lines {
		var e console.ExportedMessage
		require.NoError(t, json.Unmarshal([]byte(l), &e))
		got = append(got, e.MsgID)
		body, err := base64.StdEncoding.DecodeString(e.Body)
		require.NoError(t, err)
		require.Equal(t, "dead,\"body\"\n"+strconv.Itoa(i), string(body))
		require.Equal(t, "%DLQ%xg", e.Topic)
		require.Equal(t, "DlqExportT", e.OriginTopic)
		require.Equal(t, "dk"+strconv.Itoa(i), e.Keys)
		require.Equal(t, "dt", e.Tags)
		require.Equal(t, "dt", e.Properties["TAGS"])
		require.NotEmpty(t, e.BornTime)
		require.NotEmpty(t, e.StoreTime)
		require.NotEmpty(t, e.OffsetMsgID)
	}
	require.ElementsMatch(t, ids, got)

	resp, b = get("group=%25DLQ%25xg&format=csv&max=2")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	require.Equal(t, "text/csv; charset=utf-8", resp.Header.Get("Content-Type"))
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 3) // header and max=2 rows
	require.Equal(t, "msgId", rows[0][0])
	require.Equal(t, "body", rows[0][len(rows[0])-1])
	body, err := base64.StdEncoding.DecodeString(rows[1][len(rows[1])-1])
	require.NoError(t, err)
	require.Equal(t, "dead,\"body\"\n0", string(body))
	var props map[string]string
	require.NoError(t, json.Unmarshal([]byte(rows[1][13]), &props))
	require.Equal(t, "dk0", props["KEYS"])

	for q, want := range map[string]int{
		"group=xg&format=xml":                   http.StatusBadRequest,
		"group=xg&max=0":                        http.StatusBadRequest,
		"group=xg&max=lots":                     http.StatusBadRequest,
		"format=csv":                            http.StatusBadRequest,
		"group=nogroup":                         http.StatusNotFound,
		"group=" + url.QueryEscape("%RETRY%xg"): http.StatusBadRequest,
	} {
		resp, b := get(q)
		require.Equal(t, want, resp.StatusCode, q)
		var e apiErr
		require.NoError(t, json.Unmarshal(b, &e), q)
		require.NotEmpty(t, e.Error, q)
	}
	var e apiErr
	require.Equal(t, http.StatusNotFound, w.getJSON(t, "/api/dlq?group=nogroup", &e))
	require.Contains(t, e.Error, "no dead-letter topic")
}
