// Package protocol is the RocketMQ remoting wire format as Petrel speaks it: the
// Command (RemotingCommand) model, request and response codes, language codes, the
// frame codec for both header serializations (JSON, type 0, and the ROCKETMQ binary
// header, type 1), and the client-facing Error type. Package header gives each
// request and response header a typed view of a Command's extFields.
//
// # Codes
//
// RequestCode and ResponseCode are typed; codes.txt is the one table of their
// numbers, RocketMQ names (String) and, for responses, Retriable, from which
// codes_gen.go is generated (go generate). Command.Code is the raw wire field;
// read it with Command.RequestCode or Command.ResponseCode.
//
// The package uses only the standard library and has no goroutines and no I/O of
// its own (FrameReader reads from the io.Reader it is given).
//
// # Ownership and concurrency
//
// All types are plain values. A Command is owned by whoever holds it and is not safe
// for concurrent mutation. Decoded header strings never alias the input: a header
// of at most SharedHeaderLimit bytes is copied once and its strings share that
// copy, a larger one copies each string; Body aliases
// the decoded bytes (DecodeFrame, DecodePayload) or the buffer FrameReader
// allocated for that frame, which the caller then owns. The Append* encoders write
// into the caller's slice and allocate only when it must grow. FrameReader is not
// safe for concurrent use; the codec functions are.
//
// # Frame layout (big-endian)
//
//	+----------+------------------------+-----------+--------+
//	| length 4 | serType 1 | hdrLen 3   | header    | body   |
//	+----------+------------------------+-----------+--------+
//	length = 4 + hdrLen + len(body)
//
// # Limits
//
//   - length must be at least 4 and at most the reader's cap (DefaultMaxFrameSize,
//     16 MiB, unless configured); it is checked before any payload is read.
//   - hdrLen (24 bits) must fit in the frame and be at most HeaderSizeLimit
//     (1 MiB); a decoded remark is at most RemarkSizeLimit (64 KiB) and the
//     extFields' keys and values add up to at most ExtFieldsSizeLimit (512 KiB),
//     in at most MaxExtFields entries. AppendFrame refuses what decoders refuse.
//   - FrameReader checks the prefix (ReadPrefix) before reading the header, and
//     decodes the header (ReadHeader) before reading the body (ReadBody), so a
//     server can refuse a bad header, or wait for memory, first. It grows a
//     buffer in steps of at most 64 KiB as bytes arrive, so a peer that
//     announces 16 MiB and sends 10 bytes costs about 64 KiB.
//   - Every length in a ROCKETMQ header is checked against the bytes left before
//     anything is allocated; JSON values skipped under unknown keys may nest 64
//     deep.
//
// Every decode error is a *DecodeError that matches ErrMalformed and one of
// ErrFrameTooLarge, ErrBadFrame, ErrUnknownSerializeType or ErrBadHeader; a peer
// that sends one should be disconnected. Decoders never panic on any input (fuzzed
// by FuzzDecodeFrame, FuzzDecodeJSONHeader and FuzzDecodeRocketMQHeader).
//
// # Example
//
//	req := protocol.NewRequest(protocol.GetRouteInfoByTopic, map[string]string{"topic": "T"})
//	frame, err := protocol.AppendFrame(nil, req) // JSON header, as the Go client sends
//	...
//	fr := protocol.NewFrameReader(bufio.NewReader(conn), protocol.DefaultMaxFrameSize)
//	resp, err := fr.Read()
//	if err == nil {
//		err = protocol.ResponseError(resp) // *protocol.Error for a non-zero code
//	}
//
// See docs/design/protocol.md (## Remoting) for what Petrel implements and does on
// bad input.
//
// Imports: the standard library only (internal/lint).
package protocol
