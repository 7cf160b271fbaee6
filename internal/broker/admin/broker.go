package admin

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

	"github.com/petrelmq/petrel/internal/broker/answer"
	"github.com/petrelmq/petrel/internal/broker/meta"
	"github.com/petrelmq/petrel/internal/broker/stats"
	"github.com/petrelmq/petrel/internal/properties"
	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// ProcessRuntimeInfo answers GET_BROKER_RUNTIME_INFO (28) with the KV table
// RocketMQ's brokerStatus shows, the figures Petrel tracks (stats has the
// rates) and the broker's own (Deps.Extra). Figures Petrel does not track are
// reported as zero.
func (s *Service) ProcessRuntimeInfo(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	resp := protocol.NewResponse(req, protocol.Success, "")
	resp.Body = body.EncodeKVTable(s.RuntimeInfo())
	return resp, nil
}

// RuntimeInfo is the GET_BROKER_RUNTIME_INFO table.
func (s *Service) RuntimeInfo() map[string]string {
	st := s.d.Store.Stats()
	now := s.d.Clock.Now()
	s.d.Stats.Put.Set(st.PutCount)
	var getTotal []byte
	for i, w := range stats.TPSWindows {
		if i > 0 {
			getTotal = append(getTotal, ' ')
		}
		getTotal = strconv.AppendFloat(getTotal, s.d.Stats.GetFound.PerSecond(now, w)+s.d.Stats.GetMiss.PerSecond(now, w), 'f', 2, 64)
	}
	up := now.Sub(s.d.BootTime)
	d := int64(up / (24 * time.Hour))
	hh := int64(up/time.Hour) % 24
	mm := int64(up/time.Minute) % 60
	ss := int64(up/time.Second) % 60
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	kv := map[string]string{
		"brokerVersionDesc":               "V4_9_8",
		"brokerVersion":                   strconv.Itoa(int(protocol.CurrentVersion)),
		"bootTimestamp":                   i64(s.d.BootTime.UnixMilli()),
		"runtime":                         fmt.Sprintf("[ %d days, %d hours, %d minutes, %d seconds ]", d, hh, mm, ss),
		"msgPutTotalTodayNow":             i64(st.PutCount),
		"msgGetTotalTodayNow":             i64(st.GetCount),
		"msgPutTotalYesterdayMorning":     "0",
		"msgPutTotalTodayMorning":         "0",
		"msgGetTotalYesterdayMorning":     "0",
		"msgGetTotalTodayMorning":         "0",
		"putTps":                          s.d.Stats.Put.TPS(now),
		"getFoundTps":                     s.d.Stats.GetFound.TPS(now),
		"getMissTps":                      s.d.Stats.GetMiss.TPS(now),
		"getTransferedTps":                s.d.Stats.GetTransferred.TPS(now),
		"getTotalTps":                     string(getTotal),
		"commitLogMinOffset":              i64(int64(st.CommitLogMinOffset)),
		"commitLogMaxOffset":              i64(int64(st.CommitLogMaxOffset)),
		"commitLogDiskRatio":              strconv.FormatFloat(st.DiskUsedRatio, 'f', -1, 64),
		"consumeQueueDiskRatio":           strconv.FormatFloat(st.ConsumeQueueDiskUsedRatio, 'f', -1, 64),
		"segmentsDeletedUnexpired":        i64(st.SegmentsDeletedUnexpired),
		"messagesDeletedUnexpired":        i64(st.MessagesDeletedUnexpired),
		"storeHealth":                     health(st.Problems),
		"dispatchBehindBytes":             i64(st.DispatchBehindBytes),
		"putMessageEntireTimeMax":         i64(st.PutLatencyMaxMicros / 1000),
		"earliestMessageTimeStamp":        i64(st.EarliestMessageMillis),
		"pageCacheLockTimeMills":          "0",
		"startAcceptSendRequestTimeStamp": "0",
	}
	if s.d.Extra != nil {
		s.d.Extra(kv)
	}
	return kv
}

// health renders the store's problems for the runtime info: "OK", or each
// problem as what(since=..., error=...) separated by "; ".
func health(ps []store.Problem) string {
	if len(ps) == 0 {
		return "OK"
	}
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s (since %s: %s)", p.What, p.Since.UTC().Format(time.RFC3339), p.Err)
	}
	return b.String()
}

// ProcessGetBrokerConfig answers GET_BROKER_CONFIG (26): the properties as
// text in the body, and the topic table's DataVersion as extField version.
func (s *Service) ProcessGetBrokerConfig(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	kv := s.d.Config()
	rt := s.d.Runtime.Get()
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	kv[meta.KeyAutoCreateTopicEnable] = strconv.FormatBool(rt.AutoCreateTopicEnable)
	kv[meta.KeyAutoCreateSubscriptionGroup] = strconv.FormatBool(rt.AutoCreateSubscriptionGroup)
	kv[meta.KeyBrokerPermission] = strconv.Itoa(rt.BrokerPermission)
	kv[meta.KeyWaitTimeInSendQueue] = ms(rt.WaitTimeInSendQueue)
	kv[meta.KeyLongPollingEnable] = strconv.FormatBool(rt.LongPollingEnable)
	kv[meta.KeyShortPollingTime] = ms(rt.ShortPollingTime)
	var buf bytes.Buffer
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		fmt.Fprintf(&buf, "%s=%s\n", k, kv[k])
	}
	resp := protocol.NewResponse(req, protocol.Success, "")
	resp.Body = buf.Bytes()
	v, _ := json.Marshal(s.d.Topics.DataVersion())
	resp.SetExt("version", string(v))
	return resp, nil
}

// ProcessUpdateBrokerConfig answers UPDATE_BROKER_CONFIG (25): all or
// nothing, only the runtime-changeable keys. A permission change re-registers
// at once.
func (s *Service) ProcessUpdateBrokerConfig(ctx context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	f, err := properties.Parse("UPDATE_BROKER_CONFIG", bytes.NewReader(req.Body))
	if err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
	}
	if len(f.Entries) == 0 {
		return answer.Respond(req, protocol.SystemError, "no config entries in body"), nil
	}
	cur := s.d.Runtime.Get()
	next := *cur
	binder := properties.NewBinder()
	next.Bind(binder)
	var fixed []string
	for _, e := range f.Entries {
		if !binder.Known(e.Key) {
			fixed = append(fixed, e.Key)
		}
	}
	if len(fixed) > 0 {
		return answer.Respond(req, protocol.SystemError, "config keys cannot change at runtime or are unknown: %s", strings.Join(fixed, ", ")), nil
	}
	if _, err := binder.Apply(f); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
	}
	if err := next.Validate(); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
	}
	s.d.Runtime.Set(next)
	s.d.Log.Info("admin: runtime config updated", "body", strings.TrimSpace(string(req.Body)))
	if next.BrokerPermission != cur.BrokerPermission {
		s.registerNow(ctx)
	}
	return protocol.NewResponse(req, protocol.Success, ""), nil
}
