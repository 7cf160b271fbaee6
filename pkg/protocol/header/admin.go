package header

// Headers of the admin requests a broker serves.

// CreateTopic is the header of UPDATE_AND_CREATE_TOPIC (17).
type CreateTopic struct {
	Topic           string `header:"topic,required"`
	DefaultTopic    string `header:"defaultTopic,required"` // ignored by the broker
	ReadQueueNums   int32  `header:"readQueueNums,required"`
	WriteQueueNums  int32  `header:"writeQueueNums,required"`
	Perm            int32  `header:"perm,required"`            // 2 write, 4 read, 1 inherit
	TopicFilterType string `header:"topicFilterType,required"` // SINGLE_TAG or MULTI_TAG
	TopicSysFlag    int32  `header:"topicSysFlag"`
	Order           bool   `header:"order,required"`
	// Attributes are RocketMQ 5's topic attributes, "+key=value,-key" (+
	// sets, - removes; absent keeps the topic's attributes).
	Attributes string `header:"attributes"`
}

// DeleteTopic is the header of DELETE_TOPIC_IN_BROKER (215).
type DeleteTopic struct {
	Topic string `header:"topic,required"`
}

// DeleteSubscriptionGroup is the header of DELETE_SUBSCRIPTIONGROUP (207).
type DeleteSubscriptionGroup struct {
	GroupName    string `header:"groupName,required"`
	RemoveOffset bool   `header:"removeOffset"` // also drop the group's consumer offsets
}

// GetTopicStatsInfo is the header of GET_TOPIC_STATS_INFO (202).
type GetTopicStatsInfo struct {
	Topic string `header:"topic,required"`
}

// GetConsumeStats is the header of GET_CONSUME_STATS (208).
type GetConsumeStats struct {
	ConsumerGroup string `header:"consumerGroup,required"`
	Topic         string `header:"topic"` // "": every topic of the group
}

// QueryTopicConsumeByWho is the header of QUERY_TOPIC_CONSUME_BY_WHO (300).
type QueryTopicConsumeByWho struct {
	Topic string `header:"topic,required"`
}

// QueryConsumeTimeSpan is the header of QUERY_CONSUME_TIME_SPAN (303).
type QueryConsumeTimeSpan struct {
	Topic string `header:"topic,required"`
	Group string `header:"group,required"`
}

// QueryConsumeQueue is the header of QUERY_CONSUME_QUEUE (321). Java declares
// its fields as primitives without marks, so none is required.
type QueryConsumeQueue struct {
	Topic         string `header:"topic"`
	QueueID       int32  `header:"queueId"`
	Index         int64  `header:"index"` // first logical offset
	Count         int32  `header:"count"`
	ConsumerGroup string `header:"consumerGroup"`
}

// GetBrokerConsumeStats is the header of GET_BROKER_CONSUME_STATS (317)
// (GetConsumeStatsInBrokerHeader).
type GetBrokerConsumeStats struct {
	IsOrder bool `header:"isOrder,required"`
}
