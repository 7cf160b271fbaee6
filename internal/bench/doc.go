// Package bench holds the logic of `petrel bench`: load generators that drive
// any RocketMQ 4.x name server and its brokers (Petrel's or Apache
// RocketMQ's) through Petrel's SDK, and measure them.
//
// Scenarios (Run with a Config):
//   - producer: Threads goroutines send Size-byte messages (optional tag and
//     unique key) synchronously, asynchronously (a bounded window), oneway or
//     in batches, for Count messages or a Duration, after a warm-up;
//   - consumer: consumes a backlog (optionally produced first, Prefill) with a
//     push consumer of a fresh group from the first offset;
//   - e2e: sends at a fixed Rate with the send time in the body and consumes
//     at the same time; latency is receive time minus send time;
//   - transaction: Threads goroutines send transactional messages whose local
//     transaction commits at once.
//
// Every Interval a Progress (messages per second, latency percentiles,
// failures) goes to Config.Progress; Run returns a Summary for the measured
// phase. Latencies are recorded in a log-linear Histogram (about 1.6 %
// precision, microsecond resolution, no allocation per sample).
//
// Ownership: Run starts and closes its producers and consumers and every
// goroutine it starts, and returns once all are done. It imports only the
// public packages (pkg/...), so what it measures is what an application gets.
package bench
