package producer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func queues(spec ...string) []message.MessageQueue {
	var out []message.MessageQueue
	for _, b := range spec {
		for i := range 2 {
			out = append(out, message.MessageQueue{Topic: "T", BrokerName: b, QueueID: int32(i)})
		}
	}
	return out
}

func TestRoundRobin(t *testing.T) {
	t.Parallel()
	s := RoundRobin()
	qs := queues("a", "b")
	var got []message.MessageQueue
	for range 5 {
		q, err := s.Select(nil, qs, "")
		require.NoError(t, err)
		got = append(got, q)
	}
	require.Equal(t, append(qs, qs[0]), got)
	for range 10 {
		q, err := s.Select(nil, qs, "a")
		require.NoError(t, err)
		require.Equal(t, "b", q.BrokerName, "avoids the broker that failed last")
	}
	q, err := s.Select(nil, queues("a"), "a")
	require.NoError(t, err)
	require.Equal(t, "a", q.BrokerName, "falls back when there is no other broker")
	_, err = s.Select(nil, nil, "")
	require.ErrorIs(t, err, ErrNoQueue)
	require.True(t, s.(FaultTolerant).AvoidsFaults())
}

func TestRandom(t *testing.T) {
	t.Parallel()
	s := Random()
	seen := map[string]bool{}
	for range 200 {
		q, err := s.Select(nil, queues("a", "b"), "b")
		require.NoError(t, err)
		seen[q.BrokerName] = true
	}
	require.Equal(t, map[string]bool{"a": true}, seen)
}

func TestHashByKey(t *testing.T) {
	t.Parallel()
	s := HashByKey()
	_, tolerant := s.(FaultTolerant)
	require.False(t, tolerant)
	qs := queues("a", "b", "c")
	spread := map[int32]bool{}
	for i := range 50 {
		m := NewMessage("T", []byte("x"), ShardingKey(fmt.Sprint("order-", i)))
		q1, err := s.Select(m, qs, "")
		require.NoError(t, err)
		q2, err := s.Select(m, qs, "a")
		require.NoError(t, err)
		require.Equal(t, q1, q2, "same key, same queue, even after a failure")
		spread[q1.QueueID+int32(q1.BrokerName[0])*10] = true
	}
	require.Greater(t, len(spread), 3)
	k1, _ := s.Select(NewMessage("T", nil, Keys("k1", "k2")), qs, "")
	k2, _ := s.Select(NewMessage("T", nil, Keys("k1")), qs, "")
	require.Equal(t, k1, k2, "first of KEYS is the key")
}

func TestManual(t *testing.T) {
	t.Parallel()
	want := message.MessageQueue{BrokerName: "b", QueueID: 1}
	q, err := Manual(want).Select(nil, queues("a", "b"), "")
	require.NoError(t, err)
	require.Equal(t, "T", q.Topic)
	require.Equal(t, int32(1), q.QueueID)
	_, err = Manual(message.MessageQueue{BrokerName: "z"}).Select(nil, queues("a"), "")
	require.ErrorIs(t, err, ErrNoQueue)
}

func TestFaultTable(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	ft := newFaultTable(DefaultLatencySteps(), 30*time.Second)
	require.Equal(t, time.Duration(0), ft.avoidFor(10*time.Millisecond))
	require.Equal(t, time.Duration(0), ft.avoidFor(549*time.Millisecond))
	require.Equal(t, 30*time.Second, ft.avoidFor(550*time.Millisecond))
	require.Equal(t, 3*time.Minute, ft.avoidFor(5*time.Second))
	require.Equal(t, 10*time.Minute, ft.avoidFor(time.Minute))

	ft.update("a", "A", 20*time.Millisecond, false, t0)
	require.True(t, ft.available("a", "A", t0))
	ft.update("a", "A", 1200*time.Millisecond, false, t0) // slow: avoided 1m
	require.False(t, ft.available("a", "A", t0.Add(59*time.Second)))
	require.True(t, ft.available("a", "A", t0.Add(time.Minute)))
	ft.update("b", "B", 5*time.Millisecond, true, t0) // failed: avoided 30s
	require.False(t, ft.available("b", "B", t0.Add(29*time.Second)))

	qs := queues("a", "b", "c")
	masters := func(name string) string { return strings.ToUpper(name) }
	require.Equal(t, queues("c"), ft.filter(qs, t0, masters))
	// Nothing available: the broker that recovers first.
	require.Equal(t, queues("b"), ft.filter(queues("a", "b"), t0, masters))
	require.Equal(t, qs, ft.filter(qs, t0.Add(2*time.Minute), masters))
	ft.update("a", "A", time.Millisecond, false, t0) // recovered
	require.True(t, ft.available("a", "A", t0))

	// A failover: b's master moved to another address; the verdict about the
	// old one does not apply to it.
	require.True(t, ft.available("b", "B2", t0))
	moved := func(name string) string {
		if name == "b" {
			return "B2"
		}
		return masters(name)
	}
	require.Equal(t, queues("a", "b", "c"), ft.filter(qs, t0, moved))
	// Nor does a verdict recorded while the broker had no master address.
	ft.update("c", "", time.Millisecond, true, t0)
	require.True(t, ft.available("c", "C", t0))
}

