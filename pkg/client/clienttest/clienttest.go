// Package clienttest is an in-memory name server and broker for SDK tests: just
// enough of the RocketMQ protocol (routes, send V1/V2/batch, pull, heartbeat,
// END_TRANSACTION, a few admin codes) to exercise the client, with per-code
// interception for fault injection. Servers listen on 127.0.0.1:0 and are
// closed by t.Cleanup. Not for production use.
package clienttest

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// Handler answers one request; it may return nil to send no answer.
type Handler func(req *protocol.Command) *protocol.Command

func startServer(t testing.TB, register func(s *remoting.Server, pool *remoting.Pool)) *remoting.Server {
	t.Helper()
	cfg := remoting.DefaultServerConfig()
	cfg.ListenAddr = "127.0.0.1:0"
	s, err := remoting.NewServer(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	pool := remoting.NewPool("fake", 4, 256)
	register(s, pool)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// NameServer serves GET_ROUTEINFO_BY_TOPIC from a table.
type NameServer struct {
	Addr string
	srv  *remoting.Server

	mu sync.Mutex
	// Routes by topic.
	routes map[string]*body.TopicRouteData
	// FastJSON forces the fastjson (bare integer key) encoding for every answer.
	fastJSON  bool
	requests  int
	intercept map[protocol.RequestCode]Handler
}

// StartNameServer starts an empty name server.
func StartNameServer(t testing.TB) *NameServer {
	n := &NameServer{routes: map[string]*body.TopicRouteData{}, intercept: map[protocol.RequestCode]Handler{}}
	n.srv = startServer(t, func(s *remoting.Server, pool *remoting.Pool) {
		s.RegisterDefault(remoting.ProcessorFunc(n.process), pool)
	})
	n.Addr = n.srv.Addr().String()
	return n
}

// Close stops the name server.
func (n *NameServer) Close() { _ = n.srv.Close() }

// SetRoute sets (nil: removes) a topic's route.
func (n *NameServer) SetRoute(topic string, rd *body.TopicRouteData) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if rd == nil {
		delete(n.routes, topic)
		return
	}
	n.routes[topic] = rd
}

// SetFastJSON makes every route answer use the fastjson form.
func (n *NameServer) SetFastJSON(on bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.fastJSON = on
}

// Intercept makes h answer requests with code.
func (n *NameServer) Intercept(code protocol.RequestCode, h Handler) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.intercept[code] = h
}

// Requests returns how many requests the name server has answered.
func (n *NameServer) Requests() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.requests
}

func (n *NameServer) process(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	n.mu.Lock()
	n.requests++
	h := n.intercept[req.RequestCode()]
	n.mu.Unlock()
	if h != nil {
		return h(req), nil
	}
	switch req.RequestCode() {
	case protocol.GetRouteInfoByTopic:
		var rh header.GetRouteInfo
		if err := rh.Decode(req); err != nil {
			return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
		}
		n.mu.Lock()
		rd, fast := n.routes[rh.Topic], n.fastJSON
		n.mu.Unlock()
		if rd == nil {
			return protocol.NewResponse(req, protocol.TopicNotExist, "No topic route info in name server for the topic: "+rh.Topic), nil
		}
		resp := protocol.NewResponse(req, protocol.Success, "")
		resp.Body = body.EncodeRoute(rd, !fast && (req.Version >= body.StandardJSONMinVersion || rh.AcceptStandardJSONOnly))
		return resp, nil
	case protocol.GetAllTopicListFromNameServer:
		n.mu.Lock()
		var ts []string
		for t := range n.routes {
			ts = append(ts, t)
		}
		n.mu.Unlock()
		resp := protocol.NewResponse(req, protocol.Success, "")
		resp.Body = body.EncodeTopicList(ts, "")
		return resp, nil
	case protocol.DeleteTopicInNamesrv:
		var dh header.DeleteTopicFromNamesrv
		if err := dh.Decode(req); err != nil {
			return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
		}
		n.SetRoute(dh.Topic, nil)
		return protocol.NewResponse(req, protocol.Success, ""), nil
	}
	return protocol.NewResponse(req, protocol.RequestCodeNotSupported, "fake name server: code "+strconv.Itoa(int(req.Code))), nil
}

