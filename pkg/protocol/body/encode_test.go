package body

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// goClientBrokerAddrs parses a brokerAddrs object the way rocketmq-client-go
// v2.1.2 does (internal/route.go): strip the braces, split on ',', split each
// piece at its first ':', drop '"' from key and value.
func goClientBrokerAddrs(raw string) map[int64]string {
	out := map[int64]string{}
	for _, s := range strings.Split(raw[1:len(raw)-1], ",") {
		i := strings.Index(s, ":")
		if i < 0 {
			continue
		}
		id, _ := strconv.ParseInt(strings.ReplaceAll(s[:i], `"`, ""), 10, 64)
		out[id] = strings.ReplaceAll(s[i+1:], `"`, "")
	}
	return out
}

var bareKeys = regexp.MustCompile(`([{,])(-?[0-9]+):`)

// quoteBareKeys turns the fastjson form into JSON by quoting bare integer keys.
func quoteBareKeys(b []byte) []byte { return bareKeys.ReplaceAll(b, []byte(`$1"$2":`)) }

var brokerAddrsRe = regexp.MustCompile(`"brokerAddrs":(\{[^}]*\})`)

func sampleRoute() *TopicRouteData {
	return &TopicRouteData{
		QueueDatas: []QueueData{{BrokerName: "broker-a", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6}},
		BrokerDatas: []*BrokerData{{Cluster: "DefaultCluster", BrokerName: "broker-a", Addrs: map[int64]string{
			0: "10.0.0.2:10911", 1: "10.0.0.3:10911", 12: "10.0.0.4:10911",
		}}},
		FilterServerTable: map[string][]string{},
	}
}

func TestEncodeRouteExact(t *testing.T) {
	t.Parallel()
	rd := sampleRoute()
	rd.BrokerDatas[0].Addrs = map[int64]string{0: "10.0.0.2:10911", 1: "10.0.0.3:10911"}
	require.Equal(t,
		`{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.2:10911","1":"10.0.0.3:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}`,
		string(EncodeRoute(rd, true)))
	require.Equal(t,
		`{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.2:10911",1:"10.0.0.3:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}`,
		string(EncodeRoute(rd, false)))
}

func TestEncodeRouteAlwaysHasRequiredFields(t *testing.T) {
	t.Parallel()
	rd := &TopicRouteData{BrokerDatas: []*BrokerData{{BrokerName: "b", Addrs: map[int64]string{}}}}
	for _, std := range []bool{true, false} {
		s := string(EncodeRoute(rd, std))
		require.Contains(t, s, `"queueDatas":[]`)
		require.Contains(t, s, `"brokerAddrs":{}`)
		require.Contains(t, s, `"filterServerTable":{}`)
		require.NotContains(t, s, "orderTopicConf")
	}
	rd.OrderTopicConf = "broker-a:4;broker-b:4"
	require.Contains(t, string(EncodeRoute(rd, true)), `"orderTopicConf":"broker-a:4;broker-b:4","queueDatas"`)
}

// Both forms must decode to the same data: standard JSON with encoding/json, the
// fastjson form once its bare keys are quoted, and brokerAddrs of both with the
// Go client's raw-text parser.
func TestEncodeRouteBothFormsParse(t *testing.T) {
	t.Parallel()
	rd := sampleRoute()
	rd.FilterServerTable["10.0.0.2:10911"] = []string{"f:1"}
	type qd struct {
		BrokerName     string `json:"brokerName"`
		ReadQueueNums  int32  `json:"readQueueNums"`
		WriteQueueNums int32  `json:"writeQueueNums"`
		Perm           int32  `json:"perm"`
		TopicSysFlag   int32  `json:"topicSysFlag"`
	}
	type bd struct {
		Cluster     string           `json:"cluster"`
		BrokerName  string           `json:"brokerName"`
		BrokerAddrs map[int64]string `json:"brokerAddrs"`
	}
	type route struct {
		QueueDatas        []qd                `json:"queueDatas"`
		BrokerDatas       []bd                `json:"brokerDatas"`
		FilterServerTable map[string][]string `json:"filterServerTable"`
	}
	want := route{
		QueueDatas:        []qd{{"broker-a", 4, 4, 6, 0}},
		BrokerDatas:       []bd{{"DefaultCluster", "broker-a", rd.BrokerDatas[0].Addrs}},
		FilterServerTable: rd.FilterServerTable,
	}

	std := EncodeRoute(rd, true)
	var got route
	require.NoError(t, json.Unmarshal(std, &got))
	require.Equal(t, want, got)

	fj := EncodeRoute(rd, false)
	require.False(t, json.Valid(fj), "fastjson form has bare keys")
	got = route{}
	require.NoError(t, json.Unmarshal(quoteBareKeys(fj), &got))
	require.Equal(t, want, got)

	for _, b := range [][]byte{std, fj} {
		m := brokerAddrsRe.FindSubmatch(b)
		require.NotNil(t, m)
		require.Equal(t, rd.BrokerDatas[0].Addrs, goClientBrokerAddrs(string(m[1])))
	}
}

func TestEncodeStrings(t *testing.T) {
	t.Parallel()
	rd := &TopicRouteData{QueueDatas: []QueueData{{BrokerName: "b\"\\\n\x01é😀\xff"}}}
	std := EncodeRoute(rd, true)
	require.True(t, json.Valid(std))
	require.Contains(t, string(std), `"b\"\\\n\u0001\u00e9\ud83d\ude00\ufffd"`)
	fj := EncodeRoute(rd, false)
	require.True(t, json.Valid(fj)) // no brokerAddrs, so valid
	require.Contains(t, string(fj), `"b\"\\\n\u0001é😀\ufffd"`)
	var v struct {
		QueueDatas []struct {
			BrokerName string `json:"brokerName"`
		} `json:"queueDatas"`
	}
	for _, b := range [][]byte{std, fj} {
		require.NoError(t, json.Unmarshal(b, &v))
		require.Equal(t, "b\"\\\n\x01é😀\uFFFD", v.QueueDatas[0].BrokerName)
	}
}

func TestEncodeLists(t *testing.T) {
	t.Parallel()
	require.Equal(t, `{"topicList":[]}`, string(EncodeTopicList(nil, "")))
	require.Equal(t, `{"brokerAddr":"a:1","topicList":["A","%RETRY%g"]}`, string(EncodeTopicList([]string{"A", "%RETRY%g"}, "a:1")))
	require.Equal(t, `{"table":{}}`, string(EncodeKVTable(nil)))
	require.Equal(t, `{"table":{"a":"1","b":"2"}}`, string(EncodeKVTable(map[string]string{"b": "2", "a": "1"})))
}
