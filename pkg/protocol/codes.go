package protocol

import "strconv"

//go:generate go run gencodes.go

// RequestCode is the code of a request (RemotingCommand.code when the response
// flag is clear). The constants and their names are generated from codes.txt,
// the one table of RocketMQ 4.9.8's request codes (codes_gen.go).
type RequestCode int16

// ResponseCode is the code of a response (RemotingCommand.code when the
// response flag is set). The constants, names and retriability are generated
// from codes.txt (codes_gen.go).
type ResponseCode int16

// codeInfo describes one response code: its RocketMQ name and whether a client
// may retry the request, possibly on another broker.
type codeInfo struct {
	name      string
	retriable bool
}

// String returns the RocketMQ name of the code (SEND_MESSAGE_V2), or
// "RequestCode(n)" for a code RocketMQ 4.9.8 does not define.
func (c RequestCode) String() string {
	if n, ok := requestCodeNames[c]; ok {
		return n
	}
	return "RequestCode(" + strconv.Itoa(int(c)) + ")"
}

// String returns the RocketMQ name of the code (PULL_NOT_FOUND), or "CODE(n)"
// for a code RocketMQ 4.9.8 does not define.
func (c ResponseCode) String() string {
	if ci, ok := responseCodeInfo[c]; ok {
		return ci.name
	}
	return "CODE(" + strconv.Itoa(int(c)) + ")"
}

// Retriable reports whether a request answered with c may be retried, possibly
// on another broker: SYSTEM_ERROR, SYSTEM_BUSY, SERVICE_NOT_AVAILABLE,
// NO_PERMISSION, TOPIC_NOT_EXIST and FLOW_CONTROL. Success and unknown codes are
// not retriable.
func (c ResponseCode) Retriable() bool { return responseCodeInfo[c].retriable }
