package producer

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/header"
)

// ErrRequestTimeout is returned by Request when no reply arrived in time.
var ErrRequestTimeout = errors.New("producer: no reply before the request timeout")

// ReplyTopicSuffix is appended to a cluster name to form its reply topic.
const ReplyTopicSuffix = "_REPLY_TOPIC"

// Request sends msg as a request and waits up to timeout for the reply a
// responder sends with SendReply (request/reply). The message gets the
// properties CORRELATION_ID, REPLY_TO_CLIENT (this client's id) and TTL (the
// timeout in ms). The broker pushes the reply to this client
// (PUSH_REPLY_MESSAGE_TO_CLIENT), which needs this producer's heartbeat: Request
// sends one to the target brokers first if they have not had one. Errors: as
// for Send, or ErrRequestTimeout.
func (p *Producer) Request(ctx context.Context, msg *message.Message, timeout time.Duration) (*message.MessageExt, error) {
	if err := p.checkRunning(); err != nil {
		return nil, err
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("producer: Request: timeout %s must be positive", timeout)
	}
	if msg == nil {
		return nil, badMessage("nil message")
	}
	corr := p.core.NewUniqID()
	m := *msg
	m.Properties = make(map[string]string, len(msg.Properties)+3)
	for k, v := range msg.Properties {
		m.Properties[k] = v
	}
	m.Properties[message.PropertyCorrelationID] = corr
	m.Properties[message.PropertyReplyToClient] = p.core.ID()
	m.Properties[message.PropertyMessageTTL] = strconv.FormatInt(timeout.Milliseconds(), 10)
	o, err := p.prepare(&m)
	if err != nil {
		return nil, err
	}
	ch := make(chan *message.MessageExt, 1)
	p.replies.Lock()
	p.replies.pending[corr] = ch
	p.replies.Unlock()
	defer func() {
		p.replies.Lock()
		delete(p.replies.pending, corr)
		p.replies.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	route, _, err := p.routeFor(ctx, o.topic)
	if err != nil {
		return nil, err
	}
	for _, name := range route.BrokerNames() {
		if addr, ok := route.MasterAddr(name); ok {
			if err := p.core.EnsureHeartbeat(ctx, addr); err != nil {
				p.core.Logger().Debug("producer: heartbeat before request failed", "peer", addr, "err", err)
			}
		}
	}
	sctx, scancel := p.sendCtx(ctx)
	_, err = p.sendSync(sctx, o, nil)
	scancel()
	if err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r, nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w (%s, correlation id %s)", ErrRequestTimeout, timeout, corr)
		}
		return nil, ctx.Err()
	}
}

// SendReply answers a request message received by a consumer: it sends body to
// the reply topic of the request's cluster (<CLUSTER>_REPLY_TOPIC), with the
// request's CORRELATION_ID, REPLY_TO_CLIENT and TTL and MSG_TYPE=reply, as
// SEND_REPLY_MESSAGE_V2 (325; 324 with LongHeaders). The broker pushes it to the
// requester.
func (p *Producer) SendReply(ctx context.Context, request *message.MessageExt, body []byte) (*SendResult, error) {
	if err := p.checkRunning(); err != nil {
		return nil, err
	}
	cluster := request.Property(message.PropertyCluster)
	corr := request.Property(message.PropertyCorrelationID)
	to := request.Property(message.PropertyReplyToClient)
	if cluster == "" || corr == "" || to == "" {
		return nil, badMessage("not a request message: CLUSTER, CORRELATION_ID or REPLY_TO_CLIENT missing")
	}
	m := &message.Message{Topic: cluster + ReplyTopicSuffix, Body: body, Properties: map[string]string{
		message.PropertyCorrelationID: corr,
		message.PropertyReplyToClient: to,
		message.PropertyMessageType:   "reply",
	}}
	if ttl := request.Property(message.PropertyMessageTTL); ttl != "" {
		m.Properties[message.PropertyMessageTTL] = ttl
	}
	o, err := p.prepare(m)
	if err != nil {
		return nil, err
	}
	o.topic = m.Topic // reply topics are never namespaced
	o.reply = true
	ctx, cancel := p.sendCtx(ctx)
	defer cancel()
	return p.sendSync(ctx, o, nil)
}

// handleReply handles PUSH_REPLY_MESSAGE_TO_CLIENT (326): it rebuilds the reply
// message from the header and body, hands it to the waiting Request by
// CORRELATION_ID, and always answers SUCCESS.
func (p *Producer) handleReply(_ context.Context, req *client.ServerRequest) *protocol.Command {
	cmd := req.Cmd
	var h header.PushReplyMessage
	if err := h.Decode(cmd); err != nil {
		// Decode reads every field it can; the reply may still match.
		p.core.Logger().Warn("producer: bad reply header", "peer", req.Addr(), "err", err)
	}
	m := &message.MessageExt{
		Message: message.Message{
			Topic:      p.core.Unwrap(h.Topic),
			Flag:       h.Flag,
			Properties: message.DecodeProperties([]byte(h.Properties)),
			Body:       cmd.Body,
		},
		QueueID:        h.QueueID,
		SysFlag:        message.SysFlag(h.SysFlag),
		BornTimestamp:  h.BornTimestamp,
		StoreTimestamp: h.StoreTimestamp,
		ReconsumeTimes: h.ReconsumeTimes,
	}
	m.BornHost, _ = netip.ParseAddrPort(h.BornHost)
	m.StoreHost, _ = netip.ParseAddrPort(h.StoreHost)
	p.core.DecompressBody(m)
	m.SetProperty(message.PropertyReplyMessageArriveTime, strconv.FormatInt(p.core.Now().UnixMilli(), 10))
	corr := m.Property(message.PropertyCorrelationID)
	p.replies.Lock()
	ch := p.replies.pending[corr]
	p.replies.Unlock()
	if ch == nil {
		p.core.Logger().Debug("producer: reply for no pending request", "correlation_id", corr)
	} else {
		select {
		case ch <- m:
		default:
		}
	}
	return protocol.NewResponse(cmd, protocol.Success, "")
}
