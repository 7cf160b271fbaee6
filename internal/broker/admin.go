package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmq/petrel/internal/properties"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// adminCodes are served by processAdmin on the admin pool: consumer offsets,
// queue offset reads, topic and group administration, broker config and stats.
var adminCodes = []protocol.RequestCode{
	protocol.QueryConsumerOffset, protocol.UpdateConsumerOffset,
	protocol.GetMaxOffset, protocol.GetMinOffset, protocol.SearchOffsetByTimestamp, protocol.GetEarliestMsgStoretime,
	protocol.UpdateAndCreateTopic, protocol.DeleteTopicInBroker, protocol.GetAllTopicConfig,
	protocol.UpdateAndCreateSubscription, protocol.GetAllSubscriptionGroupConfig, protocol.DeleteSubscriptionGroup,
	protocol.GetBrokerRuntimeInfo, protocol.GetTopicStatsInfo, protocol.GetConsumeStats,
	protocol.GetBrokerConfig, protocol.UpdateBrokerConfig, protocol.QueryTopicConsumeByWho,
	protocol.InvokeBrokerToResetOffset,
}

// processAdmin dispatches the admin-pool codes.
func (b *Broker) processAdmin(ctx context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	switch req.RequestCode() {
	case protocol.QueryConsumerOffset:
		return b.queryConsumerOffset(req), nil
	case protocol.UpdateConsumerOffset:
		return b.updateConsumerOffset(req), nil
	case protocol.InvokeBrokerToResetOffset:
		return b.resetOffset(ctx, req), nil // resetoffset.go
	case protocol.GetMaxOffset, protocol.GetMinOffset, protocol.SearchOffsetByTimestamp, protocol.GetEarliestMsgStoretime:
		return b.queueOffsetRead(req), nil
	case protocol.UpdateAndCreateTopic:
		return b.updateAndCreateTopic(ctx, req), nil
	case protocol.DeleteTopicInBroker:
		return b.deleteTopic(req), nil
	case protocol.GetAllTopicConfig:
		return b.jsonResponse(req, b.topics.snapshot())
	case protocol.UpdateAndCreateSubscription:
		return b.updateAndCreateGroup(req), nil
	case protocol.GetAllSubscriptionGroupConfig:
		return b.jsonResponse(req, b.groups.snapshot())
	case protocol.DeleteSubscriptionGroup:
		return b.deleteGroup(req), nil
	case protocol.GetBrokerRuntimeInfo:
		resp := protocol.NewResponse(req, protocol.Success, "")
		resp.Body = body.EncodeKVTable(b.runtimeInfo())
		return resp, nil
	case protocol.GetTopicStatsInfo:
		return b.topicStats(req), nil
	case protocol.GetConsumeStats:
		return b.consumeStats(req), nil
	case protocol.GetBrokerConfig:
		return b.getBrokerConfig(req), nil
	case protocol.UpdateBrokerConfig:
		return b.updateBrokerConfig(ctx, req), nil
	case protocol.QueryTopicConsumeByWho:
		return b.topicConsumeByWho(req), nil
	}
	return respond(req, protocol.RequestCodeNotSupported, " request type %d not supported", req.Code), nil
}

func (b *Broker) jsonResponse(req *protocol.Command, v any) (*protocol.Command, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	resp := protocol.NewResponse(req, protocol.Success, "")
	resp.Body = data
	return resp, nil
}

// onConsumerHeartbeat is the client manager's hook: it makes sure the group's
// subscription config exists (or refuses the heartbeat) and, for clustering
// consumers, creates the retry topic and registers it at once.
func (b *Broker) onConsumerHeartbeat(group string, _ []body.SubscriptionData, clustering bool) error {
	g, ok, err := b.groups.findOrCreate(group, b.runtime().AutoCreateSubscriptionGroup)
	if err != nil {
		b.log.Error("broker: persist subscription group", "group", group, "err", err)
	}
	if !ok {
		return &protocol.Error{Code: protocol.SubscriptionGroupNotExist,
			Remark: "subscription group [" + group + "] does not exist and autoCreateSubscriptionGroup is off"}
	}
	if !clustering {
		return nil
	}
	_, created, err := b.topics.createRetryTopic(group, g.RetryQueueNums)
	if err != nil {
		b.log.Error("broker: persist retry topic", "group", group, "err", err)
	}
	if created {
		b.reg.trigger()
	}
	return nil
}

