package namesrv

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// TestRouteTable runs the datadriven scripts in testdata/routetable. Commands:
//
//	register cluster= name= addr= id= [conn=] [ha=] [version=] [at=] [filters=a,b] [notopics]
//	  body lines: "<topic> <read> <write> <perm> [sysflag]"
//	unregister cluster= name= addr= id=
//	scan at= [timeout=]           liveness scan at t0+at (timeout default 120s)
//	conn-close conn=
//	route topic= [std]            fastjson form, or standard JSON with std
//	cluster-info [std]
//	topics | topics-by-cluster cluster= | system-topics
//	delete-topic topic= [cluster=]
//	wipe-perm name= | add-perm name=
//	query-version addr= version= [at=]
//	dump                          the whole table, deterministic
//
// Mutating commands also check the table's invariants.
func TestRouteTable(t *testing.T) {
	datadriven.Walk(t, "testdata/routetable", func(t *testing.T, path string) {
		rt := NewRouteTable()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			out := runRouteCmd(t, rt, d)
			checkInvariants(t, rt)
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

func durArg(t *testing.T, d *datadriven.TestData, key, def string) time.Duration {
	t.Helper()
	v, err := time.ParseDuration(argOr(t, d, key, def))
	require.NoError(t, err)
	return v
}

func intArg(t *testing.T, d *datadriven.TestData, key, def string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(argOr(t, d, key, def), 10, 64)
	require.NoError(t, err)
	return v
}

func runRouteCmd(t *testing.T, rt *RouteTable, d *datadriven.TestData) string {
	switch d.Cmd {
	case "register":
		r := Registration{
			Cluster:      argOr(t, d, "cluster", "c1"),
			BrokerName:   argOr(t, d, "name", ""),
			BrokerAddr:   argOr(t, d, "addr", ""),
			BrokerID:     intArg(t, d, "id", "0"),
			HAServerAddr: argOr(t, d, "ha", ""),
			ConnID:       uint64(intArg(t, d, "conn", "0")),
			Topics: TopicConfigWrapper{
				DataVersion:      DataVersion{Counter: intArg(t, d, "version", "0")},
				TopicConfigTable: map[string]TopicConfig{},
			},
		}
		if f := argOr(t, d, "filters", ""); f != "" {
			r.FilterServers = strings.Split(f, ",")
		}
		for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
			if line == "" {
				continue
			}
			f := strings.Fields(line)
			require.GreaterOrEqual(t, len(f), 4, "topic line %q", line)
			n := make([]int32, 4)
			for i := 1; i < len(f); i++ {
				v, err := strconv.Atoi(f[i])
				require.NoError(t, err)
				n[i-1] = int32(v)
			}
			r.Topics.TopicConfigTable[f[0]] = TopicConfig{TopicName: f[0], ReadQueueNums: n[0], WriteQueueNums: n[1], Perm: n[2], TopicSysFlag: n[3]}
		}
		res := rt.Register(r, t0.Add(durArg(t, d, "at", "0s")))
		return fmt.Sprintf("new=%t master=%q ha=%q", res.NewAddr, res.MasterAddr, res.HAServerAddr)
	case "unregister":
		rt.Unregister(argOr(t, d, "cluster", "c1"), argOr(t, d, "addr", ""), argOr(t, d, "name", ""), intArg(t, d, "id", "0"))
		return "ok"
	case "scan":
		return formatDropped(rt.Scan(t0.Add(durArg(t, d, "at", "0s")), durArg(t, d, "timeout", "120s")))
	case "conn-close":
		return formatDropped(rt.ConnClosed(uint64(intArg(t, d, "conn", "0"))))
	case "route":
		rd, ok := rt.Route(argOr(t, d, "topic", ""))
		if !ok {
			return "TOPIC_NOT_EXIST"
		}
		return string(body.EncodeRoute(rd, d.HasArg("std")))
	case "cluster-info":
		return string(body.EncodeClusterInfo(rt.ClusterInfo(), d.HasArg("std")))
	case "topics":
		return string(body.EncodeTopicList(rt.Topics(), ""))
	case "topics-by-cluster":
		return string(body.EncodeTopicList(rt.TopicsByCluster(argOr(t, d, "cluster", "")), ""))
	case "system-topics":
		return string(body.EncodeTopicList(rt.SystemTopics()))
	case "delete-topic":
		rt.DeleteTopic(argOr(t, d, "topic", ""), argOr(t, d, "cluster", ""))
		return "ok"
	case "wipe-perm":
		return fmt.Sprintf("wipeTopicCount=%d", rt.WipeWritePerm(argOr(t, d, "name", "")))
	case "add-perm":
		return fmt.Sprintf("addTopicCount=%d", rt.AddWritePerm(argOr(t, d, "name", "")))
	case "query-version":
		changed, stored := rt.QueryDataVersion(argOr(t, d, "addr", ""),
			DataVersion{Counter: intArg(t, d, "version", "0")}, t0.Add(durArg(t, d, "at", "0s")))
		s := "none"
		if stored != nil {
			s = fmt.Sprintf("%d/%d", stored.Counter, stored.Timestamp)
		}
		return fmt.Sprintf("changed=%t stored=%s", changed, s)
	case "dump":
		return dumpTable(rt)
	}
	t.Fatalf("unknown command %q", d.Cmd)
	return ""
}

func formatDropped(ds []DroppedBroker) string {
	if len(ds) == 0 {
		return "none"
	}
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "dropped %s conn=%d last=%s removed=%v\n", d.Addr, d.ConnID, d.LastUpdate.Sub(t0), d.RemovedNames)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func dumpTable(rt *RouteTable) string {
	var b strings.Builder
	for _, c := range slices.Sorted(maps.Keys(rt.clusters)) {
		fmt.Fprintf(&b, "cluster %s: %s\n", c, strings.Join(slices.Sorted(maps.Keys(rt.clusters[c])), " "))
	}
	for _, n := range slices.Sorted(maps.Keys(rt.brokers)) {
		bd := rt.brokers[n]
		fmt.Fprintf(&b, "broker %s (%s):", n, bd.Cluster)
		for _, id := range slices.Sorted(maps.Keys(bd.Addrs)) {
			fmt.Fprintf(&b, " %d=%s", id, bd.Addrs[id])
		}
		b.WriteString("\n")
	}
	for _, tp := range slices.Sorted(maps.Keys(rt.topics)) {
		m := rt.topics[tp]
		for _, n := range slices.Sorted(maps.Keys(m)) {
			q := m[n]
			fmt.Fprintf(&b, "topic %s on %s: r=%d w=%d perm=%d sys=%d\n", tp, n, q.ReadQueueNums, q.WriteQueueNums, q.Perm, q.TopicSysFlag)
		}
	}
	for _, a := range slices.Sorted(maps.Keys(rt.live)) {
		li := rt.live[a]
		fmt.Fprintf(&b, "live %s conn=%d last=%s version=%d ha=%q\n", a, li.connID, li.lastUpdate.Sub(t0), li.dataVersion.Counter, li.haServerAddr)
	}
	for _, a := range slices.Sorted(maps.Keys(rt.filters)) {
		fmt.Fprintf(&b, "filters %s: %s\n", a, strings.Join(rt.filters[a], ","))
	}
	if b.Len() == 0 {
		return "empty"
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// checkInvariants fails the test if the table breaks its documented invariants.
func checkInvariants(t *testing.T, rt *RouteTable) {
	t.Helper()
	for n, bd := range rt.brokers {
		require.NotEmpty(t, bd.Addrs, "broker %s has no address", n)
		require.Equal(t, n, bd.BrokerName)
		seen := map[string]int64{}
		for id, a := range bd.Addrs {
			prev, dup := seen[a]
			require.False(t, dup, "broker %s lists %s under ids %d and %d", n, a, prev, id)
			seen[a] = id
		}
	}
	for tp, m := range rt.topics {
		require.NotEmpty(t, m, "topic %s has no queue data", tp)
		for n, q := range m {
			require.Equal(t, n, q.BrokerName)
		}
	}
	for c, names := range rt.clusters {
		require.NotEmpty(t, names, "cluster %s has no broker", c)
	}
}

func TestRouteCopiesAreIndependent(t *testing.T) {
	t.Parallel()
	rt := NewRouteTable()
	rt.Register(Registration{Cluster: "c", BrokerName: "b", BrokerAddr: "a:1", Topics: TopicConfigWrapper{
		TopicConfigTable: map[string]TopicConfig{"T": {TopicName: "T", ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6}},
	}}, t0)
	rd, ok := rt.Route("T")
	require.True(t, ok)
	rd.BrokerDatas[0].Addrs[0] = "mutated"
	rd.QueueDatas[0].Perm = 0
	ci := rt.ClusterInfo()
	ci.BrokerAddrTable["b"].Addrs[0] = "mutated"
	rd2, _ := rt.Route("T")
	require.Equal(t, "a:1", rd2.BrokerDatas[0].Addrs[0])
	require.Equal(t, int32(6), rd2.QueueDatas[0].Perm)
}
