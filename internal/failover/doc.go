// Package failover runs a broker in controller mode (enableControllerMode=true):
// the Supervisor registers the broker with the controllers, heartbeats, and
// starts the broker as master or slave as they decide, restarting it in the
// same process on each role change. As master it holds the lease that lets
// it acknowledge, records its epoch in the epoch file before accepting
// writes, keeps the SyncStateSet (replicas join once they hold everything
// the master had when they started to count, members left behind are
// dropped) and fences its store when the lease ends or the set is smaller
// than minInSyncReplicas. As slave it points the broker's HA client at the
// master of the newest view. See docs/design/failover.md, "Broker side".
//
// Example (what `petrel broker` does when the file says
// enableControllerMode=true):
//
//	sup, err := failover.New(cfg, log, clock.Real{})
//	if err != nil { ... }
//	if err := sup.Start(ctx); err != nil { ... }
//	defer sup.Close()
//	role, epoch := sup.Role() // failover.Master, 3
//
// Imports: internal/broker (and its ha room), internal/controller/client,
// internal/store, internal/lifecycle and pkg/; nothing imports it but cmd
// and tests.
package failover
