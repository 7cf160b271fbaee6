package officialcompat_test

import (
	"context"
	"sync"
	"testing"
	"time"

	rconsumer "github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	rproducer "github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/consumer"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
)

// bodies records consumed bodies.
type bodies struct {
	mu  sync.Mutex
	got []string
}

func (b *bodies) add(s string) { b.mu.Lock(); b.got = append(b.got, s); b.mu.Unlock() }

func (b *bodies) list() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.got...)
}

type officialTxListener struct{}

func (officialTxListener) ExecuteLocalTransaction(m *primitive.Message) primitive.LocalTransactionState {
	if string(m.Body) == "commit" {
		return primitive.CommitMessageState
	}
	return primitive.RollbackMessageState
}

func (officialTxListener) CheckLocalTransaction(*primitive.MessageExt) primitive.LocalTransactionState {
	return primitive.RollbackMessageState
}

// TestSDKTransactionToOfficialConsumer: the SDK's transactional producer
// commits one message and rolls one back; the official push consumer gets
// only the committed one.
func TestSDKTransactionToOfficialConsumer(t *testing.T) {
	const topic = "SDKTxToOfficial"
	c, _ := setup(t, topic, 2, nil)
	tp, err := producer.NewTransactional(client.NameServers(c.NameServerAddr), producer.Group("sdk-tx-pg"),
		producer.TransactionListener(
			func(_ context.Context, m *message.Message) producer.TransactionState {
				if string(m.Body) == "commit" {
					return producer.TransactionCommit
				}
				return producer.TransactionRollback
			},
			func(context.Context, *message.MessageExt) producer.TransactionState {
				return producer.TransactionRollback
			}))
	require.NoError(t, err)
	require.NoError(t, tp.Start(t.Context()))
	t.Cleanup(func() { _ = tp.Close() })
	for _, b := range []string{"rollback", "commit"} {
		_, err := tp.SendInTransaction(t.Context(), producer.NewMessage(topic, []byte(b)))
		require.NoError(t, err, b)
	}

	got := &bodies{}
	pc, err := rconsumer.NewPushConsumer(
		rconsumer.WithNsResolver(primitive.NewPassthroughResolver([]string{c.NameServerAddr})),
		rconsumer.WithGroupName("official-tx-cg"),
		rconsumer.WithInstance(t.Name()+"-consumer"),
		rconsumer.WithConsumeFromWhere(rconsumer.ConsumeFromFirstOffset),
	)
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, rconsumer.MessageSelector{Type: rconsumer.TAG, Expression: "*"},
		func(_ context.Context, msgs ...*primitive.MessageExt) (rconsumer.ConsumeResult, error) {
			for _, m := range msgs {
				got.add(string(m.Body))
			}
			return rconsumer.ConsumeSuccess, nil
		}))
	require.NoError(t, pc.Start())
	t.Cleanup(func() { _ = pc.Shutdown() })
	testutil.WaitFor(t, 20*time.Second, func() bool { return len(got.list()) >= 1 })
	time.Sleep(time.Second) // a rolled-back message would arrive by now
	require.Equal(t, []string{"commit"}, got.list())
}

// TestOfficialTransactionToSDKConsumer: the official transaction producer
// commits one message and rolls one back; the SDK push consumer gets only the
// committed one.
func TestOfficialTransactionToSDKConsumer(t *testing.T) {
	const topic = "OfficialTxToSDK"
	c, _ := setup(t, topic, 2, nil)
	tp, err := rproducer.NewTransactionProducer(officialTxListener{},
		rproducer.WithNsResolver(primitive.NewPassthroughResolver([]string{c.NameServerAddr})),
		rproducer.WithGroupName("official-tx-pg"),
		rproducer.WithInstanceName(t.Name()+"-tx"),
		rproducer.WithRetry(1),
	)
	require.NoError(t, err)
	require.NoError(t, tp.Start())
	t.Cleanup(func() { _ = tp.Shutdown() })
	for _, b := range []string{"rollback", "commit"} {
		res, err := tp.SendMessageInTransaction(context.Background(), primitive.NewMessage(topic, []byte(b)))
		require.NoError(t, err, b)
		require.Equal(t, primitive.SendOK, res.Status)
	}

	got := &bodies{}
	pc, err := consumer.NewPush(fast(c.NameServerAddr, "sdk-tx-cg")...)
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, consumer.All(),
		consumer.Concurrently(func(_ context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
			for _, m := range msgs {
				got.add(string(m.Body))
			}
			return consumer.ConsumeSuccess
		})))
	require.NoError(t, pc.Start(t.Context()))
	t.Cleanup(func() { _ = pc.Close() })
	testutil.WaitFor(t, 20*time.Second, func() bool { return len(got.list()) >= 1 })
	time.Sleep(time.Second) // a rolled-back message would arrive by now
	require.Equal(t, []string{"commit"}, got.list())
}
