package storetest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/internal/testutil/poll"
	"github.com/petrelmq/petrel/pkg/message"
)

// Harness opens stores at one location.
type Harness struct {
	// Open opens (or reopens) the store at the harness's location. The suite
	// starts and closes it.
	Open func(t *testing.T) store.MessageStore
}

// Factory returns a Harness for a fresh, empty location.
type Factory func(t *testing.T) Harness

// Run runs the conformance suite.
func Run(t *testing.T, f Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"RoundTrip", testRoundTrip},
		{"Batch", testBatch},
		{"Filters", testFilters},
		{"Statuses", testStatuses},
		{"OffsetByTime", testOffsetByTime},
		{"Lookups", testLookups},
		{"QueryByKey", testQuery},
		{"DeleteTopic", testDeleteTopic},
		{"ConfigFiles", testConfigFiles},
		{"Reopen", testReopen},
		{"DispatchListener", testListener},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, f(t))
		})
	}
}

// WaitFor polls cond until it holds or timeout passes (then it fails the test).
// It is poll.WaitFor, kept for the store's tests.
func WaitFor(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	poll.WaitFor(t, timeout, cond)
}

var bornHost = netip.MustParseAddrPort("192.168.7.1:50000")

// Msg builds a test message for (topic, queue) number i with a body of size
// bytes, tag "T<i%3>", key "key-<i>" and unique key "uniq-<topic>-<i>".
func Msg(topic string, queueID int32, i, size int) *message.MessageExt {
	body := make([]byte, size)
	for j := range body {
		body[j] = byte(i*31 + j)
	}
	return &message.MessageExt{
		Message: message.Message{
			Topic: topic,
			Flag:  int32(i),
			Body:  body,
			Properties: map[string]string{
				message.PropertyTags:    "T" + strconv.Itoa(i%3),
				message.PropertyKeys:    "key-" + strconv.Itoa(i) + " common",
				message.PropertyUniqKey: "uniq-" + topic + "-" + strconv.Itoa(i),
			},
		},
		QueueID:       queueID,
		BornTimestamp: 1_700_000_000_000 + int64(i),
		BornHost:      bornHost,
	}
}

func clone(m *message.MessageExt) *message.MessageExt {
	c := *m
	c.Body = slices.Clone(m.Body)
	c.Properties = make(map[string]string, len(m.Properties))
	for k, v := range m.Properties {
		c.Properties[k] = v
	}
	return &c
}

// Put stores msg and waits for its result.
func Put(t testing.TB, s store.MessageStore, msg *message.MessageExt) store.PutResult {
	t.Helper()
	res, err := PutErr(s, msg)
	require.NoError(t, err)
	return res
}

// PutErr stores msg and returns its result and error.
func PutErr(s store.MessageStore, msg *message.MessageExt) (store.PutResult, error) {
	return store.PutWait(context.Background(), s, msg)
}

// PutAsync stores msgs (one message or a batch) and returns a channel that
// receives the put's completion. Put itself runs before PutAsync returns, so
// calls are ordered as the caller makes them.
func PutAsync(s store.MessageStore, msgs ...*message.MessageExt) <-chan store.Completion {
	q := store.NewCompletions()
	s.Put(msgs, q, nil)
	ch := make(chan store.Completion, 1)
	go func() {
		c, _ := q.Next(context.Background())
		ch <- c
	}()
	return ch
}

// PutBatch stores msgs as one batch and waits for its result.
func PutBatch(s store.MessageStore, msgs []*message.MessageExt) (store.PutResult, error) {
	return store.PutWait(context.Background(), s, msgs...)
}

func open(t *testing.T, h Harness) store.MessageStore {
	t.Helper()
	s := h.Open(t)
	require.NoError(t, s.Start(context.Background()))
	return s
}

// WaitDispatched waits until the queue's max offset reaches want.
func WaitDispatched(t testing.TB, s store.MessageStore, topic string, queueID int32, want message.QueueOffset) {
	t.Helper()
	WaitFor(t, 10*time.Second, func() bool { return s.MaxOffsetInQueue(topic, queueID) >= want })
}

