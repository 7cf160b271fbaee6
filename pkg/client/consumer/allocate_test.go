package consumer

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/pkg/message"
)

func queues(topic string, brokers map[string]int) []message.MessageQueue {
	var out []message.MessageQueue
	for name, n := range brokers {
		for i := range n {
			out = append(out, message.MessageQueue{Topic: topic, BrokerName: name, QueueID: int32(i)})
		}
	}
	return out
}

func ids(qs []message.MessageQueue) string {
	var parts []string
	for _, q := range qs {
		parts = append(parts, q.BrokerName+"#"+strconv.Itoa(int(q.QueueID)))
	}
	return strings.Join(parts, " ")
}

// allocateAll returns every member's allocation, by member.
func allocateAll(s AllocateStrategy, qs []message.MessageQueue, members []string) map[string][]message.MessageQueue {
	out := map[string][]message.MessageQueue{}
	for _, m := range members {
		out[m] = Allocate(s, m, qs, members)
	}
	return out
}

// requirePartition checks every queue is held by exactly one member.
func requirePartition(t *testing.T, qs []message.MessageQueue, got map[string][]message.MessageQueue) {
	t.Helper()
	seen := map[message.MessageQueue]string{}
	for m, mine := range got {
		for _, q := range mine {
			require.Empty(t, seen[q], "queue %s held by %s and %s", q, seen[q], m)
			seen[q] = m
		}
	}
	require.Len(t, seen, len(qs))
}

func TestAllocateAveragely(t *testing.T) {
	t.Parallel()
	f := func(nq int, members []string, want map[string]string) {
		t.Helper()
		qs := queues("T", map[string]int{"b": nq})
		got := allocateAll(Averagely(), qs, members)
		requirePartition(t, qs, got)
		for m, w := range want {
			require.Equal(t, w, ids(got[m]), "member %s", m)
		}
	}
	f(3, []string{"c1", "c2"}, map[string]string{"c1": "b#0 b#1", "c2": "b#2"})
	f(3, []string{"c4", "c3", "c2", "c1"}, map[string]string{"c1": "b#0", "c2": "b#1", "c3": "b#2", "c4": ""})
	f(8, []string{"a", "b", "c"}, map[string]string{"a": "b#0 b#1 b#2", "b": "b#3 b#4 b#5", "c": "b#6 b#7"})
	f(4, []string{"a", "b"}, map[string]string{"a": "b#0 b#1", "b": "b#2 b#3"})
	require.Nil(t, Allocate(Averagely(), "x", queues("T", map[string]int{"b": 2}), []string{"a"}), "non-member takes nothing")
}

func TestAllocateByCircle(t *testing.T) {
	t.Parallel()
	qs := queues("T", map[string]int{"b": 5})
	got := allocateAll(AveragelyByCircle(), qs, []string{"a", "b"})
	requirePartition(t, qs, got)
	require.Equal(t, "b#0 b#2 b#4", ids(got["a"]))
	require.Equal(t, "b#1 b#3", ids(got["b"]))
}

func TestAllocateSortsInputs(t *testing.T) {
	t.Parallel()
	qs := queues("T", map[string]int{"broker-b": 2, "broker-a": 2})
	slices.Reverse(qs)
	got := Allocate(Averagely(), "a", qs, []string{"b", "a"})
	require.Equal(t, "broker-a#0 broker-a#1", ids(got))
}

func TestAllocateByConfig(t *testing.T) {
	t.Parallel()
	fixed := []message.MessageQueue{{Topic: "T", BrokerName: "b", QueueID: 3}}
	require.Equal(t, fixed, Allocate(ByConfig(fixed...), "a", queues("T", map[string]int{"b": 4}), []string{"a", "z"}))
}