func TestRetriable(t *testing.T) {
	t.Parallel()
	for code, want := range map[protocol.ResponseCode]bool{1: true, 2: true, 13: false, 14: true, 16: true, 17: true, 25: false} {
		require.Equal(t, want, retriable(fmt.Errorf("wrapped: %w", &protocol.Error{Code: code})), "code %d", code)
		require.Equal(t, code == protocol.SystemBusy, busy(fmt.Errorf("wrapped: %w", &protocol.Error{Code: code})), "code %d", code)
	}
	require.True(t, retriable(errors.New("connection refused")))
	require.False(t, retriable(context.DeadlineExceeded))
	require.False(t, retriable(client.ErrClosed))
	require.False(t, retriable(ErrBadMessage))
}

func newUnstarted(t *testing.T, opts ...client.ProducerOption) *Producer {
	t.Helper()
	p, err := New(append([]client.ProducerOption{client.NameServers("127.0.0.1:1")}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func TestPrepareBatch(t *testing.T) {
	t.Parallel()
	p := newUnstarted(t, client.Namespace("ns"), MaxMessageSize(200))
	msgs := []*message.Message{
		NewMessage("T", []byte("one"), Tags("a")),
		NewMessage("T", []byte("two"), Keys("k"), Property(message.PropertyUniqKey, "MINE")),
	}
	o, err := p.prepareBatch(msgs)
	require.NoError(t, err)
	require.Equal(t, "ns%T", o.topic)
	require.NotContains(t, msgs[0].Properties, message.PropertyUniqKey, "caller's message untouched")
	inner, err := message.DecodeBatch(o.body)
	require.NoError(t, err)
	require.Len(t, inner, 2)
	require.Equal(t, "one", string(inner[0].Body))
	require.Equal(t, "a", inner[0].Tags())
	require.Equal(t, o.ids[0], inner[0].Property(message.PropertyUniqKey))
	require.Equal(t, "MINE", o.ids[1])
	require.Len(t, o.ids[0], 32)

	bad := [][]*message.Message{
		nil,
		{NewMessage("T", []byte("x")), NewMessage("U", []byte("x"))},
		{NewMessage("T", nil)},
		{NewMessage("T", []byte("x"), DelayLevel(3))},
		{NewMessage("T", []byte("x"), Property(message.PropertyTransactionPrepared, "true"))},
		{NewMessage("%RETRY%g", []byte("x"))},
		{NewMessage("T", make([]byte, 300))},
		{NewMessage("bad topic!", []byte("x"))},
	}
	for i, b := range bad {
		_, err := p.prepareBatch(b)
		require.ErrorIs(t, err, ErrBadMessage, "case %d", i)
	}
}

func TestPrepareCompressesAndFlags(t *testing.T) {
	t.Parallel()
	p := newUnstarted(t, CompressBodyOver(100))
	body := make([]byte, 1000)
	o, err := p.prepare(NewMessage("T", body))
	require.NoError(t, err)
	require.True(t, o.sysFlag.Has(message.SysFlagCompressed))
	out, err := client.Decompress(o.sysFlag, o.body)
	require.NoError(t, err)
	require.Equal(t, body, out)

	for _, alg := range []client.Compression{client.CompressionLZ4, client.CompressionZSTD} {
		pa := newUnstarted(t, CompressBodyOver(100), CompressType(alg))
		o, err := pa.prepare(NewMessage("T", body))
		require.NoError(t, err)
		require.Equal(t, alg.SysFlag(), o.sysFlag, "%s", alg)
		out, err := client.Decompress(o.sysFlag, o.body)
		require.NoError(t, err)
		require.Equal(t, body, out)
	}
	_, err = New(CompressType(client.Compression(9)))
	require.ErrorContains(t, err, "CompressType")

	o, err = p.prepare(NewMessage("T", make([]byte, 99)))
	require.NoError(t, err)
	require.False(t, o.sysFlag.Has(message.SysFlagCompressed))

	o, err = p.prepare(NewMessage("T", []byte("x"), Property(message.PropertyTransactionPrepared, "true")))
	require.NoError(t, err)
	require.Equal(t, message.SysFlagTransactionPreparedType, o.sysFlag.TransactionType())

	for _, m := range []*message.Message{nil, NewMessage("", []byte("x")), NewMessage("T", nil), NewMessage(string(make([]byte, 200)), []byte("x"))} {
		_, err := p.prepare(m)
		require.ErrorIs(t, err, ErrBadMessage)
	}
}

func TestRequestHeaders(t *testing.T) {
	t.Parallel()
	p := newUnstarted(t, Group("pg"))
	o, err := p.prepare(NewMessage("T", []byte("x"), Tags("a")))
	require.NoError(t, err)
	mq := message.MessageQueue{Topic: "T", BrokerName: "b", QueueID: 3}
	req := p.request(o, mq)
	require.Equal(t, protocol.SendMessageV2, req.RequestCode())
	for k, v := range map[string]string{"a": "pg", "b": "T", "c": "TBW102", "d": "4", "e": "3", "f": "0", "h": "0", "j": "0", "k": "false", "m": "false", "n": "b"} {
		require.Equal(t, v, req.Ext(k), k)
	}
	require.NotContains(t, req.ExtFields, "l", "no maxReconsumeTimes: the broker uses the group's")
	props := message.DecodeProperties([]byte(req.Ext("i")))
	require.Equal(t, "a", props[message.PropertyTags])
	require.Equal(t, o.ids[0], props[message.PropertyUniqKey])

	pl := newUnstarted(t, LongHeaders())
	req = pl.request(o, mq)
	require.Equal(t, protocol.SendMessage, req.RequestCode())
	require.Equal(t, "T", req.Ext("topic"))
	require.Equal(t, "3", req.Ext("queueId"))
	require.Equal(t, "DEFAULT_PRODUCER", req.Ext("producerGroup"))
}

func TestProducerOptionValidation(t *testing.T) {
	t.Parallel()
	ns := client.NameServers("127.0.0.1:1")
	bad := map[string][]client.ProducerOption{
		"no ns":         {Group("g")},
		"empty group":   {ns, Group("")},
		"timeout":       {ns, SendTimeout(0)},
		"retries":       {ns, Retries(-1)},
		"compress":      {ns, CompressBodyOver(-1)},
		"level":         {ns, CompressLevel(10)},
		"max size":      {ns, MaxMessageSize(0)},
		"selector":      {ns, WithQueueSelector(nil)},
		"auto create":   {ns, AutoCreateTopic("", 4)},
		"steps":         {ns, LatencySteps(LatencyStep{Latency: time.Second}, LatencyStep{Latency: time.Millisecond})},
		"inflight":      {ns, MaxAsyncInflight(0)},
		"tx in New":     {ns, TransactionListener(func(context.Context, *message.Message) TransactionState { return 0 }, func(context.Context, *message.MessageExt) TransactionState { return 0 })},
		"tx half":       {ns, TransactionListener(nil, nil)},
		"nil option":    {ns, nil},
		"bad namespace": {ns, client.Namespace("a b")},
	}
	for name, opts := range bad {
		p, err := New(opts...)
		require.Error(t, err, name)
		require.Nil(t, p, name)
	}
	_, err := NewTransactional(ns)
	require.Error(t, err, "transactional without listener")
	p, err := New(ns, Group("g"), SendTimeout(time.Second), Retries(0), LatencyFaultTolerance(false))
	require.NoError(t, err)
	_, err = p.Send(t.Context(), NewMessage("T", []byte("x")))
	require.ErrorIs(t, err, ErrNotStarted)
	require.NoError(t, p.Close())
	_, err = p.Send(t.Context(), NewMessage("T", []byte("x")))
	require.ErrorIs(t, err, ErrClosed)
}