// GetAll pulls every message of a queue from offset, 32 at a time.
func GetAll(t testing.TB, s store.MessageStore, topic string, queueID int32, from message.QueueOffset) []*message.MessageExt {
	t.Helper()
	var out []*message.MessageExt
	off := from
	for {
		r, err := s.GetMessages(context.Background(), "g", topic, queueID, off, 32, nil, nil)
		require.NoError(t, err)
		if r.Status != store.GetFound {
			require.Equal(t, store.GetOffsetOverflowOne, r.Status, "pull at %d", off)
			return out
		}
		msgs, err := message.DecodeMessages(r.Body)
		require.NoError(t, err)
		require.Len(t, msgs, r.Count)
		out = append(out, msgs...)
		require.Greater(t, r.NextBeginOffset, off)
		off = r.NextBeginOffset
	}
}

// checkStored compares a stored record with the message that was put.
func checkStored(t testing.TB, want *message.MessageExt, res store.PutResult, got *message.MessageExt) {
	t.Helper()
	require.Equal(t, want.Topic, got.Topic)
	require.Equal(t, want.QueueID, got.QueueID)
	require.Equal(t, want.Flag, got.Flag)
	require.Equal(t, want.Body, got.Body)
	require.Equal(t, want.Properties, got.Properties)
	require.Equal(t, want.BornTimestamp, got.BornTimestamp)
	require.Equal(t, want.BornHost, got.BornHost)
	require.Equal(t, res.PhysOffset, got.PhysOffset)
	require.Equal(t, res.QueueOffset, got.QueueOffset)
	require.Equal(t, res.StoreTimestamp, got.StoreTimestamp)
	require.Equal(t, message.BodyCRC(want.Body), got.BodyCRC)
	require.Equal(t, got.OffsetMsgID(), res.MsgID)
	// Byte-identical: re-encoding the decoded message gives the stored bytes.
	enc, err := message.AppendRecord(nil, got)
	require.NoError(t, err)
	require.Equal(t, int(got.StoreSize), len(enc))
}

func testRoundTrip(t *testing.T, h Harness) {
	s := open(t, h)
	defer func() { require.NoError(t, s.Close()) }()
	const n = 60
	type put struct {
		msg *message.MessageExt
		res store.PutResult
	}
	perQueue := map[int32][]put{}
	for i := range n {
		q := int32(i % 3)
		m := Msg("RoundTrip", q, i, 10+i*37)
		want := clone(m)
		res := Put(t, s, m)
		require.Equal(t, store.PutOK, res.Status)
		require.Equal(t, message.QueueOffset(len(perQueue[q])), res.QueueOffset, "contiguous per queue")
		perQueue[q] = append(perQueue[q], put{want, res})
	}
	for q, puts := range perQueue {
		WaitDispatched(t, s, "RoundTrip", q, message.QueueOffset(len(puts)))
		got := GetAll(t, s, "RoundTrip", q, 0)
		require.Len(t, got, len(puts))
		for i, p := range puts {
			checkStored(t, p.msg, p.res, got[i])
		}
		require.Equal(t, message.QueueOffset(0), s.MinOffsetInQueue("RoundTrip", q))
		require.Equal(t, message.QueueOffset(len(puts)), s.MaxOffsetInQueue("RoundTrip", q))
	}
	require.Equal(t, []int32{0, 1, 2}, s.QueueIDs("RoundTrip"))
	// Records come back byte-identical however they are read.
	p := perQueue[1][3]
	r, err := s.GetMessages(context.Background(), "g", "RoundTrip", 1, 3, 1, nil, []byte("prefix"))
	require.NoError(t, err)
	require.Equal(t, store.GetFound, r.Status)
	require.Equal(t, []byte("prefix"), r.Body[:6], "appends to dst")
	rec, err := s.LookMessageByOffset(p.res.PhysOffset, nil)
	require.NoError(t, err)
	require.Equal(t, rec, r.Body[6:])
	require.Equal(t, p.res.Size, len(rec))
	st := s.Stats()
	require.GreaterOrEqual(t, st.PutCount, int64(n))
	require.GreaterOrEqual(t, st.CommitLogMaxOffset, p.res.PhysOffset)
}