// --- consumer offsets -------------------------------------------------------

func (b *Broker) queryConsumerOffset(req *protocol.Command) *protocol.Command {
	r := extReader{req: req}
	group, topic, qid := r.str("consumerGroup", true), r.str("topic", true), r.int32("queueId", true)
	if r.err != nil {
		return protocol.NewResponse(req, protocol.SystemError, r.err.Error())
	}
	off := b.offsets.query(group, topic, qid)
	if off < 0 {
		// RocketMQ's rule: a group without an offset starts at 0 on a young
		// queue (nothing deleted yet), otherwise the client decides.
		if b.store.MinOffsetInQueue(topic, qid) > 0 {
			return respond(req, protocol.QueryNotFound, "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first")
		}
		off = 0
	}
	resp := protocol.NewResponse(req, protocol.Success, "")
	resp.SetExt("offset", strconv.FormatInt(off, 10))
	return resp
}

func (b *Broker) updateConsumerOffset(req *protocol.Command) *protocol.Command {
	r := extReader{req: req}
	group, topic, qid := r.str("consumerGroup", true), r.str("topic", true), r.int32("queueId", true)
	off := r.int64("commitOffset", true)
	if r.err != nil {
		return protocol.NewResponse(req, protocol.SystemError, r.err.Error())
	}
	b.offsets.commit(group, topic, qid, off)
	return protocol.NewResponse(req, protocol.Success, "")
}

// queueOffsetRead answers GET_MAX_OFFSET, GET_MIN_OFFSET,
// SEARCH_OFFSET_BY_TIMESTAMP and GET_EARLIEST_MSG_STORETIME.
func (b *Broker) queueOffsetRead(req *protocol.Command) *protocol.Command {
	r := extReader{req: req}
	topic, qid := r.str("topic", true), r.int32("queueId", true)
	var ts int64
	if req.RequestCode() == protocol.SearchOffsetByTimestamp {
		ts = r.int64("timestamp", true)
	}
	if r.err != nil {
		return protocol.NewResponse(req, protocol.SystemError, r.err.Error())
	}
	resp := protocol.NewResponse(req, protocol.Success, "")
	switch req.RequestCode() {
	case protocol.GetMaxOffset:
		resp.SetExt("offset", strconv.FormatInt(int64(b.store.MaxOffsetInQueue(topic, qid)), 10))
	case protocol.GetMinOffset:
		resp.SetExt("offset", strconv.FormatInt(int64(b.store.MinOffsetInQueue(topic, qid)), 10))
	case protocol.SearchOffsetByTimestamp:
		resp.SetExt("offset", strconv.FormatInt(int64(b.store.OffsetByTime(topic, qid, ts)), 10))
	case protocol.GetEarliestMsgStoretime:
		t, err := b.store.EarliestMessageTime(topic, qid)
		if err != nil {
			t = -1
		}
		resp.SetExt("timestamp", strconv.FormatInt(t, 10))
	}
	return resp
}

// --- topics ------------------------------------------------------------------

