package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// ErrBadRoute is matched (errors.Is) by every error decoding a route or cluster
// body.
var ErrBadRoute = errors.New("client: bad route body")

// Route is the immutable, decoded route of one topic: which brokers hold its
// queues, their addresses, and the derived publish and subscribe queue lists.
// A Route is safe for concurrent use; never modify it or the slices it returns.
type Route struct {
	topic   string
	data    *body.TopicRouteData
	brokers map[string]*body.BrokerData
	publish []message.MessageQueue
	sub     []message.MessageQueue
}

// NewRoute builds a Route for topic from route data. It sorts queue and broker
// data by broker name and derives:
//
//   - the publish queues: if OrderTopicConf is set ("broker:n;broker:n"), queues
//     0..n-1 of each listed broker; otherwise WriteQueueNums queues of every
//     broker whose perm has the write bit and which has a master address;
//   - the subscribe queues: ReadQueueNums queues of every broker whose perm has
//     the read bit.
//
// Both lists are ordered by broker name, then queue id. NewRoute takes ownership
// of rd.
func NewRoute(topic string, rd *body.TopicRouteData) *Route {
	r := &Route{topic: topic, data: rd, brokers: map[string]*body.BrokerData{}}
	slices.SortFunc(rd.QueueDatas, func(a, b body.QueueData) int { return strings.Compare(a.BrokerName, b.BrokerName) })
	slices.SortFunc(rd.BrokerDatas, func(a, b *body.BrokerData) int { return strings.Compare(a.BrokerName, b.BrokerName) })
	for _, bd := range rd.BrokerDatas {
		r.brokers[bd.BrokerName] = bd
	}
	if rd.OrderTopicConf != "" {
		for _, part := range strings.Split(rd.OrderTopicConf, ";") {
			name, n, ok := strings.Cut(part, ":")
			num, err := strconv.Atoi(n)
			if !ok || err != nil || num < 0 {
				continue
			}
			for i := range num {
				r.publish = append(r.publish, message.MessageQueue{Topic: topic, BrokerName: name, QueueID: int32(i)})
			}
		}
	} else {
		for _, qd := range rd.QueueDatas {
			if qd.Perm&body.PermWrite == 0 {
				continue
			}
			if _, ok := r.MasterAddr(qd.BrokerName); !ok {
				continue
			}
			for i := range qd.WriteQueueNums {
				r.publish = append(r.publish, message.MessageQueue{Topic: topic, BrokerName: qd.BrokerName, QueueID: i})
			}
		}
	}
	for _, qd := range rd.QueueDatas {
		if qd.Perm&body.PermRead == 0 {
			continue
		}
		for i := range qd.ReadQueueNums {
			r.sub = append(r.sub, message.MessageQueue{Topic: topic, BrokerName: qd.BrokerName, QueueID: i})
		}
	}
	return r
}

// Topic returns the topic the route is for (as on the wire, with any namespace).
func (r *Route) Topic() string { return r.topic }

// Data returns the decoded route body. Do not modify it.
func (r *Route) Data() *body.TopicRouteData { return r.data }

// PublishQueues returns the queues a producer may send to. Do not modify.
func (r *Route) PublishQueues() []message.MessageQueue { return r.publish }

// SubscribeQueues returns the queues a consumer reads. Do not modify.
func (r *Route) SubscribeQueues() []message.MessageQueue { return r.sub }

// Broker returns the broker data of a broker name.
func (r *Route) Broker(name string) (*body.BrokerData, bool) {
	bd, ok := r.brokers[name]
	return bd, ok
}

// MasterAddr returns the master (id 0) address of a broker name.
func (r *Route) MasterAddr(brokerName string) (string, bool) {
	bd, ok := r.brokers[brokerName]
	if !ok {
		return "", false
	}
	a, ok := bd.Addrs[body.MasterID]
	return a, ok && a != ""
}

