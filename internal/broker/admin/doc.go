// Package admin serves the broker's administration requests: topics
// (UPDATE_AND_CREATE_TOPIC, DELETE_TOPIC_IN_BROKER, GET_ALL_TOPIC_CONFIG),
// subscription groups (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
// GET_ALL_SUBSCRIPTIONGROUP_CONFIG, DELETE_SUBSCRIPTIONGROUP), broker status
// (GET_BROKER_RUNTIME_INFO, GET_TOPIC_STATS_INFO, GET_CONSUME_STATS,
// QUERY_TOPIC_CONSUME_BY_WHO, GET_BROKER_CONSUME_STATS, QUERY_CONSUME_QUEUE,
// VIEW_BROKER_STATS_DATA), CLONE_GROUP_OFFSET, broker configuration
// (GET_BROKER_CONFIG, UPDATE_BROKER_CONFIG for the runtime-changeable keys),
// and the requests relayed to a consumer client over its own connection
// (relay.go: GET_CONSUMER_RUNNING_INFO and CONSUME_MESSAGE_DIRECTLY to the
// named client; INVOKE_BROKER_TO_GET_CONSUMER_STATUS as
// GET_CONSUMER_STATUS_FROM_CLIENT to each client of the group). A relay holds
// an admin worker for at most 5 s per client.
//
// Imports: the standard library, internal/store (and consumequeue's Entry), internal/properties,
// broker/meta, broker/answer, broker/stats, broker/clients, pkg/clock,
// pkg/message, pkg/protocol (and header, body), pkg/remoting. Safe for
// concurrent use.
package admin
