package clienttest

import (
	"context"
	"encoding/json"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

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
	pool := remoting.NewPool("fake", 16, 256)
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

// Route returns route data listing brokers, each broker name with n
// read/write queues; brokers sharing a name (a master and its slaves) are one
// entry whose addresses are keyed by broker id. A route listing only a
// slave is how a name server shows a broker whose master is down.
func Route(n int32, brokers ...*Broker) *body.TopicRouteData {
	rd := &body.TopicRouteData{FilterServerTable: map[string][]string{}}
	byName := map[string]*body.BrokerData{}
	for _, b := range brokers {
		if bd := byName[b.Name]; bd != nil {
			bd.Addrs[b.ID] = b.Addr
			continue
		}
		rd.QueueDatas = append(rd.QueueDatas, body.QueueData{BrokerName: b.Name, ReadQueueNums: n, WriteQueueNums: n, Perm: 6})
		bd := &body.BrokerData{Cluster: "DefaultCluster", BrokerName: b.Name, Addrs: map[int64]string{b.ID: b.Addr}}
		byName[b.Name] = bd
		rd.BrokerDatas = append(rd.BrokerDatas, bd)
	}
	return rd
}

// clientEntry is a client's last heartbeat and the connection it came on: a
// client counts as a group member while that connection is open.
type clientEntry struct {
	hd   *body.HeartbeatData
	conn *remoting.Conn
}

// Broker stores sent messages in memory and serves pulls. A slave (see
// StartSlave) serves its master's messages and refuses sends. Each broker
// keeps its own consumer offsets, as real brokers do until they sync.
type Broker struct {
	Name string
	// ID is the broker id: 0 for a master, > 0 for a slave.
	ID   int64
	Addr string
	srv  *remoting.Server
	host netip.AddrPort
	// master is the broker whose messages a slave serves; nil for a master.
	master *Broker
	done   chan struct{} // closed when the broker stops: ends pull holds

	mu         sync.Mutex
	queues     map[message.MessageQueue][][]byte // encoded records
	phys       int64
	stored     chan struct{} // closed and replaced when a message is stored
	intercept  map[protocol.RequestCode]Handler
	heartbeats []*body.HeartbeatData
	clients    map[string]clientEntry // by client id
	offsets    map[string]map[message.MessageQueue]int64
	suggest    int64
	sendCode   protocol.ResponseCode // the code of send answers: success, or 10/11/12 (stored, not confirmed)
	lastConn   *remoting.Conn
	requests   []*protocol.Command
	autoCreate bool
}

// StartBroker starts an empty master broker (id 0) named name. It
// auto-creates topics on send.
func StartBroker(t testing.TB, name string) *Broker {
	return startBroker(t, name, 0, nil)
}

// StartSlave starts a slave of master with the given id (> 0): same broker
// name, the master's messages (as if replicated at once), its own consumer
// offsets. It refuses sends. Its pull answers suggest the master (id 0)
// until SetSuggestBrokerID says otherwise.
func StartSlave(t testing.TB, master *Broker, id int64) *Broker {
	if id <= 0 {
		t.Fatalf("clienttest: slave id %d must be positive", id)
	}
	return startBroker(t, master.Name, id, master)
}

func startBroker(t testing.TB, name string, id int64, master *Broker) *Broker {
	b := &Broker{Name: name, ID: id, master: master, done: make(chan struct{}), queues: map[message.MessageQueue][][]byte{},
		stored: make(chan struct{}), intercept: map[protocol.RequestCode]Handler{}, clients: map[string]clientEntry{},
		offsets: map[string]map[message.MessageQueue]int64{}, autoCreate: true}
	b.srv = startServer(t, func(s *remoting.Server, pool *remoting.Pool) {
		s.RegisterDefault(remoting.ProcessorFunc(b.process), pool)
	})
	t.Cleanup(b.stop) // runs before the server's own clean-up: held pulls end first
	b.Addr = b.srv.Addr().String()
	b.host = netip.MustParseAddrPort(b.Addr)
	return b
}

func (b *Broker) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-b.done:
	default:
		close(b.done)
	}
}

// Close stops the broker.
func (b *Broker) Close() {
	b.stop()
	_ = b.srv.Close()
}

// data is the broker whose messages b serves: itself, or a slave's master.
func (b *Broker) data() *Broker {
	if b.master != nil {
		return b.master
	}
	return b
}

// SetSuggestBrokerID sets the suggestWhichBrokerId of the broker's pull
// answers (default 0, the master): a master suggests a slave's id when a
// consumer is far behind and slave reads are enabled.
func (b *Broker) SetSuggestBrokerID(id int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.suggest = id
}

// SetSendStatus makes the broker answer sends that it stores with code:
// protocol.Success (the default), or FlushDiskTimeout (10),
// SlaveNotAvailable (11) or FlushSlaveTimeout (12), the answers of a broker
// that stored the message but whose flush or replication did not confirm.
func (b *Broker) SetSendStatus(code protocol.ResponseCode) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sendCode = code
}

// ConsumerOffset returns the offset this broker stores for a group's queue
// (UPDATE_CONSUMER_OFFSET, or the commit offset of a pull to a master).
func (b *Broker) ConsumerOffset(group string, mq message.MessageQueue) (int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	off, ok := b.offsets[group][mq]
	return off, ok
}

// SetConsumerOffset stores an offset for a group's queue.
func (b *Broker) SetConsumerOffset(group string, mq message.MessageQueue, off int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.setOffsetLocked(group, mq, off)
}

