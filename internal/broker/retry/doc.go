// Package retry is the broker's side of consumer retries and dead letters: a
// consumer that fails a message sends it back (CONSUMER_SEND_MSG_BACK) and
// the broker re-stores it in %RETRY%<group> behind a delay level, or in
// %DLQ%<group> once it has been retried maxReconsumeTimes times. It also
// applies the same rule to plain sends to a %RETRY% topic (what the Go client
// does when a send-back fails), and creates a clustering group's retry topic
// when its consumers first heartbeat.
//
// Service answers send-backs once the re-stored record is durable, from its
// own completion goroutine. Imports: the standard library, internal/store,
// internal/lifecycle, broker/meta, broker/answer, broker/delay, pkg/clock,
// pkg/message, pkg/protocol (and header, body), pkg/remoting.
package retry