func (b *Broker) updateAndCreateTopic(ctx context.Context, req *protocol.Command) *protocol.Command {
	r := extReader{req: req}
	tc := body.TopicConfig{
		TopicName:       r.str("topic", true),
		ReadQueueNums:   r.int32("readQueueNums", true),
		WriteQueueNums:  r.int32("writeQueueNums", true),
		Perm:            r.int32("perm", true),
		TopicFilterType: r.str("topicFilterType", false),
		TopicSysFlag:    r.int32("topicSysFlag", false),
		Order:           r.bool("order"),
	}
	if r.err != nil {
		return protocol.NewResponse(req, protocol.SystemError, r.err.Error())
	}
	if err := validateTopicName(tc.TopicName); err != nil {
		return respond(req, protocol.SystemError, "topic[%s]: %v", tc.TopicName, err)
	}
	if isSystemTopic(tc.TopicName) || tc.TopicName == b.cfg.ClusterName || tc.TopicName == b.cfg.BrokerName {
		return respond(req, protocol.SystemError, "The topic[%s] is conflict with system topic.", tc.TopicName)
	}
	if tc.ReadQueueNums < 0 || tc.WriteQueueNums < 0 || tc.ReadQueueNums > 4096 || tc.WriteQueueNums > 4096 {
		return respond(req, protocol.SystemError, "queue numbers (read %d, write %d) must be in [0, 4096]", tc.ReadQueueNums, tc.WriteQueueNums)
	}
	if tc.Perm < 0 || tc.Perm > 7 {
		return respond(req, protocol.SystemError, "perm %d must be in [0, 7]", tc.Perm)
	}
	switch tc.TopicFilterType {
	case "":
		tc.TopicFilterType = filterTypeSingleTag
	case filterTypeSingleTag, filterTypeMultiTag:
	default:
		return respond(req, protocol.SystemError, "topicFilterType %q must be SINGLE_TAG or MULTI_TAG", tc.TopicFilterType)
	}
	changed, err := b.topics.put(tc)
	if err != nil {
		return respond(req, protocol.SystemError, "persist topic config: %v", err)
	}
	if changed {
		b.log.Info("broker: topic created or updated", "topic", tc.TopicName, "read", tc.ReadQueueNums,
			"write", tc.WriteQueueNums, "perm", tc.Perm)
		rctx, cancel := context.WithTimeout(ctx, b.cfg.RegisterTimeout+time.Second)
		_ = b.reg.registerNow(rctx)
		cancel()
	}
	return protocol.NewResponse(req, protocol.Success, "")
}

func (b *Broker) deleteTopic(req *protocol.Command) *protocol.Command {
	r := extReader{req: req}
	topic := r.str("topic", true)
	if r.err != nil {
		return protocol.NewResponse(req, protocol.SystemError, r.err.Error())
	}
	if isSystemTopic(topic) {
		return respond(req, protocol.SystemError, "The topic[%s] is conflict with system topic.", topic)
	}
	existed, err := b.topics.delete(topic)
	if err != nil {
		return respond(req, protocol.SystemError, "persist topic config: %v", err)
	}
	b.offsets.removeTopic(topic)
	if err := b.store.DeleteTopic(topic); err != nil {
		return respond(req, protocol.SystemError, "delete the queues of topic %s: %v", topic, err)
	}
	if existed {
		b.log.Info("broker: topic deleted", "topic", topic)
	}
	return protocol.NewResponse(req, protocol.Success, "")
}

// --- subscription groups ---------------------------------------------------

func (b *Broker) updateAndCreateGroup(req *protocol.Command) *protocol.Command {
	var g body.SubscriptionGroupConfig
	if err := json.Unmarshal(req.Body, &g); err != nil {
		return respond(req, protocol.SystemError, "bad SubscriptionGroupConfig body: %v", err)
	}
	if g.GroupName == "" {
		return respond(req, protocol.SystemError, "SubscriptionGroupConfig.groupName is empty")
	}
	if err := b.groups.put(g); err != nil {
		return respond(req, protocol.SystemError, "persist subscription group: %v", err)
	}
	b.log.Info("broker: subscription group created or updated", "group", g.GroupName, "consumeEnable", g.ConsumeEnable)
	return protocol.NewResponse(req, protocol.Success, "")
}

func (b *Broker) deleteGroup(req *protocol.Command) *protocol.Command {
	r := extReader{req: req}
	group := r.str("groupName", true)
	removeOffset := r.bool("removeOffset")
	if r.err != nil {
		return protocol.NewResponse(req, protocol.SystemError, r.err.Error())
	}
	if _, err := b.groups.delete(group); err != nil {
		return respond(req, protocol.SystemError, "persist subscription groups: %v", err)
	}
	if removeOffset {
		b.offsets.removeGroup(group)
	}
	return protocol.NewResponse(req, protocol.Success, "")
}