func TestAllocateConsistentHash(t *testing.T) {
	t.Parallel()
	qs := queues("T", map[string]int{"broker-a": 16, "broker-b": 16})
	members := []string{"10.0.0.1@1", "10.0.0.2@1", "10.0.0.3@1"}
	before := allocateAll(ConsistentHash(0), qs, members)
	requirePartition(t, qs, before)
	owner := func(m map[string][]message.MessageQueue) map[message.MessageQueue]string {
		o := map[message.MessageQueue]string{}
		for id, mine := range m {
			for _, q := range mine {
				o[q] = id
			}
		}
		return o
	}
	joined := append(slices.Clone(members), "10.0.0.4@1")
	after := allocateAll(ConsistentHash(0), qs, joined)
	requirePartition(t, qs, after)
	ob, oa := owner(before), owner(after)
	moved := 0
	for q, was := range ob {
		if oa[q] != was {
			moved++
			require.Equal(t, "10.0.0.4@1", oa[q], "a queue moved between old members")
		}
	}
	// Only queues taken by the newcomer move: far fewer than averagely's reshuffle.
	require.Positive(t, moved)
	require.Less(t, moved, len(qs)/2)
}

func TestAllocateByMachineRoom(t *testing.T) {
	t.Parallel()
	qs := queues("T", map[string]int{"room1@broker-a": 5, "room2@broker-b": 5, "broker-c": 2})
	got := allocateAll(ByMachineRoom("room1"), qs, []string{"c1", "c2"})
	// 5 room1 queues, 2 members: 2 each from the front, the 5th to the first.
	require.Equal(t, "room1@broker-a#0 room1@broker-a#1 room1@broker-a#4", ids(got["c1"]))
	require.Equal(t, "room1@broker-a#2 room1@broker-a#3", ids(got["c2"]))
}

func TestAllocateMachineRoomNearby(t *testing.T) {
	t.Parallel()
	qs := queues("T", map[string]int{"hz@broker-a": 2, "sh@broker-b": 2, "bj@broker-c": 2})
	members := []string{"hz@c1", "hz@c2", "sh@c3"}
	got := allocateAll(MachineRoomNearby(PrefixRoomResolver{}, Averagely()), qs, members)
	requirePartition(t, qs, got)
	// Own-room queues stay in the room; bj has no consumer and is shared by all.
	require.Equal(t, "hz@broker-a#0 bj@broker-c#0", ids(got["hz@c1"]))
	require.Equal(t, "hz@broker-a#1 bj@broker-c#1", ids(got["hz@c2"]))
	require.Equal(t, "sh@broker-b#0 sh@broker-b#1", ids(got["sh@c3"]))
}

// TestRebalanceScript drives allocation and diffing with datadriven scripts:
//
//	queues broker=n ...      set the topic's queues
//	members id ...           set the group's members
//	allocate strategy=avg    print every member's queues and, for members seen
//	                         before, the queues added and removed
func TestRebalanceScript(t *testing.T) {
	t.Parallel()
	datadriven.Walk(t, "testdata/rebalance", func(t *testing.T, path string) {
		var qs []message.MessageQueue
		var members []string
		held := map[string][]message.MessageQueue{}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			switch d.Cmd {
			case "queues":
				spec := map[string]int{}
				for _, a := range d.CmdArgs {
					n, err := strconv.Atoi(a.Vals[0])
					require.NoError(t, err)
					spec[a.Key] = n
				}
				qs = queues("T", spec)
				return ""
			case "members":
				members = nil
				for _, a := range d.CmdArgs {
					members = append(members, a.Key)
				}
				return ""
			case "allocate":
				var s AllocateStrategy
				var name string
				d.ScanArgs(t, "strategy", &name)
				switch name {
				case "avg":
					s = Averagely()
				case "circle":
					s = AveragelyByCircle()
				case "hash":
					s = ConsistentHash(0)
				default:
					t.Fatalf("unknown strategy %q", name)
				}
				var sb strings.Builder
				sorted := slices.Sorted(slices.Values(members))
				all := allocateAll(s, qs, members)
				requirePartition(t, qs, all)
				for _, m := range sorted {
					got := all[m]
					fmt.Fprintf(&sb, "%s: %s\n", m, ids(got))
					if prev, ok := held[m]; ok {
						add, remove := Diff(prev, got)
						if len(add)+len(remove) > 0 {
							fmt.Fprintf(&sb, "  +[%s] -[%s]\n", ids(add), ids(remove))
						}
					}
					held[m] = got
				}
				return sb.String()
			}
			t.Fatalf("unknown command %q", d.Cmd)
			return ""
		})
	})
}
