package clients

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// TestRegistry runs the datadriven scripts in testdata/registry. Commands:
//
//	heartbeat conn= client= [at=] [lang=GO] [version=317] [addr=]
//	  body lines: "producer <group>"
//	              "consumer <group> [model=CLUSTERING] [type=CONSUME_PASSIVELY] [from=LAST]"
//	              "sub <topic> <expr> <subVersion>"   (for the last consumer line)
//	close conn=
//	unregister conn= [producer=] [consumer=]
//	scan at=
//	lock group= client= [at=]        body: one queue per line, "topic broker id"
//	unlock group= client=            body as for lock
//	owners group= at=                every lock of the group that is live at t0+at
//	dump                             the whole registry, deterministic
//
// The registry is built with a 120s channel expiry and a 60s lock expiry. Every
// command also checks the registry's invariants.
func TestRegistry(t *testing.T) {
	datadriven.Walk(t, "testdata/registry", func(t *testing.T, path string) {
		r := NewRegistry(120*time.Second, 60*time.Second)
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			out := runRegistryCmd(t, r, d)
			checkInvariants(t, r)
			return out
		})
	})
}

func argOr(t *testing.T, d *datadriven.TestData, key, def string) string {
	t.Helper()
	if !d.HasArg(key) {
		return def
	}
	var s string
	d.ScanArgs(t, key, &s)
	return s
}

func atArg(t *testing.T, d *datadriven.TestData) time.Time {
	t.Helper()
	v, err := time.ParseDuration(argOr(t, d, "at", "0s"))
	require.NoError(t, err)
	return t0.Add(v)
}

func uintArg(t *testing.T, d *datadriven.TestData, key string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(argOr(t, d, key, "0"), 10, 64)
	require.NoError(t, err)
	return v
}

func parseHeartbeat(t *testing.T, input string) *body.HeartbeatData {
	t.Helper()
	hb := &body.HeartbeatData{}
	for _, line := range strings.Split(strings.TrimSpace(input), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "producer":
			hb.ProducerDataSet = append(hb.ProducerDataSet, body.ProducerData{GroupName: f[1]})
		case "consumer":
			cd := body.ConsumerData{GroupName: f[1], ConsumeType: body.ConsumePassively, MessageModel: body.Clustering, ConsumeFromWhere: "CONSUME_FROM_LAST_OFFSET"}
			for _, kv := range f[2:] {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "model":
					cd.MessageModel = v
				case "type":
					cd.ConsumeType = v
				case "from":
					cd.ConsumeFromWhere = "CONSUME_FROM_" + v + "_OFFSET"
				default:
					t.Fatalf("unknown consumer key %q", k)
				}
			}
			hb.ConsumerDataSet = append(hb.ConsumerDataSet, cd)
		case "sub":
			require.Len(t, f, 4, line)
			ver, err := strconv.ParseInt(f[3], 10, 64)
			require.NoError(t, err)
			cd := &hb.ConsumerDataSet[len(hb.ConsumerDataSet)-1]
			cd.SubscriptionDataSet = append(cd.SubscriptionDataSet, body.SubscriptionData{Topic: f[1], SubString: f[2], SubVersion: ver, ExpressionType: body.ExpressionTag})
		default:
			t.Fatalf("unknown heartbeat line %q", line)
		}
	}
	return hb
}

func parseQueues(t *testing.T, input string) []message.MessageQueue {
	t.Helper()
	var qs []message.MessageQueue
	for _, line := range strings.Split(strings.TrimSpace(input), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		require.Len(t, f, 3, line)
		id, err := strconv.Atoi(f[2])
		require.NoError(t, err)
		qs = append(qs, message.MessageQueue{Topic: f[0], BrokerName: f[1], QueueID: int32(id)})
	}
	return qs
}