// --- stats -------------------------------------------------------------------

// runtimeInfo is the GET_BROKER_RUNTIME_INFO table: the figures RocketMQ's
// brokerStatus shows that Petrel tracks (stats.go has the rates). Figures
// Petrel does not track are reported as zero.
func (b *Broker) runtimeInfo() map[string]string {
	st := b.store.Stats()
	now := b.clk.Now()
	b.stats.put.total.Store(st.PutCount)
	var getTotal []byte
	for i, w := range tpsWindows {
		if i > 0 {
			getTotal = append(getTotal, ' ')
		}
		getTotal = strconv.AppendFloat(getTotal, b.stats.getFound.perSecond(now, w)+b.stats.getMiss.perSecond(now, w), 'f', 2, 64)
	}
	up := now.Sub(b.bootTime)
	d := int64(up / (24 * time.Hour))
	hh := int64(up/time.Hour) % 24
	mm := int64(up/time.Minute) % 60
	ss := int64(up/time.Second) % 60
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	return map[string]string{
		"brokerVersionDesc":               "V4_9_8",
		"brokerVersion":                   strconv.Itoa(int(protocol.CurrentVersion)),
		"bootTimestamp":                   i64(b.bootTime.UnixMilli()),
		"runtime":                         fmt.Sprintf("[ %d days, %d hours, %d minutes, %d seconds ]", d, hh, mm, ss),
		"msgPutTotalTodayNow":             i64(st.PutCount),
		"msgGetTotalTodayNow":             i64(st.GetCount),
		"msgPutTotalYesterdayMorning":     "0",
		"msgPutTotalTodayMorning":         "0",
		"msgGetTotalYesterdayMorning":     "0",
		"msgGetTotalTodayMorning":         "0",
		"putTps":                          b.stats.put.tps(now),
		"getFoundTps":                     b.stats.getFound.tps(now),
		"getMissTps":                      b.stats.getMiss.tps(now),
		"getTransferedTps":                b.stats.getTransferred.tps(now),
		"getTotalTps":                     string(getTotal),
		"commitLogMinOffset":              i64(int64(st.CommitLogMinOffset)),
		"commitLogMaxOffset":              i64(int64(st.CommitLogMaxOffset)),
		"commitLogDiskRatio":              strconv.FormatFloat(st.DiskUsedRatio, 'f', -1, 64),
		"dispatchBehindBytes":             i64(st.DispatchBehindBytes),
		"putMessageEntireTimeMax":         i64(st.PutLatencyMaxMicros / 1000),
		"earliestMessageTimeStamp":        i64(st.EarliestMessageMillis),
		"sendThreadPoolQueueSize":         strconv.Itoa(len(b.sendQ)),
		"sendThreadPoolQueueCapacity":     strconv.Itoa(cap(b.sendQ)),
		"pullThreadPoolQueueSize":         "0",
		"pullThreadPoolQueueCapacity":     strconv.Itoa(b.cfg.PullQueueCapacity),
		"heldPullCount":                   strconv.Itoa(b.holds.held()),
		"pageCacheLockTimeMills":          "0",
		"startAcceptSendRequestTimeStamp": "0",
	}
}

