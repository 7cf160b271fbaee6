package header

// Headers of the requests a name server serves.

// RegisterBroker is the header of REGISTER_BROKER (103).
type RegisterBroker struct {
	BrokerName   string `header:"brokerName,required"`
	BrokerAddr   string `header:"brokerAddr,required"` // ip:port that clients dial
	ClusterName  string `header:"clusterName,required"`
	HAServerAddr string `header:"haServerAddr,required"` // ip:haPort
	BrokerID     int64  `header:"brokerId,required"`     // 0 is the master
	Compressed   bool   `header:"compressed"`            // the body is the compressed form
	// BodyCRC32 is the CRC-32 (IEEE) of the body ANDed with 0x7FFFFFFF; 0
	// disables the check.
	BodyCRC32 int32 `header:"bodyCrc32"`
}

// RegisterBrokerResponse is the response header of REGISTER_BROKER: the
// master's addresses, set only when a slave registers and its master is known.
type RegisterBrokerResponse struct {
	HAServerAddr string `header:"haServerAddr"`
	MasterAddr   string `header:"masterAddr"`
}

// UnregisterBroker is the header of UNREGISTER_BROKER (104).
type UnregisterBroker struct {
	BrokerName  string `header:"brokerName,required"`
	BrokerAddr  string `header:"brokerAddr,required"`
	ClusterName string `header:"clusterName,required"`
	BrokerID    int64  `header:"brokerId,required"`
}

// QueryDataVersion is the header of QUERY_DATA_VERSION (322).
type QueryDataVersion struct {
	BrokerName  string `header:"brokerName,required"`
	BrokerAddr  string `header:"brokerAddr,required"`
	ClusterName string `header:"clusterName,required"`
	BrokerID    int64  `header:"brokerId,required"`
}

// QueryDataVersionResponse is the response header of QUERY_DATA_VERSION.
type QueryDataVersionResponse struct {
	Changed bool `header:"changed,required"`
}

// GetRouteInfo is the header of GET_ROUTEINFO_BY_TOPIC (105).
type GetRouteInfo struct {
	Topic string `header:"topic,required"`
	// AcceptStandardJSONOnly asks for standard JSON bodies from a name server
	// that would otherwise write fastjson's form.
	AcceptStandardJSONOnly bool `header:"acceptStandardJsonOnly"`
}

// DeleteTopicFromNamesrv is the header of DELETE_TOPIC_IN_NAMESRV (216).
type DeleteTopicFromNamesrv struct {
	Topic       string `header:"topic,required"`
	ClusterName string `header:"clusterName"` // "": every cluster
}

// PutKVConfig is the header of PUT_KV_CONFIG (100).
type PutKVConfig struct {
	Namespace string `header:"namespace,required"`
	Key       string `header:"key,required"`
	Value     string `header:"value,required"`
}

// GetKVConfig is the header of GET_KV_CONFIG (101).
type GetKVConfig struct {
	Namespace string `header:"namespace,required"`
	Key       string `header:"key,required"`
}

// GetKVConfigResponse is the response header of GET_KV_CONFIG.
type GetKVConfigResponse struct {
	Value string `header:"value"`
}

// DeleteKVConfig is the header of DELETE_KV_CONFIG (102).
type DeleteKVConfig struct {
	Namespace string `header:"namespace,required"`
	Key       string `header:"key,required"`
}

// GetKVListByNamespace is the header of GET_KVLIST_BY_NAMESPACE (219).
type GetKVListByNamespace struct {
	Namespace string `header:"namespace,required"`
}

// WipeWritePermOfBroker is the header of WIPE_WRITE_PERM_OF_BROKER (205).
type WipeWritePermOfBroker struct {
	BrokerName string `header:"brokerName,required"`
}

// WipeWritePermOfBrokerResponse is the response header of
// WIPE_WRITE_PERM_OF_BROKER.
type WipeWritePermOfBrokerResponse struct {
	WipeTopicCount int32 `header:"wipeTopicCount,required"`
}

// AddWritePermOfBroker is the header of ADD_WRITE_PERM_OF_BROKER (327).
type AddWritePermOfBroker struct {
	BrokerName string `header:"brokerName,required"`
}

// AddWritePermOfBrokerResponse is the response header of
// ADD_WRITE_PERM_OF_BROKER.
type AddWritePermOfBrokerResponse struct {
	AddTopicCount int32 `header:"addTopicCount,required"`
}

// GetTopicsByCluster is the header of GET_TOPICS_BY_CLUSTER (224).
type GetTopicsByCluster struct {
	Cluster string `header:"cluster,required"`
}
