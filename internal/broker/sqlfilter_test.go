package broker_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/rlog"
	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/stretchr/testify/require"
)

// sendProps sends one message with the given user properties.
func (r *rawBroker) sendProps(topic string, queueID int, bodyText string, props map[string]string) *protocol.Command {
	r.t.Helper()
	resp := r.call(protocol.SendMessage, sendV1(topic, queueID, props), []byte(bodyText))
	require.Equal(r.t, protocol.Success, resp.ResponseCode(), resp.Remark)
	return resp
}

func heartbeatSQL(clientID, group, topic, expr string) []byte {
	return body.EncodeHeartbeat(&body.HeartbeatData{
		ClientID: clientID,
		ConsumerDataSet: []body.ConsumerData{{
			GroupName: group, ConsumeType: body.ConsumePassively, MessageModel: body.Clustering,
			ConsumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
			SubscriptionDataSet: []body.SubscriptionData{{
				Topic: topic, SubString: expr, ExpressionType: body.ExpressionSQL92, SubVersion: 1,
			}},
		}},
	})
}

func bodies(t *testing.T, resp *protocol.Command) []string {
	t.Helper()
	msgs, err := message.DecodeMessages(resp.Body)
	require.NoError(t, err)
	var out []string
	for _, m := range msgs {
		out = append(out, string(m.Body))
	}
	return out
}

func TestRawSQL92(t *testing.T) {
	r := startRaw(t)
	r.createTopic("Sql", 1, 6)
	for i := range 10 {
		color := "blue"
		if i%2 == 1 {
			color = "red"
		}
		r.sendProps("Sql", 0, "m"+strconv.Itoa(i), map[string]string{"a": strconv.Itoa(i), "color": color})
	}
	r.sendProps("Sql", 0, "no-a", map[string]string{"color": "blue"})
	r.sendProps("Sql", 0, "a-not-int", map[string]string{"a": "x", "color": "blue"})
	r.waitMax("Sql", 0, 12)
	const expr = "a > 5 AND color = 'blue'"

	// The subscription carried by the pull (sysFlag bit 2).
	ext := pullExt("g-sql", "Sql", 0, 0, 4, expr, 0)
	ext["expressionType"] = "SQL92"
	resp := r.call(protocol.PullMessage, ext, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	require.Equal(t, []string{"m6", "m8"}, bodies(t, resp))
	require.Equal(t, "12", resp.Ext("nextBeginOffset"))

	// An invalid expression in the pull.
	ext = pullExt("g-sql", "Sql", 0, 0, 4, "a > ", 0)
	ext["expressionType"] = "SQL92"
	resp = r.call(protocol.PullMessage, ext, nil)
	require.Equal(t, protocol.SubscriptionParseFailed, resp.ResponseCode())
	require.Contains(t, resp.Remark, "a > ")

	// From the heartbeat: a valid subscription is recorded and used.
	resp = r.call(protocol.HeartBeat, nil, heartbeatSQL("c1", "g-hb", "Sql", expr))
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	resp = r.call(protocol.PullMessage, pullExt("g-hb", "Sql", 0, 0, 2, "", 0), nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	require.Equal(t, []string{"m6", "m8"}, bodies(t, resp))

	// An invalid one is refused when the consumer subscribes.
	resp = r.call(protocol.HeartBeat, nil, heartbeatSQL("c2", "g-bad", "Sql", "color = 'blue' AND"))
	require.Equal(t, protocol.SubscriptionParseFailed, resp.ResponseCode())
	require.Contains(t, resp.Remark, "invalid SQL92 expression [color = 'blue' AND]")
	require.Contains(t, resp.Remark, "g-bad")

	// CHECK_CLIENT_CONFIG (the Java client, before an SQL92 subscription).
	check := func(expr, typ string) *protocol.Command {
		return r.call(protocol.CheckClientConfig, map[string]string{"clientId": "c", "group": "g"},
			fmt.Appendf(nil, `{"clientId":"c","group":"g","subscriptionData":{"topic":"Sql","subString":%q,"expressionType":%q,"subVersion":5}}`, expr, typ))
	}
	require.Equal(t, protocol.Success, check(expr, "SQL92").ResponseCode())
	require.Equal(t, protocol.Success, check("TagA", "TAG").ResponseCode())
	resp = check("a >", "SQL92")
	require.Equal(t, protocol.SubscriptionParseFailed, resp.ResponseCode())
}

func TestRawSQL92Disabled(t *testing.T) {
	r := startRaw(t, testutil.WithBrokerConfig(func(c *broker.Config) { c.EnablePropertyFilter = false }))
	r.createTopic("Sql", 1, 6)
	resp := r.call(protocol.HeartBeat, nil, heartbeatSQL("c1", "g", "Sql", "a > 1"))
	require.Equal(t, protocol.SystemError, resp.ResponseCode())
	require.Contains(t, resp.Remark, "enablePropertyFilter=false")
	ext := pullExt("g", "Sql", 0, 0, 4, "a > 1", 0)
	ext["expressionType"] = "SQL92"
	require.Equal(t, protocol.SystemError, r.call(protocol.PullMessage, ext, nil).ResponseCode())
	resp = r.call(protocol.CheckClientConfig, nil,
		[]byte(`{"clientId":"c","group":"g","subscriptionData":{"topic":"Sql","subString":"a > 1","expressionType":"SQL92"}}`))
	require.Equal(t, protocol.SystemError, resp.ResponseCode())
}

func TestCompatSQL92PushConsumer(t *testing.T) {
	skipIfRace(t)
	c := testutil.StartCluster(t)
	const topic = "SqlPush"
	createTopic(t, c, topic, 2)
	p := newProducer(t, c)
	ctx := context.Background()
	want := map[string]bool{}
	for i := range 20 {
		color := []string{"blue", "red"}[i%2]
		m := primitive.NewMessage(topic, []byte("s-"+strconv.Itoa(i)))
		m.WithProperty("a", strconv.Itoa(i%10))
		m.WithProperty("color", color)
		_, err := p.SendSync(ctx, m)
		require.NoError(t, err)
		if i%10 > 5 && color == "blue" {
			want["s-"+strconv.Itoa(i)] = true
		}
	}
	// A marker that matches, sent last: once it is in, everything before it
	// was pulled (per queue order; both queues are checked by count).
	col := &collector{msgs: map[string]*primitive.MessageExt{}}
	pc, err := consumer.NewPushConsumer(
		consumer.WithNsResolver(primitive.NewPassthroughResolver([]string{c.NameServerAddr})),
		consumer.WithGroupName("cg-sql"),
		consumer.WithInstance(instance(t)),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	)
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, consumer.MessageSelector{Type: consumer.SQL92, Expression: "a > 5 AND color = 'blue'"}, col.consume))
	require.NoError(t, pc.Start())
	t.Cleanup(func() { _ = pc.Shutdown() })
	testutil.WaitFor(t, 30*time.Second, func() bool { return col.count() >= len(want) })
	// Nothing else trickles in.
	for i := range 4 {
		m := primitive.NewMessage(topic, []byte("late-"+strconv.Itoa(i)))
		m.WithProperty("a", "9")
		m.WithProperty("color", "blue")
		_, err := p.SendSync(ctx, m)
		require.NoError(t, err)
		want["late-"+strconv.Itoa(i)] = true
	}
	testutil.WaitFor(t, 30*time.Second, func() bool { return col.count() >= len(want) })
	col.mu.Lock()
	defer col.mu.Unlock()
	require.Len(t, col.msgs, len(want))
	for b := range want {
		require.Contains(t, col.msgs, b)
	}
}

