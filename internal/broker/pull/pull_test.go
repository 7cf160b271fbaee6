package pull

import (
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/broker/clients"
	"github.com/petrelmq/petrel/internal/broker/meta"
	"github.com/petrelmq/petrel/internal/broker/stats"
	"github.com/petrelmq/petrel/internal/broker/subscription"
	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
)

// readErrStore answers every read with err (what the store gives a read
// whose context the closing server canceled: the context's error).
type readErrStore struct{ err error }

func (s readErrStore) GetMessages(ctx context.Context, _, _ string, _ int32, _ message.QueueOffset, _ int, _ store.MessageFilter, _ []byte) (store.GetResult, error) {
	if s.err != nil {
		return store.GetResult{}, s.err
	}
	return store.GetResult{}, ctx.Err()
}
func (readErrStore) MaxOffsetInQueue(string, int32) message.QueueOffset { return 0 }
func (readErrStore) AddDispatchQueue(*store.DispatchQueue)              {}
func (readErrStore) QueueIDs(string) []int32                            { return []int32{0} }

type noConsumers struct{}

func (noConsumers) ConsumerGroup(string) (clients.GroupInfo, bool) { return clients.GroupInfo{}, false }
func (noConsumers) Subscription(string, string) (body.SubscriptionData, bool) {
	return body.SubscriptionData{}, false
}

func newTestService(t *testing.T, st Store) *Service {
	t.Helper()
	topics := meta.NewTopics(clock.Real{})
	_, err := topics.Put(meta.NewTopicConfig("T", 1, body.PermRead|body.PermWrite))
	require.NoError(t, err)
	return New(Config{BrokerName: "b"}, Deps{
		Store: st, Topics: topics, Groups: meta.NewGroups(clock.Real{}), Offsets: meta.NewOffsets(),
		Runtime:   meta.NewLive(meta.Runtime{BrokerPermission: body.PermRead | body.PermWrite, AutoCreateSubscriptionGroup: true}),
		Consumers: noConsumers{}, Subscriptions: subscription.NewCompiler(false), Stats: stats.NewBroker(),
		Clock: clock.Real{}, Log: slog.New(slog.DiscardHandler),
	})
}

func pullReq() *protocol.Command {
	return header.NewRequest(protocol.PullMessage, &header.PullMessage{
		ConsumerGroup: "g", Topic: "T", QueueID: 0, MaxMsgNums: 32,
		SysFlag: flagSubscription, Subscription: "*",
	})
}

// TestPullDuringShutdownAsksForANewRoute: a read cut short because the
// server is closing (its request context canceled) is answered
// SERVICE_NOT_AVAILABLE, which clients take as "refresh the route"
// (a consumer following a master switch), not SYSTEM_ERROR; any other read
// error stays SYSTEM_ERROR.
func TestPullDuringShutdownAsksForANewRoute(t *testing.T) {
	s := newTestService(t, readErrStore{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	resp := s.pull(ctx, nil, pullReq(), true)
	require.Equal(t, protocol.ServiceNotAvailable, resp.ResponseCode(), resp.Remark)

	resp = newTestService(t, readErrStore{err: context.Canceled}).pull(context.Background(), nil, pullReq(), true)
	require.Equal(t, protocol.SystemError, resp.ResponseCode(), "a canceled read while the request itself is live is an error")
}
