package client

import (
	"time"

	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
)

// Hook observes the client. The base interface is empty: a hook implements one
// or more of the Hook* interfaces, and the client calls every hook that
// implements the interface of an event. Hooks run on the goroutine of the
// operation they observe, so they must be fast and safe for concurrent use; a
// hook that needs time should hand the event off. Hooks must not modify the
// values they are given.
type Hook any

// CallEvent describes one request the client sent and its outcome.
type CallEvent struct {
	Addr    string // "host:port" of the broker or name server
	Code    protocol.RequestCode
	Latency time.Duration // until the answer, the error, or the frame was queued (oneway)
	// RespCode is the response code; -1 when there was no answer.
	RespCode protocol.ResponseCode
	Err      error // transport or context error; nil when an answer arrived
}

// HookCallDone is called after every request/response exchange (and every
// oneway send) with a broker or name server.
type HookCallDone interface {
	OnCallDone(CallEvent)
}

// SendEvent describes one attempt to send a message or a batch.
type SendEvent struct {
	Topic    string               // as on the wire
	Queue    message.MessageQueue // the queue tried
	Addr     string               // broker address
	Attempt  int                  // 0 for the first attempt
	Messages int                  // 1, or the batch size
	Bytes    int                  // request body bytes (after compression)
	Latency  time.Duration
	Err      error // nil on success
}

// HookSendDone is called after every send attempt of a producer.
type HookSendDone interface {
	OnSendDone(SendEvent)
}

// PullEvent describes one PULL_MESSAGE exchange.
type PullEvent struct {
	Queue    message.MessageQueue
	Addr     string
	Offset   message.QueueOffset
	Messages int
	Latency  time.Duration
	Err      error
}

// HookPullDone is called after every pull the client makes.
type HookPullDone interface {
	OnPullDone(PullEvent)
}

// HookRouteUpdated is called when a topic's cached route is set or changes.
type HookRouteUpdated interface {
	OnRouteUpdated(topic string, r *Route)
}

// EachHook calls fn for every hook of c that implements T.
func EachHook[T any](c *Client, fn func(T)) {
	for _, h := range c.cfg.hooks {
		if t, ok := h.(T); ok {
			fn(t)
		}
	}
}
