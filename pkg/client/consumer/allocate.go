package consumer

import (
	"cmp"
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/petrelmq/petrel/pkg/message"
)

// AllocateStrategy decides which queues of a topic one member of a consumer
// group takes. It is a pure function: given the same inputs every member
// computes the same partition, so no coordination is needed beyond agreeing on
// the inputs. self is the caller's client id; queues are the topic's readable
// queues and members the group's client ids. Implementations must not modify
// their arguments and must return a new slice; they are called with queues
// sorted by broker name then queue id and members sorted lexicographically
// (see Allocate), as RocketMQ does.
type AllocateStrategy interface {
	// Name is RocketMQ's name for the strategy ("AVG", "AVG_BY_CIRCLE", ...).
	Name() string
	Allocate(self string, queues []message.MessageQueue, members []string) []message.MessageQueue
}

// Allocate sorts copies of queues (by broker name, then queue id) and members,
// and applies s. It returns nil when self is not a member or either list is
// empty: such a consumer takes no queue.
func Allocate(s AllocateStrategy, self string, queues []message.MessageQueue, members []string) []message.MessageQueue {
	if len(queues) == 0 || len(members) == 0 {
		return nil
	}
	qs := slices.Clone(queues)
	SortQueues(qs)
	ms := slices.Clone(members)
	slices.Sort(ms)
	ms = slices.Compact(ms)
	if _, ok := slices.BinarySearch(ms, self); !ok {
		return nil
	}
	return s.Allocate(self, qs, ms)
}

// SortQueues sorts queues by topic, broker name, then queue id, in place.
func SortQueues(qs []message.MessageQueue) {
	slices.SortFunc(qs, compareQueues)
}

func compareQueues(a, b message.MessageQueue) int {
	if c := strings.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	if c := strings.Compare(a.BrokerName, b.BrokerName); c != 0 {
		return c
	}
	return cmp.Compare(a.QueueID, b.QueueID)
}

type strategyFunc struct {
	name string
	f    func(self string, queues []message.MessageQueue, members []string) []message.MessageQueue
}

func (s strategyFunc) Name() string { return s.name }
func (s strategyFunc) Allocate(self string, queues []message.MessageQueue, members []string) []message.MessageQueue {
	return s.f(self, queues, members)
}

// Averagely gives each member a contiguous block of queues: with q queues and
// m members, the first q%m members take q/m+1 queues and the others q/m; when
// there are more members than queues, members past the q-th take none. This is
// RocketMQ's default (AVG): 3 queues and 2 members give 2 + 1.
func Averagely() AllocateStrategy {
	return strategyFunc{name: "AVG", f: func(self string, queues []message.MessageQueue, members []string) []message.MessageQueue {
		idx := slices.Index(members, self)
		if idx < 0 {
			return nil
		}
		n, m := len(queues), len(members)
		if idx >= n {
			return nil
		}
		size := n / m
		start := idx*size + min(idx, n%m)
		if idx < n%m {
			size++
		}
		return slices.Clone(queues[start : start+size])
	}}
}

// AveragelyByCircle deals queues to members like cards: member i takes queues
// i, i+m, i+2m, ... (RocketMQ's AVG_BY_CIRCLE).
func AveragelyByCircle() AllocateStrategy {
	return strategyFunc{name: "AVG_BY_CIRCLE", f: func(self string, queues []message.MessageQueue, members []string) []message.MessageQueue {
		idx := slices.Index(members, self)
		if idx < 0 {
			return nil
		}
		var out []message.MessageQueue
		for i := idx; i < len(queues); i += len(members) {
			out = append(out, queues[i])
		}
		return out
	}}
}

// ByConfig always returns the given queues, whoever the members are
// (RocketMQ's CONFIG). Every member of the group must be given disjoint lists.
func ByConfig(queues ...message.MessageQueue) AllocateStrategy {
	fixed := slices.Clone(queues)
	return strategyFunc{name: "CONFIG", f: func(string, []message.MessageQueue, []string) []message.MessageQueue {
		return slices.Clone(fixed)
	}}
}

// DefaultVirtualNodes is the number of ring points per member of
// ConsistentHash, RocketMQ's default.
const DefaultVirtualNodes = 10

// ConsistentHash places every member on a hash ring at virtualNodes points
// (<= 0 means DefaultVirtualNodes) and gives each queue to the member owning
// the first point at or after the queue's hash (RocketMQ's CONSISTENT_HASH).
// Points are hashed as "<clientId>-<i>" and queues by their RocketMQ string
// form, with the first four bytes of MD5 as a big-endian number. A member
// joining or leaving moves only the queues next to its points.
func ConsistentHash(virtualNodes int) AllocateStrategy {
	if virtualNodes <= 0 {
		virtualNodes = DefaultVirtualNodes
	}
	return strategyFunc{name: "CONSISTENT_HASH", f: func(self string, queues []message.MessageQueue, members []string) []message.MessageQueue {
		type point struct {
			h      uint32
			member string
		}
		ring := make([]point, 0, len(members)*virtualNodes)
		for _, m := range members {
			for i := range virtualNodes {
				ring = append(ring, point{ringHash(fmt.Sprintf("%s-%d", m, i)), m})
			}
		}
		slices.SortFunc(ring, func(a, b point) int {
			if c := cmp.Compare(a.h, b.h); c != 0 {
				return c
			}
			return strings.Compare(a.member, b.member)
		})
		var out []message.MessageQueue
		for _, q := range queues {
			h := ringHash(queueKey(q))
			i := sort.Search(len(ring), func(i int) bool { return ring[i].h >= h })
			if i == len(ring) {
				i = 0
			}
			if ring[i].member == self {
				out = append(out, q)
			}
		}
		return out
	}}
}

