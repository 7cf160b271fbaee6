package ha

import (
	"cmp"
	"io"
	"math"
	"slices"
	"time"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/message"
)

// Controller mode of the Server (docs/design/failover.md): identified
// replicas, the confirm offset over the SyncStateSet, confirm frames, the
// lease.

// handshake reads a connection's hello and answers it with a welcome. It
// reports whether the connection may go on; on false it has logged why.
func (s *Server) handshake(c *slaveConn) bool {
	cm := s.cfg.Controller
	var b [HelloSize]byte
	_ = c.nc.SetReadDeadline(time.Now().Add(s.cfg.HousekeepingInterval))
	if _, err := io.ReadFull(c.nc, b[:]); err != nil {
		s.log.Warn("closing HA connection: no hello from the slave", "peer", c.addr, "err", err)
		return false
	}
	h, err := ParseHello(b[:])
	if err != nil {
		s.log.Warn("closing HA connection: refused hello", "peer", c.addr, "err", err)
		return false
	}
	if h.Epoch != cm.Epoch {
		s.log.Warn("closing HA connection: the slave follows another master epoch", "peer", c.addr,
			"brokerId", h.BrokerID, "slave_epoch", h.Epoch, "epoch", cm.Epoch)
		return false
	}
	var entries []EpochEntry
	if cm.Entries != nil {
		entries = cm.Entries()
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(s.cfg.HousekeepingInterval))
	if _, err := c.nc.Write(AppendWelcome(nil, Welcome{Epoch: cm.Epoch, Entries: entries})); err != nil {
		s.log.Info("HA welcome to slave failed", "peer", c.addr, "err", err)
		return false
	}
	s.mu.Lock()
	c.brokerID = h.BrokerID
	s.mu.q.conns[h.BrokerID]++
	s.mu.Unlock()
	s.log.Info("slave identified", "peer", c.addr, "brokerId", h.BrokerID, "epoch", h.Epoch)
	return true
}

// acked records a replica's report, moves the confirm offset and appends
// the waiters it confirms to rel.
func (s *Server) acked(id int64, report, masterMax message.PhysOffset, now time.Time, rel []Release) []Release {
	s.mu.Lock()
	s.mu.q.ack(id, report, masterMax, now)
	rel, moved := s.recomputeLocked(rel)
	s.mu.Unlock()
	if moved {
		s.publishConfirm()
	}
	return rel
}

// recomputeLocked recomputes the confirm offset and releases the waiters
// below it; it reports whether the offset changed.
func (s *Server) recomputeLocked(rel []Release) ([]Release, bool) {
	c := s.mu.q.confirm()
	moved := c != s.mu.confirm
	s.mu.confirm = c
	through := c
	if c < 0 {
		through = math.MaxInt64
	}
	return s.mu.tr.ReleaseThrough(through, rel), moved
}

// publishConfirm hands the current confirm offset to OnConfirm and wakes
// the writers, which send it to their slaves. notify serialises calls, so
// OnConfirm sees the offsets in order.
func (s *Server) publishConfirm() {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	s.mu.Lock()
	c := s.mu.confirm
	s.mu.Unlock()
	if c == s.published {
		return
	}
	s.published = c
	if cm := s.cfg.Controller; cm != nil && cm.OnConfirm != nil {
		cm.OnConfirm(c)
	}
	next := make(chan struct{})
	old := s.confirmSig.Swap(&next)
	close(*old)
}

// confirmOffset is the current confirm offset (-1: none needed) and the
// channel closed when it next moves.
func (s *Server) confirmOffset() (message.PhysOffset, <-chan struct{}) {
	sig := *s.confirmSig.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.confirm, sig
}

// waitQuorum is WaitReplicated in controller mode: PutOK once the confirm
// offset reaches upTo (at once when no member needs to confirm),
// PutFlushSlaveTimeout after SlaveTimeout, PutFenced outside the lease.
func (s *Server) waitQuorum(upTo message.PhysOffset, now time.Time, done func(store.PutStatus)) {
	if lv := s.cfg.Controller.LeaseValid; lv != nil && !lv(now) {
		done(store.PutFenced)
		return
	}
	s.mu.Lock()
	if s.mu.closed || !s.mu.started {
		s.mu.Unlock()
		done(store.PutFenced)
		return
	}
	if c := s.mu.confirm; c < 0 || upTo <= c {
		s.mu.Unlock()
		done(store.PutOK)
		return
	}
	s.mu.tr.Enqueue(upTo, now, done)
	s.armLocked(now)
	s.mu.Unlock()
}

// SetSyncStateSet sets the replicas (without this master) whose
// acknowledgements count, and how many of them a put needs (clamped to
// their number; 0: none, puts are answered on the master's own durability).
// Members being added should be passed before the controller confirms them,
// and members being removed until it has. Controller mode only.
func (s *Server) SetSyncStateSet(members []int64, need int) {
	s.mu.Lock()
	s.mu.q.set(members, need)
	rel, moved := s.recomputeLocked(nil)
	s.mu.Unlock()
	if moved {
		s.publishConfirm()
	}
	s.release(rel)
}

// ConfirmOffset is the offset below which every byte is on the replicas a
// put needs, or -1 when none is needed. Controller mode only.
func (s *Server) ConfirmOffset() message.PhysOffset {
	c, _ := s.confirmOffset()
	return c
}

// Replicas returns every replica that identified itself in this epoch or is
// a member, by id.
func (s *Server) Replicas() []Replica {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := &s.mu.q
	ids := make(map[int64]bool)
	for id := range q.acks {
		ids[id] = true
	}
	for id := range q.conns {
		ids[id] = true
	}
	for _, id := range q.members {
		ids[id] = true
	}
	out := make([]Replica, 0, len(ids))
	for id := range ids {
		out = append(out, Replica{BrokerID: id, Connected: q.conns[id] > 0, AckOffset: q.acks[id],
			CaughtUp: q.caught[id], Member: slices.Contains(q.members, id)})
	}
	slices.SortFunc(out, func(a, b Replica) int { return cmp.Compare(a.BrokerID, b.BrokerID) })
	return out
}

// Since is when the Server was made: a replica that never caught up has
// been behind since then.
func (s *Server) Since() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.q.since
}
