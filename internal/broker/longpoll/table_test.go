package longpoll

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// tagSet is a TagMatcher over tag names.
type tagSet map[int64]bool

func (s tagSet) MatchTagsCode(code int64) bool { return s[code] }

// TestTable runs the datadriven scripts in testdata/table. Commands:
//
//	new [max=]                                   a fresh table (max default 100)
//	hold id= topic= queue= offset= deadline= conn= [tags=A,B]
//	dispatch topic= queue= offset= [tag=]        a message dispatched
//	wake topic= queue= max=                      re-check pulls below max
//	expire at=                                   deadlines at or before t0+at
//	drop conn=                                   a connection closed
//	take-all
//	dump                                         held pulls by id, next deadline
//
// Commands that release pulls print their ids sorted. After every command
// the table's three indexes must agree.
func TestTable(t *testing.T) {
	datadriven.Walk(t, "testdata/table", func(t *testing.T, path string) {
		tb := NewTable(100)
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			var out string
			tb, out = runTableCmd(t, tb, d)
			checkTable(t, tb)
			return out
		})
	})
}

func arg(t *testing.T, d *datadriven.TestData, key string) string {
	t.Helper()
	var s string
	d.ScanArgs(t, key, &s)
	return s
}

func intArg(t *testing.T, d *datadriven.TestData, key string) int64 {
	t.Helper()
	var n int64
	_, err := fmt.Sscan(arg(t, d, key), &n)
	require.NoError(t, err)
	return n
}

func durArg(t *testing.T, d *datadriven.TestData, key string) time.Duration {
	t.Helper()
	v, err := time.ParseDuration(arg(t, d, key))
	require.NoError(t, err)
	return v
}

func keyArgs(t *testing.T, d *datadriven.TestData) Key {
	return Key{Topic: arg(t, d, "topic"), QueueID: int32(intArg(t, d, "queue"))}
}

func ids(ps []*Pull) string {
	if len(ps) == 0 {
		return "none"
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.Data.(string))
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func runTableCmd(t *testing.T, tb *Table, d *datadriven.TestData) (*Table, string) {
	switch d.Cmd {
	case "new":
		max := int64(100)
		if d.HasArg("max") {
			max = intArg(t, d, "max")
		}
		return NewTable(int(max)), "ok"
	case "hold":
		p := &Pull{
			Key:      keyArgs(t, d),
			Offset:   message.QueueOffset(intArg(t, d, "offset")),
			Deadline: t0.Add(durArg(t, d, "deadline")),
			ConnID:   uint64(intArg(t, d, "conn")),
			Data:     arg(t, d, "id"),
		}
		if d.HasArg("tags") {
			set := tagSet{}
			for _, tag := range strings.Split(arg(t, d, "tags"), ",") {
				set[message.TagsHashCode(tag)] = true
			}
			p.Filter = set
		}
		if err := tb.Hold(p); err != nil {
			return tb, err.Error()
		}
		return tb, "ok"
	case "dispatch":
		var code int64
		if d.HasArg("tag") {
			code = message.TagsHashCode(arg(t, d, "tag"))
		}
		return tb, ids(tb.OnDispatch(keyArgs(t, d), message.QueueOffset(intArg(t, d, "offset")), code, nil))
	case "wake":
		return tb, ids(tb.WakeQueue(keyArgs(t, d), message.QueueOffset(intArg(t, d, "max")), nil))
	case "expire":
		out := tb.Expire(t0.Add(durArg(t, d, "at")), nil)
		for i := 1; i < len(out); i++ {
			require.False(t, out[i].Deadline.Before(out[i-1].Deadline), "expired earliest first")
		}
		return tb, ids(out)
	case "drop":
		return tb, fmt.Sprintf("dropped %d", tb.DropConn(uint64(intArg(t, d, "conn"))))
	case "take-all":
		return tb, ids(tb.TakeAll(nil))
	case "dump":
		var lines []string
		for _, p := range tb.byDeadline {
			tags := "*"
			if p.Filter != nil {
				tags = "filtered"
			}
			lines = append(lines, fmt.Sprintf("%s %s/%d offset=%d deadline=%s conn=%d tags=%s",
				p.Data, p.Key.Topic, p.Key.QueueID, p.Offset, p.Deadline.Sub(t0), p.ConnID, tags))
		}
		slices.Sort(lines)
		next, ok := tb.NextDeadline()
		if ok {
			lines = append(lines, "next deadline "+next.Sub(t0).String())
		} else {
			lines = append(lines, "nothing held")
		}
		return tb, strings.Join(lines, "\n")
	}
	t.Fatalf("unknown command %q", d.Cmd)
	return tb, ""
}

// checkTable verifies the invariant: every pull is in all three indexes or in
// none, and the heap positions are right.
func checkTable(t *testing.T, tb *Table) {
	t.Helper()
	n := 0
	for k, set := range tb.byKey {
		require.NotEmpty(t, set, "empty key set kept")
		for p := range set {
			require.Equal(t, k, p.Key)
			require.Contains(t, tb.byConn[p.ConnID], p)
			require.Same(t, p, tb.byDeadline[p.idx])
			n++
		}
	}
	c := 0
	for _, set := range tb.byConn {
		require.NotEmpty(t, set, "empty connection set kept")
		c += len(set)
	}
	require.Equal(t, n, c)
	require.Equal(t, n, tb.Len())
}
