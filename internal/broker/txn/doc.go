// Package txn is the broker's side of transactional messages: half messages
// (stored in RMQ_SYS_TRANS_HALF_TOPIC, invisible to consumers),
// END_TRANSACTION (commit stores the real message, rollback only resolves),
// and the checker that asks producers back about transactions left
// unresolved (CHECK_TRANSACTION_STATE) and discards them after
// transactionCheckMax checks. See docs/design/broker.md "Transactions".
//
// Service owns the checker goroutine. Half-message conversion (Half) is a
// pure function the send room calls. Imports: the standard library,
// internal/store, internal/lifecycle, broker/meta, broker/answer, pkg/clock,
// pkg/message, pkg/protocol (and header), pkg/remoting.
package txn
