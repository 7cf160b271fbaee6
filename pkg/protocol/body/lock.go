package body

import (
	"bytes"
	"encoding/json"

	"github.com/petrelmq/petrel/pkg/message"
)

// LockBatchRequestBody is the LOCK_BATCH_MQ (41) request body: an orderly consumer
// asks to own these queues for its group. JSON:
// {"consumerGroup":"cg","clientId":"ip@pid","mqSet":[{"topic":"T","brokerName":"b","queueId":0}]}.
type LockBatchRequestBody struct {
	ConsumerGroup string                 `json:"consumerGroup"`
	ClientID      string                 `json:"clientId"`
	MQSet         []message.MessageQueue `json:"mqSet"`
}

// UnlockBatchRequestBody is the UNLOCK_BATCH_MQ (42) request body; same shape as
// LockBatchRequestBody.
type UnlockBatchRequestBody struct {
	ConsumerGroup string                 `json:"consumerGroup"`
	ClientID      string                 `json:"clientId"`
	MQSet         []message.MessageQueue `json:"mqSet"`
}

// LockBatchResponseBody is the LOCK_BATCH_MQ answer: the requested queues the
// client now holds. JSON: {"lockOKMQSet":[...]}; Encode writes [] when empty.
type LockBatchResponseBody struct {
	LockOKMQSet []message.MessageQueue `json:"lockOKMQSet"`
}

// Encode returns the JSON body.
func (b *LockBatchResponseBody) Encode() []byte {
	set := b.LockOKMQSet
	if set == nil {
		set = []message.MessageQueue{}
	}
	var buf bytes.Buffer
	buf.WriteString(`{"lockOKMQSet":`)
	writeJSON(&buf, set)
	buf.WriteByte('}')
	return buf.Bytes()
}

// DecodeLockBatchRequest parses a LOCK_BATCH_MQ body. Errors match
// ErrBadClientBody; required fields are the caller's to check.
func DecodeLockBatchRequest(b []byte) (*LockBatchRequestBody, error) {
	var r LockBatchRequestBody
	if err := decodeClientBody("lock batch", b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// DecodeUnlockBatchRequest parses an UNLOCK_BATCH_MQ body. Errors match
// ErrBadClientBody.
func DecodeUnlockBatchRequest(b []byte) (*UnlockBatchRequestBody, error) {
	var r UnlockBatchRequestBody
	if err := decodeClientBody("unlock batch", b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// DecodeLockBatchResponse parses a LOCK_BATCH_MQ answer; an empty body means
// nothing is locked.
func DecodeLockBatchResponse(b []byte) (*LockBatchResponseBody, error) {
	var r LockBatchResponseBody
	if len(bytes.TrimSpace(b)) == 0 {
		return &r, nil
	}
	if err := decodeClientBody("lock batch response", b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func decodeClientBody(what string, b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return badClientBody("empty %s body", what)
	}
	if len(b) > maxClientBody {
		return badClientBody("%s body of %d bytes exceeds %d", what, len(b), maxClientBody)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return badClientBody("%s: %v", what, err)
	}
	return nil
}
