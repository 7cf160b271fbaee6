package body

// Permission bits of a topic's queues (PermName in RocketMQ). Part of the wire format.
const (
	PermPriority = 8
	PermRead     = 4
	PermWrite    = 2
	PermInherit  = 1
)

// MasterID is the broker id of a master; any other id is a slave.
const MasterID int64 = 0

// NamespaceOrderTopicConfig is the KV namespace that holds per-topic order
// configuration ("brokerName:queueNum;..."). REGISTER_BROKER answers carry its table,
// and routes carry the topic's entry as orderTopicConf when OrderMessageEnable is on.
const NamespaceOrderTopicConfig = "ORDER_TOPIC_CONFIG"

// DataVersion is a broker's topic-config version. The name server treats the topic
// set as changed when either field differs from the stored version.
type DataVersion struct {
	Counter   int64 `json:"counter"`
	Timestamp int64 `json:"timestamp"` // Unix milliseconds
}

// TopicConfig is the part of a broker's topic configuration the name server keeps.
type TopicConfig struct {
	TopicName       string `json:"topicName"`
	ReadQueueNums   int32  `json:"readQueueNums"`
	WriteQueueNums  int32  `json:"writeQueueNums"`
	Perm            int32  `json:"perm"`
	TopicFilterType string `json:"topicFilterType"`
	TopicSysFlag    int32  `json:"topicSysFlag"`
	Order           bool   `json:"order"`
	// Attributes are RocketMQ 5's topic attributes (omitted when empty, so
	// RocketMQ 4 readers see the 4.x form). Petrel knows
	// duplicateWindowSeconds (docs/design/dedup.md). Treat the map as
	// immutable: configs are copied by value.
	Attributes map[string]string `json:"attributes,omitempty"`
}

// TopicConfigWrapper is a broker's topic table with its version
// (TopicConfigSerializeWrapper).
type TopicConfigWrapper struct {
	DataVersion      DataVersion            `json:"dataVersion"`
	TopicConfigTable map[string]TopicConfig `json:"topicConfigTable"`
}

// RegisterBody is a decoded REGISTER_BROKER body (RegisterBrokerBody).
type RegisterBody struct {
	Topics        TopicConfigWrapper
	FilterServers []string
}

// QueueData is one broker's queues of a topic.
type QueueData struct {
	BrokerName     string
	ReadQueueNums  int32
	WriteQueueNums int32
	Perm           int32
	TopicSysFlag   int32
}

// BrokerData is a broker name (a master and its slaves) and its addresses by id.
type BrokerData struct {
	Cluster    string
	BrokerName string
	Addrs      map[int64]string // broker id → "ip:port"; id 0 is the master
}

// Clone returns a deep copy.
func (b *BrokerData) Clone() *BrokerData {
	c := &BrokerData{Cluster: b.Cluster, BrokerName: b.BrokerName, Addrs: make(map[int64]string, len(b.Addrs))}
	for id, a := range b.Addrs {
		c.Addrs[id] = a
	}
	return c
}

// TopicRouteData is the route of one topic, as GET_ROUTEINFO_BY_TOPIC answers it.
// QueueDatas and BrokerDatas are sorted by broker name.
type TopicRouteData struct {
	OrderTopicConf    string // "" leaves the field out
	QueueDatas        []QueueData
	BrokerDatas       []*BrokerData
	FilterServerTable map[string][]string // broker address → filter servers
}

// ClusterInfo is every broker and cluster the name server knows
// (GET_BROKER_CLUSTER_INFO).
type ClusterInfo struct {
	BrokerAddrTable  map[string]*BrokerData // broker name → broker
	ClusterAddrTable map[string][]string    // cluster name → sorted broker names
}
