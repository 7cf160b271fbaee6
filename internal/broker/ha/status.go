package ha

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/petrelmq/petrel/pkg/message"
)

// Status is a master's replication state for runtime info and admin tools.
type Status struct {
	// Addr is the HA listen address.
	Addr string
	// MaxOffset is the master's commit-log max offset.
	MaxOffset message.PhysOffset
	// Slaves are the HA connections, by id.
	Slaves []SlaveStatus
	// InSync counts the slaves that can confirm SYNC_MASTER puts.
	InSync int
	// Waiting counts the puts waiting for a slave.
	Waiting int
}

// Status returns the current replication state.
func (s *Server) Status() Status {
	max := s.src.CommitLogMaxOffset()
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{MaxOffset: max, Slaves: s.mu.tr.Status(max, now), Waiting: s.mu.tr.Waiting()}
	if s.ln != nil {
		st.Addr = s.ln.Addr().String()
	}
	for _, sl := range st.Slaves {
		if sl.InSync {
			st.InSync++
		}
	}
	return st
}

// WaitCaughtUp waits until every slave that is in sync has confirmed the
// master's whole log, or ctx ends (its error is returned). For a clean
// shutdown: stop puts, wait (with a deadline), then Close.
func (s *Server) WaitCaughtUp(ctx context.Context) error {
	for {
		st := s.Status()
		behind := false
		for _, sl := range st.Slaves {
			if sl.InSync && sl.AckOffset < st.MaxOffset {
				behind = true
			}
		}
		if !behind {
			return nil
		}
		t := s.clk.NewTimer(10 * time.Millisecond)
		select {
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// RuntimeInfo renders st as GET_BROKER_RUNTIME_INFO entries (RocketMQ 4.9 has
// none for HA): haListenAddr, haSlaveNum, haInSyncSlaveNum, haWaitingPuts,
// and per connection haSlave<id> = "addr=<peer>,ackOffset=<n>,lagBytes=<n>,
// lagMillis=<n>,inSync=<bool>".
func (st Status) RuntimeInfo() map[string]string {
	kv := map[string]string{
		"haListenAddr":     st.Addr,
		"haSlaveNum":       strconv.Itoa(len(st.Slaves)),
		"haInSyncSlaveNum": strconv.Itoa(st.InSync),
		"haWaitingPuts":    strconv.Itoa(st.Waiting),
	}
	for _, sl := range st.Slaves {
		kv["haSlave"+strconv.FormatUint(uint64(sl.ID), 10)] = fmt.Sprintf("addr=%s,ackOffset=%d,lagBytes=%d,lagMillis=%d,inSync=%t",
			sl.Addr, sl.AckOffset, sl.LagBytes, sl.LagTime.Milliseconds(), sl.InSync)
	}
	return kv
}
