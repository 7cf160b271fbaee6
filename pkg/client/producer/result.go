package producer

import (
	"strconv"

	"github.com/petrelmq/petrel/pkg/message"
)

// SendStatus is how the broker stored a message that it accepted.
type SendStatus int

// Send statuses. Anything but SendOK means the message is stored but the
// configured flush or replication did not confirm in time.
const (
	SendOK                SendStatus = iota // stored as configured (code 0)
	SendFlushDiskTimeout                    // stored, disk flush timed out (code 10)
	SendFlushSlaveTimeout                   // stored, replication timed out (code 12)
	SendSlaveNotAvailable                   // stored, no slave to replicate to (code 11)
)

func (s SendStatus) String() string {
	switch s {
	case SendOK:
		return "SEND_OK"
	case SendFlushDiskTimeout:
		return "FLUSH_DISK_TIMEOUT"
	case SendFlushSlaveTimeout:
		return "FLUSH_SLAVE_TIMEOUT"
	case SendSlaveNotAvailable:
		return "SLAVE_NOT_AVAILABLE"
	}
	return "SendStatus(" + strconv.Itoa(int(s)) + ")"
}

// SendResult is the outcome of a successful send.
type SendResult struct {
	Status SendStatus
	// MsgID is the message's UNIQ_KEY, the id consumers see; for a batch, the
	// ids of its messages joined with ','.
	MsgID string
	// OffsetMsgID is the broker's offset message id (store host and commit-log
	// offset); for a batch, comma-joined.
	OffsetMsgID string
	// Queue is the queue the message went to (topic as on the wire).
	Queue message.MessageQueue
	// QueueOffset is the message's offset in the queue (the first message's for a
	// batch; the schedule or half queue's for delayed and transactional ones).
	QueueOffset   message.QueueOffset
	TransactionID string
	RegionID      string
	TraceOn       bool
}
