package dedup

import (
	"errors"
	"iter"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
)

var storeHost = netip.MustParseAddrPort("10.0.0.1:10911")

// records encodes msgs as a commit log would hold them, from offset 0.
func records(t testing.TB, msgs []*message.MessageExt) [][]byte {
	t.Helper()
	var out [][]byte
	var off message.PhysOffset
	for _, m := range msgs {
		m.PhysOffset, m.StoreHost = off, storeHost
		rec, err := message.AppendRecord(nil, m)
		require.NoError(t, err)
		out = append(out, rec)
		off += message.PhysOffset(len(rec))
	}
	return out
}

func source(recs [][]byte) Source {
	return func(int64) iter.Seq2[[]byte, error] {
		return func(yield func([]byte, error) bool) {
			for _, r := range recs {
				if !yield(r, nil) {
					return
				}
			}
		}
	}
}

func msg(topic string, stored time.Time, props map[string]string) *message.MessageExt {
	return &message.MessageExt{Message: message.Message{Topic: topic, Body: []byte("b"), Properties: props},
		QueueID: 1, QueueOffset: 5, StoreTimestamp: stored.UnixMilli()}
}

func TestRebuild(t *testing.T) {
	t.Parallel()
	now := time.Unix(10_000, 0)
	clk := clock.NewManual(now)
	g := message.PropertyDedupGroup
	recs := records(t, []*message.MessageExt{
		msg("T", now.Add(-2*time.Minute), map[string]string{g: "G", message.PropertyUniqKey: "old"}), // expired
		msg("T", now.Add(-30*time.Second), map[string]string{g: "G", message.PropertyUniqKey: "a"}),  // kept
		msg("T", now.Add(-20*time.Second), map[string]string{g: "G", message.PropertyUniqKey: "a"}),  // a later copy: first wins
		msg("T", now.Add(-10*time.Second), map[string]string{message.PropertyUniqKey: "nomark"}),     // not de-duplicated
		msg("T", now.Add(-10*time.Second), map[string]string{g: "G", message.PropertyUniqKey: "u", message.PropertyDedupKey: "own"}),
		msg("SCHEDULE_TOPIC_XXXX", now.Add(-5*time.Second), map[string]string{g: "G", message.PropertyUniqKey: "d",
			message.PropertyRealTopic: "T", message.PropertyRealQueueID: "3"}),
		msg("Off", now.Add(-5*time.Second), map[string]string{g: "G", message.PropertyUniqKey: "x"}), // topic without window
	})
	tb := New(10, clk, nil)
	windows := map[string]time.Duration{"T": time.Minute}
	n, err := tb.Rebuild(source(recs), func(topic string) time.Duration { return windows[topic] }, time.Minute)
	require.NoError(t, err)
	require.Equal(t, 3, n)

	look := func(k Key) *Result {
		s := []Slot{{Key: k}}
		tb.Claim(s, nil)
		if s[0].Claimed() {
			tb.Abort(s)
		}
		return s[0].Found
	}
	r := look(Key{"T", "G", "a"})
	require.NotNil(t, r)
	require.Equal(t, message.OffsetMsgID(storeHost, message.PhysOffset(len(recs[0]))), r.MsgID, "the first copy")
	require.Equal(t, int32(1), r.QueueID)
	require.Equal(t, int64(5), r.QueueOffset)
	require.NotNil(t, look(Key{"T", "G", "own"}), "PETREL_DEDUP_KEY wins over UNIQ_KEY")
	require.Nil(t, look(Key{"T", "G", "u"}))
	d := look(Key{"T", "G", "d"})
	require.NotNil(t, d, "a parked record counts for its real topic")
	require.Equal(t, int32(3), d.QueueID)
	require.Nil(t, look(Key{"T", "G", "old"}))
	require.Nil(t, look(Key{"T", "", "nomark"}))
	require.Nil(t, look(Key{"Off", "G", "x"}))

	clk.Advance(30 * time.Second)
	require.Nil(t, look(Key{"T", "G", "a"}), "expires a window after its store time")
}

// BenchmarkRebuild is the CPU cost per commit-log record of rebuilding the
// window (parse, property lookups, insert), records in memory.
func BenchmarkRebuild(b *testing.B) {
	now := time.Unix(10_000, 0)
	const n = 100_000
	msgs := make([]*message.MessageExt, n)
	for i := range msgs {
		msgs[i] = msg("T", now.Add(-time.Duration(n-i)*time.Millisecond), map[string]string{
			message.PropertyDedupGroup: "pg", message.PropertyUniqKey: "7F00000100002A9F0000" + strconv.Itoa(1_000_000+i),
			message.PropertyTags: "TagA", message.PropertyCluster: "DefaultCluster"})
		msgs[i].Body = make([]byte, 1024)
	}
	recs := records(b, msgs)
	b.ReportAllocs()
	for b.Loop() {
		tb := New(0, clock.NewManual(now), nil)
		if _, err := tb.Rebuild(source(recs), func(string) time.Duration { return time.Hour }, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
}

func TestRebuildReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("read failed")
	src := func(int64) iter.Seq2[[]byte, error] {
		return func(yield func([]byte, error) bool) { yield(nil, boom) }
	}
	_, err := New(10, clock.NewManual(time.Unix(0, 0)), nil).Rebuild(src, func(string) time.Duration { return time.Minute }, time.Minute)
	require.ErrorIs(t, err, boom)
}
