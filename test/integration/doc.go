// Package integration runs the official RocketMQ Go client (rocketmq-client-go
// v2.1.2) against an in-process Petrel cluster (name server and broker on
// loopback, from internal/testutil): broadcasting, rebalancing when consumers
// join and leave, orderly consumption across a rebalance, and idle CPU.
//
// The tests skip under the race detector: rocketmq-client-go v2.1.2 has data
// races of its own (see testutil.SkipOfficialClientUnderRace). scripts/test.sh runs them again without
// -race; Petrel's own packages are race-tested on their own.
package integration
