// Package admin serves the broker's administration requests: topics
// (UPDATE_AND_CREATE_TOPIC, DELETE_TOPIC_IN_BROKER, GET_ALL_TOPIC_CONFIG),
// subscription groups (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
// GET_ALL_SUBSCRIPTIONGROUP_CONFIG, DELETE_SUBSCRIPTIONGROUP), broker status
// (GET_BROKER_RUNTIME_INFO, GET_TOPIC_STATS_INFO, GET_CONSUME_STATS,
// QUERY_TOPIC_CONSUME_BY_WHO) and broker configuration (GET_BROKER_CONFIG,
// UPDATE_BROKER_CONFIG for the runtime-changeable keys).
//
// Imports: the standard library, internal/store, internal/properties,
// broker/meta, broker/answer, broker/stats, broker/clients, pkg/clock,
// pkg/message, pkg/protocol (and header, body), pkg/remoting. Safe for
// concurrent use.
package admin
