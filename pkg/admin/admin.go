package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
)

// ToolsGroup is the consumer group the admin client pulls and queries with
// (RocketMQ's reserved TOOLS_CONSUMER).
const ToolsGroup = "TOOLS_CONSUMER"

// ErrNoBroker is returned when a cluster or route has no master to talk to.
var ErrNoBroker = errors.New("admin: no master broker")

// Admin is a typed admin client over the SDK core: topics, clusters, consumer
// groups, offsets and message lookups. New does no I/O; Start and Close work as
// for client.Client. Methods are safe for concurrent use. Topic and group names
// are given without the namespace; the client's namespace is applied.
type Admin struct {
	core *client.Client
}

// New returns an admin client; it needs client.NameServers.
func New(opts ...client.Option) (*Admin, error) {
	c, err := client.New(opts...)
	if err != nil {
		return nil, err
	}
	return &Admin{core: c}, nil
}

// Start starts the underlying client (route refresh; no heartbeats, since the
// admin client registers no group).
func (a *Admin) Start(ctx context.Context) error { return a.core.Start(ctx) }

// Close closes every connection and waits for every goroutine. Idempotent.
func (a *Admin) Close() error { return a.core.Close() }

// Client returns the underlying SDK core.
func (a *Admin) Client() *client.Client { return a.core }

func (a *Admin) nameServer(ctx context.Context, code protocol.RequestCode, ext map[string]string) (*protocol.Command, error) {
	resp, err := a.core.InvokeNameServer(ctx, func() *protocol.Command { return protocol.NewRequest(code, maps.Clone(ext)) })
	if err != nil {
		return nil, err
	}
	return resp, protocol.ResponseError(resp)
}

// TopicSpec describes a topic to create or update on a broker.
type TopicSpec struct {
	Topic string
	// ReadQueues and WriteQueues default to 8.
	ReadQueues, WriteQueues int32
	// Perm defaults to 6 (read and write).
	Perm int32
	// FilterType is "SINGLE_TAG" (default) or "MULTI_TAG".
	FilterType string
	SysFlag    int32
	Order      bool
	// Attributes are topic attributes in RocketMQ 5's form, "+key=value,-key"
	// (+ sets, - removes; empty keeps the topic's). Petrel knows
	// "+duplicateWindowSeconds=60", the topic's de-duplication window
	// (docs/design/dedup.md).
	Attributes string
}

func (s TopicSpec) withDefaults() (TopicSpec, error) {
	if s.Topic == "" {
		return s, errors.New("admin: TopicSpec.Topic is empty")
	}
	if s.ReadQueues == 0 {
		s.ReadQueues = 8
	}
	if s.WriteQueues == 0 {
		s.WriteQueues = 8
	}
	if s.Perm == 0 {
		s.Perm = body.PermRead | body.PermWrite
	}
	if s.FilterType == "" {
		s.FilterType = "SINGLE_TAG"
	}
	if s.ReadQueues < 0 || s.WriteQueues < 0 || s.Perm < 0 || s.Perm > 15 {
		return s, fmt.Errorf("admin: TopicSpec for %q: bad queue counts or perm", s.Topic)
	}
	return s, nil
}

// CreateTopic creates or updates a topic on one broker (UPDATE_AND_CREATE_TOPIC,
// 17). The broker registers it with the name servers at once.
func (a *Admin) CreateTopic(ctx context.Context, brokerAddr string, spec TopicSpec) error {
	spec, err := spec.withDefaults()
	if err != nil {
		return err
	}
	req := header.NewRequest(protocol.UpdateAndCreateTopic, &header.CreateTopic{
		Topic:           a.core.Wrap(spec.Topic),
		DefaultTopic:    client.AutoCreateTopicKey,
		ReadQueueNums:   spec.ReadQueues,
		WriteQueueNums:  spec.WriteQueues,
		Perm:            spec.Perm,
		TopicFilterType: spec.FilterType,
		TopicSysFlag:    spec.SysFlag,
		Order:           spec.Order,
		Attributes:      spec.Attributes,
	})
	if _, err := a.core.Call(ctx, brokerAddr, req); err != nil {
		return fmt.Errorf("admin: create topic %q on %s: %w", spec.Topic, brokerAddr, err)
	}
	return nil
}