func ringHash(s string) uint32 {
	sum := md5.Sum([]byte(s))
	return binary.BigEndian.Uint32(sum[:4])
}

// queueKey is the Java MessageQueue.toString form, so rings agree with
// RocketMQ's ring on which key a queue hashes.
func queueKey(q message.MessageQueue) string {
	return fmt.Sprintf("MessageQueue [topic=%s, brokerName=%s, queueId=%d]", q.Topic, q.BrokerName, q.QueueID)
}

// ByMachineRoom takes only queues of brokers named "<room>@<name>" whose room
// is one of rooms, and shares them out: each member takes n/m consecutive
// queues, and the first n%m members one more from the tail (RocketMQ's
// MACHINE_ROOM). Queues of brokers without exactly one '@' are never taken.
func ByMachineRoom(rooms ...string) AllocateStrategy {
	set := map[string]bool{}
	for _, r := range rooms {
		set[r] = true
	}
	return strategyFunc{name: "MACHINE_ROOM", f: func(self string, queues []message.MessageQueue, members []string) []message.MessageQueue {
		idx := slices.Index(members, self)
		if idx < 0 {
			return nil
		}
		var pre []message.MessageQueue
		for _, q := range queues {
			parts := strings.Split(q.BrokerName, "@")
			if len(parts) == 2 && set[parts[0]] {
				pre = append(pre, q)
			}
		}
		per, rem := len(pre)/len(members), len(pre)%len(members)
		out := slices.Clone(pre[idx*per : idx*per+per])
		if idx < rem {
			out = append(out, pre[idx+per*len(members)])
		}
		return out
	}}
}

// MachineRoomResolver tells the machine room of a broker's queue and of a
// consumer (for MachineRoomNearby).
type MachineRoomResolver interface {
	BrokerRoom(q message.MessageQueue) string
	ConsumerRoom(clientID string) string
}

// PrefixRoomResolver resolves rooms by the "<room>@..." convention: a broker
// named "room1@broker-a" is in room1, and so is a consumer whose client id
// starts with "room1@" (set with client.InstanceName or ClientIP as your
// deployment names them). Names without '@' are in room "".
type PrefixRoomResolver struct{}

// BrokerRoom returns the part of the broker name before the first '@'.
func (PrefixRoomResolver) BrokerRoom(q message.MessageQueue) string {
	r, _, ok := strings.Cut(q.BrokerName, "@")
	if !ok {
		return ""
	}
	return r
}

// ConsumerRoom returns the part of the client id before the first '@'.
func (PrefixRoomResolver) ConsumerRoom(id string) string {
	r, _, ok := strings.Cut(id, "@")
	if !ok {
		return ""
	}
	return r
}

// MachineRoomNearby prefers queues in the member's own room (RocketMQ's
// MACHINE_ROOM_NEARBY): queues of a room with live members are shared among
// those members only, with inner; queues of rooms without any live member are
// shared among all members, with inner.
func MachineRoomNearby(r MachineRoomResolver, inner AllocateStrategy) AllocateStrategy {
	return strategyFunc{name: "MACHINE_ROOM_NEARBY-" + inner.Name(), f: func(self string, queues []message.MessageQueue, members []string) []message.MessageQueue {
		if !slices.Contains(members, self) {
			return nil
		}
		qByRoom := map[string][]message.MessageQueue{}
		var rooms []string
		for _, q := range queues {
			room := r.BrokerRoom(q)
			if _, ok := qByRoom[room]; !ok {
				rooms = append(rooms, room)
			}
			qByRoom[room] = append(qByRoom[room], q)
		}
		mByRoom := map[string][]string{}
		for _, m := range members {
			room := r.ConsumerRoom(m)
			mByRoom[room] = append(mByRoom[room], m)
		}
		var out []message.MessageQueue
		mine := r.ConsumerRoom(self)
		if qs := qByRoom[mine]; len(qs) > 0 {
			out = append(out, inner.Allocate(self, qs, mByRoom[mine])...)
		}
		slices.Sort(rooms)
		for _, room := range rooms {
			if len(mByRoom[room]) == 0 {
				out = append(out, inner.Allocate(self, qByRoom[room], members)...)
			}
		}
		return out
	}}
}
