package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	rmqconsumer "github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	rmqproducer "github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/console"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/internal/testutil/poll"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// world is a cluster with known traffic and a console over it: topic
// ConsoleT with three messages keyed k0..k2, group cg with lag 2.
type world struct {
	c    *testutil.Cluster
	con  *console.Server
	base string
	ids  []string // offset message ids of the three messages
}

func setup(t *testing.T) *world {
	t.Helper()
	c := testutil.StartCluster(t)
	ctx := context.Background()
	p, err := producer.New(client.NameServers(c.NameServerAddr), producer.Group("console-pg"))
	require.NoError(t, err)
	require.NoError(t, p.Start(ctx))
	t.Cleanup(func() { _ = p.Close() })
	w := &world{c: c}
	var first *producer.SendResult
	for i := range 3 {
		res, err := p.Send(ctx, producer.NewMessage("ConsoleT", []byte("body-"+strconv.Itoa(i)), producer.Keys("k"+strconv.Itoa(i))))
		require.NoError(t, err)
		w.ids = append(w.ids, res.OffsetMsgID)
		if first == nil {
			first = res
		}
	}
	con, err := console.New(console.Config{Addr: "127.0.0.1:0", NameServers: []string{c.NameServerAddr}, CacheTTL: time.Millisecond,
		SampleInterval: 50 * time.Millisecond}, nil)
	require.NoError(t, err)
	require.NoError(t, con.Start(ctx))
	t.Cleanup(func() { require.NoError(t, con.Close()) })
	w.con, w.base = con, "http://"+con.Addr().String()

	// Group cg: offsets committed at 0 on every queue, then past the first
	// message on its queue: lag 2.
	var topic struct {
		Queues []struct {
			ID int32 `json:"id"`
		} `json:"queues"`
	}
	// The consume queues are written after the sends are answered: wait
	// until all three messages are dispatched.
	poll.WaitFor(t, 10*time.Second, func() bool {
		var n struct {
			Messages int64 `json:"messages"`
		}
		w.getJSON(t, "/api/topic?name=ConsoleT", &n)
		return n.Messages == 3
	})
	w.getJSON(t, "/api/topic?name=ConsoleT", &topic)
	cl := remoting.NewClient(remoting.DefaultClientConfig(), slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = cl.Close() })
	commit := func(q int32, off int64) {
		resp, err := cl.Invoke(ctx, c.BrokerAddr, protocol.NewRequest(protocol.UpdateConsumerOffset, map[string]string{
			"consumerGroup": "cg", "topic": "ConsoleT", "queueId": strconv.Itoa(int(q)), "commitOffset": strconv.FormatInt(off, 10)}))
		require.NoError(t, err)
		require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	}
	// A pull makes the group's subscription config (autoCreateSubscriptionGroup).
	resp, err := cl.Invoke(ctx, c.BrokerAddr, protocol.NewRequest(protocol.PullMessage, map[string]string{
		"consumerGroup": "cg", "topic": "ConsoleT", "queueId": "0", "queueOffset": "0", "maxMsgNums": "1",
		"sysFlag": "0", "commitOffset": "0", "suspendTimeoutMillis": "0", "subVersion": "0"}))
	require.NoError(t, err)
	require.NotEqual(t, protocol.SubscriptionGroupNotExist, resp.ResponseCode(), resp.Remark)
	for _, q := range topic.Queues {
		commit(q.ID, 0)
	}
	commit(first.Queue.QueueID, int64(first.QueueOffset)+1)
	return w
}

func (w *world) getJSON(t *testing.T, path string, v any) int {
	t.Helper()
	resp, err := http.Get(w.base + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, v), string(b))
	return resp.StatusCode
}

// waitLag waits until the console shows group's lag as want (its figures
// are sampled, so a change shows within a sample interval).
func (w *world) waitLag(t *testing.T, group string, want int64) {
	t.Helper()
	poll.WaitFor(t, 10*time.Second, func() bool {
		var groups struct {
			Groups []console.GroupLag `json:"groups"`
		}
		require.Equal(t, http.StatusOK, w.getJSON(t, "/api/groups", &groups))
		for _, g := range groups.Groups {
			if g.Group == group {
				return g.Lag == want
			}
		}
		return false
	})
}

