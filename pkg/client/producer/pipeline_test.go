package producer_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/producer"
)

// sendPipelined sends n messages with SendAsync (the producer's window
// bounds them) and returns the errors.
func sendPipelined(t *testing.T, p *producer.Producer, topic string, n int) []error {
	t.Helper()
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		p.SendAsync(t.Context(), producer.NewMessage(topic, fmt.Appendf(nil, "m%d", i)), func(_ *producer.SendResult, err error) {
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	return errs
}

// Pipelined sends against a real broker succeed: with default settings the
// SDK's window (1,024) is under the broker's per-connection cap (4,096); with a
// broker cap lowered to 8, a client cap set to match keeps the connection
// under it, and without it the SYSTEM_BUSY answers are retried.
func TestRealBrokerPipelinedSends(t *testing.T) {
	t.Parallel()
	const n = 3000
	// The sends' timeout is not the subject: on a machine loaded by other
	// tests a send in a window of 1,024 can wait longer than the default 3 s.
	slow := producer.SendTimeout(30 * time.Second)
	c := testutil.StartCluster(t)
	p := startReal(t, c.NameServerAddr, slow)
	require.Empty(t, sendPipelined(t, p, "Pipe", n))

	low := testutil.StartCluster(t, testutil.WithBrokerConfig(func(cfg *broker.Config) {
		cfg.Remoting.MaxInflightPerConn = 8
	}))
	matched := startReal(t, low.NameServerAddr, client.MaxInflightPerConn(8), slow)
	require.Empty(t, sendPipelined(t, matched, "Pipe", n))
	retried := startReal(t, low.NameServerAddr, producer.MaxAsyncInflight(32), producer.Retries(50), slow)
	require.Empty(t, sendPipelined(t, retried, "Pipe", 500))

	// Every acknowledged message is stored once; the consume queues are
	// written after the acknowledgement, so wait for the last of them.
	a := newAdmin(t, low.NameServerAddr)
	var got int
	testutil.WaitFor(t, 30*time.Second, func() bool { got = len(readAll(t, a, "Pipe")); return got >= n+500 })
	require.Equal(t, n+500, got)
}
