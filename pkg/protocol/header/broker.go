package header

// Headers of the requests clients send to a broker and of their responses.
// The struct tags are the schema: `header:"wireName[,v2=x][,required]"`.
// Required follows the @CFNotNull marks of RocketMQ 4.9.8's header classes;
// bname is the optional broker name 4.9's RpcRequestHeader adds (the Go client
// sends it). Generated Encode and Decode methods are in headers_gen.go.

// SendMessage is the header of SEND_MESSAGE (10) and SEND_REPLY_MESSAGE (324)
// under its long names, and of SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320)
// and SEND_REPLY_MESSAGE_V2 (325) under the one-letter names a..n
// (SendMessageRequestHeader and SendMessageRequestHeaderV2). Encode and Decode
// choose the naming by the command's code (UsesV2Names).
type SendMessage struct {
	ProducerGroup         string `header:"producerGroup,v2=a,required"`
	Topic                 string `header:"topic,v2=b,required"`
	DefaultTopic          string `header:"defaultTopic,v2=c,required"`          // the auto-create key, TBW102
	DefaultTopicQueueNums int32  `header:"defaultTopicQueueNums,v2=d,required"` // queues of an auto-created topic
	QueueID               int32  `header:"queueId,v2=e,required"`               // negative: the broker picks one
	SysFlag               int32  `header:"sysFlag,v2=f,required"`               // MessageSysFlag bits
	BornTimestamp         int64  `header:"bornTimestamp,v2=g,required"`         // ms since the epoch
	Flag                  int32  `header:"flag,v2=h,required"`                  // the message's user flag
	Properties            string `header:"properties,v2=i"`                     // the property string
	ReconsumeTimes        int32  `header:"reconsumeTimes,v2=j"`
	UnitMode              bool   `header:"unitMode,v2=k"`
	// MaxReconsumeTimes, when set, overrides the group's retryMaxTimes for a
	// message sent to a %RETRY% topic.
	MaxReconsumeTimes Opt[int32] `header:"maxReconsumeTimes,v2=l"`
	Batch             bool       `header:"batch,v2=m"` // the body is a batch (SEND_BATCH_MESSAGE)
	BrokerName        string     `header:"bname,v2=n"`
}

// SendMessageResponse is the response header of the send family
// (SendMessageResponseHeader), plus the MSG_REGION and TRACE_ON fields the
// broker adds to every send answer. Reply sends (324, 325) answer with msgId
// "0" and queueOffset 0.
type SendMessageResponse struct {
	MsgID         string `header:"msgId,required"` // offset message id; comma-separated for a batch
	QueueID       int32  `header:"queueId,required"`
	QueueOffset   int64  `header:"queueOffset,required"` // of the first message of a batch
	TransactionID string `header:"transactionId"`
	Region        string `header:"MSG_REGION"` // broker regionId; clients read "" as DefaultRegion
	TraceOn       bool   `header:"TRACE_ON"`
}

// PullMessage is the header of PULL_MESSAGE (11).
type PullMessage struct {
	ConsumerGroup        string `header:"consumerGroup,required"`
	Topic                string `header:"topic,required"`
	QueueID              int32  `header:"queueId,required"`
	QueueOffset          int64  `header:"queueOffset,required"` // first logical offset wanted
	MaxMsgNums           int32  `header:"maxMsgNums,required"`
	SysFlag              int32  `header:"sysFlag,required"`      // PullSysFlag bits
	CommitOffset         int64  `header:"commitOffset,required"` // the consumer's offset to store
	SuspendTimeoutMillis int64  `header:"suspendTimeoutMillis,required"`
	Subscription         string `header:"subscription"` // expression, when the subscription flag is set
	SubVersion           int64  `header:"subVersion,required"`
	ExpressionType       string `header:"expressionType"` // TAG (or "") or SQL92
	BrokerName           string `header:"bname"`
}

// PullMessageResponse is the response header of PULL_MESSAGE, on every code.
type PullMessageResponse struct {
	SuggestWhichBrokerID int64 `header:"suggestWhichBrokerId,required"`
	NextBeginOffset      int64 `header:"nextBeginOffset,required"`
	MinOffset            int64 `header:"minOffset,required"`
	MaxOffset            int64 `header:"maxOffset,required"`
}

// QueryConsumerOffset is the header of QUERY_CONSUMER_OFFSET (14).
type QueryConsumerOffset struct {
	ConsumerGroup string `header:"consumerGroup,required"`
	Topic         string `header:"topic,required"`
	QueueID       int32  `header:"queueId,required"`
	BrokerName    string `header:"bname"`
}

// QueryConsumerOffsetResponse is the response header of QUERY_CONSUMER_OFFSET.
type QueryConsumerOffsetResponse struct {
	Offset int64 `header:"offset,required"`
}

// UpdateConsumerOffset is the header of UPDATE_CONSUMER_OFFSET (15). It has no
// response header.
type UpdateConsumerOffset struct {
	ConsumerGroup string `header:"consumerGroup,required"`
	Topic         string `header:"topic,required"`
	QueueID       int32  `header:"queueId,required"`
	CommitOffset  int64  `header:"commitOffset,required"` // the next offset to consume
	BrokerName    string `header:"bname"`
}

