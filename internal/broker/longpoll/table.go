package longpoll

import (
	"container/heap"
	"errors"
	"time"

	"github.com/petrelmq/petrel/pkg/message"
)

// ErrFull is returned by Hold when the table holds its maximum.
var ErrFull = errors.New("longpoll: too many held pulls")

// Key identifies a consume queue.
type Key struct {
	Topic   string
	QueueID int32
}

// TagMatcher decides whether a dispatched message's tags code matches a held
// pull's subscription. store.MessageFilter implementations satisfy it.
type TagMatcher interface {
	MatchTagsCode(code int64) bool
}

// Pull is one held pull request. The caller fills the exported fields; the
// Table owns the Pull from Hold until it returns it.
type Pull struct {
	Key Key
	// Offset is the request's queue offset: a message at or after it wakes
	// the pull.
	Offset message.QueueOffset
	// Filter accepts the tags codes that wake the pull; nil accepts all.
	Filter TagMatcher
	// Deadline is when the pull is answered anyway.
	Deadline time.Time
	// ConnID is the requesting connection, so that its close drops the pull.
	ConnID uint64
	// Data is the caller's (the request and connection to answer).
	Data any

	idx int // position in Table.byDeadline; -1 once removed
}

// Table is the pure long-polling state: held pulls by queue, by connection and
// by deadline. It is not safe for concurrent use (Service locks it).
// Invariant: a Pull is in all three indexes or in none.
type Table struct {
	max        int
	byKey      map[Key]map[*Pull]struct{}
	byConn     map[uint64]map[*Pull]struct{}
	byDeadline deadlineHeap
}

// NewTable returns an empty table that holds at most max pulls (at least 1).
func NewTable(max int) *Table {
	return &Table{
		max:    maxInt(max, 1),
		byKey:  map[Key]map[*Pull]struct{}{},
		byConn: map[uint64]map[*Pull]struct{}{},
	}
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// Len returns the number of held pulls.
func (t *Table) Len() int { return len(t.byDeadline) }

// Hold adds p. It fails with ErrFull at the bound.
func (t *Table) Hold(p *Pull) error {
	if len(t.byDeadline) >= t.max {
		return ErrFull
	}
	addTo(t.byKey, p.Key, p)
	addTo(t.byConn, p.ConnID, p)
	heap.Push(&t.byDeadline, p)
	return nil
}

// NextDeadline returns the earliest deadline, and false when nothing is held.
func (t *Table) NextDeadline() (time.Time, bool) {
	if len(t.byDeadline) == 0 {
		return time.Time{}, false
	}
	return t.byDeadline[0].Deadline, true
}

// OnDispatch takes out the pulls on key that a message at offset with
// tagsCode satisfies (offset at or after theirs, filter accepting the code)
// and returns them in no particular order. A queue without held pulls costs
// one map lookup.
func (t *Table) OnDispatch(key Key, offset message.QueueOffset, tagsCode int64, dst []*Pull) []*Pull {
	for p := range t.byKey[key] {
		if offset >= p.Offset && (p.Filter == nil || p.Filter.MatchTagsCode(tagsCode)) {
			t.remove(p)
			dst = append(dst, p)
		}
	}
	return dst
}

// WakeQueue takes out the pulls on key whose offset is below maxOffset,
// whatever their filter: a message may have arrived while they were being
// held, before the table could hear of it.
func (t *Table) WakeQueue(key Key, maxOffset message.QueueOffset, dst []*Pull) []*Pull {
	for p := range t.byKey[key] {
		if p.Offset < maxOffset {
			t.remove(p)
			dst = append(dst, p)
		}
	}
	return dst
}

// Expire takes out the pulls whose deadline is at or before now, earliest
// first.
func (t *Table) Expire(now time.Time, dst []*Pull) []*Pull {
	for len(t.byDeadline) > 0 && !t.byDeadline[0].Deadline.After(now) {
		p := t.byDeadline[0]
		t.remove(p)
		dst = append(dst, p)
	}
	return dst
}

// DropConn forgets the pulls of connection id (their answers cannot be
// delivered) and returns how many there were.
func (t *Table) DropConn(id uint64) int {
	set := t.byConn[id]
	n := len(set)
	for p := range set {
		t.remove(p) // deletes from set, which range allows
	}
	return n
}

// TakeAll takes out every held pull, earliest deadline first.
func (t *Table) TakeAll(dst []*Pull) []*Pull {
	for len(t.byDeadline) > 0 {
		p := t.byDeadline[0]
		t.remove(p)
		dst = append(dst, p)
	}
	return dst
}

// remove takes p out of every index.
func (t *Table) remove(p *Pull) {
	removeFrom(t.byKey, p.Key, p)
	removeFrom(t.byConn, p.ConnID, p)
	if p.idx >= 0 {
		heap.Remove(&t.byDeadline, p.idx)
	}
}

// addTo adds p to the set m[k], making the set if needed.
func addTo[K comparable](m map[K]map[*Pull]struct{}, k K, p *Pull) {
	set := m[k]
	if set == nil {
		set = map[*Pull]struct{}{}
		m[k] = set
	}
	set[p] = struct{}{}
}

// removeFrom deletes p from the set m[k], and the set once empty.
func removeFrom[K comparable](m map[K]map[*Pull]struct{}, k K, p *Pull) {
	if set := m[k]; set != nil {
		delete(set, p)
		if len(set) == 0 {
			delete(m, k)
		}
	}
}

// deadlineHeap orders held pulls by deadline.
type deadlineHeap []*Pull

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].Deadline.Before(h[j].Deadline) }
func (h deadlineHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *deadlineHeap) Push(x any) {
	p := x.(*Pull)
	p.idx = len(*h)
	*h = append(*h, p)
}
func (h *deadlineHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	p.idx = -1
	return p
}
