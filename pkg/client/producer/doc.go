// Package producer sends messages to RocketMQ 4.x protocol brokers (Petrel or
// Apache RocketMQ).
//
// A Producer sends synchronously (Send), asynchronously (SendAsync), oneway
// (SendOneway) and in batches (SendBatch). It finds routes through the name
// servers and keeps them cached (see package client), picks a queue with a
// QueueSelector (RoundRobin by default; Random, HashByKey for ordering, Manual
// or ToQueue for a fixed queue), avoids brokers that failed or answered slowly
// (latency fault tolerance), and retries on another broker within the send
// timeout (default 3s, 2 retries) for transport errors and the retriable codes
// 1, 14, 16 and 17. Bodies of at least 4 KiB are zlib-compressed. Every message
// gets a UNIQ_KEY, its user-facing id. Single messages go as SEND_MESSAGE_V2
// (310, one-letter header names, as the Java client sends them), batches as
// SEND_BATCH_MESSAGE (320). A topic without a route is sent through the route
// of the auto-create topic TBW102, and the broker creates it.
//
// Master changes. A send that fails for a connection reason, a timeout, or
// an answer meaning the broker is not a writable master (SERVICE_NOT_AVAILABLE,
// NO_PERMISSION, SYSTEM_ERROR "in-sync replicas not enough"; see
// client.SuggestsStaleRoute) refreshes the topic's route at once, shared with
// the producer's other sends and at most once per
// client.StaleRouteRefreshInterval (500ms) per topic. When the send has an
// attempt left, that attempt uses the refreshed route, so after a failover (a
// promoted slave registering as the master, brokerId 0, from its own address)
// sends reach the new master within moments of its registration instead of at
// the next periodic refresh (30s). Sends with no attempt left (ordering
// selectors, a spent retry budget) refresh in the background for the sends
// that follow. A cached route with no writable queue is refreshed the same
// way before a send. Latency fault tolerance judges a broker by its master's
// address: a broker name whose master moved is not avoided for the old
// master's failures.
//
// A broker that stored a message but whose flush or replication did not
// confirm in time answers FLUSH_DISK_TIMEOUT (10), SLAVE_NOT_AVAILABLE (11) or
// FLUSH_SLAVE_TIMEOUT (12): the send returns a result whose Status says so,
// not an error, and is retried on another broker only with
// RetryAnotherBrokerWhenNotStoreOK (off by default, as in RocketMQ).
//
// Idempotent sends. An attempt whose answer is lost is not resent by default
// (it may be stored). With Idempotent, each attempt waits at most
// AttemptTimeout and is then resent with the same key (UNIQ_KEY, or the
// application's PETREL_DEDUP_KEY) to the same broker, which, with a
// de-duplication window (duplicateWindowSeconds), stores it once and
// answers every attempt with the first copy's result (docs/client.md,
// docs/design/dedup.md).
//
// NewTransactional makes a TransactionalProducer: SendInTransaction stores a
// half message, runs the local transaction and commits or rolls back with
// END_TRANSACTION; the producer also answers the broker's
// CHECK_TRANSACTION_STATE. Request sends a request and waits for the reply a
// responder sends with SendReply.
//
// Messages are *message.Message values; NewMessage with options such as Tags,
// Keys, Property, DelayLevel and DeliverAt builds them. The producer never
// modifies the messages it is given.
//
// # Lifecycle and concurrency
//
// New validates the options and does no I/O; Start connects lazily and starts
// the client's route-refresh and heartbeat goroutines; Close stops them, fails
// sends in flight, calls every outstanding SendAsync callback and returns once
// no goroutine of the producer is left. All methods are safe for concurrent use.
//
// # Example
//
//	p, err := producer.New(client.NameServers("127.0.0.1:9876"), producer.Group("orders"))
//	if err != nil { ... }
//	if err := p.Start(ctx); err != nil { ... }
//	defer p.Close()
//	res, err := p.Send(ctx, producer.NewMessage("Orders", body, producer.Tags("created"), producer.Keys(orderID)))
//	if errors.Is(err, protocol.ErrTopicNotExist) { ... }
//	log.Println(res.MsgID, res.Queue, res.QueueOffset)
//
// Imports: the standard library and pkg/ only; never anything under internal/
// (internal/lint).
package producer