// GetMaxOffset is the header of GET_MAX_OFFSET (30).
type GetMaxOffset struct {
	Topic      string `header:"topic,required"`
	QueueID    int32  `header:"queueId,required"`
	BrokerName string `header:"bname"`
}

// GetMaxOffsetResponse is the response header of GET_MAX_OFFSET.
type GetMaxOffsetResponse struct {
	Offset int64 `header:"offset,required"`
}

// GetMinOffset is the header of GET_MIN_OFFSET (31).
type GetMinOffset struct {
	Topic      string `header:"topic,required"`
	QueueID    int32  `header:"queueId,required"`
	BrokerName string `header:"bname"`
}

// GetMinOffsetResponse is the response header of GET_MIN_OFFSET.
type GetMinOffsetResponse struct {
	Offset int64 `header:"offset,required"`
}

// GetEarliestMsgStoretime is the header of GET_EARLIEST_MSG_STORETIME (32).
type GetEarliestMsgStoretime struct {
	Topic      string `header:"topic,required"`
	QueueID    int32  `header:"queueId,required"`
	BrokerName string `header:"bname"`
}

// GetEarliestMsgStoretimeResponse is the response header of
// GET_EARLIEST_MSG_STORETIME.
type GetEarliestMsgStoretimeResponse struct {
	Timestamp int64 `header:"timestamp,required"` // ms since the epoch
}

// SearchOffset is the header of SEARCH_OFFSET_BY_TIMESTAMP (29).
type SearchOffset struct {
	Topic      string `header:"topic,required"`
	QueueID    int32  `header:"queueId,required"`
	Timestamp  int64  `header:"timestamp,required"` // ms since the epoch
	BrokerName string `header:"bname"`
}

// SearchOffsetResponse is the response header of SEARCH_OFFSET_BY_TIMESTAMP.
type SearchOffsetResponse struct {
	Offset int64 `header:"offset,required"`
}

// ViewMessage is the header of VIEW_MESSAGE_BY_ID (33).
type ViewMessage struct {
	Offset int64 `header:"offset,required"` // commit-log offset, from an offset message id
}

// QueryMessage is the header of QUERY_MESSAGE (12), plus the
// _UNIQUE_KEY_QUERY flag the Java client adds beside it.
type QueryMessage struct {
	Topic          string `header:"topic,required"`
	Key            string `header:"key,required"`
	MaxNum         int32  `header:"maxNum,required"`
	BeginTimestamp int64  `header:"beginTimestamp,required"` // ms since the epoch
	EndTimestamp   int64  `header:"endTimestamp,required"`   // ms since the epoch
	UniqueKeyQuery bool   `header:"_UNIQUE_KEY_QUERY"`       // Key is a UNIQ_KEY, not a KEYS word
}

// QueryMessageResponse is the response header of QUERY_MESSAGE.
type QueryMessageResponse struct {
	IndexLastUpdateTimestamp int64 `header:"indexLastUpdateTimestamp,required"`
	IndexLastUpdatePhyoffset int64 `header:"indexLastUpdatePhyoffset,required"`
}

// ConsumerSendMsgBack is the header of CONSUMER_SEND_MSG_BACK (36).
type ConsumerSendMsgBack struct {
	Offset      int64  `header:"offset,required"` // commit-log offset of the consumed message
	Group       string `header:"group,required"`
	DelayLevel  int32  `header:"delayLevel,required"` // 0: by retry count; -1: straight to the DLQ
	OriginMsgID string `header:"originMsgId"`
	OriginTopic string `header:"originTopic"`
	UnitMode    bool   `header:"unitMode"`
	// MaxReconsumeTimes, when set, overrides the group's retryMaxTimes.
	MaxReconsumeTimes Opt[int32] `header:"maxReconsumeTimes"`
	BrokerName        string     `header:"bname"`
}

// EndTransaction is the header of END_TRANSACTION (37).
type EndTransaction struct {
	ProducerGroup        string `header:"producerGroup,required"`
	TranStateTableOffset int64  `header:"tranStateTableOffset,required"` // the half message's queue offset
	CommitLogOffset      int64  `header:"commitLogOffset,required"`      // the half message's commit-log offset
	CommitOrRollback     int32  `header:"commitOrRollback,required"`     // 8 commit, 12 rollback, 0 unknown
	FromTransactionCheck bool   `header:"fromTransactionCheck"`
	MsgID                string `header:"msgId,required"` // the message's UNIQ_KEY
	TransactionID        string `header:"transactionId"`
	BrokerName           string `header:"bname"`
}

// GetConsumerListByGroup is the header of GET_CONSUMER_LIST_BY_GROUP (38).
type GetConsumerListByGroup struct {
	ConsumerGroup string `header:"consumerGroup,required"`
}

// UnregisterClient is the header of UNREGISTER_CLIENT (35).
type UnregisterClient struct {
	ClientID      string `header:"clientID,required"`
	ProducerGroup string `header:"producerGroup"`
	ConsumerGroup string `header:"consumerGroup"`
}

// GetConsumerConnectionList is the header of GET_CONSUMER_CONNECTION_LIST (203).
type GetConsumerConnectionList struct {
	ConsumerGroup string `header:"consumerGroup,required"`
}

// GetProducerConnectionList is the header of GET_PRODUCER_CONNECTION_LIST (204).
type GetProducerConnectionList struct {
	ProducerGroup string `header:"producerGroup,required"`
}
