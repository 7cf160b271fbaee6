// Package consumer holds Petrel's RocketMQ 4.x consumers: PushConsumer, which
// long-polls the queues allocated to it and runs handlers, and
// LitePullConsumer, which prefetches messages for the application to Poll.
//
// # Groups and allocation
//
// Members of a clustering group split each topic's queues with an
// AllocateStrategy (Averagely by default; AveragelyByCircle, ConsistentHash,
// ByConfig, ByMachineRoom, MachineRoomNearby). Allocation is a pure function
// of the sorted queue and member lists (Allocate), recomputed every
// RebalanceInterval (20s) and when a broker sends NOTIFY_CONSUMER_IDS_CHANGED.
// Broadcasting members read every queue and keep offsets in a local file.
//
// # Handlers
//
// Concurrently handlers run on a pool of ConsumeGoroutines goroutines shared
// by all queues; a batch that returns ConsumeRetryLater is sent back to the
// broker (CONSUMER_SEND_MSG_BACK, falling back to a send to %RETRY%<group>)
// and comes again later through the group's retry topic. Orderly handlers see
// each queue's messages in order, one call at a time per queue, while the
// consumer holds the queue's broker lock (renewed every LockInterval);
// SuspendCurrentQueueAMoment retries the same messages locally.
//
// A handler that panics does not crash the process: the panic is recovered,
// logged at ERROR with its stack, and counts as ConsumeRetryLater (or
// SuspendCurrentQueueAMoment). A concurrent handler call that runs longer
// than ConsumeTimeout (15 minutes) gets a cancelled context and its messages
// are sent back for retry, so its queue moves on (RocketMQ's consumeTimeout).
//
// # Offsets and flow control
//
// The committed offset of a queue is the smallest offset still being
// consumed, or the offset after the last pulled entry: delivery is at least
// once. Offsets are committed every CommitInterval (5s), when a queue is given
// up and on Close. Pulling a queue pauses while it caches MaxCachedMessages
// (1000) messages or MaxCachedBytes (100 MiB).
//
// # Masters and slaves
//
// Queues are pulled from the broker id the last pull answer suggested
// (suggestWhichBrokerId), found as RocketMQ's findBrokerAddressInSubscribe
// does (client.Route.SubscribeAddr): a slave when the master suggests one or
// is out of the route (down). Pulls to a slave carry no commit offset;
// offsets are committed to the master, or to a slave while the master is
// down. Broker locks (orderly) and send-backs need the master.
//
// # Master changes
//
// A pull that fails for a connection reason, a timeout or a "not available"
// answer (client.SuggestsStaleRoute) refreshes the topic's route at once,
// shared with the consumer's other queues and at most once per
// client.StaleRouteRefreshInterval (500ms) per topic; when the refreshed route
// names another address for the queue's broker, the queue is pulled again at
// once instead of after PullRetryDelay. Failed offset commits and queries,
// member look-ups, locks and send-backs refresh in the background. So after a
// failover (a promoted slave registering as brokerId 0 from its own address)
// consumers read from, and commit offsets to, the new master within moments of
// its registration, not at the next periodic refresh (30s).
//
// # Lifecycle and concurrency
//
// NewPush and NewLitePull build without I/O; Start launches the goroutines;
// Close stops every one of them (handlers get a cancelled context and are
// waited for), commits offsets, unlocks orderly queues and closes the client.
// Close is idempotent and safe before Start. Methods are safe for concurrent
// use. Each consumer owns its own client.Client with a client id of its own
// ("ip@pid#n"), so two consumers of one group in one process are two members
// and split the queues. With client.InstanceName the id is "ip@name": Start
// refuses a second consumer of a group with the same name in one process
// (ErrDuplicateMember).
//
// # Example
//
//	c, err := consumer.NewPush(client.NameServers("127.0.0.1:9876"), consumer.Group("orders"))
//	if err != nil { ... }
//	err = c.Subscribe("Orders", consumer.Tag("paid || shipped"),
//		consumer.Concurrently(func(ctx context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
//			for _, m := range msgs { handle(m) }
//			return consumer.ConsumeSuccess
//		}))
//	if err := c.Start(ctx); err != nil { ... }
//	defer c.Close()
//
// Imports: the standard library and pkg/ only; never anything under internal/
// (internal/lint).
package consumer
