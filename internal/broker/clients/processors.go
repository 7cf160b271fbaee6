package clients

import (
	"context"
	"errors"
	"fmt"

	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// Register registers the Manager's processors on srv, all on pool: HEART_BEAT
// (34), UNREGISTER_CLIENT (35), GET_CONSUMER_LIST_BY_GROUP (38), LOCK_BATCH_MQ
// (41), UNLOCK_BATCH_MQ (42), GET_CONSUMER_CONNECTION_LIST (203) and
// GET_PRODUCER_CONNECTION_LIST (204). It also adds m as a connection listener of
// srv (adding it twice is harmless). Call it before srv.Start.
func (m *Manager) Register(srv *remoting.Server, pool *remoting.Pool) {
	for code, f := range map[protocol.RequestCode]remoting.ProcessorFunc{
		protocol.HeartBeat:                 m.heartbeat,
		protocol.UnregisterClient:          m.unregisterClient,
		protocol.GetConsumerListByGroup:    m.consumerList,
		protocol.LockBatchMQ:               m.lockBatch,
		protocol.UnlockBatchMQ:             m.unlockBatch,
		protocol.GetConsumerConnectionList: m.consumerConnections,
		protocol.GetProducerConnectionList: m.producerConnections,
	} {
		srv.Register(code, f, pool)
	}
	srv.AddConnListener(m)
}

func clientOf(c *remoting.Conn, req *protocol.Command, clientID string) Client {
	return Client{
		ConnID:   c.ID(),
		ClientID: clientID,
		Addr:     c.RemoteAddr(),
		Language: req.Language.String(),
		Version:  int32(req.Version),
	}
}

func fail(req *protocol.Command, format string, args ...any) *protocol.Command {
	return protocol.NewResponse(req, protocol.SystemError, fmt.Sprintf(format, args...))
}

// requireExt returns the named extension fields, or a SYSTEM_ERROR response
// naming the first one missing (as RocketMQ rejects a header without a required
// field).
func requireExt(req *protocol.Command, keys ...string) ([]string, *protocol.Command) {
	vals := make([]string, len(keys))
	for i, k := range keys {
		vals[i] = req.Ext(k)
		if vals[i] == "" {
			return nil, fail(req, "the custom field <%s> is null", k)
		}
	}
	return vals, nil
}

// heartbeat handles HEART_BEAT (34). The answer is sent only after the
// heartbeat is recorded, so a GET_CONSUMER_LIST_BY_GROUP right after it lists
// the caller.
func (m *Manager) heartbeat(_ context.Context, c *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	hb, err := body.DecodeHeartbeat(req.Body)
	if err != nil {
		return fail(req, "%v", err), nil
	}
	if hb.ClientID == "" {
		return fail(req, "heartbeat without clientID"), nil
	}
	for _, p := range hb.ProducerDataSet {
		if p.GroupName == "" {
			return fail(req, "heartbeat of %s has a producer without groupName", hb.ClientID), nil
		}
	}
	for _, cd := range hb.ConsumerDataSet {
		if cd.GroupName == "" {
			return fail(req, "heartbeat of %s has a consumer without groupName", hb.ClientID), nil
		}
	}
	if h := m.hooks.OnConsumerHeartbeat; h != nil {
		for _, cd := range hb.ConsumerDataSet {
			if err := h(cd.GroupName, cd.SubscriptionDataSet, cd.MessageModel != body.Broadcasting); err != nil {
				if pe, ok := errors.AsType[*protocol.Error](err); ok {
					return protocol.NewResponse(req, pe.Code, pe.Remark), nil
				}
				return fail(req, "consumer group %s: %v", cd.GroupName, err), nil
			}
		}
	}
	cl := clientOf(c, req, hb.ClientID)
	now := m.clk.Now()
	m.record(c, func(r *Registry) []Event { return r.Heartbeat(now, cl, hb) })
	return protocol.NewResponse(req, protocol.Success, ""), nil
}

// unregisterClient handles UNREGISTER_CLIENT (35): clientID (required),
// producerGroup and consumerGroup (optional). The Java client sends it on
// shutdown; the Go client never does.
func (m *Manager) unregisterClient(_ context.Context, c *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	if _, resp := requireExt(req, "clientID"); resp != nil {
		return resp, nil
	}
	pg, cg := req.Ext("producerGroup"), req.Ext("consumerGroup")
	m.record(c, func(r *Registry) []Event { return r.Unregister(c.ID(), pg, cg) })
	return protocol.NewResponse(req, protocol.Success, ""), nil
}

// consumerList handles GET_CONSUMER_LIST_BY_GROUP (38): the group's client ids,
// or SYSTEM_ERROR "no consumer for this group, <g>" as RocketMQ answers.
func (m *Manager) consumerList(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	v, resp := requireExt(req, "consumerGroup")
	if resp != nil {
		return resp, nil
	}
	g, ok := m.ConsumerGroup(v[0])
	if !ok || len(g.ClientIDs) == 0 {
		return fail(req, "no consumer for this group, %s", v[0]), nil
	}
	resp = protocol.NewResponse(req, protocol.Success, "")
	resp.Body = (&body.GetConsumerListByGroupResponseBody{ConsumerIDList: g.ClientIDs}).Encode()
	return resp, nil
}

// lockBatch handles LOCK_BATCH_MQ (41): it answers the requested queues the
// client holds afterwards.
func (m *Manager) lockBatch(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	lb, err := body.DecodeLockBatchRequest(req.Body)
	if err != nil {
		return fail(req, "%v", err), nil
	}
	if lb.ConsumerGroup == "" || lb.ClientID == "" {
		return fail(req, "lock batch request without consumerGroup or clientId"), nil
	}
	now := m.clk.Now()
	m.mu.Lock()
	ok := m.mu.reg.LockBatch(now, lb.ConsumerGroup, lb.ClientID, lb.MQSet)
	m.mu.Unlock()
	resp := protocol.NewResponse(req, protocol.Success, "")
	resp.Body = (&body.LockBatchResponseBody{LockOKMQSet: ok}).Encode()
	return resp, nil
}

// unlockBatch handles UNLOCK_BATCH_MQ (42): it releases the listed queues the
// client holds.
func (m *Manager) unlockBatch(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	ub, err := body.DecodeUnlockBatchRequest(req.Body)
	if err != nil {
		return fail(req, "%v", err), nil
	}
	if ub.ConsumerGroup == "" || ub.ClientID == "" {
		return fail(req, "unlock batch request without consumerGroup or clientId"), nil
	}
	m.mu.Lock()
	m.mu.reg.UnlockBatch(ub.ConsumerGroup, ub.ClientID, ub.MQSet)
	m.mu.Unlock()
	return protocol.NewResponse(req, protocol.Success, ""), nil
}

func connections(chs []ChannelInfo) []body.Connection {
	out := make([]body.Connection, 0, len(chs))
	for _, ch := range chs {
		out = append(out, body.Connection{ClientAddr: ch.Addr, ClientID: ch.ClientID, Language: ch.Language, Version: ch.Version})
	}
	return out
}

// consumerConnections handles GET_CONSUMER_CONNECTION_LIST (203), or answers
// CONSUMER_NOT_ONLINE.
func (m *Manager) consumerConnections(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	v, resp := requireExt(req, "consumerGroup")
	if resp != nil {
		return resp, nil
	}
	g, ok := m.ConsumerGroup(v[0])
	if !ok {
		return protocol.NewResponse(req, protocol.ConsumerNotOnline, "the consumer group["+v[0]+"] not online"), nil
	}
	cc := &body.ConsumerConnection{
		ConnectionSet:     connections(g.Channels),
		ConsumeFromWhere:  g.ConsumeFromWhere,
		ConsumeType:       g.ConsumeType,
		MessageModel:      g.MessageModel,
		SubscriptionTable: g.Subscriptions,
	}
	resp = protocol.NewResponse(req, protocol.Success, "")
	resp.Body = cc.Encode()
	return resp, nil
}

// producerConnections handles GET_PRODUCER_CONNECTION_LIST (204), or answers
// SYSTEM_ERROR when the group has no connection, as RocketMQ does.
func (m *Manager) producerConnections(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	v, resp := requireExt(req, "producerGroup")
	if resp != nil {
		return resp, nil
	}
	m.mu.Lock()
	chs := m.mu.reg.ProducerChannels(v[0])
	m.mu.Unlock()
	if len(chs) == 0 {
		return fail(req, "the producer group[%s] not exist", v[0]), nil
	}
	resp = protocol.NewResponse(req, protocol.Success, "")
	resp.Body = (&body.ProducerConnection{ConnectionSet: connections(chs)}).Encode()
	return resp, nil
}
