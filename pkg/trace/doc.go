// Package trace holds RocketMQ's message-trace record format: the records
// that clients with message trace on (RocketMQ's enableMsgTrace,
// rocketmq-client-go's WithTrace, Petrel's client.WithTrace) write to the
// trace topic (RMQ_SYS_TRACE_TOPIC by default), and that mqadmin
// queryMsgTraceById, the console and `petrel admin queryMsgTraceById` read.
//
// # Format
//
// A trace message's body is a sequence of records, each ended by
// FieldSeparator (0x02); a record's fields are separated by
// ContentSeparator (0x01) and are text: decimal numbers, "true"/"false",
// enum names. The first field is the record type. The layouts, by field
// index (RocketMQ 4.9.4's TraceDataEncoder, with the trailing fields
// rocketmq-client-go v2.1.2 adds, marked +):
//
//	Pub:            0 type, 1 timestamp, 2 region, 3 group, 4 topic, 5 msgId,
//	                6 tags, 7 keys, 8 storeHost, 9 bodyLength, 10 costTime,
//	                11 msgType, 12 offsetMsgId, 13 success, 14 clientHost+
//	SubBefore:      0 type, 1 timestamp, 2 region, 3 group, 4 requestId,
//	                5 msgId, 6 retryTimes, 7 keys, 8 clientHost+
//	SubAfter:       0 type, 1 requestId, 2 msgId, 3 costTime, 4 success,
//	                5 keys, 6 contextCode, 7 timestamp, 8 group
//	EndTransaction: 0 type, 1 timestamp, 2 region, 3 group, 4 topic, 5 msgId,
//	                6 tags, 7 keys, 8 storeHost, 9 msgType, 10 transactionId,
//	                11 transactionState, 12 fromTransactionCheck
//
// Timestamps are milliseconds since the Unix epoch; costTime is in
// milliseconds; msgType is the ordinal of MessageType; contextCode the
// ordinal of ConsumeReturnType; transactionState a Java LocalTransactionState
// name. Older writers leave fields out at the end (a Pub of 13 fields has the
// success flag at index 12 and no offsetMsgId), and Java's decoder drops
// trailing empty fields, so empty keys in Sub records are written "null" as
// rocketmq-client-go does. Encode writes the longest layout above; Decode
// reads every length RocketMQ's decoder reads.
//
// The trace message carries the message ids and keys of its records as its
// KEYS (Keys), so the broker's index finds a message's records by its id:
// queryMsgTraceById is a key query on the trace topic.
//
// This package is a leaf: it uses only the standard library. Its functions
// are pure and safe for concurrent use.
package trace