// Route returns route data listing brokers, each with n read/write queues.
func Route(n int32, brokers ...*Broker) *body.TopicRouteData {
	rd := &body.TopicRouteData{FilterServerTable: map[string][]string{}}
	for _, b := range brokers {
		rd.QueueDatas = append(rd.QueueDatas, body.QueueData{BrokerName: b.Name, ReadQueueNums: n, WriteQueueNums: n, Perm: 6})
		rd.BrokerDatas = append(rd.BrokerDatas, &body.BrokerData{Cluster: "DefaultCluster", BrokerName: b.Name, Addrs: map[int64]string{0: b.Addr}})
	}
	return rd
}

// Broker stores sent messages in memory and serves pulls.
type Broker struct {
	Name string
	Addr string
	srv  *remoting.Server
	host netip.AddrPort

	mu         sync.Mutex
	queues     map[message.MessageQueue][][]byte // encoded records
	phys       int64
	intercept  map[protocol.RequestCode]Handler
	heartbeats []*body.HeartbeatData
	lastConn   *remoting.Conn
	requests   []*protocol.Command
	autoCreate bool
}

// StartBroker starts an empty broker named name. It auto-creates topics on send.
func StartBroker(t testing.TB, name string) *Broker {
	b := &Broker{Name: name, queues: map[message.MessageQueue][][]byte{}, intercept: map[protocol.RequestCode]Handler{}, autoCreate: true}
	b.srv = startServer(t, func(s *remoting.Server, pool *remoting.Pool) {
		s.RegisterDefault(remoting.ProcessorFunc(b.process), pool)
	})
	b.Addr = b.srv.Addr().String()
	b.host = netip.MustParseAddrPort(b.Addr)
	return b
}

// Close stops the broker.
func (b *Broker) Close() { _ = b.srv.Close() }

// Intercept makes h answer requests with code (nil h removes it).
func (b *Broker) Intercept(code protocol.RequestCode, h Handler) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if h == nil {
		delete(b.intercept, code)
		return
	}
	b.intercept[code] = h
}

// Heartbeats returns the heartbeats received so far.
func (b *Broker) Heartbeats() []*body.HeartbeatData {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*body.HeartbeatData(nil), b.heartbeats...)
}

// Requests returns the requests received with the given code.
func (b *Broker) Requests(code protocol.RequestCode) []*protocol.Command {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*protocol.Command
	for _, r := range b.requests {
		if r.RequestCode() == code {
			out = append(out, r)
		}
	}
	return out
}

// Messages returns the stored messages of a topic, decoded, in queue order.
func (b *Broker) Messages(topic string) []*message.MessageExt {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*message.MessageExt
	for q := int32(0); q < 64; q++ {
		for _, rec := range b.queues[message.MessageQueue{Topic: topic, BrokerName: b.Name, QueueID: q}] {
			m, _, err := message.DecodeMessage(rec)
			if err == nil {
				out = append(out, m)
			}
		}
	}
	return out
}

// Conn returns the connection of the last client that sent a heartbeat.
func (b *Broker) Conn() *remoting.Conn {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lastConn
}

func (b *Broker) process(_ context.Context, conn *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	b.mu.Lock()
	b.requests = append(b.requests, req)
	h := b.intercept[req.RequestCode()]
	b.mu.Unlock()
	if h != nil {
		return h(req), nil
	}
	switch req.RequestCode() {
	case protocol.SendMessage, protocol.SendMessageV2, protocol.SendBatchMessage:
		return b.send(conn, req), nil
	case protocol.PullMessage:
		return b.pull(req), nil
	case protocol.HeartBeat:
		hd, err := body.DecodeHeartbeat(req.Body)
		if err != nil {
			return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
		}
		b.mu.Lock()
		b.heartbeats = append(b.heartbeats, hd)
		b.lastConn = conn
		b.mu.Unlock()
		return protocol.NewResponse(req, protocol.Success, ""), nil
	case protocol.EndTransaction:
		return protocol.NewResponse(req, protocol.Success, ""), nil
	case protocol.GetMaxOffset:
		var h header.GetMaxOffset
		if err := h.Decode(req); err != nil {
			return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
		}
		b.mu.Lock()
		n := len(b.queues[message.MessageQueue{Topic: h.Topic, BrokerName: b.Name, QueueID: h.QueueID}])
		b.mu.Unlock()
		return header.NewResponse(req, protocol.Success, "", &header.GetMaxOffsetResponse{Offset: int64(n)}), nil
	}
	return protocol.NewResponse(req, protocol.RequestCodeNotSupported, "fake broker: code "+strconv.Itoa(int(req.Code))), nil
}

