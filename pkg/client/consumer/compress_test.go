package consumer_test

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/consumer"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
)

// TestPushCompressedBodies sends large bodies with each algorithm through the
// broker and checks that the push consumer gets the original bytes, and that
// the stored sysFlag carries the algorithm's bits (so the body really crossed
// the broker compressed).
func TestPushCompressedBodies(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t)
	for _, alg := range []client.Compression{client.CompressionZLIB, client.CompressionLZ4, client.CompressionZSTD} {
		t.Run(alg.String(), func(t *testing.T) {
			topic := "Compress" + alg.String()
			createTopic(t, c, topic, 2)
			p := newProducer(t, c.NameServerAddr, producer.Group("pg-"+alg.String()),
				producer.CompressType(alg), producer.CompressBodyOver(1024))
			const n = 6
			want := map[string][]byte{}
			for i := range n {
				body := bytes.Repeat([]byte("body "+strconv.Itoa(i)+" "), 2000+i*500)
				if i == 0 {
					body = []byte("small body, sent as it is")
				}
				res, err := p.Send(t.Context(), producer.NewMessage(topic, body))
				require.NoError(t, err)
				want[res.MsgID] = body
			}
			got := newCollector()
			startPush(t, fast(c.NameServerAddr, "g-"+topic, consumer.FromWhere(consumer.ConsumeFromFirstOffset)), topic, consumer.All(),
				consumer.Concurrently(func(_ context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
					got.add(msgs...)
					return consumer.ConsumeSuccess
				}))
			testutil.WaitFor(t, 10*time.Second, func() bool { return got.count() == n })
			got.mu.Lock()
			defer got.mu.Unlock()
			for id, body := range want {
				m := got.msgs[id]
				require.NotNil(t, m, id)
				require.Equal(t, body, m.Body, id)
				if len(body) >= 1024 {
					require.True(t, m.SysFlag.Has(message.SysFlagCompressed), id)
					require.Equal(t, alg.SysFlag()&^message.SysFlagCompressed, m.SysFlag.CompressionType(), id)
				} else {
					require.False(t, m.SysFlag.Has(message.SysFlagCompressed), id)
				}
			}
		})
	}
}
