package controller

import (
	"fmt"
	"io"

	"github.com/hashicorp/raft"
)

// fsm is the Raft state machine: it applies committed log entries to the
// server's Core, and snapshots and restores its State as JSON. Raft calls
// Apply, Snapshot and Restore from one goroutine at a time; each takes the
// server's mutex only for the state change.
type fsm struct{ s *Server }

var _ raft.FSM = fsm{}

// Apply applies a committed command and returns its Result, which the
// proposing leader reads from the apply future. An entry that does not
// decode is refused identically on every controller.
func (f fsm) Apply(l *raft.Log) any {
	cmd, err := DecodeCommand(l.Data)
	if err != nil {
		f.s.log.Error("controller: undecodable log entry; ignored", "index", l.Index, "err", err)
		return Result{Err: err}
	}
	f.s.mu.Lock()
	r := f.s.core.Apply(cmd)
	f.s.mu.Unlock()
	if r.Err == nil && r.MasterChanged && r.Set != nil {
		f.s.log.Info("controller: master changed", "set", r.Set.Key.String(), "master", r.Set.Master,
			"epoch", r.Set.Epoch, "syncStateSet", r.Set.SyncStateSet, "index", l.Index)
	}
	return r
}

// Snapshot copies the state; Persist writes it outside the lock.
func (f fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.s.mu.Lock()
	b, err := f.s.core.State.MarshalJSON()
	f.s.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("controller: snapshot: %w", err)
	}
	return fsmSnapshot(b), nil
}

// Restore replaces the state with a snapshot's.
func (f fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("controller: read snapshot: %w", err)
	}
	st := NewState()
	if err := st.UnmarshalJSON(b); err != nil {
		return err
	}
	f.s.mu.Lock()
	f.s.core.State = st
	f.s.mu.Unlock()
	return nil
}

// fsmSnapshot is a serialized State.
type fsmSnapshot []byte

func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("controller: write snapshot: %w", err)
	}
	return sink.Close()
}

func (s fsmSnapshot) Release() {}
