package dedup

import (
	"bytes"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/protocol"
)

func key(id string) Key { return Key{Topic: "T", Group: "G", ID: id} }

func res(id string) Result {
	return Result{Code: protocol.Success, MsgID: id, QueueID: 1, QueueOffset: 7}
}

func TestClaimResolveDuplicate(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(time.Unix(1000, 0))
	tb := New(10, clk, nil)
	first := []Slot{{Key: key("a")}}
	require.False(t, tb.Claim(first, nil))
	require.True(t, first[0].Claimed())
	require.Nil(t, first[0].Found)
	tb.Resolve(first, []Result{res("m1")}, time.Minute)

	retry := []Slot{{Key: key("a")}}
	require.False(t, tb.Claim(retry, nil))
	require.False(t, retry[0].Claimed())
	require.Equal(t, res("m1"), *retry[0].Found)

	other := []Slot{{Key: Key{Topic: "T", Group: "other", ID: "a"}}}
	require.False(t, tb.Claim(other, nil))
	require.True(t, other[0].Claimed(), "another producer group is another key")

	st := tb.Stats()
	require.Equal(t, int64(1), st.Dropped)
	require.Equal(t, map[string]int64{"T": 1}, st.ByTopic)
	require.Equal(t, 1, st.Entries, "in-flight entries are not counted")
}

func TestEmptyKeyIsNeverDeduplicated(t *testing.T) {
	t.Parallel()
	tb := New(10, clock.NewManual(time.Unix(0, 0)), nil)
	s := []Slot{{Key: Key{Topic: "T", Group: "G"}}}
	require.False(t, tb.Claim(s, nil))
	require.False(t, s[0].Claimed())
	require.Nil(t, s[0].Found)
}

func TestRacingAttemptWaitsForTheFirst(t *testing.T) {
	t.Parallel()
	tb := New(10, clock.NewManual(time.Unix(0, 0)), nil)
	first := []Slot{{Key: key("a")}}
	require.False(t, tb.Claim(first, nil))

	second := []Slot{{Key: key("a")}, {Key: key("b")}}
	runs := 0
	require.True(t, tb.Claim(second, resume(func() { runs++ })))
	require.False(t, second[1].Claimed(), "a parked send claims nothing")
	require.Equal(t, 0, runs)

	tb.Resolve(first, []Result{res("m1")}, time.Minute)
	require.Equal(t, 1, runs, "woken once")
	require.False(t, tb.Claim(second, nil))
	require.Equal(t, "m1", second[0].Found.MsgID)
	require.True(t, second[1].Claimed())
}

func TestAbortLetsTheWaiterStore(t *testing.T) {
	t.Parallel()
	tb := New(10, clock.NewManual(time.Unix(0, 0)), nil)
	first := []Slot{{Key: key("a")}}
	require.False(t, tb.Claim(first, nil))
	second := []Slot{{Key: key("a")}}
	runs := 0
	require.True(t, tb.Claim(second, resume(func() { runs++ })))
	tb.Abort(first)
	require.Equal(t, 1, runs)
	require.False(t, tb.Claim(second, nil))
	require.True(t, second[0].Claimed(), "the first stored nothing: the retry stores")
}

func TestWaiterOnTwoKeysRunsAfterBoth(t *testing.T) {
	t.Parallel()
	tb := New(10, clock.NewManual(time.Unix(0, 0)), nil)
	a, b := []Slot{{Key: key("a")}}, []Slot{{Key: key("b")}}
	require.False(t, tb.Claim(a, nil))
	require.False(t, tb.Claim(b, nil))
	runs := 0
	batch := []Slot{{Key: key("a")}, {Key: key("b")}, {Key: key("a")}}
	require.True(t, tb.Claim(batch, resume(func() { runs++ })))
	tb.Resolve(a, []Result{res("m1")}, time.Minute)
	require.Equal(t, 0, runs)
	tb.Abort(b)
	require.Equal(t, 1, runs)
}

func TestRepeatedKeyInOneBatchIsStored(t *testing.T) {
	t.Parallel()
	tb := New(10, clock.NewManual(time.Unix(0, 0)), nil)
	batch := []Slot{{Key: key("a")}, {Key: key("a")}}
	require.False(t, tb.Claim(batch, nil))
	require.True(t, batch[0].Claimed())
	require.False(t, batch[1].Claimed())
	require.Nil(t, batch[1].Found)
	tb.Resolve(batch, []Result{res("m1"), res("m2")}, time.Minute)
	require.Equal(t, 1, tb.Stats().Entries)
}