func (b *Broker) setOffsetLocked(group string, mq message.MessageQueue, off int64) {
	if b.offsets[group] == nil {
		b.offsets[group] = map[message.MessageQueue]int64{}
	}
	b.offsets[group][mq] = off
}

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

// Messages returns the stored messages of a topic, decoded, in queue order
// (a slave's are its master's).
func (b *Broker) Messages(topic string) []*message.MessageExt {
	b = b.data()
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
		if b.master != nil {
			return protocol.NewResponse(req, protocol.ServiceNotAvailable, "fake broker: a slave refuses sends"), nil
		}
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
		b.clients[hd.ClientID] = clientEntry{hd: hd, conn: conn}
		b.lastConn = conn
		b.mu.Unlock()
		return protocol.NewResponse(req, protocol.Success, ""), nil
	case protocol.GetConsumerListByGroup, protocol.QueryConsumerOffset, protocol.UpdateConsumerOffset, protocol.GetMinOffset:
		return b.consumerCall(req), nil
	case protocol.EndTransaction:
		return protocol.NewResponse(req, protocol.Success, ""), nil
	case protocol.GetMaxOffset:
		var h header.GetMaxOffset
		if err := h.Decode(req); err != nil {
			return protocol.NewResponse(req, protocol.SystemError, err.Error()), nil
		}
		d := b.data()
		d.mu.Lock()
		n := len(d.queues[message.MessageQueue{Topic: h.Topic, BrokerName: b.Name, QueueID: h.QueueID}])
		d.mu.Unlock()
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
	close(b.stored) // wake held pulls
	b.stored = make(chan struct{})
	return header.NewResponse(req, b.sendCode, "", &header.SendMessageResponse{
		MsgID: strings.Join(ids, ","), QueueID: h.QueueID, QueueOffset: first, Region: "DefaultRegion", TraceOn: true,
	})
}

// maxPullHold bounds how long the fake broker holds a pull that found
// nothing (the request's suspendTimeoutMillis, at most this).
const maxPullHold = time.Second

func (b *Broker) pull(req *protocol.Command) *protocol.Command {
	var h header.PullMessage
	if err := h.Decode(req); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error())
	}
	off, suspend := h.QueueOffset, h.SuspendTimeoutMillis
	mq := message.MessageQueue{Topic: h.Topic, BrokerName: b.Name, QueueID: h.QueueID}
	b.mu.Lock()
	suggest := b.suggest
	if h.SysFlag&0x1 != 0 && b.master == nil { // a master stores the commit offset; a slave ignores it
		b.setOffsetLocked(h.ConsumerGroup, mq, h.CommitOffset)
	}
	b.mu.Unlock()
	d := b.data()
	d.mu.Lock()
	recs, stored := d.queues[mq], d.stored
	d.mu.Unlock()
	if off == int64(len(recs)) && suspend > 0 {
		hold := time.NewTimer(min(time.Duration(suspend)*time.Millisecond, maxPullHold))
		select {
		case <-stored:
		case <-hold.C:
		case <-b.done:
		}
		hold.Stop()
		d.mu.Lock()
		recs = d.queues[mq]
		d.mu.Unlock()
	}
	n := int64(len(recs))
	rh := header.PullMessageResponse{MaxOffset: n, SuggestWhichBrokerID: suggest}
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

// consumerCall answers the consumer-group calls: members, offsets.
func (b *Broker) consumerCall(req *protocol.Command) *protocol.Command {
	resp := protocol.NewResponse(req, protocol.Success, "")
	fail := func(err error) *protocol.Command { return protocol.NewResponse(req, protocol.SystemError, err.Error()) }
	b.mu.Lock()
	defer b.mu.Unlock()
	switch req.RequestCode() {
	case protocol.GetConsumerListByGroup:
		var h header.GetConsumerListByGroup
		if err := h.Decode(req); err != nil {
			return fail(err)
		}
		group := h.ConsumerGroup
		ids := []string{}
		for id, e := range b.clients {
			select {
			case <-e.conn.Closed():
				continue // the client is gone
			default:
			}
			for _, cd := range e.hd.ConsumerDataSet {
				if cd.GroupName == group {
					ids = append(ids, id)
					break
				}
			}
		}
		sort.Strings(ids)
		resp.Body, _ = json.Marshal(body.GetConsumerListByGroupResponseBody{ConsumerIDList: ids})
	case protocol.QueryConsumerOffset:
		var h header.QueryConsumerOffset
		if err := h.Decode(req); err != nil {
			return fail(err)
		}
		off, ok := b.offsets[h.ConsumerGroup][b.queue(h.Topic, h.QueueID)]
		if !ok {
			return protocol.NewResponse(req, protocol.QueryNotFound, "fake broker: no offset")
		}
		header.QueryConsumerOffsetResponse{Offset: off}.Encode(resp)
	case protocol.UpdateConsumerOffset:
		var h header.UpdateConsumerOffset
		if err := h.Decode(req); err != nil {
			return fail(err)
		}
		b.setOffsetLocked(h.ConsumerGroup, b.queue(h.Topic, h.QueueID), h.CommitOffset)
	case protocol.GetMinOffset:
		var h header.GetMinOffset
		if err := h.Decode(req); err != nil {
			return fail(err)
		}
		header.GetMinOffsetResponse{Offset: 0}.Encode(resp)
	}
	return resp
}

// queue returns this broker's queue of a topic.
func (b *Broker) queue(topic string, id int32) message.MessageQueue {
	return message.MessageQueue{Topic: topic, BrokerName: b.Name, QueueID: id}
}
