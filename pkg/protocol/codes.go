package protocol

import "strconv"

// Request codes (RequestCode.java, RocketMQ 4.9.8). Part of the wire format; never
// renumber. Only the codes Petrel sends, serves or names are listed.
const (
	SendMessage                    int16 = 10
	PullMessage                    int16 = 11
	QueryMessage                   int16 = 12
	QueryConsumerOffset            int16 = 14
	UpdateConsumerOffset           int16 = 15
	UpdateAndCreateTopic           int16 = 17
	GetAllTopicConfig              int16 = 21
	GetTopicConfigList             int16 = 22
	GetTopicNameList               int16 = 23
	UpdateBrokerConfig             int16 = 25
	GetBrokerConfig                int16 = 26
	TriggerDeleteFiles             int16 = 27
	GetBrokerRuntimeInfo           int16 = 28
	SearchOffsetByTimestamp        int16 = 29
	GetMaxOffset                   int16 = 30
	GetMinOffset                   int16 = 31
	GetEarliestMsgStoretime        int16 = 32
	ViewMessageByID                int16 = 33
	HeartBeat                      int16 = 34
	UnregisterClient               int16 = 35
	ConsumerSendMsgBack            int16 = 36
	EndTransaction                 int16 = 37
	GetConsumerListByGroup         int16 = 38
	CheckTransactionState          int16 = 39
	NotifyConsumerIDsChanged       int16 = 40
	LockBatchMQ                    int16 = 41
	UnlockBatchMQ                  int16 = 42
	GetAllConsumerOffset           int16 = 43
	GetAllDelayOffset              int16 = 45
	CheckClientConfig              int16 = 46
	PutKVConfig                    int16 = 100
	GetKVConfig                    int16 = 101
	DeleteKVConfig                 int16 = 102
	RegisterBroker                 int16 = 103
	UnregisterBroker               int16 = 104
	GetRouteInfoByTopic            int16 = 105
	GetBrokerClusterInfo           int16 = 106
	UpdateAndCreateSubscription    int16 = 200
	GetAllSubscriptionGroupConfig  int16 = 201
	GetTopicStatsInfo              int16 = 202
	GetConsumerConnectionList      int16 = 203
	GetProducerConnectionList      int16 = 204
	WipeWritePermOfBroker          int16 = 205
	GetAllTopicListFromNameServer  int16 = 206
	DeleteSubscriptionGroup        int16 = 207
	GetConsumeStats                int16 = 208
	DeleteTopicInBroker            int16 = 215
	DeleteTopicInNamesrv           int16 = 216
	GetKVListByNamespace           int16 = 219
	ResetConsumerClientOffset      int16 = 220
	GetConsumerStatusFromClient    int16 = 221
	InvokeBrokerToResetOffset      int16 = 222
	InvokeBrokerToGetConsumerState int16 = 223
	GetTopicsByCluster             int16 = 224
	QueryTopicConsumeByWho         int16 = 300
	QueryConsumeTimeSpan           int16 = 303
	GetSystemTopicListFromNS       int16 = 304
	GetSystemTopicListFromBroker   int16 = 305
	CleanExpiredConsumeQueue       int16 = 306
	GetConsumerRunningInfo         int16 = 307
	QueryCorrectionOffset          int16 = 308
	ConsumeMessageDirectly         int16 = 309
	SendMessageV2                  int16 = 310
	GetUnitTopicList               int16 = 311
	GetHasUnitSubTopicList         int16 = 312
	GetHasUnitSubUnunitTopicList   int16 = 313
	CloneGroupOffset               int16 = 314
	ViewBrokerStatsData            int16 = 315
	CleanUnusedTopic               int16 = 316
	GetBrokerConsumeStats          int16 = 317
	UpdateNamesrvConfig            int16 = 318
	GetNamesrvConfig               int16 = 319
	SendBatchMessage               int16 = 320
	QueryConsumeQueue              int16 = 321
	QueryDataVersion               int16 = 322
	ResumeCheckHalfMessage         int16 = 323
	SendReplyMessage               int16 = 324
	SendReplyMessageV2             int16 = 325
	PushReplyMessageToClient       int16 = 326
	AddWritePermOfBroker           int16 = 327
	GetAllProducerInfo             int16 = 328
	DeleteExpiredCommitLog         int16 = 329
)

