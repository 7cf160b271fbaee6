// Package admin is a typed admin client for RocketMQ 4.x protocol clusters,
// built on the SDK core (package client): create, update and delete topics on
// brokers or whole clusters, list topics, read routes and cluster info, list
// consumer groups, read consumer offsets, consume stats and lag, read queues
// (Pull) and look messages up by key or id; broker runtime info and
// configuration, name-server configuration and KV, write permission, topic
// stats, groups, client connections, consumer progress with a lag that is
// never negative (lag.go), offset resets and clones, the requests the brokers
// relay to consumer clients (running info, consumer status, consume a
// message directly) and the 24-hour statistics; and, given the controllers' addresses,
// read the controller group's metadata and every broker set's master, epoch
// and SyncStateSet, elect a master by hand and forget replicas
// (controller.go).
//
// Broker refusals are *protocol.Error values (errors.Is(err,
// protocol.ErrTopicNotExist), ...). Methods are safe for concurrent use; Close
// waits for every goroutine. Names are given without the namespace.
//
// # Example
//
//	a, err := admin.New(client.NameServers("127.0.0.1:9876"))
//	if err != nil { ... }
//	defer a.Close()
//	err = a.CreateTopicInCluster(ctx, "DefaultCluster", admin.TopicSpec{Topic: "Orders", ReadQueues: 4, WriteQueues: 4})
//	lag, err := a.Lag(ctx, "order-consumers", "Orders")
//
// Imports: the standard library and pkg/ only; never anything under internal/
// (internal/lint).
package admin
