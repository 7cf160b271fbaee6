// Package broker is Petrel's RocketMQ-compatible broker: it serves the RocketMQ
// remoting protocol to the official clients (send, pull with long polling,
// consumer offsets, offset lookups, topic and group administration, broker
// config and stats), keeps the topic, subscription-group and consumer-offset
// tables in the store's config files, and registers with every name server.
// Client and consumer-group management lives in the clients subpackage; storage
// is behind store.MessageStore.
//
// Ownership: a Broker owns its remoting server, its store, the client manager,
// the name-server client and every goroutine it starts; Close releases all of
// them in the order docs/design/broker.md gives (unregister, refuse sends, drain,
// answer held pulls, close connections, persist, close the store).
//
// Concurrency: all exported methods are safe for concurrent use. Processors run
// on bounded remoting pools; sends and held pulls are answered asynchronously
// with Conn.Reply, so no worker waits for a flush or a message.
//
// Example:
//
//	cfg := broker.DefaultConfig()
//	cfg.NameServers = []string{"127.0.0.1:9876"}
//	cfg.Store.RootDir = "/var/lib/petrel/store"
//	b, err := broker.New(cfg, slog.Default(), clock.Real{})
//	if err != nil { ... }
//	if err := b.Start(ctx); err != nil { ... }
//	defer b.Close()
package broker
