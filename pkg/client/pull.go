package client

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/header"
)

// Pull sysFlag bits (PullSysFlag).
const (
	PullFlagCommitOffset int32 = 0x1 // also store CommitOffset as the group's offset
	PullFlagSuspend      int32 = 0x2 // the broker may hold the pull (long polling)
	PullFlagSubscription int32 = 0x4 // filter by the request's expression, not the heartbeat's
)

// PullRequest is one PULL_MESSAGE. Names are wire names (namespace applied).
type PullRequest struct {
	Queue message.MessageQueue
	// Group is the consumer group. Required.
	Group  string
	Offset message.QueueOffset
	// MaxMessages caps the answer. Default 32.
	MaxMessages int32
	// SysFlag holds the PullFlag* bits. Suspend and CommitOffset are added from
	// the fields below; PullFlagSubscription is added when Expression is set.
	SysFlag int32
	// CommitOffset, when >= 0 and CommitOffsetValid, is stored as the group's
	// offset for the queue.
	CommitOffset      message.QueueOffset
	CommitOffsetValid bool
	// Suspend lets the broker hold the request this long when there is no new
	// message (long polling); 0 answers at once.
	Suspend time.Duration
	// Expression filters by tag ("*", "a || b") or SQL92; ExpressionType is
	// "TAG" (default) or "SQL92". Empty: the broker uses the heartbeat's
	// subscription.
	Expression     string
	ExpressionType string
	SubVersion     int64
}

// PullStatus is the outcome of a pull.
type PullStatus int

// Pull outcomes.
const (
	PullFound         PullStatus = iota // messages returned
	PullNoNewMsg                        // caught up (code 19)
	PullNoMatchedMsg                    // messages scanned, none matched the filter (code 20)
	PullOffsetIllegal                   // the offset is out of range; use NextBeginOffset (code 21)
)

func (s PullStatus) String() string {
	switch s {
	case PullFound:
		return "FOUND"
	case PullNoNewMsg:
		return "NO_NEW_MSG"
	case PullNoMatchedMsg:
		return "NO_MATCHED_MSG"
	case PullOffsetIllegal:
		return "OFFSET_ILLEGAL"
	}
	return "PullStatus(" + strconv.Itoa(int(s)) + ")"
}

// PullResult is a decoded pull answer.
type PullResult struct {
	Status               PullStatus
	NextBeginOffset      message.QueueOffset
	MinOffset            message.QueueOffset
	MaxOffset            message.QueueOffset
	SuggestWhichBrokerID int64
	// Messages are decoded, with bodies decompressed (zlib, LZ4 or ZSTD; a
	// body that does not decompress is left as stored and a warning logged)
	// and MIN_OFFSET / MAX_OFFSET properties added.
	Messages []*message.MessageExt
}

// Pull sends PULL_MESSAGE to addr and decodes the answer. Codes other than 0,
// 19, 20 and 21 are returned as *protocol.Error. A record that does not decode
// ends the message list and is returned as an error together with the result.
func (c *Client) Pull(ctx context.Context, addr string, req PullRequest) (*PullResult, error) {
	if req.MaxMessages <= 0 {
		req.MaxMessages = 32
	}
	flag := req.SysFlag
	if req.Suspend > 0 {
		flag |= PullFlagSuspend
	}
	if req.CommitOffsetValid {
		flag |= PullFlagCommitOffset
	}
	if req.Expression != "" {
		flag |= PullFlagSubscription
	}
	if req.ExpressionType == "" {
		req.ExpressionType = "TAG"
	}
	commit := req.CommitOffset
	if !req.CommitOffsetValid {
		commit = 0
	}
	cmd := header.NewRequest(protocol.PullMessage, &header.PullMessage{
		ConsumerGroup:        req.Group,
		Topic:                req.Queue.Topic,
		QueueID:              req.Queue.QueueID,
		QueueOffset:          int64(req.Offset),
		MaxMsgNums:           req.MaxMessages,
		SysFlag:              int32(flag),
		CommitOffset:         int64(commit),
		SuspendTimeoutMillis: req.Suspend.Milliseconds(),
		Subscription:         req.Expression,
		SubVersion:           req.SubVersion,
		ExpressionType:       req.ExpressionType,
		BrokerName:           req.Queue.BrokerName,
	})
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.callTimeout+req.Suspend)
		defer cancel()
	}
	start := c.cfg.clk.Now()
	res, err := c.pull(ctx, addr, cmd)
	ev := PullEvent{Queue: req.Queue, Addr: addr, Offset: req.Offset, Latency: c.cfg.clk.Now().Sub(start), Err: err}
	if res != nil {
		ev.Messages = len(res.Messages)
	}
	EachHook(c, func(h HookPullDone) { h.OnPullDone(ev) })
	return res, err
}

func (c *Client) pull(ctx context.Context, addr string, cmd *protocol.Command) (*PullResult, error) {
	resp, err := c.Invoke(ctx, addr, cmd)
	if err != nil {
		return nil, err
	}
	res := &PullResult{}
	switch resp.ResponseCode() {
	case protocol.Success:
		res.Status = PullFound
	case protocol.PullNotFound:
		res.Status = PullNoNewMsg
	case protocol.PullRetryImmediately:
		res.Status = PullNoMatchedMsg
	case protocol.PullOffsetMoved:
		res.Status = PullOffsetIllegal
	default:
		return nil, protocol.ResponseError(resp)
	}
	var h header.PullMessageResponse
	if err := h.Decode(resp); err != nil {
		return nil, fmt.Errorf("client: pull %s: %w", addr, err)
	}
	res.NextBeginOffset = message.QueueOffset(h.NextBeginOffset)
	res.MinOffset = message.QueueOffset(h.MinOffset)
	res.MaxOffset = message.QueueOffset(h.MaxOffset)
	res.SuggestWhichBrokerID = h.SuggestWhichBrokerID
	if res.Status != PullFound {
		return res, nil
	}
	msgs, derr := message.DecodeMessages(resp.Body)
	for _, m := range msgs {
		c.DecompressBody(m)
		m.SetProperty(message.PropertyMinOffset, strconv.FormatInt(h.MinOffset, 10))
		m.SetProperty(message.PropertyMaxOffset, strconv.FormatInt(h.MaxOffset, 10))
	}
	res.Messages = msgs
	if derr != nil {
		return res, fmt.Errorf("client: pull %s: %w", addr, derr)
	}
	return res, nil
}
