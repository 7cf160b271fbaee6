package header

// Headers of the requests a broker sends to clients over their own
// connections (and of the admin requests that make it send them).

// CheckTransactionState is the header of CHECK_TRANSACTION_STATE (39).
type CheckTransactionState struct {
	TranStateTableOffset int64  `header:"tranStateTableOffset,required"` // the half message's queue offset
	CommitLogOffset      int64  `header:"commitLogOffset,required"`      // the half message's commit-log offset
	MsgID                string `header:"msgId"`                         // the half message's UNIQ_KEY
	TransactionID        string `header:"transactionId"`
	OffsetMsgID          string `header:"offsetMsgId"`
	BrokerName           string `header:"bname"`
}

// NotifyConsumerIDsChanged is the header of NOTIFY_CONSUMER_IDS_CHANGED (40).
type NotifyConsumerIDsChanged struct {
	ConsumerGroup string `header:"consumerGroup,required"`
}

// ResetOffset is the header of RESET_CONSUMER_CLIENT_OFFSET (220, broker to
// client) and INVOKE_BROKER_TO_RESET_OFFSET (222, admin to broker).
type ResetOffset struct {
	Topic     string `header:"topic,required"`
	Group     string `header:"group,required"`
	Timestamp int64  `header:"timestamp,required"` // ms since the epoch; -1: to the max offset
	IsForce   bool   `header:"isForce,required"`
}

// GetConsumerStatus is the header of GET_CONSUMER_STATUS_FROM_CLIENT (221,
// broker to client) and INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223, admin to
// broker).
type GetConsumerStatus struct {
	Topic      string `header:"topic,required"`
	Group      string `header:"group,required"`
	ClientAddr string `header:"clientAddr"`
}

// GetConsumerRunningInfo is the header of GET_CONSUMER_RUNNING_INFO (307),
// which the broker forwards to the client unchanged.
type GetConsumerRunningInfo struct {
	ConsumerGroup string `header:"consumerGroup,required"`
	ClientID      string `header:"clientId,required"`
	JstackEnable  bool   `header:"jstackEnable"`
}

// ConsumeMessageDirectly is the header of CONSUME_MESSAGE_DIRECTLY (309)
// (ConsumeMessageDirectlyResultRequestHeader). The broker sets BrokerName to
// its own name before forwarding it to the client.
type ConsumeMessageDirectly struct {
	ConsumerGroup string `header:"consumerGroup,required"`
	ClientID      string `header:"clientId"`
	MsgID         string `header:"msgId"` // an offset message id
	BrokerName    string `header:"brokerName"`
}

// PushReplyMessage is the header of PUSH_REPLY_MESSAGE_TO_CLIENT (326)
// (ReplyMessageRequestHeader): the reply message, rebuilt by the requester.
type PushReplyMessage struct {
	ProducerGroup         string `header:"producerGroup,required"`
	Topic                 string `header:"topic,required"`
	DefaultTopic          string `header:"defaultTopic,required"`
	DefaultTopicQueueNums int32  `header:"defaultTopicQueueNums,required"`
	QueueID               int32  `header:"queueId,required"`
	SysFlag               int32  `header:"sysFlag,required"`
	BornTimestamp         int64  `header:"bornTimestamp,required"` // ms since the epoch
	Flag                  int32  `header:"flag,required"`
	Properties            string `header:"properties"` // includes CORRELATION_ID
	ReconsumeTimes        int32  `header:"reconsumeTimes"`
	UnitMode              bool   `header:"unitMode"`
	BornHost              string `header:"bornHost,required"`       // ip:port
	StoreHost             string `header:"storeHost,required"`      // ip:port
	StoreTimestamp        int64  `header:"storeTimestamp,required"` // ms since the epoch
}
