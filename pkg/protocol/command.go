package protocol

import (
	"strconv"
)

// SerializeType is the header serialization of a frame, carried in the top byte of
// the header-length word.
type SerializeType uint8

const (
	// SerializeJSON is the JSON header (type 0). The Go client always sends it.
	SerializeJSON SerializeType = 0
	// SerializeRocketMQ is the compact binary header (type 1).
	SerializeRocketMQ SerializeType = 1
)

func (s SerializeType) String() string {
	switch s {
	case SerializeJSON:
		return "JSON"
	case SerializeRocketMQ:
		return "ROCKETMQ"
	}
	return "SerializeType(" + strconv.Itoa(int(s)) + ")"
}

// Flag bits of Command.Flag.
const (
	// FlagResponse marks a response (bit 0).
	FlagResponse int32 = 1
	// FlagOneway marks a request that must not be answered (bit 1).
	FlagOneway int32 = 2
)

// MaxExtFields caps the number of extFields entries in a header, both when
// decoding (more is ErrBadHeader) and when encoding (AppendFrame refuses). Real
// headers have a few dozen at most; without a cap, a frame of tiny distinct
// entries costs about ten times its size in map memory.
const MaxExtFields = 1024

// CurrentVersion is the version Petrel writes in every command it sends: the ordinal
// of RocketMQ V4_9_8, so clients treat Petrel as a 4.9-era server.
const CurrentVersion int16 = 409

// Command is one RemotingCommand: a request, a response, or a server-to-client
// request. ExtFields carries the "custom header"; every value is a string on the
// wire (package header gives each header a typed view). Body is opaque bytes and
// may be nil.
//
// Code is the raw wire field: a RequestCode in a request and a ResponseCode in a
// response. Read it typed with RequestCode and ResponseCode.
type Command struct {
	Code      int16
	Language  LanguageCode
	Version   int16
	Opaque    int32
	Flag      int32
	Remark    string
	ExtFields map[string]string
	Body      []byte

	// Serialize is the header serialization this command was read with, or is to be
	// written with. A response should use the serialization of its request.
	Serialize SerializeType
}

// NewRequest returns a request with the given code and extension fields, written in
// JSON with Petrel's language and version. The opaque is set by the sender.
func NewRequest(code RequestCode, ext map[string]string) *Command {
	if ext == nil {
		ext = map[string]string{}
	}
	return &Command{Code: int16(code), Language: LanguageGo, Version: CurrentVersion, ExtFields: ext}
}

// NewResponse returns a response to req with the given code and remark: it copies
// req's opaque and serialization and sets FlagResponse.
func NewResponse(req *Command, code ResponseCode, remark string) *Command {
	return &Command{
		Code:      int16(code),
		Language:  LanguageGo,
		Version:   CurrentVersion,
		Opaque:    req.Opaque,
		Flag:      FlagResponse,
		Remark:    remark,
		ExtFields: map[string]string{},
		Serialize: req.Serialize,
	}
}

// RequestCode returns Code as a request code. It is meaningful for a request
// (IsResponse false).
func (c *Command) RequestCode() RequestCode { return RequestCode(c.Code) }

// ResponseCode returns Code as a response code. It is meaningful for a response
// (IsResponse true).
func (c *Command) ResponseCode() ResponseCode { return ResponseCode(c.Code) }

// IsResponse reports whether the response bit is set.
func (c *Command) IsResponse() bool { return c.Flag&FlagResponse != 0 }

// IsOneway reports whether the oneway bit is set. Only the Java client sets it; the
// Go client sends oneway calls with flag 0 and ignores the answer.
func (c *Command) IsOneway() bool { return c.Flag&FlagOneway != 0 }

// Ext returns the extension field key, or "" if it is absent.
func (c *Command) Ext(key string) string {
	if c.ExtFields == nil {
		return ""
	}
	return c.ExtFields[key]
}

// SetExt sets an extension field, allocating the map if needed.
func (c *Command) SetExt(key, value string) {
	if c.ExtFields == nil {
		c.ExtFields = map[string]string{}
	}
	c.ExtFields[key] = value
}
