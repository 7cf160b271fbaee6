package broker_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/header"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// BenchmarkSendDedup measures SEND_MESSAGE_V2 throughput through an
// in-process broker (ASYNC_FLUSH, OS filesystem) with the de-duplication
// window off and on (60 s, every message a new key, so the table grows as
// it would with no retries): 64 senders on one connection, 1 KiB bodies.
// Run the two sub-benchmarks in alternating processes to compare (see
// docs/perf.md, "De-duplication window").
func BenchmarkSendDedup(b *testing.B) {
	for _, bc := range []struct {
		name   string
		window time.Duration
	}{{"off", 0}, {"window", time.Minute}} {
		b.Run(bc.name, func(b *testing.B) {
			c := testutil.StartCluster(b, testutil.WithBrokerConfig(func(cfg *broker.Config) {
				cfg.DuplicateWindow = bc.window
			}))
			cl := remoting.NewClient(remoting.ClientConfig{}, nil)
			defer cl.Close()
			body := make([]byte, 1024)
			var seq atomic.Int64
			send := func() error {
				n := seq.Add(1)
				ps, _ := message.AppendProperties(nil, map[string]string{
					message.PropertyUniqKey: "BENCH" + strconv.FormatInt(n, 10)})
				req := header.NewRequest(protocol.SendMessageV2, &header.SendMessage{ProducerGroup: "pg-bench",
					Topic: "DedupBench", DefaultTopic: "TBW102", DefaultTopicQueueNums: 8, QueueID: int32(n % 8),
					BornTimestamp: time.Now().UnixMilli(), Properties: string(ps)})
				req.Body = body
				resp, err := cl.Invoke(context.Background(), c.BrokerAddr, req)
				if err != nil {
					return err
				}
				return protocol.ResponseError(resp)
			}
			for range 2000 { // warm-up: topic creation, pools, page cache
				if err := send(); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.SetParallelism(32) // 64 senders on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := send(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
