package ha

import (
	"slices"
	"sort"
	"time"

	"github.com/petrelmq/petrel/pkg/message"
)

// ControllerMode configures a Server whose replicas identify themselves
// (docs/design/failover.md): the hello/welcome handshake, acknowledgements
// by replica id, the confirm offset and the lease.
type ControllerMode struct {
	// Epoch is this master's epoch; a slave that expects another is refused.
	Epoch int32
	// Entries returns the master's epoch entries, sent in every welcome.
	Entries func() []EpochEntry
	// LeaseValid reports whether the master may still acknowledge at now.
	// A put decided when it is false answers store.PutFenced. nil: always.
	LeaseValid func(now time.Time) bool
	// OnConfirm is called (under no lock of the Server's callers, from the
	// goroutine that moved it) with each new confirm offset, or -1 when no
	// replica needs to confirm anything (the store's dispatch limit).
	OnConfirm func(off message.PhysOffset)
}

// quorum is a controller-mode master's view of its replicas' acknowledgements
// for one epoch: per replica id the highest offset it reported (a report
// counts only bytes sent on its connection; the tracker checks that), and
// the SyncStateSet whose members must confirm. A plain value guarded by the
// Server's mutex.
type quorum struct {
	members []int64 // the SyncStateSet without this master, sorted
	need    int     // confirmations needed from members
	acks    map[int64]message.PhysOffset
	caught  map[int64]time.Time // last time the replica's ack reached the master's max
	conns   map[int64]int       // open identified connections per replica
	since   time.Time           // when the quorum was made (a replica never caught up counts from here)
}

func newQuorum(now time.Time) quorum {
	return quorum{acks: map[int64]message.PhysOffset{}, caught: map[int64]time.Time{}, conns: map[int64]int{}, since: now}
}

// ack records a replica's report.
func (q *quorum) ack(id int64, off, masterMax message.PhysOffset, now time.Time) {
	if off > q.acks[id] {
		q.acks[id] = off
	}
	if q.acks[id] >= masterMax {
		q.caught[id] = now
	}
}

// confirm is the offset below which every byte is on `need` members (and
// on this master): the need-th highest of the members' acks, or -1 when
// nothing needs confirming (need 0).
func (q *quorum) confirm() message.PhysOffset {
	if q.need <= 0 {
		return -1
	}
	offs := make([]message.PhysOffset, 0, len(q.members))
	for _, id := range q.members {
		offs = append(offs, q.acks[id])
	}
	if len(offs) < q.need {
		return 0
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] > offs[j] })
	return offs[q.need-1]
}

// set replaces the members and the need (clamped to the members).
func (q *quorum) set(members []int64, need int) {
	q.members = slices.Clone(members)
	slices.Sort(q.members)
	q.members = slices.Compact(q.members)
	q.need = max(0, min(need, len(q.members)))
}

// Replica is a controller-mode master's view of one replica.
type Replica struct {
	BrokerID int64
	// Connected: an identified HA connection of the replica is open.
	Connected bool
	// AckOffset is the highest offset it confirmed in this epoch.
	AckOffset message.PhysOffset
	// CaughtUp is when its ack last reached the master's max offset (zero:
	// never in this epoch).
	CaughtUp time.Time
	// Member: it is in the SyncStateSet the Server counts.
	Member bool
}
