// Package body holds the JSON (and compressed) bodies of remoting commands that
// more than one side speaks: topic configs, data versions and register-broker
// bodies (broker ↔ name server), and topic routes, cluster info, topic lists and
// KV tables (name server ↔ clients and tools).
//
// Encoders follow what the Go and Java clients parse, including the fastjson form
// with unquoted integer map keys that RocketMQ name servers send to clients below
// version 401 (see EncodeRoute). Decoders of untrusted input check every length
// before allocating. Standard library only.
//
// Imports: the standard library, pkg/protocol and pkg/message only
// (internal/lint).
package body