func TestWindowExpiry(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(time.Unix(0, 0))
	tb := New(10, clk, nil)
	s := []Slot{{Key: key("a")}}
	require.False(t, tb.Claim(s, nil))
	tb.Resolve(s, []Result{res("m1")}, 10*time.Second)
	long := []Slot{{Key: key("b")}}
	require.False(t, tb.Claim(long, nil))
	tb.Resolve(long, []Result{res("m2")}, time.Hour)

	clk.Advance(10*time.Second - time.Millisecond)
	retry := []Slot{{Key: key("a")}}
	require.False(t, tb.Claim(retry, nil))
	require.NotNil(t, retry[0].Found, "inside the window")

	clk.Advance(time.Millisecond)
	require.Equal(t, 1, tb.Stats().Entries, "a's window passed, b's did not")
	require.False(t, tb.Claim(retry, nil))
	require.True(t, retry[0].Claimed(), "after the window a retry is stored again")
}

func TestCapEvictsOldestAndLogs(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(time.Unix(0, 0))
	var logBuf bytes.Buffer
	tb := New(3, clk, slog.New(slog.NewTextHandler(&logBuf, nil)))
	for i := range 5 {
		s := []Slot{{Key: key(strconv.Itoa(i))}}
		require.False(t, tb.Claim(s, nil))
		tb.Resolve(s, []Result{res(strconv.Itoa(i))}, time.Minute)
		clk.Advance(time.Millisecond)
	}
	st := tb.Stats()
	require.Equal(t, 3, st.Entries)
	require.Equal(t, int64(2), st.Evicted)
	require.Equal(t, 1, bytes.Count(logBuf.Bytes(), []byte("duplicateMaxEntries reached")), "rate-limited")
	for i, evicted := range []bool{true, true, false, false, false} {
		s := []Slot{{Key: key(strconv.Itoa(i))}}
		require.False(t, tb.Claim(s, nil))
		require.Equal(t, evicted, s[0].Claimed(), "key %d", i)
		if s[0].Claimed() {
			tb.Abort(s)
		}
	}
	clk.Advance(time.Minute)
	s := []Slot{{Key: key("x")}}
	for i := range 2 {
		s[0].Key = key("y" + strconv.Itoa(i))
		require.False(t, tb.Claim(s, nil))
		tb.Resolve(s, []Result{res("y")}, time.Hour)
	}
	require.Equal(t, 2, tb.Stats().Entries, "expired entries went first")
}

func TestCapHoldsUnderLoad(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(time.Unix(0, 0))
	tb := New(1000, clk, nil)
	for i := range 100_000 {
		s := []Slot{{Key: key(strconv.Itoa(i))}}
		tb.Claim(s, nil)
		w := time.Minute
		if i%2 == 0 {
			w = time.Hour
		}
		tb.Resolve(s, []Result{res("m")}, w)
	}
	st := tb.Stats()
	require.Equal(t, 1000, st.Entries)
	require.Equal(t, int64(99_000), st.Evicted)
	tb.mu.Lock()
	require.Len(t, tb.entries, 1000)
	n := 0
	for _, f := range tb.fifos {
		n += len(f.q) - f.head
		require.LessOrEqual(t, cap(f.q), 4096, "popped slots are reclaimed")
	}
	tb.mu.Unlock()
	require.Equal(t, 1000, n)
}

func TestAddFirstWins(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(time.Unix(100, 0))
	tb := New(10, clk, nil)
	require.True(t, tb.Add(key("a"), res("m1"), time.Minute, clk.Now().Add(time.Second)))
	require.False(t, tb.Add(key("a"), res("m2"), time.Minute, clk.Now().Add(time.Minute)))
	require.False(t, tb.Add(key("b"), res("m3"), time.Minute, clk.Now()), "already expired")
	s := []Slot{{Key: key("a")}}
	tb.Claim(s, nil)
	require.Equal(t, "m1", s[0].Found.MsgID)
}

// resume adapts a func to Parked.
type resume func()

func (r resume) Resume() { r() }
