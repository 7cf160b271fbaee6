package remoting

import (
	"context"

	"github.com/petrelmq/petrel/pkg/protocol"
)

// Processor handles the requests of the codes it is registered for, on the worker
// pool it was registered with.
//
// Process returns the response to send, or an error, which is answered as
// SYSTEM_ERROR with the error text as remark. It may return (nil, nil) to take
// ownership of the answer: it then answers later with conn.Reply (for example once a
// sync flush completes or a held pull is woken) without holding a worker, or not at
// all. Oneway requests are never answered, whatever Process returns.
//
// ctx is cancelled when the server closes; it carries no per-request deadline.
type Processor interface {
	Process(ctx context.Context, conn *Conn, req *protocol.Command) (*protocol.Command, error)
}

// ProcessorFunc adapts a function to Processor.
type ProcessorFunc func(ctx context.Context, conn *Conn, req *protocol.Command) (*protocol.Command, error)

// Process calls f.
func (f ProcessorFunc) Process(ctx context.Context, conn *Conn, req *protocol.Command) (*protocol.Command, error) {
	return f(ctx, conn, req)
}

// ConnListener hears about connections opening and closing, on either side. The
// name server uses OnClose to drop a broker at once; the broker uses it to drop a
// client's registrations. Callbacks run on the connection's own goroutine and must
// not block.
type ConnListener interface {
	OnConnect(c *Conn)
	OnClose(c *Conn)
}

// Interceptor looks at every request a Server accepted, on the worker that
// would run its processor, just before the processor. It returns nil to let
// the processor run, or the answer to send instead (the processor does not
// run; a oneway request gets no answer). It must not block on the network.
// The broker's and name server's ACL check is one.
type Interceptor func(ctx context.Context, conn *Conn, req *protocol.Command) *protocol.Command

// intercepted runs an Interceptor before a Processor.
type intercepted struct {
	i Interceptor
	p Processor
}

func (ic intercepted) Process(ctx context.Context, conn *Conn, req *protocol.Command) (*protocol.Command, error) {
	if resp := ic.i(ctx, conn, req); resp != nil {
		return resp, nil
	}
	return ic.p.Process(ctx, conn, req)
}