func (b *Broker) topicStats(req *protocol.Command) *protocol.Command {
	r := extReader{req: req}
	topic := r.str("topic", true)
	if r.err != nil {
		return protocol.NewResponse(req, protocol.SystemError, r.err.Error())
	}
	tc, ok := b.topics.get(topic)
	if !ok {
		return respond(req, protocol.TopicNotExist, "topic[%s] not exist", topic)
	}
	table := map[message.MessageQueue]body.TopicOffset{}
	for q := range tc.WriteQueueNums {
		mq := message.MessageQueue{Topic: topic, BrokerName: b.cfg.BrokerName, QueueID: q}
		o := body.TopicOffset{
			MinOffset: max(int64(b.store.MinOffsetInQueue(topic, q)), 0),
			MaxOffset: max(int64(b.store.MaxOffsetInQueue(topic, q)), 0),
		}
		if o.MaxOffset > 0 {
			if t, err := b.store.MessageStoreTime(topic, q, message.QueueOffset(o.MaxOffset-1)); err == nil {
				o.LastUpdateTimestamp = t
			}
		}
		table[mq] = o
	}
	resp := protocol.NewResponse(req, protocol.Success, "")
	resp.Body = body.EncodeTopicStatsTable(table)
	return resp
}

func (b *Broker) consumeStats(req *protocol.Command) *protocol.Command {
	r := extReader{req: req}
	group, onlyTopic := r.str("consumerGroup", true), r.str("topic", false)
	if r.err != nil {
		return protocol.NewResponse(req, protocol.SystemError, r.err.Error())
	}
	topics := []string{onlyTopic}
	if onlyTopic == "" {
		topics = b.offsets.topicsOf(group)
	}
	info, online := b.clients.ConsumerGroup(group)
	cs := &body.ConsumeStats{OffsetTable: map[message.MessageQueue]body.OffsetWrapper{}}
	now := b.clk.Now()
	for _, topic := range topics {
		tc, ok := b.topics.get(topic)
		if !ok {
			continue
		}
		// Like RocketMQ: when the group is online, skip topics it no longer
		// subscribes to.
		if online && len(info.Subscriptions) > 0 {
			if _, subscribed := info.Subscriptions[topic]; !subscribed {
				continue
			}
		}
		cs.ConsumeTps += b.stats.consumeTps(topic, group, now)
		offs := b.offsets.queueOffsets(group, topic)
		for q := range tc.WriteQueueNums {
			mq := message.MessageQueue{Topic: topic, BrokerName: b.cfg.BrokerName, QueueID: q}
			o := body.OffsetWrapper{BrokerOffset: max(int64(b.store.MaxOffsetInQueue(topic, q)), 0)}
			if c, ok := offs[q]; ok && c > 0 {
				o.ConsumerOffset = c
				if t, err := b.store.MessageStoreTime(topic, q, message.QueueOffset(c-1)); err == nil {
					o.LastTimestamp = t
				}
			}
			cs.OffsetTable[mq] = o
		}
	}
	resp := protocol.NewResponse(req, protocol.Success, "")
	resp.Body = body.EncodeConsumeStats(cs)
	return resp
}

func (b *Broker) topicConsumeByWho(req *protocol.Command) *protocol.Command {
	r := extReader{req: req}
	topic := r.str("topic", true)
	if r.err != nil {
		return protocol.NewResponse(req, protocol.SystemError, r.err.Error())
	}
	set := map[string]struct{}{}
	for _, g := range b.clients.GroupsSubscribing(topic) {
		set[g] = struct{}{}
	}
	for _, g := range b.offsets.groupsOf(topic) {
		set[g] = struct{}{}
	}
	resp := protocol.NewResponse(req, protocol.Success, "")
	resp.Body = body.EncodeGroupList(slices.Collect(maps.Keys(set)))
	return resp
}

// --- broker config -----------------------------------------------------------