// SubscribeAddr finds the broker of brokerName to read from (pull, offsets),
// as RocketMQ's findBrokerAddressInSubscribe does: the address of brokerID;
// for a slave id without an address, the address of the next id; then,
// unless onlyThisBroker, the broker with the lowest id (the master when it
// is in the route, else a slave: how consumers keep reading while a master
// is down). It returns the address and the id it belongs to; ok is false
// when none qualifies.
func (r *Route) SubscribeAddr(brokerName string, brokerID int64, onlyThisBroker bool) (addr string, id int64, ok bool) {
	bd, found := r.brokers[brokerName]
	if !found {
		return "", 0, false
	}
	if a := bd.Addrs[brokerID]; a != "" {
		return a, brokerID, true
	}
	if brokerID != body.MasterID {
		if a := bd.Addrs[brokerID+1]; a != "" {
			return a, brokerID + 1, true
		}
	}
	if onlyThisBroker {
		return "", 0, false
	}
	for _, i := range slices.Sorted(maps.Keys(bd.Addrs)) {
		if a := bd.Addrs[i]; a != "" {
			return a, i, true
		}
	}
	return "", 0, false
}

// BrokerNames returns the names of the brokers in the route, sorted.
func (r *Route) BrokerNames() []string { return slices.Sorted(maps.Keys(r.brokers)) }

// WithTopic returns a copy of r for another topic sharing r's brokers, with at
// most maxQueues read and write queues per broker (maxQueues <= 0: unchanged).
// It is how a producer sends to a topic that does not exist yet through the
// auto-create topic's route (RocketMQ's TBW102).
func (r *Route) WithTopic(topic string, maxQueues int32) *Route {
	rd := &body.TopicRouteData{OrderTopicConf: "", FilterServerTable: r.data.FilterServerTable}
	for _, qd := range r.data.QueueDatas {
		if maxQueues > 0 {
			qd.ReadQueueNums = min(qd.ReadQueueNums, maxQueues)
			qd.WriteQueueNums = min(qd.WriteQueueNums, maxQueues)
		}
		qd.Perm &^= body.PermInherit
		rd.QueueDatas = append(rd.QueueDatas, qd)
	}
	for _, bd := range r.data.BrokerDatas {
		rd.BrokerDatas = append(rd.BrokerDatas, bd.Clone())
	}
	return NewRoute(topic, rd)
}

// routeJSON is the route body after normalisation to standard JSON.
type routeJSON struct {
	OrderTopicConf    string              `json:"orderTopicConf"`
	QueueDatas        []queueDataJSON     `json:"queueDatas"`
	BrokerDatas       []brokerDataJSON    `json:"brokerDatas"`
	FilterServerTable map[string][]string `json:"filterServerTable"`
}

type queueDataJSON struct {
	BrokerName     string `json:"brokerName"`
	ReadQueueNums  int32  `json:"readQueueNums"`
	WriteQueueNums int32  `json:"writeQueueNums"`
	Perm           int32  `json:"perm"`
	TopicSysFlag   *int32 `json:"topicSysFlag"`
	TopicSynFlag   *int32 `json:"topicSynFlag"` // the pre-4.x spelling
}

type brokerDataJSON struct {
	Cluster     string            `json:"cluster"`
	BrokerName  string            `json:"brokerName"`
	BrokerAddrs map[string]string `json:"brokerAddrs"`
}

func (b brokerDataJSON) decode() (*body.BrokerData, error) {
	bd := &body.BrokerData{Cluster: b.Cluster, BrokerName: b.BrokerName, Addrs: make(map[int64]string, len(b.BrokerAddrs))}
	for k, v := range b.BrokerAddrs {
		id, err := strconv.ParseInt(strings.TrimSpace(k), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: broker %q: id %q is not an integer", ErrBadRoute, b.BrokerName, k)
		}
		bd.Addrs[id] = strings.TrimSpace(v)
	}
	return bd, nil
}