// logCapture is an rlog.Logger that keeps warnings and errors.
type logCapture struct {
	mu    sync.Mutex
	lines []string
}

func (l *logCapture) add(msg string, f map[string]any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprint(msg, f))
}
func (l *logCapture) Debug(string, map[string]any)         {}
func (l *logCapture) Info(string, map[string]any)          {}
func (l *logCapture) Warning(msg string, f map[string]any) { l.add(msg, f) }
func (l *logCapture) Error(msg string, f map[string]any)   { l.add(msg, f) }
func (l *logCapture) Fatal(msg string, f map[string]any)   { l.add(msg, f) }
func (l *logCapture) Level(string)                         {}
func (l *logCapture) OutputPath(string) error              { return nil }
func (l *logCapture) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

func TestCompatSQL92InvalidExpression(t *testing.T) {
	skipIfRace(t)
	c := testutil.StartCluster(t)
	const topic = "SqlBad"
	createTopic(t, c, topic, 1)
	logs := &logCapture{}
	rlog.SetLogger(logs)
	t.Cleanup(func() {
		rlog.SetLogger(&silentLogger{})
	})
	p := newProducer(t, c)
	_, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte("x")))
	require.NoError(t, err)

	col := &collector{msgs: map[string]*primitive.MessageExt{}}
	pc, err := consumer.NewPushConsumer(
		consumer.WithNsResolver(primitive.NewPassthroughResolver([]string{c.NameServerAddr})),
		consumer.WithGroupName("cg-sql-bad"),
		consumer.WithInstance(instance(t)),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	)
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, consumer.MessageSelector{Type: consumer.SQL92, Expression: "a >> 5"}, col.consume))
	// v2.1.2's Start does not look at heartbeat answers; the refusal reaches
	// its log, and the group never gets queues.
	require.NoError(t, pc.Start())
	t.Cleanup(func() { _ = pc.Shutdown() })
	testutil.WaitFor(t, 10*time.Second, func() bool { return logs.contains("invalid SQL92 expression [a >> 5]") })
	require.True(t, logs.contains("responseCode:23"))
	require.Zero(t, col.count())
}

// silentLogger discards the official client's logs (the state init() leaves).
type silentLogger struct{ logCapture }

func (*silentLogger) Warning(string, map[string]any) {}
func (*silentLogger) Error(string, map[string]any)   {}
func (*silentLogger) Fatal(string, map[string]any)   {}