func TestConsoleAPI(t *testing.T) {
	w := setup(t)

	var cl struct {
		Brokers []console.Broker `json:"brokers"`
	}
	require.Equal(t, http.StatusOK, w.getJSON(t, "/api/cluster", &cl))
	require.Len(t, cl.Brokers, 1)
	b := cl.Brokers[0]
	require.Equal(t, "broker-a", b.Name)
	require.Equal(t, "MASTER", b.Role)
	require.Equal(t, w.c.BrokerAddr, b.Addr)
	require.Empty(t, b.Error)
	require.NotEmpty(t, b.Version)

	var topics struct {
		Topics []console.Topic `json:"topics"`
	}
	require.Equal(t, http.StatusOK, w.getJSON(t, "/api/topics", &topics))
	require.Contains(t, topics.Topics, console.Topic{Name: "ConsoleT"})
	require.Contains(t, topics.Topics, console.Topic{Name: "TBW102", System: true})
	require.Contains(t, topics.Topics, console.Topic{Name: "broker-a", System: true})
	require.Contains(t, topics.Topics, console.Topic{Name: "DefaultCluster", System: true})

	var topic struct {
		Messages int64 `json:"messages"`
	}
	require.Equal(t, http.StatusOK, w.getJSON(t, "/api/topic?name=ConsoleT", &topic))
	require.Equal(t, int64(3), topic.Messages)

	var groups struct {
		Groups []console.GroupLag `json:"groups"`
	}
	require.Equal(t, http.StatusOK, w.getJSON(t, "/api/groups", &groups))
	var cg *console.GroupLag
	for i := range groups.Groups {
		if groups.Groups[i].Group == "cg" && groups.Groups[i].Topic == "ConsoleT" {
			cg = &groups.Groups[i]
		}
	}
	require.NotNil(t, cg, "%+v", groups.Groups)
	require.Equal(t, int64(2), cg.Lag)
	for _, q := range cg.Queues {
		require.GreaterOrEqual(t, q.Lag, int64(0))
	}

	var msgs struct {
		Messages []console.Message `json:"messages"`
	}
	require.Equal(t, http.StatusOK, w.getJSON(t, "/api/messages?topic=ConsoleT&key=k1", &msgs))
	require.Len(t, msgs.Messages, 1)
	require.Equal(t, "body-1", msgs.Messages[0].Body)
	require.Equal(t, "k1", msgs.Messages[0].Keys)
	require.Equal(t, http.StatusOK, w.getJSON(t, "/api/messages?id="+w.ids[2], &msgs))
	require.Len(t, msgs.Messages, 1)
	require.Equal(t, "body-2", msgs.Messages[0].Body)
	require.Equal(t, w.ids[2], msgs.Messages[0].OffsetID)

	var e struct {
		Error string `json:"error"`
	}
	require.Equal(t, http.StatusBadRequest, w.getJSON(t, "/api/messages?id=nothex", &e))
	require.Contains(t, e.Error, "not an offset message id")
	require.Equal(t, http.StatusBadRequest, w.getJSON(t, "/api/messages", &e))

	// The charts' history: TPS and cg's lag, sampled every 50 ms here.
	var hist struct {
		Series map[string][]console.Point `json:"series"`
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		w.getJSON(t, "/api/history?prefix=lag/", &hist)
		return len(hist.Series["lag/cg ConsoleT"]) >= 2
	})
	require.Equal(t, 2.0, hist.Series["lag/cg ConsoleT"][len(hist.Series["lag/cg ConsoleT"])-1].V)
	hist.Series = nil
	w.getJSON(t, "/api/history?prefix=tps/", &hist)
	require.Contains(t, hist.Series, "tps/put")
	require.NotContains(t, hist.Series, "lag/cg ConsoleT")

	// No trace topic (traceTopicEnable is off): no traces, not an error.
	var tr struct {
		Traces []console.Trace `json:"traces"`
		Note   string          `json:"note"`
	}
	require.Equal(t, http.StatusOK, w.getJSON(t, "/api/trace?id="+msgs.Messages[0].ID, &tr))
	require.Empty(t, tr.Traces)
	require.Contains(t, tr.Note, "RMQ_SYS_TRACE_TOPIC")

	// Skip the backlog of cg (no consumer online: the console commits).
	resp, err := http.Post(w.base+"/api/group/reset", "application/json",
		strings.NewReader(`{"group":"cg","topic":"ConsoleT","time":"now"}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	w.waitLag(t, "cg", 0)
	// Back to the beginning: lag 3.
	resp, err = http.Post(w.base+"/api/group/reset", "application/json",
		strings.NewReader(`{"group":"cg","topic":"ConsoleT","time":"2000-01-01T00:00:00Z"}`))
	require.NoError(t, err)
	resp.Body.Close()
	w.waitLag(t, "cg", 3)
	resp, err = http.Post(w.base+"/api/group/reset", "application/json", strings.NewReader(`{"group":"cg","topic":"ConsoleT","time":"yesterday"}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	// Create a topic through the API.
	resp, err = http.Post(w.base+"/api/topic", "application/json", strings.NewReader(`{"name":"Created","queues":2}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var created struct {
		Queues []any `json:"queues"`
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		return w.getJSON(t, "/api/topic?name=Created", &created) == http.StatusOK && len(created.Queues) == 2
	})
	// And delete it.
	resp, err = http.Post(w.base+"/api/topic/delete", "application/json", strings.NewReader(`{"name":"Created"}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, http.StatusOK, w.getJSON(t, "/api/topics", &topics))
	require.NotContains(t, topics.Topics, console.Topic{Name: "Created"})
}

// chromium returns the path of a Chromium or Chrome, or "".
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestConsolePagesInChromium drives every page in headless Chromium: each
// loads without a JavaScript error, shows what the cluster holds, and is
// saved as a screenshot (in $PETREL_SCREENSHOTS, else the test's temp dir)
// that is checked not to be blank.
func TestConsolePagesInChromium(t *testing.T) {
	exe := chromium()
	if exe == "" {
		t.Skip("no chromium on PATH (apt-get install chromium)")
	}
	w := setup(t)
	deadLetters(t, w, "DlqPageT", "pageg", 2)
	ctx, shots, jsErrors := browser(t, exe)

	page := func(name, hash, wantText string) string {
		t.Helper()
		var text string
		var shot []byte
		loaded, _, _ := strings.Cut(strings.TrimPrefix(hash, "#"), "?")
		require.NoError(t, chromedp.Run(ctx,
			chromedp.Navigate("about:blank"), // a new load, also for the same URL
			chromedp.Navigate(w.base+"/"+hash),
			chromedp.WaitVisible(`main[data-loaded="`+loaded+`"]`, chromedp.ByQuery),
			chromedp.Text("main", &text, chromedp.ByQuery),
			chromedp.FullScreenshot(&shot, 100),
		), name)
		require.NotContains(t, text, "Error:", name)
		require.Contains(t, text, wantText, name)
		saveShot(t, filepath.Join(shots, name+".png"), shot)
		return text
	}
	page("cluster", "#cluster", "Messages per second")
	var n int
	require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`document.querySelectorAll("#tps-chart polyline").length`, &n)))
	require.Equal(t, 2, n) // put and get
	text := page("topics", "#topics", "ConsoleT")
	require.Contains(t, text, "TBW102")
	// The create form: a bad queue number is refused with the reason, then
	// a good one opens the new topic's page.
	var msg string
	require.NoError(t, chromedp.Run(ctx,
		chromedp.SendKeys("#new-topic", "FormT", chromedp.ByQuery),
		chromedp.SetValue("#new-read", "5000", chromedp.ByQuery), // min=1 would stop 0 in the browser
		chromedp.Click("#create-topic button", chromedp.ByQuery),
		chromedp.WaitVisible("#create-status[data-done]", chromedp.ByQuery),
		chromedp.Text("#create-status", &msg, chromedp.ByQuery),
		chromedp.SetValue("#new-read", "2", chromedp.ByQuery),
		chromedp.SetValue("#new-write", "2", chromedp.ByQuery),
		chromedp.Click("#create-topic button", chromedp.ByQuery),
		chromedp.WaitVisible(`main[data-loaded="topic/FormT"]`, chromedp.ByQuery),
	))
	require.Contains(t, msg, "between 1 and 1024")
	var formT struct {
		Queues []console.Queue `json:"queues"`
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		return w.getJSON(t, "/api/topic?name=FormT", &formT) == http.StatusOK && len(formT.Queues) == 2
	})
	text = page("topic", "#topic/ConsoleT", "Messages held: 3")
	require.Contains(t, text, "broker-a\tDefaultCluster\t{\"0\":\""+w.c.BrokerAddr+"\"}") // the route
	var lag string
	var points string
	testutil.WaitFor(t, 10*time.Second, func() bool {
		page("groups", "#groups", "cg")
		require.NoError(t, chromedp.Run(ctx, chromedp.AttributeValue(`#lag-chart polyline[data-series="lag/cg ConsoleT"]`, "points", &points, nil, chromedp.ByQuery)))
		return strings.Count(points, ",") >= 2
	})
	require.NoError(t, chromedp.Run(ctx, chromedp.Text(`span.lag[data-group="cg"][data-topic="ConsoleT"]`, &lag, chromedp.ByQuery)))
	require.Equal(t, "2", lag)

	page("messages", "#messages", "By key")
	var body string
	var shot []byte
	require.NoError(t, chromedp.Run(ctx,
		chromedp.SendKeys("#q-topic", "ConsoleT", chromedp.ByQuery),
		chromedp.SendKeys("#q-key", "k1", chromedp.ByQuery),
		chromedp.Click("#by-key button", chromedp.ByQuery),
		chromedp.WaitVisible("pre.body", chromedp.ByQuery),
		chromedp.Text("pre.body", &body, chromedp.ByQuery),
		chromedp.FullScreenshot(&shot, 100),
	))
	require.Equal(t, "body-1", body)
	saveShot(t, filepath.Join(shots, "message-by-key.png"), shot)

	// A topic's update form, then a test message from its send form.
	page("topic", "#topic/ConsoleT", "Send a test message")
	var status, result string
	require.NoError(t, chromedp.Run(ctx,
		chromedp.SetValue("#upd-read", "6", chromedp.ByQuery),
		chromedp.SetValue("#upd-write", "6", chromedp.ByQuery),
		chromedp.Click("#update-topic button", chromedp.ByQuery),
		chromedp.WaitVisible("#update-status[data-done]", chromedp.ByQuery),
		chromedp.Text("#update-status", &status, chromedp.ByQuery),
	))
	require.Equal(t, "Updated on "+w.c.BrokerAddr, status)
	testutil.WaitFor(t, 10*time.Second, func() bool {
		text := page("topic", "#topic/ConsoleT", "Configuration")
		return strings.Contains(text, "broker-a\t6\t6\t6")
	})
	require.NoError(t, chromedp.Run(ctx,
		chromedp.SendKeys("#send-tag", "TagB", chromedp.ByQuery),
		chromedp.SendKeys("#send-keys", "order-42", chromedp.ByQuery),
		chromedp.SendKeys("#send-body", `{"hello":"from the console"}`, chromedp.ByQuery),
		chromedp.Click("#send button", chromedp.ByQuery),
		chromedp.WaitVisible("#send-result[data-done]", chromedp.ByQuery),
		chromedp.Text("#send-result", &result, chromedp.ByQuery),
		chromedp.ScrollIntoView("#send-result", chromedp.ByQuery),
		chromedp.FullScreenshot(&shot, 100),
	))
	require.Contains(t, result, "SEND_OK")
	require.Contains(t, result, "broker-a")
	saveShot(t, filepath.Join(shots, "topic-send.png"), shot)
	var sent struct {
		Messages []console.Message `json:"messages"`
	}
	require.Equal(t, http.StatusOK, w.getJSON(t, "/api/messages?topic=ConsoleT&key=order-42", &sent))
	require.Len(t, sent.Messages, 1)
	require.Equal(t, `{"hello":"from the console"}`, sent.Messages[0].Body)

	// Producers: the world's producer group, online.
	var count string
	testutil.WaitFor(t, 15*time.Second, func() bool {
		page("producers", "#producers?group=console-pg", "Producer group")
		return chromedp.Run(ctx, chromedp.Text("#producer-count", &count, chromedp.ByQuery, chromedp.AtLeast(0))) == nil && count == "1"
	})
	page("producers", "#producers?group=console-pg", "GO")
	// An unknown group: the error is shown in the page.
	require.NoError(t, chromedp.Run(ctx,
		chromedp.Navigate(w.base+"/#producers?group=nobody"),
		chromedp.WaitVisible("#producer-error", chromedp.ByQuery),
		chromedp.Text("#producer-error", &text, chromedp.ByQuery),
	))
	require.Contains(t, text, "producer group nobody has no client online")

	// Dead letters of group pageg: listed, with export links.
	page("dlq", "#dlq?group=pageg", "2 dead letters in %DLQ%pageg")
	var href string
	require.NoError(t, chromedp.Run(ctx, chromedp.AttributeValue("#export-csv", "href", &href, nil, chromedp.ByQuery)))
	require.Equal(t, "/api/dlq/export?group=pageg&format=csv", href)

	require.Empty(t, jsErrors())
}