// DecodeRoute parses a GET_ROUTEINFO_BY_TOPIC body in either encoding a name
// server sends: standard JSON, or fastjson's default form whose brokerAddrs
// keys are bare integers ({0:"10.0.0.2:10911"}). It accepts whitespace anywhere
// JSON does (addresses are trimmed), a missing brokerAddrs or queueDatas (as
// empty), topicSynFlag for topicSysFlag, and unknown fields. An empty or null
// body, malformed JSON, or a non-integer broker id is an error matching
// ErrBadRoute. It never panics.
func DecodeRoute(b []byte) (*body.TopicRouteData, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil, fmt.Errorf("%w: empty body", ErrBadRoute)
	}
	norm, err := normalizeJSON(b)
	if err != nil {
		return nil, err
	}
	var in routeJSON
	if err := json.Unmarshal(norm, &in); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRoute, err)
	}
	rd := &body.TopicRouteData{OrderTopicConf: in.OrderTopicConf, FilterServerTable: in.FilterServerTable}
	for _, q := range in.QueueDatas {
		qd := body.QueueData{BrokerName: q.BrokerName, ReadQueueNums: q.ReadQueueNums, WriteQueueNums: q.WriteQueueNums, Perm: q.Perm}
		switch {
		case q.TopicSysFlag != nil:
			qd.TopicSysFlag = *q.TopicSysFlag
		case q.TopicSynFlag != nil:
			qd.TopicSysFlag = *q.TopicSynFlag
		}
		if qd.ReadQueueNums < 0 || qd.WriteQueueNums < 0 {
			return nil, fmt.Errorf("%w: broker %q: negative queue count", ErrBadRoute, q.BrokerName)
		}
		rd.QueueDatas = append(rd.QueueDatas, qd)
	}
	for _, bj := range in.BrokerDatas {
		bd, err := bj.decode()
		if err != nil {
			return nil, err
		}
		rd.BrokerDatas = append(rd.BrokerDatas, bd)
	}
	return rd, nil
}

// DecodeClusterInfo parses a GET_BROKER_CLUSTER_INFO body in either encoding
// (see DecodeRoute).
func DecodeClusterInfo(b []byte) (*body.ClusterInfo, error) {
	norm, err := normalizeJSON(bytes.TrimSpace(b))
	if err != nil {
		return nil, err
	}
	var in struct {
		BrokerAddrTable  map[string]brokerDataJSON `json:"brokerAddrTable"`
		ClusterAddrTable map[string][]string       `json:"clusterAddrTable"`
	}
	if err := json.Unmarshal(norm, &in); err != nil {
		return nil, fmt.Errorf("%w: cluster info: %v", ErrBadRoute, err)
	}
	ci := &body.ClusterInfo{BrokerAddrTable: map[string]*body.BrokerData{}, ClusterAddrTable: map[string][]string{}}
	for name, bj := range in.BrokerAddrTable {
		bd, err := bj.decode()
		if err != nil {
			return nil, err
		}
		if bd.BrokerName == "" {
			bd.BrokerName = name
		}
		ci.BrokerAddrTable[name] = bd
	}
	for cl, names := range in.ClusterAddrTable {
		ci.ClusterAddrTable[cl] = slices.Sorted(slices.Values(names))
	}
	return ci, nil
}

// normalizeJSON rewrites fastjson's bare object keys (integers, or any token up
// to ':') as quoted strings, leaving everything else untouched, so
// encoding/json can read the result. Input that is already standard JSON comes
// back unchanged. Structural errors are left for encoding/json to report, except
// a bare key without a ':', which is reported here.
func normalizeJSON(b []byte) ([]byte, error) {
	// Fast path: no bare key possible if every '{' or ',' inside an object is
	// followed by '"' or '}' — just scan properly instead of guessing.
	out := make([]byte, 0, len(b)+16)
	type frame struct{ object, wantKey bool }
	var stack []frame
	for i := 0; i < len(b); i++ {
		c := b[i]
		top := len(stack) - 1
		switch {
		case c == '"':
			j := i + 1
			for j < len(b) && b[j] != '"' {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(b) {
				return nil, fmt.Errorf("%w: unterminated string", ErrBadRoute)
			}
			out = append(out, b[i:j+1]...)
			if top >= 0 && stack[top].object {
				stack[top].wantKey = false
			}
			i = j
			continue
		case c == '{':
			stack = append(stack, frame{object: true, wantKey: true})
		case c == '[':
			stack = append(stack, frame{})
		case c == '}' || c == ']':
			if top >= 0 {
				stack = stack[:top]
			}
		case c == ',':
			if top >= 0 && stack[top].object {
				stack[top].wantKey = true
			}
		case c == ':':
			if top >= 0 && stack[top].object {
				stack[top].wantKey = false
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		default:
			if top >= 0 && stack[top].object && stack[top].wantKey {
				j := bytes.IndexByte(b[i:], ':')
				if j < 0 {
					return nil, fmt.Errorf("%w: bare key without ':' at %d", ErrBadRoute, i)
				}
				key := bytes.TrimSpace(b[i : i+j])
				out = strconv.AppendQuote(out, string(key))
				stack[top].wantKey = false
				i += j - 1
				continue
			}
		}
		out = append(out, c)
	}
	return out, nil
}
