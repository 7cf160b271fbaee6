// Package pull serves PULL_MESSAGE (11): RocketMQ's checks (broker and group
// permission, topic, queue), the subscription filter (from the request or
// from the group's last heartbeat), the read from the store, the answer's
// offsets and the suggested broker (slave reads), and long polling: a pull
// that finds nothing is held in a longpoll.Service until a matching message
// is dispatched or its suspend time passes. See docs/design/broker.md "Pull
// path" and "Long polling".
//
// Service owns the long-polling service and one goroutine that drains the
// store's dispatch events into it. Imports: the standard library,
// internal/store, internal/lifecycle, broker/meta, broker/answer,
// broker/longpoll, broker/subscription, broker/stats, broker/clients,
// pkg/clock, pkg/message, pkg/protocol (and header, body), pkg/remoting.
package pull