// configProperties renders the effective configuration with broker.conf key
// names.
func (b *Broker) configProperties() map[string]string {
	c := &b.cfg
	rt := b.runtime()
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	s := &c.Store
	return map[string]string{
		"brokerClusterName":              c.ClusterName,
		"brokerName":                     c.BrokerName,
		"brokerId":                       strconv.FormatInt(c.BrokerID, 10),
		"namesrvAddr":                    strings.Join(c.NameServers, ";"),
		"listenPort":                     strconv.Itoa(int(b.advertised.Port())),
		"brokerIP1":                      c.BrokerIP1,
		"brokerRole":                     c.BrokerRole,
		"defaultTopicQueueNums":          strconv.Itoa(c.DefaultTopicQueueNums),
		"registerNameServerPeriod":       ms(c.RegisterNameServerPeriod),
		"flushConsumerOffsetInterval":    ms(c.FlushConsumerOffsetInterval),
		"regionId":                       c.RegionID,
		"traceOn":                        strconv.FormatBool(c.TraceOn),
		keyAutoCreateTopicEnable:         strconv.FormatBool(rt.AutoCreateTopicEnable),
		keyAutoCreateSubscriptionGroup:   strconv.FormatBool(rt.AutoCreateSubscriptionGroup),
		keyBrokerPermission:              strconv.Itoa(rt.BrokerPermission),
		keyWaitTimeInSendQueue:           ms(rt.WaitTimeInSendQueue),
		keyLongPollingEnable:             strconv.FormatBool(rt.LongPollingEnable),
		keyShortPollingTime:              ms(rt.ShortPollingTime),
		"storePathRootDir":               s.RootDir,
		"flushDiskType":                  s.FlushDiskType.String(),
		"maxMessageSize":                 strconv.Itoa(s.MaxMessageSize),
		"mapedFileSizeCommitLog":         strconv.FormatInt(s.CommitLogSegmentSize, 10),
		"fileReservedTime":               strconv.FormatInt(int64(s.FileReservedTime/time.Hour), 10),
		"flushIntervalCommitLog":         ms(s.FlushInterval),
		"syncFlushTimeout":               ms(s.SyncFlushTimeout),
		"messageIndexEnable":             strconv.FormatBool(s.MessageIndexEnable),
		"diskMaxUsedSpaceRatio":          strconv.Itoa(s.DiskMaxUsedSpaceRatio),
		"cleanResourceInterval":          ms(s.CleanResourceInterval),
		"flushCommitLogLeastPages":       strconv.Itoa(s.FlushLeastPages),
		"flushCommitLogThoroughInterval": ms(s.FlushThoroughInterval),
	}
}

// getBrokerConfig answers GET_BROKER_CONFIG: the properties as text in the
// body, and the config's DataVersion as extField version.
func (b *Broker) getBrokerConfig(req *protocol.Command) *protocol.Command {
	kv := b.configProperties()
	var buf bytes.Buffer
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		fmt.Fprintf(&buf, "%s=%s\n", k, kv[k])
	}
	resp := protocol.NewResponse(req, protocol.Success, "")
	resp.Body = buf.Bytes()
	v, _ := json.Marshal(b.topics.dataVersion())
	resp.SetExt("version", string(v))
	return resp
}

// updateBrokerConfig answers UPDATE_BROKER_CONFIG: all or nothing, only the
// runtime-changeable keys. A permission change re-registers at once.
func (b *Broker) updateBrokerConfig(ctx context.Context, req *protocol.Command) *protocol.Command {
	f, err := properties.Parse("UPDATE_BROKER_CONFIG", bytes.NewReader(req.Body))
	if err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error())
	}
	if len(f.Entries) == 0 {
		return respond(req, protocol.SystemError, "no config entries in body")
	}
	cur := b.runtime()
	next := *cur
	binder := properties.NewBinder()
	next.bind(binder)
	var fixed []string
	for _, e := range f.Entries {
		if !binder.Known(e.Key) {
			fixed = append(fixed, e.Key)
		}
	}
	if len(fixed) > 0 {
		return respond(req, protocol.SystemError, "config keys cannot change at runtime or are unknown: %s", strings.Join(fixed, ", "))
	}
	if _, err := binder.Apply(f); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error())
	}
	if err := next.validate(); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error())
	}
	b.rt.Store(&next)
	b.log.Info("broker: runtime config updated", "body", strings.TrimSpace(string(req.Body)))
	if next.BrokerPermission != cur.BrokerPermission {
		rctx, cancel := context.WithTimeout(ctx, b.cfg.RegisterTimeout+time.Second)
		_ = b.reg.registerNow(rctx)
		cancel()
	}
	return protocol.NewResponse(req, protocol.Success, "")
}
