package broker

import (
	"fmt"
	"strconv"

	"github.com/petrelmq/petrel/pkg/protocol"
)

// extReader reads typed extFields of a request, remembering the first problem:
// a missing required field or a value that does not parse. The Java broker
// fails such requests with SYSTEM_ERROR, and so does Petrel.
type extReader struct {
	req *protocol.Command
	err error
}

func (r *extReader) get(key string, required bool) (string, bool) {
	v, ok := r.req.ExtFields[key]
	if !ok && required && r.err == nil {
		r.err = fmt.Errorf("the custom field <%s> is null", key)
	}
	return v, ok && v != ""
}

func (r *extReader) str(key string, required bool) string {
	v, _ := r.get(key, required)
	return v
}

func (r *extReader) int64(key string, required bool) int64 {
	v, ok := r.get(key, required)
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("the custom field <%s> is not a number: %q", key, v)
	}
	return n
}

func (r *extReader) int32(key string, required bool) int32 {
	v, ok := r.get(key, required)
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("the custom field <%s> is not a 32-bit number: %q", key, v)
	}
	return int32(n)
}

func (r *extReader) bool(key string) bool {
	v, ok := r.get(key, false)
	if !ok {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("the custom field <%s> is not a boolean: %q", key, v)
	}
	return b
}

// respond builds a response with code and a formatted remark.
func respond(req *protocol.Command, code protocol.ResponseCode, format string, args ...any) *protocol.Command {
	remark := format
	if len(args) > 0 {
		remark = fmt.Sprintf(format, args...)
	}
	return protocol.NewResponse(req, code, remark)
}
