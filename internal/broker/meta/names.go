package meta

import (
	"errors"
	"fmt"
	"strings"
)

// Names of topics and prefixes the broker treats specially (TopicValidator and
// MixAll in RocketMQ).
const (
	TopicAutoCreate     = "TBW102"
	TopicSchedule       = "SCHEDULE_TOPIC_XXXX"
	TopicSelfTest       = "SELF_TEST_TOPIC"
	TopicOffsetMoved    = "OFFSET_MOVED_EVENT"
	TopicBenchmark      = "BenchmarkTest"
	TopicTransHalf      = "RMQ_SYS_TRANS_HALF_TOPIC"
	TopicTransOpHalf    = "RMQ_SYS_TRANS_OP_HALF_TOPIC"
	TopicTransCheckMax  = "TRANS_CHECK_MAX_TIME_TOPIC"
	TopicTrace          = "RMQ_SYS_TRACE_TOPIC"
	RetryTopicPrefix    = "%RETRY%"
	DLQTopicPrefix      = "%DLQ%"
	ReplyTopicSuffix    = "_REPLY_TOPIC"
	sysTopicPrefix      = "rmq_sys_"
	maxTopicLength      = 127
	ScheduleQueueNums   = 18
	FilterTypeSingleTag = "SINGLE_TAG"
	FilterTypeMultiTag  = "MULTI_TAG"
	// TopicTimer is the system topic timer messages are parked in (queue 0).
	TopicTimer = "rmq_sys_wheel_timer"
)

// GroupTransCheck is the system consumer group under which the transaction
// checker keeps its progress in the half and op queues.
const GroupTransCheck = "CID_RMQ_SYS_TRANS"

// RetryTopic returns %RETRY%<group>.
func RetryTopic(group string) string { return RetryTopicPrefix + group }

// DLQTopic returns %DLQ%<group>.
func DLQTopic(group string) string { return DLQTopicPrefix + group }

// ErrBadTopicName is wrapped by ValidateTopicName.
var ErrBadTopicName = errors.New("illegal topic name")

// ValidateTopicName applies RocketMQ's rule: ^[%|a-zA-Z0-9_-]+$, at most 127
// characters.
func ValidateTopicName(t string) error {
	if t == "" {
		return fmt.Errorf("%w: empty", ErrBadTopicName)
	}
	if len(t) > maxTopicLength {
		return fmt.Errorf("%w: %d characters, at most %d allowed", ErrBadTopicName, len(t), maxTopicLength)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '%' || c == '|' || c == '_' || c == '-') {
			return fmt.Errorf("%w: character %q; only letters, digits, %%, |, _ and - are allowed", ErrBadTopicName, c)
		}
	}
	return nil
}

// IsSendForbidden reports topics clients may not send to
// (TopicValidator.isNotAllowedSendTopic).
func IsSendForbidden(t string) bool {
	switch t {
	case TopicSchedule, TopicTransHalf, TopicTransOpHalf, TopicTransCheckMax, TopicSelfTest, TopicOffsetMoved, TopicTimer:
		return true
	}
	return false
}

// IsSystemTopic reports topics admin tools may not create or delete.
func IsSystemTopic(t string) bool {
	switch t {
	case TopicAutoCreate, TopicSchedule, TopicBenchmark, TopicTransHalf, TopicTransOpHalf,
		TopicTransCheckMax, TopicSelfTest, TopicOffsetMoved, TopicTrace:
		return true
	}
	return strings.HasPrefix(t, sysTopicPrefix)
}
