package broker_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"syscall"
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
				cfg.WaitTimeInSendQueue = time.Minute // a busy machine must not turn sends into SYSTEM_BUSY
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
			cpu0 := cpuTime(b)
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
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
		})
	}
}

// cpuTime is the process's user+system CPU time (client and broker: both
// run in the test process).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
