// Package subscription turns consumer subscriptions into the filters pulls
// apply: TAG expressions matched on the consume-queue tags code, and SQL92
// expressions (when enablePropertyFilter is on) compiled once per
// (group, topic, subVersion) and evaluated on each stored record's property
// string. It also checks SQL92 subscriptions when they arrive (heartbeats,
// CHECK_CLIENT_CONFIG), so a bad expression fails when the consumer
// subscribes rather than at every pull.
//
// Imports: the standard library, internal/filter, pkg/message and
// pkg/protocol (and body). Safe for concurrent use.
package subscription
