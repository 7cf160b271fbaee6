package body

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"
)

// StandardJSONMinVersion is the first request version (RocketMQ V4_9_4) that gets
// standard JSON routes. Older requesters, including every rocketmq-client-go v2
// release (version 317), get the fastjson form with unquoted integer keys in
// brokerAddrs, which Go clients before v2.1.2 need.
const StandardJSONMinVersion = 401

// jsonWriter builds compact JSON by hand, because the route and cluster bodies must
// match fastjson's output byte for byte in shape: alphabetical field order, no
// whitespace, and optionally unquoted integer map keys, which encoding/json cannot
// write.
type jsonWriter struct {
	b []byte
	// standard selects standard JSON: quoted integer keys and non-ASCII escaped as
	// \uXXXX (fastjson's BrowserCompatible). Otherwise integer keys are bare and
	// non-ASCII text is written as UTF-8.
	standard bool
}

func (w *jsonWriter) raw(s string) { w.b = append(w.b, s...) }

func (w *jsonWriter) str(s string) {
	const hex = "0123456789abcdef"
	w.b = append(w.b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				w.b = append(w.b, '\\', c)
			case c == '\n':
				w.b = append(w.b, '\\', 'n')
			case c == '\r':
				w.b = append(w.b, '\\', 'r')
			case c == '\t':
				w.b = append(w.b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				w.b = append(w.b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				w.b = append(w.b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if !w.standard && r != utf8.RuneError {
			w.b = utf8.AppendRune(w.b, r)
			continue
		}
		// Standard form, or invalid UTF-8 (written as U+FFFD in either form).
		if r >= 0x10000 {
			r -= 0x10000
			w.u16(0xd800+(r>>10), hex)
			w.u16(0xdc00+(r&0x3ff), hex)
		} else {
			w.u16(r, hex)
		}
	}
	w.b = append(w.b, '"')
}

func (w *jsonWriter) u16(r rune, hex string) {
	w.b = append(w.b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
}

func (w *jsonWriter) key(k string) {
	w.str(k)
	w.b = append(w.b, ':')
}

func (w *jsonWriter) int(v int64) { w.b = strconv.AppendInt(w.b, v, 10) }

// brokerAddrs writes {id:"addr",...} sorted by id, keys bare unless standard. No
// whitespace anywhere: rocketmq-client-go splits this object's raw text on ',' and
// ':'.
func (w *jsonWriter) brokerAddrs(addrs map[int64]string) {
	w.b = append(w.b, '{')
	for i, id := range slices.Sorted(maps.Keys(addrs)) {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		if w.standard {
			w.b = append(w.b, '"')
			w.int(id)
			w.b = append(w.b, '"')
		} else {
			w.int(id)
		}
		w.b = append(w.b, ':')
		w.str(addrs[id])
	}
	w.b = append(w.b, '}')
}

func (w *jsonWriter) brokerData(bd *BrokerData) {
	w.raw(`{`)
	w.key("brokerAddrs")
	w.brokerAddrs(bd.Addrs)
	w.raw(`,`)
	w.key("brokerName")
	w.str(bd.BrokerName)
	w.raw(`,`)
	w.key("cluster")
	w.str(bd.Cluster)
	w.raw(`}`)
}

func (w *jsonWriter) strings(ss []string) {
	w.b = append(w.b, '[')
	for i, s := range ss {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.str(s)
	}
	w.b = append(w.b, ']')
}

// EncodeRoute returns the GET_ROUTEINFO_BY_TOPIC body for rd.
//
// With standard set (request version >= StandardJSONMinVersion, or
// acceptStandardJsonOnly=true) it is standard compact JSON: keys quoted, map keys
// sorted, non-ASCII escaped. Otherwise it is fastjson's default form, identical
// except that brokerAddrs keys are bare integers (not valid JSON). Fields are in
// alphabetical order as fastjson writes them; queueDatas, brokerDatas, every
// brokerAddrs and filterServerTable are always present, because the Go client
// fails or panics when queueDatas or brokerAddrs is missing. orderTopicConf is
// written only when non-empty.
func EncodeRoute(rd *TopicRouteData, standard bool) []byte {
	w := &jsonWriter{b: make([]byte, 0, 256), standard: standard}
	w.raw(`{`)
	w.key("brokerDatas")
	w.raw(`[`)
	for i, bd := range rd.BrokerDatas {
		if i > 0 {
			w.raw(`,`)
		}
		w.brokerData(bd)
	}
	w.raw(`],`)
	w.key("filterServerTable")
	w.raw(`{`)
	for i, addr := range slices.Sorted(maps.Keys(rd.FilterServerTable)) {
		if i > 0 {
			w.raw(`,`)
		}
		w.key(addr)
		w.strings(rd.FilterServerTable[addr])
	}
	w.raw(`},`)
	if rd.OrderTopicConf != "" {
		w.key("orderTopicConf")
		w.str(rd.OrderTopicConf)
		w.raw(`,`)
	}
	w.key("queueDatas")
	w.raw(`[`)
	for i, qd := range rd.QueueDatas {
		if i > 0 {
			w.raw(`,`)
		}
		w.raw(`{`)
		w.key("brokerName")
		w.str(qd.BrokerName)
		w.raw(`,`)
		w.key("perm")
		w.int(int64(qd.Perm))
		w.raw(`,`)
		w.key("readQueueNums")
		w.int(int64(qd.ReadQueueNums))
		w.raw(`,`)
		w.key("topicSysFlag")
		w.int(int64(qd.TopicSysFlag))
		w.raw(`,`)
		w.key("writeQueueNums")
		w.int(int64(qd.WriteQueueNums))
		w.raw(`}`)
	}
	w.raw(`]}`)
	return w.b
}

// EncodeClusterInfo returns the GET_BROKER_CLUSTER_INFO body for ci:
// {"brokerAddrTable":{name:BrokerData},"clusterAddrTable":{cluster:[names]}}.
//
// The Java name server always writes the fastjson form here (bare integer keys in
// brokerAddrs). Petrel applies the same version rule as for routes instead:
// standard JSON for requests with version >= StandardJSONMinVersion or
// acceptStandardJsonOnly=true, the fastjson form otherwise. Java tools (version
// 409) read both; older requesters get exactly what Java sends them, and Go tools
// built on encoding/json (which cannot read bare keys) can ask with a 4.9.4+
// version.
func EncodeClusterInfo(ci *ClusterInfo, standard bool) []byte {
	w := &jsonWriter{b: make([]byte, 0, 256), standard: standard}
	w.raw(`{`)
	w.key("brokerAddrTable")
	w.raw(`{`)
	for i, name := range slices.Sorted(maps.Keys(ci.BrokerAddrTable)) {
		if i > 0 {
			w.raw(`,`)
		}
		w.key(name)
		w.brokerData(ci.BrokerAddrTable[name])
	}
	w.raw(`},`)
	w.key("clusterAddrTable")
	w.raw(`{`)
	for i, cluster := range slices.Sorted(maps.Keys(ci.ClusterAddrTable)) {
		if i > 0 {
			w.raw(`,`)
		}
		w.key(cluster)
		w.strings(ci.ClusterAddrTable[cluster])
	}
	w.raw(`}}`)
	return w.b
}

// topicListJSON is the TopicList body.
type topicListJSON struct {
	BrokerAddr string   `json:"brokerAddr,omitempty"`
	TopicList  []string `json:"topicList"`
}

// EncodeTopicList returns {"topicList":[...]} in standard JSON, with "brokerAddr"
// first when brokerAddr is not empty. A nil list is written as [].
func EncodeTopicList(topics []string, brokerAddr string) []byte {
	if topics == nil {
		topics = []string{}
	}
	b, err := json.Marshal(topicListJSON{BrokerAddr: brokerAddr, TopicList: topics})
	if err != nil {
		panic("namesrv: marshal topic list: " + err.Error()) // strings always marshal
	}
	return b
}

// kvTableJSON is the KVTable body.
type kvTableJSON struct {
	Table map[string]string `json:"table"`
}

// EncodeKVTable returns {"table":{...}} in standard JSON with sorted keys; a nil
// table is written as {}.
func EncodeKVTable(table map[string]string) []byte {
	if table == nil {
		table = map[string]string{}
	}
	b, err := json.Marshal(kvTableJSON{Table: table})
	if err != nil {
		panic("namesrv: marshal kv table: " + err.Error())
	}
	return b
}
