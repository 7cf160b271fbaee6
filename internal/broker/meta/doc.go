// Package meta owns the broker's metadata tables and their files under the
// store's config directory, in RocketMQ's JSON shapes: topics (topics.json,
// with its DataVersion), subscription groups (subscriptionGroup.json) and
// consumer offsets (consumerOffset.json), plus the names and rules of system
// topics (TopicValidator in RocketMQ).
//
// The tables are plain state behind mutexes: no goroutines, no network. Every
// topic or group change is written through at once (serialised writes, each a
// fresh snapshot); offsets are written by Offsets.Flush, which the broker
// calls every flushConsumerOffsetInterval and on Close. Files are written
// through a ConfigStore (the store's atomic LoadConfig/SaveConfig).
//
// Imports: the standard library, pkg/clock and pkg/protocol/body. It must not
// import the store, remoting or any other broker room; the rooms import it.
package meta
