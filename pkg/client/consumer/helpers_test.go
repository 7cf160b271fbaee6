package consumer_test

import (
	"strconv"

	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
)

func newUpdateOffset(group string, mq message.MessageQueue, off message.QueueOffset) *protocol.Command {
	return protocol.NewRequest(protocol.UpdateConsumerOffset, map[string]string{
		"consumerGroup": group, "topic": mq.Topic, "queueId": strconv.Itoa(int(mq.QueueID)),
		"commitOffset": strconv.FormatInt(int64(off), 10),
	})
}
