// Package controller is Petrel's controller (RocketMQ 5.x's, on Raft): three
// or five controllers keep, for every broker set (the replicas of one
// brokerName in one cluster), the master, the master epoch and the
// SyncStateSet, and elect a new master from the SyncStateSet when the old
// one stops heartbeating. Brokers in controller mode talk to it with
// package client; operators with pkg/admin. See docs/design/failover.md.
//
// # Structure
//
//   - State (state.go) is the replicated state machine: per set the
//     registered replicas, the master, the epoch (+1 on every master change)
//     and the SyncStateSet with its own epoch. It changes only by Apply of
//     Commands that went through the Raft log, deterministically.
//   - Tracker and Core (core.go) are the leader's side, pure: liveness
//     (leader-local, not replicated; a new leader grants everyone one
//     timeout) and the decisions (Decide*), which are Commands carrying the
//     epochs they were made at, so that Apply refuses a stale one.
//   - Server (server.go, processor.go) is one controller: hashicorp/raft
//     with a bbolt log and stable store (raft-boltdb) and file snapshots
//     under StorePath, the FSM (fsm.go) applying to the Core, and the
//     remoting server answering the RocketMQ 5.x controller codes. Raft and
//     the brokers share one port (transport.go): the first byte of a
//     connection says which.
//
// # Ownership and concurrency
//
// Server owns the Raft node, its transport and store, the listener and the
// remoting server. One mutex guards the Core and the replicas' connections;
// nothing holds it across I/O or a Raft commit. Goroutines of its own: the
// leader loop (follows leadership, runs the scan), the mux's accept loop and
// its short-lived first-byte readers; Raft and remoting own theirs. Start
// launches them, Close stops them all and waits. Server's methods are safe
// for concurrent use; State, Tracker and Core are not.
//
// # Example
//
//	cfg := controller.DefaultConfig()
//	cfg.Group = "group1"
//	cfg.Peers, _ = controller.ParsePeers("n0-10.0.0.1:9877;n1-10.0.0.2:9877;n2-10.0.0.3:9877")
//	cfg.SelfID = "n0"
//	s, err := controller.New(cfg, slog.Default(), clock.Real{})
//	if err != nil { ... }
//	if err := s.Start(ctx); err != nil { ... }
//	defer s.Close()
//
// Imports: the standard library, internal/properties, internal/lifecycle,
// pkg/ (clock, protocol, remoting) and hashicorp/raft with raft-boltdb,
// go-hclog and bbolt. Nothing imports it but cmd and the tests; brokers
// import only internal/controller/client (internal/lint).
package controller