func testBatch(t *testing.T, h Harness) {
	s := open(t, h)
	defer func() { require.NoError(t, s.Close()) }()
	Put(t, s, Msg("Batch", 2, 0, 5))
	var msgs, wants []*message.MessageExt
	for i := 1; i <= 10; i++ {
		m := Msg("Batch", 2, i, 20+i)
		msgs = append(msgs, m)
		wants = append(wants, clone(m))
	}
	res, err := PutBatch(s, msgs)
	require.NoError(t, err)
	require.Equal(t, 10, res.Count)
	require.Len(t, res.MsgIDs, 10)
	require.Equal(t, message.QueueOffset(1), res.QueueOffset)
	WaitDispatched(t, s, "Batch", 2, 11)
	got := GetAll(t, s, "Batch", 2, 1)
	require.Len(t, got, 10)
	phys := res.PhysOffset
	total := 0
	for i, g := range got {
		require.Equal(t, message.QueueOffset(1+i), g.QueueOffset)
		require.Equal(t, phys, g.PhysOffset, "consecutive physical offsets")
		require.Equal(t, res.MsgIDs[i], g.OffsetMsgID())
		require.Equal(t, wants[i].Body, g.Body)
		require.Equal(t, wants[i].Properties, g.Properties)
		phys += message.PhysOffset(g.StoreSize)
		total += int(g.StoreSize)
	}
	require.Equal(t, total, res.Size)
	_, err = PutBatch(s, []*message.MessageExt{Msg("Batch", 2, 1, 1), Msg("Batch", 3, 2, 1)})
	require.ErrorIs(t, err, store.ErrBadBatch)
	_, err = PutBatch(s, nil)
	require.ErrorIs(t, err, store.ErrBadBatch)
}

// tagFilter accepts tags codes in codes and records whose body does not start
// with skip.
type tagFilter struct {
	codes map[int64]bool
	skip  byte
}

func (f tagFilter) MatchTagsCode(c int64) bool { return f.codes == nil || f.codes[c] }
func (f tagFilter) MatchRecord(rec []byte) bool {
	m, _, err := message.DecodeMessage(rec)
	return err == nil && (len(m.Body) == 0 || m.Body[0] != f.skip || f.skip == 0)
}

func testFilters(t *testing.T, h Harness) {
	s := open(t, h)
	defer func() { require.NoError(t, s.Close()) }()
	for i := range 30 {
		Put(t, s, Msg("Filter", 0, i, 16))
	}
	WaitDispatched(t, s, "Filter", 0, 30)
	ctx := context.Background()
	f := tagFilter{codes: map[int64]bool{message.TagsHashCode("T1"): true}}
	r, err := s.GetMessages(ctx, "g", "Filter", 0, 0, 32, f, nil)
	require.NoError(t, err)
	require.Equal(t, store.GetFound, r.Status)
	require.Equal(t, 10, r.Count)
	require.Equal(t, message.QueueOffset(30), r.NextBeginOffset, "skipped entries count")
	msgs, err := message.DecodeMessages(r.Body)
	require.NoError(t, err)
	for _, m := range msgs {
		require.Equal(t, "T1", m.Tags())
	}
	// No match at all.
	r, err = s.GetMessages(ctx, "g", "Filter", 0, 0, 32, tagFilter{codes: map[int64]bool{42: true}}, nil)
	require.NoError(t, err)
	require.Equal(t, store.GetNoMatchedMessage, r.Status)
	require.Zero(t, r.Count)
	require.Equal(t, message.QueueOffset(30), r.NextBeginOffset)
	// Record-level filter: message 4's body starts with byte 4*31.
	r, err = s.GetMessages(ctx, "g", "Filter", 0, 4, 1, tagFilter{skip: byte(4 * 31)}, nil)
	require.NoError(t, err)
	require.Equal(t, store.GetFound, r.Status)
	require.Equal(t, 1, r.Count)
	m, _, err := message.DecodeMessage(r.Body)
	require.NoError(t, err)
	require.Equal(t, message.QueueOffset(5), m.QueueOffset)
	require.Equal(t, message.QueueOffset(6), r.NextBeginOffset)
	// maxMsgs caps the answer.
	r, err = s.GetMessages(ctx, "g", "Filter", 0, 0, 7, nil, nil)
	require.NoError(t, err)
	require.Equal(t, 7, r.Count)
	require.Equal(t, message.QueueOffset(7), r.NextBeginOffset)
}