// CreateTopicInCluster creates or updates the topic on every master of the
// cluster, found with ClusterInfo.
func (a *Admin) CreateTopicInCluster(ctx context.Context, cluster string, spec TopicSpec) error {
	masters, err := a.ClusterMasters(ctx, cluster)
	if err != nil {
		return err
	}
	var errs []error
	for _, addr := range masters {
		errs = append(errs, a.CreateTopic(ctx, addr, spec))
	}
	return errors.Join(errs...)
}

// ClusterMasters returns the master addresses of a cluster's brokers, sorted.
func (a *Admin) ClusterMasters(ctx context.Context, cluster string) ([]string, error) {
	ci, err := a.ClusterInfo(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, name := range ci.ClusterAddrTable[cluster] {
		if bd := ci.BrokerAddrTable[name]; bd != nil && bd.Addrs[body.MasterID] != "" {
			out = append(out, bd.Addrs[body.MasterID])
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w in cluster %q", ErrNoBroker, cluster)
	}
	slices.Sort(out)
	return out, nil
}

// DeleteTopic deletes a topic from every master that holds it
// (DELETE_TOPIC_IN_BROKER, 215) and then from every name server
// (DELETE_TOPIC_IN_NAMESRV, 216). With a cluster name the brokers are that
// cluster's masters; otherwise those of the topic's route. Errors of each step
// are joined.
func (a *Admin) DeleteTopic(ctx context.Context, topic, cluster string) error {
	wire := a.core.Wrap(topic)
	var masters []string
	var errs []error
	if cluster != "" {
		m, err := a.ClusterMasters(ctx, cluster)
		if err != nil {
			return err
		}
		masters = m
	} else {
		r, err := a.TopicRoute(ctx, topic)
		if err != nil {
			return fmt.Errorf("admin: delete topic %q: %w", topic, err)
		}
		for _, name := range r.BrokerNames() {
			if addr, ok := r.MasterAddr(name); ok {
				masters = append(masters, addr)
			}
		}
	}
	for _, addr := range masters {
		_, err := a.core.Call(ctx, addr, header.NewRequest(protocol.DeleteTopicInBroker, &header.DeleteTopic{Topic: wire}))
		if err != nil {
			errs = append(errs, fmt.Errorf("admin: delete topic %q on %s: %w", topic, addr, err))
		}
	}
	for _, ns := range a.core.NameServers() {
		_, err := a.core.Call(ctx, ns, header.NewRequest(protocol.DeleteTopicInNamesrv,
			&header.DeleteTopicFromNamesrv{Topic: wire, ClusterName: cluster}))
		if err != nil {
			errs = append(errs, fmt.Errorf("admin: delete topic %q on name server %s: %w", topic, ns, err))
		}
	}
	a.core.ForgetRoute(wire)
	return errors.Join(errs...)
}

// Topics lists every topic the name servers know (GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
// 206), sorted, as on the wire (with namespaces).
func (a *Admin) Topics(ctx context.Context) ([]string, error) {
	resp, err := a.nameServer(ctx, protocol.GetAllTopicListFromNameServer, nil)
	if err != nil {
		return nil, fmt.Errorf("admin: topic list: %w", err)
	}
	var tl struct {
		TopicList []string `json:"topicList"`
	}
	if err := json.Unmarshal(resp.Body, &tl); err != nil {
		return nil, fmt.Errorf("admin: topic list: %w", err)
	}
	slices.Sort(tl.TopicList)
	return tl.TopicList, nil
}

// TopicRoute fetches the topic's current route from the name servers.
func (a *Admin) TopicRoute(ctx context.Context, topic string) (*client.Route, error) {
	return a.core.RefreshRoute(ctx, a.core.Wrap(topic))
}

// ClusterInfo fetches every cluster and broker the name servers know
// (GET_BROKER_CLUSTER_INFO, 106), in either JSON form.
func (a *Admin) ClusterInfo(ctx context.Context) (*body.ClusterInfo, error) {
	resp, err := a.nameServer(ctx, protocol.GetBrokerClusterInfo, nil)
	if err != nil {
		return nil, fmt.Errorf("admin: cluster info: %w", err)
	}
	return client.DecodeClusterInfo(resp.Body)
}

// ConsumerGroups returns the subscription-group configs of one broker
// (GET_ALL_SUBSCRIPTIONGROUP_CONFIG, 201), by wire group name.
func (a *Admin) ConsumerGroups(ctx context.Context, brokerAddr string) (map[string]body.SubscriptionGroupConfig, error) {
	resp, err := a.core.Call(ctx, brokerAddr, protocol.NewRequest(protocol.GetAllSubscriptionGroupConfig, nil))
	if err != nil {
		return nil, fmt.Errorf("admin: consumer groups of %s: %w", brokerAddr, err)
	}
	var w body.SubscriptionGroupWrapper
	if err := json.Unmarshal(resp.Body, &w); err != nil {
		return nil, fmt.Errorf("admin: consumer groups of %s: %w", brokerAddr, err)
	}
	return w.SubscriptionGroupTable, nil
}

// masters returns the master address of every broker of the topic's route.
func (a *Admin) masters(ctx context.Context, topic string) (*client.Route, map[string]string, error) {
	r, err := a.TopicRoute(ctx, topic)
	if err != nil {
		return nil, nil, err
	}
	out := map[string]string{}
	for _, name := range r.BrokerNames() {
		if addr, ok := r.MasterAddr(name); ok {
			out[name] = addr
		}
	}
	if len(out) == 0 {
		return nil, nil, fmt.Errorf("%w for topic %q", ErrNoBroker, topic)
	}
	return r, out, nil
}

// ConsumeStats returns a group's progress on a topic, merged over every master
// of the topic (GET_CONSUME_STATS, 208): broker and consumer offsets per queue.
// Its Diff is the lag. ConsumeTps is summed.
func (a *Admin) ConsumeStats(ctx context.Context, group, topic string) (*body.ConsumeStats, error) {
	_, masters, err := a.masters(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := &body.ConsumeStats{OffsetTable: map[message.MessageQueue]body.OffsetWrapper{}}
	for _, addr := range slices.Sorted(maps.Values(masters)) {
		resp, err := a.core.Call(ctx, addr, header.NewRequest(protocol.GetConsumeStats, &header.GetConsumeStats{
			ConsumerGroup: a.core.Wrap(group), Topic: a.core.Wrap(topic),
		}))
		if err != nil {
			return nil, fmt.Errorf("admin: consume stats of %q on %s: %w", group, addr, err)
		}
		cs, err := body.DecodeConsumeStats(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("admin: consume stats of %q on %s: %w", group, addr, err)
		}
		maps.Copy(out.OffsetTable, cs.OffsetTable)
		out.ConsumeTps += cs.ConsumeTps
	}
	return out, nil
}

// ResetOffsetByTime moves a consumer group's offsets on a topic back (or
// forward) to the first message stored at or after ts, on every master of
// the topic (INVOKE_BROKER_TO_RESET_OFFSET, 222; a zero ts means the start of
// each queue). Without force a queue whose offset is already before that
// point keeps it. The brokers store the new offsets and tell the group's
// online consumers, which re-read from there; it fails with
// protocol.ErrConsumerNotOnline when the group has no consumer online. It
// returns the new offset of every queue.
func (a *Admin) ResetOffsetByTime(ctx context.Context, group, topic string, ts time.Time, force bool) (map[message.MessageQueue]message.QueueOffset, error) {
	_, masters, err := a.masters(ctx, topic)
	if err != nil {
		return nil, err
	}
	var millis int64
	if !ts.IsZero() {
		millis = ts.UnixMilli()
	}
	out := map[message.MessageQueue]message.QueueOffset{}
	for _, addr := range slices.Sorted(maps.Values(masters)) {
		resp, err := a.core.Call(ctx, addr, header.NewRequest(protocol.InvokeBrokerToResetOffset, &header.ResetOffset{
			Topic: a.core.Wrap(topic), Group: a.core.Wrap(group), Timestamp: millis, IsForce: force,
		}))
		if err != nil {
			return nil, fmt.Errorf("admin: reset offsets of %q on %s: %w", group, addr, err)
		}
		table, err := body.DecodeResetOffsetBody(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("admin: reset offsets of %q on %s: %w", group, addr, err)
		}
		for mq, off := range table {
			out[mq] = message.QueueOffset(off)
		}
	}
	return out, nil
}

// Lag returns how many messages of the topic the group has not consumed yet.
func (a *Admin) Lag(ctx context.Context, group, topic string) (int64, error) {
	cs, err := a.ConsumeStats(ctx, group, topic)
	if err != nil {
		return 0, err
	}
	return cs.Diff(), nil
}

// queueCall sends req to the master of mq's broker and decodes a successful
// answer's header into resp.
func (a *Admin) queueCall(ctx context.Context, mq message.MessageQueue, code protocol.RequestCode, req, resp header.Header) error {
	addr, ok := a.core.MasterAddr(mq.BrokerName)
	if !ok {
		if _, err := a.TopicRoute(ctx, mq.Topic); err != nil {
			return err
		}
		if addr, ok = a.core.MasterAddr(mq.BrokerName); !ok {
			return fmt.Errorf("%w %q", ErrNoBroker, mq.BrokerName)
		}
	}
	r, err := a.core.Call(ctx, addr, header.NewRequest(code, req))
	if err != nil {
		return err
	}
	if err := resp.Decode(r); err != nil {
		return fmt.Errorf("admin: %s answer from %s: %w", code, addr, err)
	}
	return nil
}

// ConsumerOffset returns the group's committed offset of a queue (the next
// offset to consume; QUERY_CONSUMER_OFFSET, 14). A group without one gives an
// error matching protocol.ErrQueryNotFound.
func (a *Admin) ConsumerOffset(ctx context.Context, group string, mq message.MessageQueue) (message.QueueOffset, error) {
	var resp header.QueryConsumerOffsetResponse
	err := a.queueCall(ctx, mq, protocol.QueryConsumerOffset, &header.QueryConsumerOffset{
		ConsumerGroup: a.core.Wrap(group), Topic: a.core.Wrap(mq.Topic), QueueID: mq.QueueID,
	}, &resp)
	return message.QueueOffset(resp.Offset), err
}

// MaxOffset returns the offset the queue's next message will get
// (GET_MAX_OFFSET, 30).
func (a *Admin) MaxOffset(ctx context.Context, mq message.MessageQueue) (message.QueueOffset, error) {
	var resp header.GetMaxOffsetResponse
	err := a.queueCall(ctx, mq, protocol.GetMaxOffset,
		&header.GetMaxOffset{Topic: a.core.Wrap(mq.Topic), QueueID: mq.QueueID}, &resp)
	return message.QueueOffset(resp.Offset), err
}

// MinOffset returns the queue's smallest readable offset (GET_MIN_OFFSET, 31).
func (a *Admin) MinOffset(ctx context.Context, mq message.MessageQueue) (message.QueueOffset, error) {
	var resp header.GetMinOffsetResponse
	err := a.queueCall(ctx, mq, protocol.GetMinOffset,
		&header.GetMinOffset{Topic: a.core.Wrap(mq.Topic), QueueID: mq.QueueID}, &resp)
	return message.QueueOffset(resp.Offset), err
}

// Pull reads up to max messages of a queue from offset, as ToolsGroup, without
// long polling and without committing anything (PULL_MESSAGE, 11). Topics of
// the returned messages are as on the wire.
func (a *Admin) Pull(ctx context.Context, mq message.MessageQueue, offset message.QueueOffset, max int32) (*client.PullResult, error) {
	addr, ok := a.core.MasterAddr(mq.BrokerName)
	if !ok {
		if _, err := a.TopicRoute(ctx, mq.Topic); err != nil {
			return nil, err
		}
		if addr, ok = a.core.MasterAddr(mq.BrokerName); !ok {
			return nil, fmt.Errorf("%w %q", ErrNoBroker, mq.BrokerName)
		}
	}
	mq.Topic = a.core.Wrap(mq.Topic)
	return a.core.Pull(ctx, addr, client.PullRequest{Queue: mq, Group: ToolsGroup, Offset: offset, MaxMessages: max, Expression: "*"})
}

// QueryByKey asks every master of the topic for messages whose KEYS contain
// key (or, with unique set, whose UNIQ_KEY is key) stored between begin and end
// (QUERY_MESSAGE, 12), at most max per broker. Brokers that find nothing
// contribute nothing; the result is filtered again on the client, as the index
// is a hash.
func (a *Admin) QueryByKey(ctx context.Context, topic, key string, unique bool, max int, begin, end time.Time) ([]*message.MessageExt, error) {
	_, masters, err := a.masters(ctx, topic)
	if err != nil {
		return nil, err
	}
	var (
		mu   sync.Mutex
		out  []*message.MessageExt
		errs []error
		wg   sync.WaitGroup
	)
	wire := a.core.Wrap(topic)
	for _, addr := range masters {
		wg.Go(func() {
			resp, err := a.core.Call(ctx, addr, header.NewRequest(protocol.QueryMessage, &header.QueryMessage{
				Topic: wire, Key: key, MaxNum: int32(min(max, math.MaxInt32)),
				BeginTimestamp: begin.UnixMilli(), EndTimestamp: end.UnixMilli(), UniqueKeyQuery: unique,
			}))
			mu.Lock()
			defer mu.Unlock()
			if errors.Is(err, protocol.ErrQueryNotFound) {
				return
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("admin: query %q on %s: %w", key, addr, err))
				return
			}
			msgs, err := message.DecodeMessages(resp.Body)
			if err != nil {
				errs = append(errs, fmt.Errorf("admin: query %q on %s: %w", key, addr, err))
			}
			for _, m := range msgs {
				if m.Topic != wire {
					continue
				}
				if (unique && m.Property(message.PropertyUniqKey) == key) || (!unique && slices.Contains(m.Keys(), key)) {
					if b, err := client.Decompress(m.SysFlag, m.Body); err == nil {
						m.Body = b
					}
					out = append(out, m)
				}
			}
		})
	}
	wg.Wait()
	slices.SortFunc(out, func(x, y *message.MessageExt) int { return int(x.StoreTimestamp - y.StoreTimestamp) })
	return out, errors.Join(errs...)
}

// MaxOffsets returns the max offset (the next message's offset) of every
// readable queue of the topic. Queue topics are as given (no namespace).
func (a *Admin) MaxOffsets(ctx context.Context, topic string) (map[message.MessageQueue]message.QueueOffset, error) {
	r, err := a.TopicRoute(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := map[message.MessageQueue]message.QueueOffset{}
	for _, q := range r.SubscribeQueues() {
		q.Topic = topic
		off, err := a.MaxOffset(ctx, q)
		if err != nil {
			return nil, err
		}
		out[q] = off
	}
	return out, nil
}

// ReadFrom pulls every queue in from, starting at its offset, until each is
// caught up, and returns the messages in queue order. It is for tools and
// checks, not for consuming: it commits nothing.
func (a *Admin) ReadFrom(ctx context.Context, from map[message.MessageQueue]message.QueueOffset) ([]*message.MessageExt, error) {
	qs := slices.Collect(maps.Keys(from))
	slices.SortFunc(qs, func(x, y message.MessageQueue) int {
		if c := strings.Compare(x.BrokerName, y.BrokerName); c != 0 {
			return c
		}
		return int(x.QueueID - y.QueueID)
	})
	var out []*message.MessageExt
	for _, q := range qs {
		off := from[q]
		for {
			res, err := a.Pull(ctx, q, off, 32)
			if err != nil {
				return out, err
			}
			if res.Status != client.PullFound {
				break
			}
			out = append(out, res.Messages...)
			off = res.NextBeginOffset
		}
	}
	return out, nil
}
