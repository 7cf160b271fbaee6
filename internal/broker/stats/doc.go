// Package stats keeps the broker's rates for GET_BROKER_RUNTIME_INFO (putTps, getFoundTps, ...) and
// GET_CONSUME_STATS (consumeTps), as RocketMQ's brokerStatus and
// consumerProgress show them: events per second over the last 10 s, 1 min and
// 10 min. Counters are atomics bumped on the hot paths; a sampler goroutine
// records every counter's total every SampleInterval into a ring, and a
// Rate is (total now - total at the newest sample at least the window old) /
// the time between them. Before a window has passed, the oldest sample (the
// broker's start) is used. A second ring keeps one sample per 10 minutes for a
// day, for VIEW_BROKER_STATS_DATA's hour and day windows (Rate.Window); per
// topic, the stored-message total (the sum of its queues' max offsets) is
// sampled with the rest (SampleTopics), per topic@group the messages pulled.
//
// Pure state: no goroutines (the broker's ticker calls SampleAll). Imports
// only the standard library.
package stats