func testStatuses(t *testing.T, h Harness) {
	s := open(t, h)
	defer func() { require.NoError(t, s.Close()) }()
	ctx := context.Background()
	r, err := s.GetMessages(ctx, "g", "Nope", 0, 5, 32, nil, nil)
	require.NoError(t, err)
	require.Equal(t, store.GetNoMatchedLogicQueue, r.Status)
	require.Equal(t, message.QueueOffset(0), r.NextBeginOffset)
	require.Equal(t, message.QueueOffset(0), s.MaxOffsetInQueue("Nope", 0))
	for i := range 5 {
		Put(t, s, Msg("Status", 1, i, 8))
	}
	WaitDispatched(t, s, "Status", 1, 5)
	r, err = s.GetMessages(ctx, "g", "Status", 1, 5, 32, nil, nil)
	require.NoError(t, err)
	require.Equal(t, store.GetOffsetOverflowOne, r.Status)
	require.Equal(t, message.QueueOffset(5), r.NextBeginOffset)
	require.Equal(t, message.QueueOffset(0), r.MinOffset)
	require.Equal(t, message.QueueOffset(5), r.MaxOffset)
	r, err = s.GetMessages(ctx, "g", "Status", 1, 9, 32, nil, nil)
	require.NoError(t, err)
	require.Equal(t, store.GetOffsetOverflowBadly, r.Status)
	require.Equal(t, message.QueueOffset(0), r.NextBeginOffset, "min 0: back to 0, as RocketMQ")
	r, err = s.GetMessages(ctx, "g", "Status", 1, 2, 32, nil, nil)
	require.NoError(t, err)
	require.Equal(t, store.GetFound, r.Status)
	require.Equal(t, 3, r.Count)
	require.Equal(t, message.QueueOffset(5), r.NextBeginOffset)
}

func testOffsetByTime(t *testing.T, h Harness) {
	s := open(t, h)
	defer func() { require.NoError(t, s.Close()) }()
	var first, last store.PutResult
	for i := range 10 {
		r := Put(t, s, Msg("Time", 0, i, 8))
		if i == 0 {
			first = r
		}
		last = r
	}
	WaitDispatched(t, s, "Time", 0, 10)
	require.Equal(t, message.QueueOffset(0), s.OffsetByTime("Time", 0, first.StoreTimestamp-1_000_000))
	require.Equal(t, message.QueueOffset(9), s.OffsetByTime("Time", 0, last.StoreTimestamp+1_000_000))
	off := s.OffsetByTime("Time", 0, last.StoreTimestamp)
	ts, err := s.MessageStoreTime("Time", 0, off)
	require.NoError(t, err)
	require.Equal(t, last.StoreTimestamp, ts)
	require.Equal(t, message.QueueOffset(0), s.OffsetByTime("Nope", 0, 1))
}

