package answer

import (
	"errors"
	"fmt"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/protocol"
)

// Respond builds a response to req with code and remark, formatted with args
// when there are any.
func Respond(req *protocol.Command, code protocol.ResponseCode, format string, args ...any) *protocol.Command {
	remark := format
	if len(args) > 0 {
		remark = fmt.Sprintf(format, args...)
	}
	return protocol.NewResponse(req, code, remark)
}

// UnlessOneway returns resp, or nil when req is oneway (Java's flag 2): a
// oneway request is never answered.
func UnlessOneway(req, resp *protocol.Command) *protocol.Command {
	if req.IsOneway() {
		return nil
	}
	return resp
}

// Put maps a store put outcome to a response code and remark. A stored
// message answers SUCCESS, or FLUSH_DISK_TIMEOUT / FLUSH_SLAVE_TIMEOUT /
// SLAVE_NOT_AVAILABLE (stored, not as durable as configured) with an empty
// remark, as RocketMQ does. Unstored: MESSAGE_ILLEGAL for a message that cannot
// be stored, SERVICE_NOT_AVAILABLE with the reason for a full disk, a
// read-only store or a shutdown, SYSTEM_ERROR otherwise (unexpected reports
// true then: the caller logs it).
func Put(res store.PutResult, err error) (code protocol.ResponseCode, remark string, unexpected bool) {
	if err != nil {
		switch {
		case errors.Is(err, store.ErrMessageTooLarge), errors.Is(err, store.ErrBadBatch), errors.Is(err, store.ErrBadMessage):
			return protocol.MessageIllegal, err.Error(), false
		case errors.Is(err, store.ErrDiskFull):
			return protocol.ServiceNotAvailable,
				"service not available now: the disk is full, new messages are refused (" + err.Error() + ")", false
		case errors.Is(err, store.ErrNotWritable):
			return protocol.ServiceNotAvailable,
				"service not available now: the store is read-only after an I/O error (" + err.Error() + ")", false
		case errors.Is(err, store.ErrClosed):
			return protocol.ServiceNotAvailable, "service not available now: broker is shutting down", false
		case errors.Is(err, store.ErrFenced):
			return protocol.ServiceNotAvailable, "service not available now: this broker is not the master (" + err.Error() + ")", false
		case errors.Is(err, store.ErrInSyncReplicas):
			return protocol.SystemError, "in-sync replicas not enough (" + err.Error() + ")", false
		}
		return protocol.SystemError, err.Error(), true
	}
	switch res.Status {
	case store.PutFlushDiskTimeout:
		return protocol.FlushDiskTimeout, "", false
	case store.PutFlushSlaveTimeout:
		return protocol.FlushSlaveTimeout, "", false
	case store.PutSlaveNotAvailable:
		return protocol.SlaveNotAvailable, "", false
	case store.PutFenced:
		return protocol.ServiceNotAvailable,
			"service not available now: this broker stopped being the master before the message was confirmed; it may be lost, send it again", false
	}
	return protocol.Success, "", false
}

// StatusName is RocketMQ's PutMessageStatus name of a stored put's status.
func StatusName(s store.PutStatus) string {
	switch s {
	case store.PutFlushDiskTimeout:
		return "FLUSH_DISK_TIMEOUT"
	case store.PutFlushSlaveTimeout:
		return "FLUSH_SLAVE_TIMEOUT"
	case store.PutSlaveNotAvailable:
		return "SLAVE_NOT_AVAILABLE"
	case store.PutFenced:
		return "SERVICE_NOT_AVAILABLE"
	}
	return "PUT_OK"
}
