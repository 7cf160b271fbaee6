package clients

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// Client identifies the sender of a heartbeat: its connection and what it says
// about itself.
type Client struct {
	// ConnID is the remoting connection's id; a channel is one (group, ConnID).
	ConnID uint64
	// ClientID is the client's id ("ip@pid"), an opaque string.
	ClientID string
	// Addr is the connection's remote "ip:port".
	Addr string
	// Language is the request's language name ("GO", "JAVA", ...).
	Language string
	// Version is the request's version (317 for Go clients, 409 for Java 4.9.8).
	Version int32
}

// ChannelInfo is one registered channel of a group: a client on one connection.
type ChannelInfo struct {
	Client
	// LastUpdate is when the last heartbeat listing this group arrived.
	LastUpdate time.Time
}

// EventKind says why a consumer group changed.
type EventKind uint8

// Event kinds. Every kind calls for NOTIFY_CONSUMER_IDS_CHANGED to the group's
// remaining channels.
const (
	// ChannelJoined: a connection heartbeated for the group for the first time.
	ChannelJoined EventKind = iota + 1
	// ChannelClosed: a member's connection closed.
	ChannelClosed
	// ChannelExpired: a member sent no heartbeat for longer than the expiry.
	ChannelExpired
	// ChannelUnregistered: a member sent UNREGISTER_CLIENT.
	ChannelUnregistered
	// TopicsChanged: the set of topics in the group's subscription table changed.
	TopicsChanged
)

var eventKindNames = [...]string{"", "joined", "closed", "expired", "unregistered", "topics-changed"}

