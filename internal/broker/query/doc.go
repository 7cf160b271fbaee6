// Package query serves message lookups: QUERY_MESSAGE (12, by key or unique
// key through the index), VIEW_MESSAGE_BY_ID (33, by commit-log offset) and
// QUERY_CONSUME_TIME_SPAN (303). Stateless; safe for concurrent use.
//
// Imports: the standard library, internal/store, broker/meta, broker/answer,
// pkg/message, pkg/protocol (and header), pkg/remoting.
package query