// TestConsoleLoginInChromium logs in through the login page: a wrong
// password is shown as refused, the right one opens the console, which
// shows the user and logs out.
func TestConsoleLoginInChromium(t *testing.T) {
	exe := chromium()
	if exe == "" {
		t.Skip("no chromium on PATH (apt-get install chromium)")
	}
	base, _ := loginWorld(t)
	ctx, shots, jsErrors := browser(t, exe)
	var msg, user, loc string
	var shot []byte
	require.NoError(t, chromedp.Run(ctx,
		chromedp.Navigate(base+"/#topics"),
		chromedp.WaitVisible("#login", chromedp.ByQuery),
		chromedp.Location(&loc),
		chromedp.SendKeys("#user", "admin", chromedp.ByQuery),
		chromedp.SendKeys("#password", "not-it", chromedp.ByQuery),
		chromedp.Click("#login button", chromedp.ByQuery),
		chromedp.WaitVisible("#login-error[data-done]", chromedp.ByQuery),
		chromedp.Text("#login-error", &msg, chromedp.ByQuery),
		chromedp.FullScreenshot(&shot, 100),
	))
	require.Equal(t, base+"/login.html#topics", loc) // the redirect keeps the page asked for
	require.Equal(t, "wrong user name or password", msg)
	saveShot(t, filepath.Join(shots, "login.png"), shot)
	require.NoError(t, chromedp.Run(ctx,
		chromedp.Evaluate(`document.getElementById("password").value = ""`, nil),
		chromedp.SendKeys("#password", "Adm1n-pw", chromedp.ByQuery),
		chromedp.Click("#login button", chromedp.ByQuery),
		chromedp.WaitVisible(`main[data-loaded="topics"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#user-name", chromedp.ByQuery),
		chromedp.Text("#user-name", &user, chromedp.ByQuery),
		chromedp.FullScreenshot(&shot, 100),
	))
	require.Equal(t, "admin (admin)", user)
	saveShot(t, filepath.Join(shots, "logged-in.png"), shot)
	require.NoError(t, chromedp.Run(ctx,
		chromedp.Click("#logout", chromedp.ByQuery),
		chromedp.WaitVisible("#login", chromedp.ByQuery),
		chromedp.Navigate(base+"/#cluster"),
		chromedp.WaitVisible("#login", chromedp.ByQuery),
		chromedp.Location(&loc),
	))
	require.Equal(t, base+"/login.html#cluster", loc)
	require.Empty(t, jsErrors())
}

// browser starts headless Chromium for the test; it returns its context, the
// screenshot directory ($PETREL_SCREENSHOTS, else a temp dir) and a function
// returning the JavaScript errors seen so far.
func browser(t *testing.T, exe string) (context.Context, string, func() []string) {
	t.Helper()
	shots := os.Getenv("PETREL_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(shots, 0o755))
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel)
	var mu sync.Mutex
	var errs []string
	chromedp.ListenTarget(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			errs = append(errs, e.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError {
				errs = append(errs, "console.error")
			}
		}
	})
	return ctx, shots, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(errs)
	}
}

// saveShot writes a screenshot and checks it is not blank: a decodable image
// with more than a handful of colours.
func saveShot(t *testing.T, path string, shot []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, shot, 0o644))
	img, err := png.Decode(bytes.NewReader(shot))
	require.NoError(t, err)
	colours := map[uint32]bool{}
	bnd := img.Bounds()
	for y := bnd.Min.Y; y < bnd.Max.Y; y += 4 {
		for x := bnd.Min.X; x < bnd.Max.X; x += 4 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[(r>>11)<<10|(g>>11)<<5|b>>11] = true
		}
	}
	require.Greater(t, len(colours), 8, "%s looks blank", path)
}

// TestConsoleScale measures the topics and groups pages over 1,000 topics
// and 500 groups with committed offsets (PETREL_CONSOLE_SCALE=1; it takes a
// while to set up). The figures are in docs/observability.md.
func TestConsoleScale(t *testing.T) {
	if os.Getenv("PETREL_CONSOLE_SCALE") == "" {
		t.Skip("set PETREL_CONSOLE_SCALE=1 to measure the console over 1,000 topics and 500 groups")
	}
	c := testutil.StartCluster(t)
	ctx := context.Background()
	cl := remoting.NewClient(remoting.DefaultClientConfig(), slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = cl.Close() })
	call := func(code protocol.RequestCode, ext map[string]string, b []byte) {
		resp, err := cl.Invoke(ctx, c.BrokerAddr, func() *protocol.Command {
			r := protocol.NewRequest(code, ext)
			r.Body = b
			return r
		}())
		require.NoError(t, err)
		require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	}
	t0 := time.Now()
	for i := range 1000 {
		call(protocol.UpdateAndCreateTopic, map[string]string{"topic": "scale-" + strconv.Itoa(i), "defaultTopic": "TBW102",
			"readQueueNums": "4", "writeQueueNums": "4", "perm": "6", "topicFilterType": "SINGLE_TAG", "topicSysFlag": "0", "order": "false"}, nil)
	}
	for i := range 500 {
		g := "scale-g" + strconv.Itoa(i)
		call(protocol.UpdateAndCreateSubscription, nil, []byte(`{"groupName":"`+g+`","consumeEnable":true,"retryQueueNums":1,"retryMaxTimes":16}`))
		for q := range 4 {
			call(protocol.UpdateConsumerOffset, map[string]string{"consumerGroup": g, "topic": "scale-" + strconv.Itoa(i),
				"queueId": strconv.Itoa(q), "commitOffset": "0"}, nil)
		}
	}
	t.Logf("setup: 1000 topics, 500 groups in %v", time.Since(t0).Round(time.Millisecond))

	con, err := console.New(console.Config{Addr: "127.0.0.1:0", NameServers: []string{c.NameServerAddr}, CacheTTL: time.Nanosecond}, nil)
	require.NoError(t, err)
	require.NoError(t, con.Start(ctx))
	t.Cleanup(func() { _ = con.Close() })
	w := &world{c: c, con: con, base: "http://" + con.Addr().String()}
	for _, page := range []string{"/api/cluster", "/api/topics", "/api/groups", "/api/topic?name=scale-7"} {
		var best time.Duration
		for range 3 {
			var v map[string]any
			t1 := time.Now()
			require.Equal(t, http.StatusOK, w.getJSON(t, page, &v))
			if d := time.Since(t1); best == 0 || d < best {
				best = d
			}
		}
		t.Logf("%s: %v (best of 3, uncached)", page, best.Round(time.Millisecond))
	}
	var groups struct {
		Groups []console.GroupLag `json:"groups"`
		Calls  int                `json:"calls"`
	}
	w.getJSON(t, "/api/groups", &groups)
	require.Len(t, groups.Groups, 500)
	t.Logf("groups page: %d groups in %d broker calls", len(groups.Groups), groups.Calls)
}

// Trace records in RocketMQ's format decode field by field.
func TestDecodeTraces(t *testing.T) {
	t.Parallel()
	j := func(f ...string) string { return strings.Join(f, "\x01") + "\x02" }
	body := j("Pub", "1700000000000", "DefaultRegion", "pg", "T", "M1", "tagA", "k1", "10.0.0.1:10911", "5", "3", "0", "OFF1", "true", "10.0.0.9") +
		j("SubBefore", "1700000000100", "DefaultRegion", "cg", "req1", "M1", "0", "k1", "10.0.0.8") +
		j("SubAfter", "req1", "M1", "7", "true", "k1", "0", "1700000000200", "cg") +
		j("EndTransaction", "1700000000050", "DefaultRegion", "pg", "T", "M1", "", "k1", "10.0.0.1:10911", "2", "tx1", "COMMIT_MESSAGE", "false") +
		j("Pub", "short") + "garbage"
	ts := console.DecodeTracesForTest(body)
	require.Len(t, ts, 4)
	require.Equal(t, console.Trace{Type: "Pub", Time: "2023-11-14T22:13:20Z", Region: "DefaultRegion", Group: "pg", Topic: "T",
		MsgID: "M1", Tags: "tagA", Keys: "k1", StoreHost: "10.0.0.1:10911", BodyLength: 5, CostMillis: 3, MsgType: "Normal_Msg",
		OffsetMsgID: "OFF1", Success: true, ClientHost: "10.0.0.9"}, ts[0])
	require.Equal(t, "cg", ts[1].Group)
	require.Equal(t, "req1", ts[1].RequestID)
	require.Equal(t, int64(7), ts[2].CostMillis)
	require.True(t, ts[2].Success)
	require.Equal(t, "COMMIT_MESSAGE", ts[3].TransactionState)
	require.Equal(t, "Trans_msg_Commit", ts[3].MsgType)
}

// A message sent by the official Go client with message trace on has its
// Pub record in RMQ_SYS_TRACE_TOPIC, and the console finds it by message id.
func TestConsoleTrace(t *testing.T) {
	testutil.SkipOfficialClientUnderRace(t)
	c := testutil.StartCluster(t, testutil.WithBrokerConfig(func(cfg *broker.Config) { cfg.TraceTopicEnable = true }))
	ctx := context.Background()
	rlog.SetLogLevel("error")
	ns := primitive.NewPassthroughResolver([]string{c.NameServerAddr})
	p, err := rmqproducer.NewDefaultProducer(rmqproducer.WithNsResolver(ns), rmqproducer.WithGroupName("trace-pg"),
		rmqproducer.WithInstanceName("console-trace"), rmqproducer.WithRetry(1),
		rmqproducer.WithTrace(&primitive.TraceConfig{GroupName: "trace-pg", Access: primitive.Local, Resolver: ns}))
	require.NoError(t, err)
	require.NoError(t, p.Start())
	t.Cleanup(func() { _ = p.Shutdown() })
	msg := primitive.NewMessage("TracedT", []byte("traced body"))
	msg.WithKeys([]string{"tk"})
	res, err := p.SendSync(ctx, msg)
	require.NoError(t, err)

	con, err := console.New(console.Config{Addr: "127.0.0.1:0", NameServers: []string{c.NameServerAddr}, CacheTTL: time.Millisecond}, nil)
	require.NoError(t, err)
	require.NoError(t, con.Start(ctx))
	t.Cleanup(func() { require.NoError(t, con.Close()) })
	w := &world{c: c, con: con, base: "http://" + con.Addr().String()}
	var got struct {
		Traces []console.Trace `json:"traces"`
	}
	testutil.WaitFor(t, 15*time.Second, func() bool {
		return w.getJSON(t, "/api/trace?id="+res.MsgID, &got) == http.StatusOK && len(got.Traces) > 0
	})
	tr := got.Traces[0]
	require.Equal(t, "Pub", tr.Type)
	require.Equal(t, "TracedT", tr.Topic)
	require.Equal(t, res.MsgID, tr.MsgID)
	require.Equal(t, "trace-pg", tr.Group)
	require.Equal(t, res.OffsetMsgID, tr.OffsetMsgID)
	require.True(t, tr.Success)
	require.Equal(t, len("traced body"), tr.BodyLength)

	// In the browser: found by key, the message shows its body and its trace.
	exe := chromium()
	if exe == "" {
		t.Skip("no chromium on PATH (apt-get install chromium)")
	}
	bctx, shots, jsErrors := browser(t, exe)
	var body, trace string
	var shot []byte
	require.NoError(t, chromedp.Run(bctx,
		chromedp.Navigate(w.base+"/#messages"),
		chromedp.WaitVisible(`main[data-loaded="messages"]`, chromedp.ByQuery),
		chromedp.SendKeys("#q-topic", "TracedT", chromedp.ByQuery),
		chromedp.SendKeys("#q-key", "tk", chromedp.ByQuery),
		chromedp.Click("#by-key button", chromedp.ByQuery),
		chromedp.WaitVisible(".trace[data-loaded]", chromedp.ByQuery),
		chromedp.Text("pre.body", &body, chromedp.ByQuery),
		chromedp.Text(".trace", &trace, chromedp.ByQuery),
		chromedp.FullScreenshot(&shot, 100),
	))
	require.Equal(t, "traced body", body)
	require.Contains(t, trace, "Pub")
	require.Contains(t, trace, "trace-pg")
	saveShot(t, filepath.Join(shots, "message-trace.png"), shot)
	require.Empty(t, jsErrors())
}

// A message moved to the dead-letter queue is found there by key, resent
// from the console, and consumed again by its group under its own topic.
func TestConsoleDLQResend(t *testing.T) {
	testutil.SkipOfficialClientUnderRace(t)
	c := testutil.StartCluster(t)
	ctx := context.Background()
	rlog.SetLogLevel("error")
	ns := primitive.NewPassthroughResolver([]string{c.NameServerAddr})
	p, err := rmqproducer.NewDefaultProducer(rmqproducer.WithNsResolver(ns), rmqproducer.WithGroupName("dlq-pg"),
		rmqproducer.WithInstanceName("console-dlq-p"), rmqproducer.WithRetry(1))
	require.NoError(t, err)
	require.NoError(t, p.Start())
	t.Cleanup(func() { _ = p.Shutdown() })
	msg := primitive.NewMessage("DlqT", []byte("dlq body"))
	msg.WithKeys([]string{"dk"})
	res, err := p.SendSync(ctx, msg)
	require.NoError(t, err)
	_, phys, err := message.ParseOffsetMsgID(res.OffsetMsgID)
	require.NoError(t, err)

	// Straight to %DLQ%dg, as a consumer does after its last retry.
	cl := remoting.NewClient(remoting.DefaultClientConfig(), slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = cl.Close() })
	back, err := cl.Invoke(ctx, c.BrokerAddr, protocol.NewRequest(protocol.ConsumerSendMsgBack, map[string]string{
		"offset": strconv.FormatInt(int64(phys), 10), "group": "dg", "delayLevel": "-1",
		"originMsgId": res.MsgID, "originTopic": "DlqT"}))
	require.NoError(t, err)
	require.Equal(t, protocol.Success, back.ResponseCode(), back.Remark)

	// The group's consumer: it subscribes to DlqT and, as every clustering
	// consumer, to %RETRY%dg.
	var mu sync.Mutex
	var got []*primitive.MessageExt
	pc, err := rmqconsumer.NewPushConsumer(rmqconsumer.WithNsResolver(ns), rmqconsumer.WithGroupName("dg"),
		rmqconsumer.WithInstance("console-dlq-c"), rmqconsumer.WithConsumeFromWhere(rmqconsumer.ConsumeFromLastOffset))
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe("DlqT", rmqconsumer.MessageSelector{}, func(_ context.Context, ms ...*primitive.MessageExt) (rmqconsumer.ConsumeResult, error) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ms...)
		return rmqconsumer.ConsumeSuccess, nil
	}))
	require.NoError(t, pc.Start())
	t.Cleanup(func() { _ = pc.Shutdown() })

	con, err := console.New(console.Config{Addr: "127.0.0.1:0", NameServers: []string{c.NameServerAddr}, CacheTTL: time.Millisecond}, nil)
	require.NoError(t, err)
	require.NoError(t, con.Start(ctx))
	t.Cleanup(func() { require.NoError(t, con.Close()) })
	w := &world{c: c, con: con, base: "http://" + con.Addr().String()}
	var found struct {
		Messages []console.Message `json:"messages"`
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		return w.getJSON(t, "/api/messages?topic="+url.QueryEscape("%DLQ%dg")+"&key=dk", &found) == http.StatusOK && len(found.Messages) == 1
	})
	require.Equal(t, "dlq body", found.Messages[0].Body)
	require.Equal(t, "%DLQ%dg", found.Messages[0].Topic)

	// The groups page lists dg's online consumer and its subscription.
	var groups struct {
		Groups []console.GroupLag `json:"groups"`
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		require.Equal(t, http.StatusOK, w.getJSON(t, "/api/groups", &groups))
		for _, g := range groups.Groups {
			if g.Group == "dg" && g.Topic == "DlqT" {
				return len(g.Clients) == 1 && g.Subscription == "*"
			}
		}
		return false
	})

	// The retry topic exists once the consumer's heartbeat made it.
	var resent map[string]any
	testutil.WaitFor(t, 20*time.Second, func() bool {
		b, _ := json.Marshal(map[string]string{"id": found.Messages[0].OffsetID})
		resp, err := http.Post(w.base+"/api/dlq/resend", "application/json", bytes.NewReader(b))
		require.NoError(t, err)
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(&resent)
		return resp.StatusCode == http.StatusOK
	})
	require.Equal(t, "%RETRY%dg", resent["topic"])
	testutil.WaitFor(t, 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range got {
			// The resent copy, not the original: it came through the retry
			// topic (RETRY_TOPIC) and carries the id of the message it copies.
			if string(m.Body) == "dlq body" && m.Topic == "DlqT" && m.GetProperty("RETRY_TOPIC") == "DlqT" &&
				m.GetProperty("ORIGIN_MESSAGE_ID") != "" {
				return true
			}
		}
		return false
	})

	mu.Lock()
	for _, m := range got {
		t.Logf("consumed %q from %s (queue topic %s) RETRY_TOPIC=%q ORIGIN_MESSAGE_ID=%q", m.Body, m.Topic, m.Queue.Topic,
			m.GetProperty("RETRY_TOPIC"), m.GetProperty("ORIGIN_MESSAGE_ID"))
	}
	mu.Unlock()

	// Not a dead-letter message: refused.
	b, _ := json.Marshal(map[string]string{"id": res.OffsetMsgID})
	resp, err := http.Post(w.base+"/api/dlq/resend", "application/json", bytes.NewReader(b))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}