func testLookups(t *testing.T, h Harness) {
	s := open(t, h)
	defer func() { require.NoError(t, s.Close()) }()
	var results []store.PutResult
	for i := range 5 {
		results = append(results, Put(t, s, Msg("Look", 0, i, 100)))
	}
	WaitDispatched(t, s, "Look", 0, 5)
	ts, err := s.EarliestMessageTime("Look", 0)
	require.NoError(t, err)
	require.Equal(t, results[0].StoreTimestamp, ts)
	ts, err = s.MessageStoreTime("Look", 0, 3)
	require.NoError(t, err)
	require.Equal(t, results[3].StoreTimestamp, ts)
	_, err = s.MessageStoreTime("Look", 0, 99)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.EarliestMessageTime("Nope", 0)
	require.ErrorIs(t, err, store.ErrNotFound)
	rec, err := s.LookMessageByOffset(results[2].PhysOffset, nil)
	require.NoError(t, err)
	m, _, err := message.DecodeMessage(rec)
	require.NoError(t, err)
	require.Equal(t, message.QueueOffset(2), m.QueueOffset)
	_, err = s.LookMessageByOffset(results[2].PhysOffset+1, nil)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.LookMessageByOffset(1<<50, nil)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testQuery(t *testing.T, h Harness) {
	s := open(t, h)
	defer func() { require.NoError(t, s.Close()) }()
	var results []store.PutResult
	for i := range 8 {
		results = append(results, Put(t, s, Msg("Query", int32(i%2), i, 30)))
	}
	Put(t, s, Msg("Other", 0, 3, 30))
	WaitDispatched(t, s, "Query", 1, 4)
	WaitDispatched(t, s, "Other", 0, 1)
	begin, end := results[0].StoreTimestamp-1000, results[7].StoreTimestamp+1000
	var q store.QueryResult
	WaitFor(t, 10*time.Second, func() bool {
		var err error
		q, err = s.QueryMessage("Query", "key-3", 32, begin, end)
		require.NoError(t, err)
		return len(q.Records) > 0
	})
	require.Len(t, q.Records, 1)
	m, _, err := message.DecodeMessage(q.Records[0])
	require.NoError(t, err)
	require.Equal(t, results[3].PhysOffset, m.PhysOffset)
	q, err = s.QueryMessage("Query", "uniq-Query-5", 32, begin, end)
	require.NoError(t, err)
	require.Len(t, q.Records, 1)
	m, _, err = message.DecodeMessage(q.Records[0])
	require.NoError(t, err)
	require.Equal(t, results[5].PhysOffset, m.PhysOffset)
	q, err = s.QueryMessage("Query", "common", 32, begin, end)
	require.NoError(t, err)
	require.Len(t, q.Records, 8, "one record per message, other topics excluded")
	q, err = s.QueryMessage("Query", "common", 3, begin, end)
	require.NoError(t, err)
	require.Len(t, q.Records, 3, "maxNum")
	q, err = s.QueryMessage("Query", "key-3", 32, end+1000, end+2000)
	require.NoError(t, err)
	require.Empty(t, q.Records, "outside the time range")
}

func testDeleteTopic(t *testing.T, h Harness) {
	s := open(t, h)
	defer func() { require.NoError(t, s.Close()) }()
	for i := range 6 {
		Put(t, s, Msg("Del", int32(i%2), i, 10))
	}
	Put(t, s, Msg("Keep", 0, 0, 10))
	WaitDispatched(t, s, "Del", 1, 3)
	WaitDispatched(t, s, "Keep", 0, 1)
	require.NoError(t, s.DeleteTopic("Del"))
	require.Empty(t, s.QueueIDs("Del"))
	r, err := s.GetMessages(context.Background(), "g", "Del", 0, 0, 32, nil, nil)
	require.NoError(t, err)
	require.Equal(t, store.GetNoMatchedLogicQueue, r.Status)
	require.Equal(t, message.QueueOffset(0), s.MaxOffsetInQueue("Del", 0))
	require.Equal(t, []int32{0}, s.QueueIDs("Keep"))
	res := Put(t, s, Msg("Del", 0, 100, 10))
	require.Equal(t, message.QueueOffset(0), res.QueueOffset, "a deleted topic starts again at 0")
	WaitDispatched(t, s, "Del", 0, 1)
	got := GetAll(t, s, "Del", 0, 0)
	require.Len(t, got, 1)
	require.Equal(t, res.PhysOffset, got[0].PhysOffset)
}

func testConfigFiles(t *testing.T, h Harness) {
	s := open(t, h)
	data, err := s.LoadConfig("topics.json")
	require.NoError(t, err)
	require.Nil(t, data)
	require.NoError(t, s.SaveConfig("topics.json", []byte(`{"v":1}`)))
	require.NoError(t, s.SaveConfig("topics.json", []byte(`{"v":2}`)))
	data, err = s.LoadConfig("topics.json")
	require.NoError(t, err)
	require.Equal(t, `{"v":2}`, string(data))
	require.Error(t, s.SaveConfig("../escape.json", []byte(`{}`)))
	require.NoError(t, s.SaveConfig("consumerOffset.json", []byte(`{"offsetTable":{}}`)))
	require.NoError(t, s.Close())
	s = open(t, h)
	defer func() { require.NoError(t, s.Close()) }()
	data, err = s.LoadConfig("topics.json")
	require.NoError(t, err)
	require.Equal(t, `{"v":2}`, string(data))
	data, err = s.LoadConfig("consumerOffset.json")
	require.NoError(t, err)
	require.Equal(t, `{"offsetTable":{}}`, string(data))
}

func testReopen(t *testing.T, h Harness) {
	s := open(t, h)
	type put struct {
		msg *message.MessageExt
		res store.PutResult
	}
	var puts []put
	for i := range 40 {
		m := Msg("Reopen", int32(i%4), i, 50+i*11)
		w := clone(m)
		puts = append(puts, put{w, Put(t, s, m)})
	}
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")
	s = open(t, h)
	defer func() { require.NoError(t, s.Close()) }()
	for q := int32(0); q < 4; q++ {
		require.Equal(t, message.QueueOffset(10), s.MaxOffsetInQueue("Reopen", q))
		got := GetAll(t, s, "Reopen", q, 0)
		require.Len(t, got, 10)
		for i, g := range got {
			p := puts[i*4+int(q)]
			checkStored(t, p.msg, p.res, g)
		}
	}
	res := Put(t, s, Msg("Reopen", 2, 99, 10))
	require.Equal(t, message.QueueOffset(10), res.QueueOffset, "queue offsets continue after reopen")
	q, err := s.QueryMessage("Reopen", "key-7", 8, puts[0].res.StoreTimestamp-1000, res.StoreTimestamp+1000)
	require.NoError(t, err)
	require.Len(t, q.Records, 1)
}

func testListener(t *testing.T, h Harness) {
	s := h.Open(t)
	dq := store.NewDispatchQueue(store.DefaultDispatchQueueSize)
	s.AddDispatchQueue(dq)
	require.NoError(t, s.Start(context.Background()))
	defer func() { require.NoError(t, s.Close()) }()
	phys := map[message.PhysOffset]bool{}
	for i := range 20 {
		phys[Put(t, s, Msg("Listen", int32(i%2), i, 10)).PhysOffset] = true
	}
	seen := map[string][]message.QueueOffset{}
	var evs []store.DispatchEvent
	WaitFor(t, 10*time.Second, func() bool {
		var lost bool
		evs, lost = dq.Drain(evs[:0])
		require.False(t, lost, "no event dropped from a queue with room")
		for _, ev := range evs {
			k := fmt.Sprintf("%s/%d", ev.Topic, ev.QueueID)
			seen[k] = append(seen[k], ev.QueueOffset)
			require.True(t, phys[ev.PhysOffset], "event names the record's commit-log offset")
			require.NotZero(t, ev.StoreTimestamp)
		}
		return len(seen["Listen/0"]) == 10 && len(seen["Listen/1"]) == 10
	})
	for _, offs := range seen {
		for i, o := range offs {
			require.Equal(t, message.QueueOffset(i), o, "in queue order, once each")
		}
	}
}

func testClosed(t *testing.T, h Harness) {
	s := open(t, h)
	Put(t, s, Msg("Closed", 0, 0, 10))
	require.NoError(t, s.Close())
	_, err := PutErr(s, Msg("Closed", 0, 1, 10))
	require.ErrorIs(t, err, store.ErrClosed)
	_, err = s.GetMessages(context.Background(), "g", "Closed", 0, 0, 1, nil, nil)
	require.ErrorIs(t, err, store.ErrClosed)
	require.ErrorIs(t, s.Start(context.Background()), store.ErrClosed)
	require.True(t, errors.Is(s.SaveConfig("x.json", []byte("{}")), store.ErrClosed))
}