func fmtEvents(events []Event) string {
	if len(events) == 0 {
		return "no events"
	}
	var b strings.Builder
	for _, e := range events {
		fmt.Fprintf(&b, "event %s\n", e)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func fmtQueues(qs []message.MessageQueue) string {
	if len(qs) == 0 {
		return "none"
	}
	s := make([]string, len(qs))
	for i, q := range qs {
		s[i] = q.String()
	}
	return strings.Join(s, " ")
}

func runRegistryCmd(t *testing.T, r *Registry, d *datadriven.TestData) string {
	switch d.Cmd {
	case "heartbeat":
		conn := uintArg(t, d, "conn")
		c := Client{
			ConnID:   conn,
			ClientID: argOr(t, d, "client", ""),
			Addr:     argOr(t, d, "addr", "10.0.0.1:"+strconv.FormatUint(50000+conn, 10)),
			Language: argOr(t, d, "lang", "GO"),
			Version:  317,
		}
		return fmtEvents(r.Heartbeat(atArg(t, d), c, parseHeartbeat(t, d.Input)))
	case "close":
		return fmtEvents(r.ConnClosed(uintArg(t, d, "conn")))
	case "unregister":
		return fmtEvents(r.Unregister(uintArg(t, d, "conn"), argOr(t, d, "producer", ""), argOr(t, d, "consumer", "")))
	case "scan":
		return fmtEvents(r.Scan(atArg(t, d)))
	case "lock":
		return "locked " + fmtQueues(r.LockBatch(atArg(t, d), argOr(t, d, "group", ""), argOr(t, d, "client", ""), parseQueues(t, d.Input)))
	case "unlock":
		return "released " + fmtQueues(r.UnlockBatch(argOr(t, d, "group", ""), argOr(t, d, "client", ""), parseQueues(t, d.Input)))
	case "owners":
		group, now := argOr(t, d, "group", ""), atArg(t, d)
		var lines []string
		for q := range r.locks[group] {
			if owner, ok := r.LockOwner(now, group, q); ok {
				lines = append(lines, q.String()+" "+owner)
			}
		}
		if len(lines) == 0 {
			return "none"
		}
		slices.Sort(lines)
		return strings.Join(lines, "\n")
	case "dump":
		return dump(r)
	default:
		t.Fatalf("unknown command %q", d.Cmd)
		return ""
	}
}

func dump(r *Registry) string {
	var b strings.Builder
	for _, name := range r.ConsumerGroups() {
		g, _ := r.ConsumerGroup(name)
		fmt.Fprintf(&b, "consumer %s %s %s %s clients=%v\n", name, g.ConsumeType, g.MessageModel, g.ConsumeFromWhere, g.ClientIDs)
		for _, ch := range g.Channels {
			fmt.Fprintf(&b, "  channel conn=%d client=%s addr=%s lang=%s last=%s\n", ch.ConnID, ch.ClientID, ch.Addr, ch.Language, ch.LastUpdate.Sub(t0))
		}
		for _, topic := range slices.Sorted(maps.Keys(g.Subscriptions)) {
			s := g.Subscriptions[topic]
			fmt.Fprintf(&b, "  sub %s %q v%d\n", topic, s.SubString, s.SubVersion)
		}
	}
	for _, name := range r.ProducerGroups() {
		fmt.Fprintf(&b, "producer %s:", name)
		for _, ch := range r.ProducerChannels(name) {
			fmt.Fprintf(&b, " conn=%d/%s/last=%s", ch.ConnID, ch.ClientID, ch.LastUpdate.Sub(t0))
		}
		b.WriteString("\n")
	}
	var locks []string
	for group, qs := range r.locks {
		for q, l := range qs {
			locks = append(locks, fmt.Sprintf("lock %s %s %s last=%s", group, q, l.clientID, l.lastUpdate.Sub(t0)))
		}
	}
	slices.Sort(locks)
	for _, l := range locks {
		b.WriteString(l + "\n")
	}
	if b.Len() == 0 {
		return "empty"
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// checkInvariants: no empty groups or lock tables linger.
func checkInvariants(t *testing.T, r *Registry) {
	t.Helper()
	for name, g := range r.consumers {
		require.NotEmpty(t, g.channels, "consumer group %s has no channel", name)
	}
	for name, g := range r.producers {
		require.NotEmpty(t, g, "producer group %s has no channel", name)
	}
	for name, qs := range r.locks {
		require.NotEmpty(t, qs, "lock table of %s is empty", name)
	}
}

// TestLockRace has two clients race for the same queues in random order; at any
// time each queue has at most one owner, and an owner keeps its queue while it
// renews in time.
func TestLockRace(t *testing.T) {
	r := NewRegistry(120*time.Second, 60*time.Second)
	qs := make([]message.MessageQueue, 8)
	for i := range qs {
		qs[i] = message.MessageQueue{Topic: "T", BrokerName: "b", QueueID: int32(i)}
	}
	now := t0
	a := r.LockBatch(now, "g", "A", qs[:5])
	b := r.LockBatch(now, "g", "B", qs[3:])
	require.Equal(t, qs[:5], a)
	require.Equal(t, qs[5:], b, "B gets only the queues A does not hold")
	// A renews within the expiry; B cannot steal.
	now = now.Add(50 * time.Second)
	require.Equal(t, qs[:5], r.LockBatch(now, "g", "A", qs[:5]))
	now = now.Add(50 * time.Second)
	require.Equal(t, qs[5:], r.LockBatch(now, "g", "B", qs), "A renewed at 50s, so its locks live until 110s")
	// B's locks were renewed at 100s; A's lapse after 110s.
	now = now.Add(11 * time.Second)
	require.Equal(t, qs, r.LockBatch(now, "g", "B", qs))
	require.Empty(t, r.LockBatch(now, "g", "A", qs))
	// Other groups are independent.
	require.Equal(t, qs, r.LockBatch(now, "other", "A", qs))
}
