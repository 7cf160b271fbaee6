// Package metasync keeps a slave's metadata in step with its master's, as
// RocketMQ's SlaveSynchronize does: right after start and every period (10 s)
// it asks the master for its topic config (GET_ALL_TOPIC_CONFIG, 21), consumer
// offsets (GET_ALL_CONSUMER_OFFSET, 43), delay-level progress
// (GET_ALL_DELAY_OFFSET, 45) and subscription groups
// (GET_ALL_SUBSCRIPTIONGROUP_CONFIG, 201), and adopts them, so that a slave
// that serves consumers (or becomes master) resumes where the master was.
//
// Better than RocketMQ 4.x: offsets consumers committed to the slave while
// the master was unreachable are kept over the master's older values when it
// returns, and pushed to the master with UPDATE_CONSUMER_OFFSET
// (meta.Offsets.MergeMaster), so consumers are not rewound.
//
// The master's address comes from the registrar (the name servers' answer to
// REGISTER_BROKER). Works against Petrel and RocketMQ 4.9 masters (fastjson
// bodies with unquoted integer keys are read).
//
// Imports: the standard library, broker/meta, internal/lifecycle, pkg/clock,
// pkg/protocol (and body, header) and pkg/remoting.
package metasync
