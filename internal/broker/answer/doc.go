// Package answer builds the broker's responses that several rooms share: a
// response with a formatted remark, the send-family answer with the fields
// RocketMQ adds to every send answer, and the mapping of a store put outcome
// to a response code.
//
// Imports: the standard library, internal/store (its result and error
// sentinels only) and pkg/protocol. Pure functions, safe for concurrent use.
package answer