func (k EventKind) String() string {
	if int(k) < len(eventKindNames) && k != 0 {
		return eventKindNames[k]
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event reports a change of a consumer group's membership or subscribed topics.
type Event struct {
	Group string
	Kind  EventKind
	// ConnID and ClientID name the channel that joined or left; zero for
	// TopicsChanged.
	ConnID   uint64
	ClientID string
	// Remaining is the number of channels the group has after the change.
	Remaining int
}

func (e Event) String() string {
	s := e.Group + " " + e.Kind.String()
	if e.Kind != TopicsChanged {
		s += " conn=" + strconv.FormatUint(e.ConnID, 10) + " client=" + e.ClientID
	}
	return s + " remaining=" + strconv.Itoa(e.Remaining)
}

// GroupInfo is a snapshot of one consumer group. Its slices and map are the
// caller's.
type GroupInfo struct {
	ConsumeType      string
	MessageModel     string
	ConsumeFromWhere string
	// ClientIDs are the distinct client ids of the group's channels, sorted.
	ClientIDs []string
	// Subscriptions maps topic to subscription.
	Subscriptions map[string]body.SubscriptionData
	// Channels are the group's channels, sorted by client id then connection id.
	Channels []ChannelInfo
}

type consumerGroup struct {
	consumeType      string
	messageModel     string
	consumeFromWhere string
	channels         map[uint64]*ChannelInfo
	subs             map[string]body.SubscriptionData
}

type lockEntry struct {
	clientID   string
	lastUpdate time.Time
}

// Registry is the pure core of client management: consumer groups with their
// channels and subscriptions, producer groups, and the rebalance locks of orderly
// consumers. It has no goroutines and does no I/O; time enters as now arguments.
// It is not safe for concurrent use (Manager guards it with a mutex).
//
// Semantics follow the RocketMQ 4.9 broker (ConsumerManager, ConsumerGroupInfo,
// ProducerManager, RebalanceLockManager); docs/design/broker.md lists where they
// differ.
type Registry struct {
	channelExpiry time.Duration
	lockExpiry    time.Duration
	consumers     map[string]*consumerGroup
	producers     map[string]map[uint64]*ChannelInfo
	// locks: group → queue → owner.
	locks map[string]map[message.MessageQueue]lockEntry
}

// NewRegistry returns an empty registry. Channels silent for longer than
// channelExpiry are dropped by Scan; a queue lock not renewed for longer than
// lockExpiry may be taken by another client.
func NewRegistry(channelExpiry, lockExpiry time.Duration) *Registry {
	return &Registry{
		channelExpiry: channelExpiry,
		lockExpiry:    lockExpiry,
		consumers:     map[string]*consumerGroup{},
		producers:     map[string]map[uint64]*ChannelInfo{},
		locks:         map[string]map[message.MessageQueue]lockEntry{},
	}
}

// RegisterConsumer records a heartbeat's entry for one consumer group: the
// channel (c's connection) joins or is refreshed, the group's consume settings
// are replaced by the heartbeat's, and its subscription table is updated: a
// topic new to the group is added, a topic whose subVersion grew is replaced, a
// topic not in the heartbeat is removed. It returns ChannelJoined if the channel
// is new to the group and TopicsChanged if the set of topics changed (a
// subVersion change alone is no event).
func (r *Registry) RegisterConsumer(now time.Time, c Client, cd body.ConsumerData) []Event {
	g := r.consumers[cd.GroupName]
	if g == nil {
		g = &consumerGroup{channels: map[uint64]*ChannelInfo{}, subs: map[string]body.SubscriptionData{}}
		r.consumers[cd.GroupName] = g
	}
	g.consumeType = cd.ConsumeType
	g.messageModel = cd.MessageModel
	g.consumeFromWhere = cd.ConsumeFromWhere

	var events []Event
	ch := g.channels[c.ConnID]
	joined := ch == nil
	if joined {
		ch = &ChannelInfo{}
		g.channels[c.ConnID] = ch
	}
	// A different client id on a known connection replaces the old one.
	ch.Client = c
	ch.LastUpdate = now

	topicsChanged := false
	listed := make(map[string]bool, len(cd.SubscriptionDataSet))
	for _, s := range cd.SubscriptionDataSet {
		listed[s.Topic] = true
		old, ok := g.subs[s.Topic]
		switch {
		case !ok:
			g.subs[s.Topic] = s.Clone()
			topicsChanged = true
		case s.SubVersion > old.SubVersion:
			g.subs[s.Topic] = s.Clone()
		}
	}
	for topic := range g.subs {
		if !listed[topic] {
			delete(g.subs, topic)
			topicsChanged = true
		}
	}
	if joined {
		events = append(events, Event{Group: cd.GroupName, Kind: ChannelJoined, ConnID: c.ConnID, ClientID: c.ClientID, Remaining: len(g.channels)})
	}
	if topicsChanged {
		events = append(events, Event{Group: cd.GroupName, Kind: TopicsChanged, Remaining: len(g.channels)})
	}
	return events
}

// RegisterProducer records that c's connection belongs to producer group group.
func (r *Registry) RegisterProducer(now time.Time, c Client, group string) {
	g := r.producers[group]
	if g == nil {
		g = map[uint64]*ChannelInfo{}
		r.producers[group] = g
	}
	g[c.ConnID] = &ChannelInfo{Client: c, LastUpdate: now}
}

// Heartbeat records a whole heartbeat: every producer and consumer group it
// lists, for c's connection. Groups it does not list are left alone (they expire
// unless another heartbeat lists them).
func (r *Registry) Heartbeat(now time.Time, c Client, hb *body.HeartbeatData) []Event {
	for _, p := range hb.ProducerDataSet {
		r.RegisterProducer(now, c, p.GroupName)
	}
	var events []Event
	for _, cd := range hb.ConsumerDataSet {
		events = append(events, r.RegisterConsumer(now, c, cd)...)
	}
	return events
}

// removeConsumerChannel drops the channel of connID from group and the group
// once it is empty. It reports whether a channel was removed.
func (r *Registry) removeConsumerChannel(group string, connID uint64, kind EventKind) (Event, bool) {
	g := r.consumers[group]
	if g == nil {
		return Event{}, false
	}
	ch := g.channels[connID]
	if ch == nil {
		return Event{}, false
	}
	delete(g.channels, connID)
	if len(g.channels) == 0 {
		delete(r.consumers, group)
	}
	return Event{Group: group, Kind: kind, ConnID: connID, ClientID: ch.ClientID, Remaining: len(g.channels)}, true
}

func (r *Registry) removeProducerChannel(group string, connID uint64) bool {
	g := r.producers[group]
	if _, ok := g[connID]; !ok {
		return false
	}
	delete(g, connID)
	if len(g) == 0 {
		delete(r.producers, group)
	}
	return true
}

// ConnClosed drops every registration of connection connID, producer and
// consumer, and returns a ChannelClosed event per consumer group it left.
// Queue locks are kept until they expire, as RocketMQ does: the client may still
// be consuming what it pulled.
func (r *Registry) ConnClosed(connID uint64) []Event {
	var events []Event
	for _, group := range slices.Sorted(maps.Keys(r.consumers)) {
		if e, ok := r.removeConsumerChannel(group, connID, ChannelClosed); ok {
			events = append(events, e)
		}
	}
	for group := range r.producers {
		r.removeProducerChannel(group, connID)
	}
	return events
}

// Unregister handles UNREGISTER_CLIENT: the channel of connID leaves
// producerGroup and consumerGroup (either may be empty). It returns a
// ChannelUnregistered event if the channel left a consumer group.
func (r *Registry) Unregister(connID uint64, producerGroup, consumerGroup string) []Event {
	if producerGroup != "" {
		r.removeProducerChannel(producerGroup, connID)
	}
	if consumerGroup != "" {
		if e, ok := r.removeConsumerChannel(consumerGroup, connID, ChannelUnregistered); ok {
			return []Event{e}
		}
	}
	return nil
}

// Scan drops every channel whose last heartbeat is more than the channel expiry
// before now (ChannelExpired events for consumer groups), and forgets expired
// queue locks.
func (r *Registry) Scan(now time.Time) []Event {
	var events []Event
	for _, group := range slices.Sorted(maps.Keys(r.consumers)) {
		g := r.consumers[group]
		for _, id := range slices.Sorted(maps.Keys(g.channels)) {
			if now.Sub(g.channels[id].LastUpdate) > r.channelExpiry {
				e, _ := r.removeConsumerChannel(group, id, ChannelExpired)
				events = append(events, e)
			}
		}
	}
	for group, g := range r.producers {
		for id, ch := range g {
			if now.Sub(ch.LastUpdate) > r.channelExpiry {
				r.removeProducerChannel(group, id)
			}
		}
	}
	for group, qs := range r.locks {
		for q, l := range qs {
			if r.lockExpired(l, now) {
				delete(qs, q)
			}
		}
		if len(qs) == 0 {
			delete(r.locks, group)
		}
	}
	return events
}

func (r *Registry) lockExpired(l lockEntry, now time.Time) bool {
	return now.Sub(l.lastUpdate) > r.lockExpiry
}

// LockBatch tries to lock each queue of mqs for clientID in group and returns
// the ones clientID holds afterwards, in request order without duplicates. A
// queue is granted if it is free, its lock has expired, or clientID already
// holds it (which renews the lock). A queue never has two owners in a group.
func (r *Registry) LockBatch(now time.Time, group, clientID string, mqs []message.MessageQueue) []message.MessageQueue {
	qs := r.locks[group]
	if qs == nil {
		qs = map[message.MessageQueue]lockEntry{}
		r.locks[group] = qs
	}
	var ok []message.MessageQueue
	seen := make(map[message.MessageQueue]bool, len(mqs))
	for _, q := range mqs {
		if seen[q] {
			continue
		}
		seen[q] = true
		l, held := qs[q]
		if held && l.clientID != clientID && !r.lockExpired(l, now) {
			continue
		}
		qs[q] = lockEntry{clientID: clientID, lastUpdate: now}
		ok = append(ok, q)
	}
	if len(qs) == 0 {
		delete(r.locks, group)
	}
	return ok
}

// UnlockBatch releases the queues of mqs that clientID holds in group; queues
// held by others or by nobody are left alone. It returns the queues released.
func (r *Registry) UnlockBatch(group, clientID string, mqs []message.MessageQueue) []message.MessageQueue {
	qs := r.locks[group]
	var released []message.MessageQueue
	for _, q := range mqs {
		if l, ok := qs[q]; ok && l.clientID == clientID {
			delete(qs, q)
			released = append(released, q)
		}
	}
	if qs != nil && len(qs) == 0 {
		delete(r.locks, group)
	}
	return released
}

// LockOwner returns the client holding q's lock in group at now, if any.
func (r *Registry) LockOwner(now time.Time, group string, q message.MessageQueue) (string, bool) {
	l, ok := r.locks[group][q]
	if !ok || r.lockExpired(l, now) {
		return "", false
	}
	return l.clientID, true
}

// Subscription returns group's subscription to topic.
func (r *Registry) Subscription(group, topic string) (body.SubscriptionData, bool) {
	g := r.consumers[group]
	if g == nil {
		return body.SubscriptionData{}, false
	}
	s, ok := g.subs[topic]
	if !ok {
		return body.SubscriptionData{}, false
	}
	return s.Clone(), true
}

// GroupsSubscribing returns the sorted consumer groups whose subscription table
// has topic.
func (r *Registry) GroupsSubscribing(topic string) []string {
	var out []string
	for name, g := range r.consumers {
		if _, ok := g.subs[topic]; ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// ConsumerGroups returns the sorted names of the groups with at least one
// channel.
func (r *Registry) ConsumerGroups() []string { return slices.Sorted(maps.Keys(r.consumers)) }

// ProducerGroups returns the sorted names of the producer groups with at least
// one channel.
func (r *Registry) ProducerGroups() []string { return slices.Sorted(maps.Keys(r.producers)) }

// ConsumerGroup returns a snapshot of group, or false if it has no channel.
func (r *Registry) ConsumerGroup(group string) (GroupInfo, bool) {
	g := r.consumers[group]
	if g == nil {
		return GroupInfo{}, false
	}
	info := GroupInfo{
		ConsumeType:      g.consumeType,
		MessageModel:     g.messageModel,
		ConsumeFromWhere: g.consumeFromWhere,
		Subscriptions:    make(map[string]body.SubscriptionData, len(g.subs)),
		Channels:         sortedChannels(g.channels),
	}
	for t, s := range g.subs {
		info.Subscriptions[t] = s.Clone()
	}
	for _, ch := range info.Channels {
		info.ClientIDs = append(info.ClientIDs, ch.ClientID)
	}
	slices.Sort(info.ClientIDs)
	info.ClientIDs = slices.Compact(info.ClientIDs)
	return info, true
}

// ConsumerChannels returns group's channels sorted by client id then
// connection id, or nil.
func (r *Registry) ConsumerChannels(group string) []ChannelInfo {
	g := r.consumers[group]
	if g == nil {
		return nil
	}
	return sortedChannels(g.channels)
}

// ProducerChannels returns producer group's channels sorted by client id then
// connection id, or nil.
func (r *Registry) ProducerChannels(group string) []ChannelInfo {
	return sortedChannels(r.producers[group])
}

func sortedChannels(m map[uint64]*ChannelInfo) []ChannelInfo {
	if len(m) == 0 {
		return nil
	}
	out := make([]ChannelInfo, 0, len(m))
	for _, ch := range m {
		out = append(out, *ch)
	}
	slices.SortFunc(out, func(a, b ChannelInfo) int {
		return cmp.Or(cmp.Compare(a.ClientID, b.ClientID), cmp.Compare(a.ConnID, b.ConnID))
	})
	return out
}

// HasConn reports whether connection connID holds any registration.
func (r *Registry) HasConn(connID uint64) bool {
	for _, g := range r.consumers {
		if _, ok := g.channels[connID]; ok {
			return true
		}
	}
	for _, g := range r.producers {
		if _, ok := g[connID]; ok {
			return true
		}
	}
	return false
}
