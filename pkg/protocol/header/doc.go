// Package header gives every RocketMQ request and response header that
// Petrel's broker, name server or SDK reads or writes a Go type: SendMessage,
// PullMessage, EndTransaction, RegisterBroker and so on, with Encode into a
// *protocol.Command's extFields and Decode from them. The header of a
// RemotingCommand is its extFields map, whose values are always strings on
// the wire, so one type serves both header serializations (JSON and
// ROCKETMQ): the codec in package protocol carries the map either way.
//
// It owns the field names, types and required-ness of each header, checked
// against RocketMQ 4.9.8's common/protocol/header classes (and, for the
// controller's headers in controller.go, RocketMQ 5.x's). It imports only the
// standard library and package protocol (the import rule is in internal/lint).
//
// # The schema
//
// Each type's struct tags are its one table of field names:
//
//	QueueID int32 `header:"queueId,v2=e,required"`
//
// gives the wire name, the one-letter name used under SEND_MESSAGE_V2 naming
// (SendMessage only), and whether the field is required (Java's @CFNotNull).
// gen.go (go generate) writes headers_gen.go, the Encode, Decode and field
// table of every type, from those tags; a test fails when it is stale. Field
// types are string, int32 (Java int/Integer), int64 (long/Long), bool, and
// Opt[int32] or Opt[int64] for the few nullable numbers whose absence means
// something (SendMessage.MaxReconsumeTimes).
//
// # Decoding
//
// Decode overwrites every field and returns the first problem in field order,
// having read every field it could:
//
//   - a required key that is absent: *FieldError matching ErrMissingField,
//     with Java's text "the custom field <topic> is null";
//   - a number that does not parse or is out of range (Java's parseInt and
//     parseLong rules: optional sign, decimal digits): ErrBadField.
//
// An empty value reads as the zero value and satisfies required (the key is
// there; the Go client sends some keys empty). Booleans read as Java's
// Boolean.parseBoolean: "true" in any case is true, anything else false.
// Decoding allocates nothing unless it fails; it is fuzzed per family
// (FuzzDecodeSendHeaders, FuzzDecodePullHeaders, FuzzDecodeBrokerHeaders,
// FuzzDecodeClientHeaders, FuzzDecodeNamesrvHeaders,
// FuzzDecodeControllerHeaders).
//
// # Encoding
//
// Encode writes required fields always, optional strings only when not empty,
// Opt fields only when Set, and other numbers and booleans always, leaving
// keys it does not own alone. SendMessage picks its naming from the command's
// code (UsesV2Names), so set the code first; NewRequest and NewResponse do.
//
// # Example
//
//	req := header.NewRequest(protocol.PullMessage, &header.PullMessage{
//		ConsumerGroup: "g", Topic: "T", QueueID: 0, QueueOffset: 42, MaxMsgNums: 32,
//		SysFlag: 2, SuspendTimeoutMillis: 20000, SubVersion: 0, ExpressionType: "TAG",
//	})
//
//	// on the broker:
//	var h header.PullMessage
//	if err := h.Decode(req); err != nil {
//		return protocol.NewResponse(req, protocol.SystemError, err.Error())
//	}
//	resp := header.NewResponse(req, protocol.PullNotFound, "", &header.PullMessageResponse{
//		NextBeginOffset: h.QueueOffset, MaxOffset: h.QueueOffset,
//	})
//
// # Concurrency
//
// Header values are plain structs, owned by their holder. Encode and Decode
// touch only the command and header they are given.
package header