// Response codes (RemotingSysResponseCode and ResponseCode, 4.9.8). Part of the wire
// format; never renumber.
const (
	Success                    int16 = 0
	SystemError                int16 = 1
	SystemBusy                 int16 = 2
	RequestCodeNotSupported    int16 = 3
	TransactionFailed          int16 = 4
	FlushDiskTimeout           int16 = 10
	SlaveNotAvailable          int16 = 11
	FlushSlaveTimeout          int16 = 12
	MessageIllegal             int16 = 13
	ServiceNotAvailable        int16 = 14
	VersionNotSupported        int16 = 15
	NoPermission               int16 = 16
	TopicNotExist              int16 = 17
	TopicExistAlready          int16 = 18
	PullNotFound               int16 = 19
	PullRetryImmediately       int16 = 20
	PullOffsetMoved            int16 = 21
	QueryNotFound              int16 = 22
	SubscriptionParseFailed    int16 = 23
	SubscriptionNotExist       int16 = 24
	SubscriptionNotLatest      int16 = 25
	SubscriptionGroupNotExist  int16 = 26
	FilterDataNotExist         int16 = 27
	FilterDataNotLatest        int16 = 28
	TransactionShouldCommit    int16 = 200
	TransactionShouldRollback  int16 = 201
	TransactionStateUnknow     int16 = 202
	TransactionStateGroupWrong int16 = 203
	ConsumerNotOnline          int16 = 206
	ConsumeMsgTimeout          int16 = 207
	NoMessage                  int16 = 208
	FlowControl                int16 = 215
)

// codeInfo describes one response code: its RocketMQ name and whether a client may
// retry the request elsewhere (the Go client retries sends on 1, 14, 16, 17).
type codeInfo struct {
	name      string
	retriable bool
}

var responseCodes = map[int16]codeInfo{
	Success:                    {"SUCCESS", false},
	SystemError:                {"SYSTEM_ERROR", true},
	SystemBusy:                 {"SYSTEM_BUSY", true},
	RequestCodeNotSupported:    {"REQUEST_CODE_NOT_SUPPORTED", false},
	TransactionFailed:          {"TRANSACTION_FAILED", false},
	FlushDiskTimeout:           {"FLUSH_DISK_TIMEOUT", false},
	SlaveNotAvailable:          {"SLAVE_NOT_AVAILABLE", false},
	FlushSlaveTimeout:          {"FLUSH_SLAVE_TIMEOUT", false},
	MessageIllegal:             {"MESSAGE_ILLEGAL", false},
	ServiceNotAvailable:        {"SERVICE_NOT_AVAILABLE", true},
	VersionNotSupported:        {"VERSION_NOT_SUPPORTED", false},
	NoPermission:               {"NO_PERMISSION", true},
	TopicNotExist:              {"TOPIC_NOT_EXIST", true},
	TopicExistAlready:          {"TOPIC_EXIST_ALREADY", false},
	PullNotFound:               {"PULL_NOT_FOUND", false},
	PullRetryImmediately:       {"PULL_RETRY_IMMEDIATELY", false},
	PullOffsetMoved:            {"PULL_OFFSET_MOVED", false},
	QueryNotFound:              {"QUERY_NOT_FOUND", false},
	SubscriptionParseFailed:    {"SUBSCRIPTION_PARSE_FAILED", false},
	SubscriptionNotExist:       {"SUBSCRIPTION_NOT_EXIST", false},
	SubscriptionNotLatest:      {"SUBSCRIPTION_NOT_LATEST", false},
	SubscriptionGroupNotExist:  {"SUBSCRIPTION_GROUP_NOT_EXIST", false},
	FilterDataNotExist:         {"FILTER_DATA_NOT_EXIST", false},
	FilterDataNotLatest:        {"FILTER_DATA_NOT_LATEST", false},
	TransactionShouldCommit:    {"TRANSACTION_SHOULD_COMMIT", false},
	TransactionShouldRollback:  {"TRANSACTION_SHOULD_ROLLBACK", false},
	TransactionStateUnknow:     {"TRANSACTION_STATE_UNKNOW", false},
	TransactionStateGroupWrong: {"TRANSACTION_STATE_GROUP_WRONG", false},
	ConsumerNotOnline:          {"CONSUMER_NOT_ONLINE", false},
	ConsumeMsgTimeout:          {"CONSUME_MSG_TIMEOUT", false},
	NoMessage:                  {"NO_MESSAGE", false},
	FlowControl:                {"FLOW_CONTROL", true},
}

// ResponseCodeName returns the RocketMQ name of a response code, or "CODE(n)".
func ResponseCodeName(code int16) string {
	if ci, ok := responseCodes[code]; ok {
		return ci.name
	}
	return "CODE(" + strconv.Itoa(int(code)) + ")"
}
