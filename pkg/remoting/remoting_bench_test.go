package remoting

import (
	"context"
	"testing"

	"github.com/petrelmq/petrel/pkg/protocol"
)

func benchRoundTrip(b *testing.B, bodySize int, st protocol.SerializeType) {
	s := startServer(b, testServerConfig(), nil, func(s *Server) { s.Register(1, echo, NewPool("p", 4, 1024)) })
	c := newClient(b, ClientConfig{}, nil)
	addr := s.Addr().String()
	ctx := context.Background()
	body := make([]byte, bodySize)
	ext := map[string]string{"topic": "BenchTopic", "queueId": "3", "properties": "KEYS\x01k\x02TAGS\x01t\x02"}
	b.SetBytes(int64(2 * bodySize))
	b.ReportAllocs()
	for b.Loop() {
		req := &protocol.Command{Code: 1, Language: protocol.LanguageGo, Version: protocol.CurrentVersion,
			ExtFields: ext, Body: body, Serialize: st}
		resp, err := c.Invoke(ctx, addr, req)
		if err != nil || resp.ResponseCode() != protocol.Success {
			b.Fatal(resp, err)
		}
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	b.Run("json/128B", func(b *testing.B) { benchRoundTrip(b, 128, protocol.SerializeJSON) })
	b.Run("json/16KiB", func(b *testing.B) { benchRoundTrip(b, 16<<10, protocol.SerializeJSON) })
	b.Run("rocketmq/128B", func(b *testing.B) { benchRoundTrip(b, 128, protocol.SerializeRocketMQ) })
}

// BenchmarkRoundTripParallel measures many callers multiplexed on one connection.
func BenchmarkRoundTripParallel(b *testing.B) {
	s := startServer(b, testServerConfig(), nil, func(s *Server) { s.Register(1, echo, NewPool("p", 4, 1024)) })
	c := newClient(b, ClientConfig{}, nil)
	addr := s.Addr().String()
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Invoke(ctx, addr, protocol.NewRequest(1, map[string]string{"topic": "BenchTopic"}))
			if err != nil || resp.ResponseCode() != protocol.Success {
				b.Error(resp, err)
				return
			}
		}
	})
}

// BenchmarkInvokeAsyncPipelined measures pipelined asynchronous calls on one
// connection: up to 256 in flight, each answer delivered to its callback.
func BenchmarkInvokeAsyncPipelined(b *testing.B) {
	s := startServer(b, testServerConfig(), nil, func(s *Server) { s.Register(1, echo, NewPool("p", 4, 1024)) })
	c := newClient(b, ClientConfig{}, nil)
	addr := s.Addr().String()
	ctx := context.Background()
	window := make(chan struct{}, 256)
	body := make([]byte, 128)
	cb := func(resp *protocol.Command, err error) {
		if err != nil || resp.ResponseCode() != protocol.Success {
			b.Error(resp, err)
		}
		<-window
	}
	b.ReportAllocs()
	for b.Loop() {
		window <- struct{}{}
		req := protocol.NewRequest(1, map[string]string{"topic": "BenchTopic"})
		req.Body = body
		if err := c.InvokeAsync(ctx, addr, req, cb); err != nil {
			b.Fatal(err)
		}
	}
	for range cap(window) {
		window <- struct{}{}
	}
}
