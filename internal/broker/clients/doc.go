// Package clients is the broker's client management: which producers and
// consumers are online, what each consumer group subscribes to, which orderly
// consumer holds which queue, and telling a consumer group when its membership
// changes so its members rebalance at once.
//
// # Structure
//
//   - Registry is the pure core: consumer groups (channels keyed by connection,
//     consume settings, one subscription table per group with RocketMQ's replace
//     rules), producer groups, channel expiry, connection close,
//     UNREGISTER_CLIENT, and the rebalance locks of orderly consumers. It has no
//     goroutines and does no I/O; time enters as now arguments. Changes come back
//     as Events (a channel joined or left, the group's topic set changed).
//   - Manager wraps a Registry behind a mutex, registers the request processors
//     (HEART_BEAT, UNREGISTER_CLIENT, GET_CONSUMER_LIST_BY_GROUP, LOCK_BATCH_MQ,
//     UNLOCK_BATCH_MQ, GET_CONSUMER_CONNECTION_LIST, GET_PRODUCER_CONNECTION_LIST),
//     listens for connections closing, runs the expiry scan, and sends
//     NOTIFY_CONSUMER_IDS_CHANGED.
//
// A channel is one (group, connection) pair. A Go client process shares one
// connection and one client id among all its producers and consumers, so one
// connection may be in many groups; closing it drops all of them.
//
// # Ownership and concurrency
//
// Manager's methods are safe for concurrent use; Registry's are not. Start
// launches two goroutines, which Close stops and waits for: the expiry scan
// (every Config.ScanInterval on the injected clock) and the notifier. Request
// processors and connection-close callbacks only update the registry under the
// mutex and mark the changed groups pending; the notifier then sends one oneway
// NOTIFY_CONSUMER_IDS_CHANGED per pending group to each of its channels, without
// the mutex. Changes that pile up while it works coalesce into one round per
// group. Hooks run without any lock held.
//
// A heartbeat's answer is sent only after it is recorded, so the caller's next
// GET_CONSUMER_LIST_BY_GROUP lists it (the Go client rebalances right after its
// first heartbeat).
//
// # Example
//
//	m := clients.New(clients.DefaultConfig(), log, clock.Real{}, clients.Hooks{
//		OnConsumerHeartbeat: func(group string, subs []body.SubscriptionData, clustering bool) error {
//			return topics.EnsureRetryTopic(group) // for example
//		},
//	})
//	m.Register(remotingServer, pool) // also adds m as a connection listener
//	if err := m.Start(ctx); err != nil { ... }
//	defer m.Close()
//	sub, ok := m.Subscription(group, topic) // for pull filtering
//
// Imports: the standard library, pkg/clock, pkg/message, pkg/protocol (and
// body) and pkg/remoting; no other broker room (internal/lint).
package clients