func (b *Broker) send(conn *remoting.Conn, req *protocol.Command) *protocol.Command {
	var h header.SendMessage
	if err := h.Decode(req); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error())
	}
	topic := h.Topic
	mq := message.MessageQueue{Topic: topic, BrokerName: b.Name, QueueID: h.QueueID}
	var msgs []*message.MessageExt
	if h.Batch {
		inner, err := message.DecodeBatch(req.Body)
		if err != nil {
			return protocol.NewResponse(req, protocol.MessageIllegal, err.Error())
		}
		for _, m := range inner {
			msgs = append(msgs, &message.MessageExt{Message: message.Message{Topic: topic, Flag: m.Flag, Body: m.Body, Properties: m.Properties}})
		}
	} else {
		msgs = append(msgs, &message.MessageExt{Message: message.Message{Topic: topic, Flag: h.Flag, Body: req.Body, Properties: message.DecodeProperties([]byte(h.Properties))}})
	}
	bornHost, _ := netip.ParseAddrPort(conn.RemoteAddr())
	b.mu.Lock()
	defer b.mu.Unlock()
	var ids []string
	first := int64(len(b.queues[mq]))
	for _, m := range msgs {
		m.QueueID = h.QueueID
		m.QueueOffset = message.QueueOffset(len(b.queues[mq]))
		m.PhysOffset = message.PhysOffset(b.phys)
		m.SysFlag = message.SysFlag(h.SysFlag)
		m.BornTimestamp = h.BornTimestamp
		m.BornHost = bornHost
		m.StoreHost = b.host
		m.StoreTimestamp = h.BornTimestamp
		m.SetProperty(message.PropertyCluster, "DefaultCluster")
		rec, err := message.AppendRecord(nil, m)
		if err != nil {
			return protocol.NewResponse(req, protocol.MessageIllegal, err.Error())
		}
		b.phys += int64(len(rec))
		b.queues[mq] = append(b.queues[mq], rec)
		ids = append(ids, m.OffsetMsgID())
	}
	return header.NewResponse(req, protocol.Success, "", &header.SendMessageResponse{
		MsgID: strings.Join(ids, ","), QueueID: h.QueueID, QueueOffset: first, Region: "DefaultRegion", TraceOn: true,
	})
}

func (b *Broker) pull(req *protocol.Command) *protocol.Command {
	var h header.PullMessage
	if err := h.Decode(req); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error())
	}
	mq := message.MessageQueue{Topic: h.Topic, BrokerName: b.Name, QueueID: h.QueueID}
	b.mu.Lock()
	recs := b.queues[mq]
	b.mu.Unlock()
	off, n := h.QueueOffset, int64(len(recs))
	rh := header.PullMessageResponse{MaxOffset: n}
	code := protocol.Success
	var data []byte
	switch {
	case off < 0 || off > n:
		code, rh.NextBeginOffset = protocol.PullOffsetMoved, n
	case off == n:
		code, rh.NextBeginOffset = protocol.PullNotFound, off
	default:
		end := min(n, off+int64(max(h.MaxMsgNums, 0)))
		for _, r := range recs[off:end] {
			data = append(data, r...)
		}
		rh.NextBeginOffset = end
	}
	resp := header.NewResponse(req, code, "", &rh)
	resp.Body = data
	return resp
}
