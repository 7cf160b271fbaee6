// Package client is the shared core of Petrel's Go SDK for RocketMQ 4.x
// protocol clusters. Producers (package producer), consumers (package
// consumer) and the admin client (package admin) are built on a Client, which
// owns:
//
//   - the options shared by every SDK client (NameServers, Namespace,
//     InstanceName, WithHooks, WithLogger, intervals and timeouts), as
//     namespaced functional options: Option, and ProducerOption /
//     ConsumerOption for the packages that extend them;
//   - one remoting connection per broker and name-server address;
//   - the client id ("ip@pid#n", n numbering the clients of the process so
//     that no two share an id, or "ip@instance" with InstanceName);
//   - route discovery through a RouteSource (name servers by default: the
//     client starts on a name server picked at random, sticks to the one that
//     answered last and moves to the next on failure), with a cache refreshed
//     every 30s that keeps serving cached routes while every name server is
//     down, and refreshed at once, shared and rate-limited per topic, after a
//     call fails in a way that suggests the route is stale, such as a master
//     change (SuggestsStaleRoute, RefreshStaleRoute, MarkRouteStale);
//   - route decoding of both encodings name servers use (DecodeRoute);
//   - heartbeats every 30s to the brokers of cached routes, for the producer
//     and consumer groups registered with RegisterProducer / RegisterConsumer;
//   - hooks for metrics and tracing (HookCallDone, HookSendDone, HookPullDone,
//     HookRouteUpdated);
//   - message trace (WithTrace): a bounded queue of RocketMQ trace records
//     (package trace) that one goroutine sends to the trace topic, for the
//     producers and consumers built on the client (Trace, TraceDropped);
//   - handlers for requests brokers send to the client (Handle);
//   - PULL_MESSAGE (Pull) and body (de)compression: zlib, LZ4, ZSTD.
//
// Broker refusals are *protocol.Error values: match them with
// errors.Is(err, protocol.ErrTopicNotExist) and friends.
//
// # Lifecycle and concurrency
//
// New validates options and does no I/O. Start launches two goroutines, the
// route refresher and the heartbeat loop (and, for a moment each, the
// refreshes failures trigger); Close stops them, closes every
// connection (calls in flight fail), waits for every goroutine the client
// started (callbacks included) and makes later calls return ErrClosed. Close is
// idempotent and safe before Start. All methods are safe for concurrent use.
// The library never reads environment variables: programs pass NAMESRV_ADDR to
// NameServers themselves.
//
// # Example
//
//	c, err := client.New(client.NameServers("127.0.0.1:9876"))
//	if err != nil { ... }
//	if err := c.Start(ctx); err != nil { ... }
//	defer c.Close()
//	route, err := c.Route(ctx, "TopicTest")
//	if errors.Is(err, protocol.ErrTopicNotExist) { ... }
//	for _, q := range route.PublishQueues() { ... }
//
// Imports: the standard library, pkg/ and the LZ4 and ZSTD codecs; never
// anything under internal/ (internal/lint).
package client
