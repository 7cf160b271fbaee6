// Package offset serves consumer offsets and queue offset reads:
// QUERY_CONSUMER_OFFSET (14), UPDATE_CONSUMER_OFFSET (15), GET_MAX_OFFSET
// (30), GET_MIN_OFFSET (31), SEARCH_OFFSET_BY_TIMESTAMP (29),
// GET_EARLIEST_MSG_STORETIME (32), GET_ALL_CONSUMER_OFFSET (43, what a slave
// copies from its master) and INVOKE_BROKER_TO_RESET_OFFSET (222, mqadmin
// resetOffsetByTime). The offsets themselves are meta.Offsets.
//
// Imports: the standard library, broker/meta, broker/answer, pkg/message,
// pkg/protocol (and header, body), pkg/remoting. Safe for concurrent use.
package offset
