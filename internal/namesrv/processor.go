package namesrv

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
)

// handledCodes are the request codes the name server answers.
var handledCodes = []protocol.RequestCode{
	protocol.PutKVConfig,
	protocol.GetKVConfig,
	protocol.DeleteKVConfig,
	protocol.RegisterBroker,
	protocol.UnregisterBroker,
	protocol.GetRouteInfoByTopic,
	protocol.GetBrokerClusterInfo,
	protocol.WipeWritePermOfBroker,
	protocol.GetAllTopicListFromNameServer,
	protocol.DeleteTopicInNamesrv,
	protocol.GetKVListByNamespace,
	protocol.GetTopicsByCluster,
	protocol.GetSystemTopicListFromNS,
	protocol.GetUnitTopicList,
	protocol.GetHasUnitSubTopicList,
	protocol.GetHasUnitSubUnunitTopicList,
	protocol.UpdateNamesrvConfig,
	protocol.GetNamesrvConfig,
	protocol.QueryDataVersion,
	protocol.AddWritePermOfBroker,
}

// service answers name-server requests. It is the state behind Server, kept apart
// from the network so tests can call process directly.
//
// Lock order: mu and rcMu are never held together, and neither is held while the
// KV store writes its file.
type service struct {
	log *slog.Logger
	clk clock.Clock
	cfg Config // fixed after New; runtime-changeable fields live in rcMu
	kv  *kvStore

	mu struct {
		sync.RWMutex
		rt *RouteTable
	}
	rcMu struct {
		sync.Mutex
		rc runtimeConfig
	}
}

func newService(cfg Config, kv *kvStore, log *slog.Logger, clk clock.Clock) *service {
	s := &service{log: log, clk: clk, cfg: cfg, kv: kv}
	s.mu.rt = NewRouteTable()
	s.rcMu.rc = runtimeConfig{OrderMessageEnable: cfg.OrderMessageEnable, BrokerTimeout: cfg.BrokerTimeout}
	return s
}

func (s *service) runtime() runtimeConfig {
	s.rcMu.Lock()
	defer s.rcMu.Unlock()
	return s.rcMu.rc
}

// process answers one request that arrived on connection connID. It never
// returns nil and never panics on peer input.
func (s *service) process(connID uint64, req *protocol.Command) *protocol.Command {
	switch req.RequestCode() {
	case protocol.PutKVConfig:
		return s.putKV(req)
	case protocol.GetKVConfig:
		return s.getKV(req)
	case protocol.DeleteKVConfig:
		return s.deleteKV(req)
	case protocol.RegisterBroker:
		return s.registerBroker(connID, req)
	case protocol.UnregisterBroker:
		return s.unregisterBroker(req)
	case protocol.GetRouteInfoByTopic:
		return s.route(req)
	case protocol.GetBrokerClusterInfo:
		s.mu.RLock()
		ci := s.mu.rt.ClusterInfo()
		s.mu.RUnlock()
		// 106 has no header in Java; Petrel also honours the route header's
		// acceptStandardJsonOnly flag here.
		return success(req, body.EncodeClusterInfo(ci, wantsStandardJSON(req, strings.EqualFold(req.Ext("acceptStandardJsonOnly"), "true"))))
	case protocol.WipeWritePermOfBroker, protocol.AddWritePermOfBroker:
		return s.writePerm(req)
	case protocol.GetAllTopicListFromNameServer:
		s.mu.RLock()
		topics := s.mu.rt.Topics()
		s.mu.RUnlock()
		return success(req, body.EncodeTopicList(topics, ""))
	case protocol.DeleteTopicInNamesrv:
		return s.deleteTopic(req)
	case protocol.GetKVListByNamespace:
		return s.listKV(req)
	case protocol.GetTopicsByCluster:
		var h header.GetTopicsByCluster
		if resp := decode(req, &h); resp != nil {
			return resp
		}
		s.mu.RLock()
		topics := s.mu.rt.TopicsByCluster(h.Cluster)
		s.mu.RUnlock()
		return success(req, body.EncodeTopicList(topics, ""))
	case protocol.GetSystemTopicListFromNS:
		s.mu.RLock()
		topics, addr := s.mu.rt.SystemTopics()
		s.mu.RUnlock()
		return success(req, body.EncodeTopicList(topics, addr))
	case protocol.GetUnitTopicList, protocol.GetHasUnitSubTopicList, protocol.GetHasUnitSubUnunitTopicList:
		// Petrel has no unit mode: no topic carries the unit sysflags, so these
		// lists are always empty.
		return success(req, body.EncodeTopicList(nil, ""))
	case protocol.UpdateNamesrvConfig:
		return s.updateConfig(req)
	case protocol.GetNamesrvConfig:
		return success(req, configProperties(s.cfg, s.runtime()))
	case protocol.QueryDataVersion:
		return s.queryDataVersion(req)
	}
	return protocol.NewResponse(req, protocol.RequestCodeNotSupported,
		fmt.Sprintf(" request type %d not supported", req.Code))
}

func success(req *protocol.Command, body []byte) *protocol.Command {
	resp := protocol.NewResponse(req, protocol.Success, "")
	resp.Body = body
	return resp
}

func systemError(req *protocol.Command, format string, args ...any) *protocol.Command {
	return protocol.NewResponse(req, protocol.SystemError, fmt.Sprintf(format, args...))
}

// decode reads h from req's header. Beyond header's rules (a required key
// must be present, numbers must parse), a required key sent empty is refused
// too, since no name-server request can use one, unless it is in
// allowEmpty. It returns the SYSTEM_ERROR answer, or nil.
func decode(req *protocol.Command, h header.Header, allowEmpty ...string) *protocol.Command {
	if err := h.Decode(req); err != nil {
		return systemError(req, "%v", err)
	}
	for _, f := range header.Fields(h) {
		if f.Required && req.ExtFields[f.Name] == "" && !slices.Contains(allowEmpty, f.Name) {
			return systemError(req, "the custom field <%s> is empty", f.Name)
		}
	}
	return nil
}

// wantsStandardJSON applies the Java rule: standard JSON for requesters of
// version 4.9.4 or later, or that ask for it with acceptStandardJsonOnly=true.
func wantsStandardJSON(req *protocol.Command, accept bool) bool {
	return req.Version >= StandardJSONMinVersion || accept
}

func (s *service) putKV(req *protocol.Command) *protocol.Command {
	var h header.PutKVConfig
	if resp := decode(req, &h, "value"); resp != nil {
		return resp
	}
	ns, key, val := h.Namespace, h.Key, h.Value
	if err := s.kv.put(ns, key, val); err != nil {
		s.log.Error("namesrv: persist kv config", "namespace", ns, "key", key, "err", err)
		return systemError(req, "%v", err)
	}
	s.log.Info("namesrv: kv config put", "namespace", ns, "key", key, "value", val)
	return success(req, nil)
}

func (s *service) getKV(req *protocol.Command) *protocol.Command {
	var h header.GetKVConfig
	if resp := decode(req, &h); resp != nil {
		return resp
	}
	ns, key := h.Namespace, h.Key
	v, ok := s.kv.get(ns, key)
	if !ok {
		return protocol.NewResponse(req, protocol.QueryNotFound,
			fmt.Sprintf("No config item, Namespace: %s Key: %s", ns, key))
	}
	resp := success(req, nil)
	header.GetKVConfigResponse{Value: v}.Encode(resp)
	return resp
}

func (s *service) deleteKV(req *protocol.Command) *protocol.Command {
	var h header.DeleteKVConfig
	if resp := decode(req, &h); resp != nil {
		return resp
	}
	ns, key := h.Namespace, h.Key
	if err := s.kv.delete(ns, key); err != nil {
		s.log.Error("namesrv: persist kv config", "namespace", ns, "key", key, "err", err)
		return systemError(req, "%v", err)
	}
	s.log.Info("namesrv: kv config deleted", "namespace", ns, "key", key)
	return success(req, nil)
}

func (s *service) listKV(req *protocol.Command) *protocol.Command {
	var h header.GetKVListByNamespace
	if resp := decode(req, &h); resp != nil {
		return resp
	}
	ns := h.Namespace
	table, ok := s.kv.list(ns)
	if !ok {
		return protocol.NewResponse(req, protocol.QueryNotFound, fmt.Sprintf("No config item, Namespace: %s", ns))
	}
	return success(req, body.EncodeKVTable(table))
}

func (s *service) registerBroker(connID uint64, req *protocol.Command) *protocol.Command {
	var h header.RegisterBroker
	if resp := decode(req, &h, "haServerAddr"); resp != nil {
		return resp
	}
	cluster, addr, name, id := h.ClusterName, h.BrokerAddr, h.BrokerName, h.BrokerID
	// 0 disables the check. Java masks the CRC to 31 bits.
	if want := h.BodyCRC32; want != 0 && int32(crc32.ChecksumIEEE(req.Body)&0x7fffffff) != want {
		s.log.Warn("namesrv: register body crc32 mismatch", "broker", name, "addr", addr, "want", want)
		return systemError(req, "crc32 not match")
	}
	rb, err := body.DecodeRegisterBody(req.Body, h.Compressed)
	if err != nil {
		return systemError(req, "%v", err)
	}
	reg := Registration{
		Cluster:       cluster,
		BrokerAddr:    addr,
		BrokerName:    name,
		BrokerID:      id,
		HAServerAddr:  h.HAServerAddr,
		Topics:        rb.Topics,
		FilterServers: rb.FilterServers,
		ConnID:        connID,
	}
	s.mu.Lock()
	res := s.mu.rt.Register(reg, s.clk.Now())
	s.mu.Unlock()

	if res.NewAddr {
		s.log.Info("namesrv: broker registered", "cluster", cluster, "broker", name, "addr", addr,
			"brokerId", id, "haServerAddr", reg.HAServerAddr, "topics", len(rb.Topics.TopicConfigTable), "conn", connID)
	}
	resp := success(req, nil)
	if res.MasterAddr != "" {
		header.RegisterBrokerResponse{HAServerAddr: res.HAServerAddr, MasterAddr: res.MasterAddr}.Encode(resp)
	}
	if table, ok := s.kv.list(NamespaceOrderTopicConfig); ok {
		resp.Body = body.EncodeKVTable(table)
	}
	return resp
}

func (s *service) unregisterBroker(req *protocol.Command) *protocol.Command {
	var h header.UnregisterBroker
	if resp := decode(req, &h); resp != nil {
		return resp
	}
	cluster, addr, name, id := h.ClusterName, h.BrokerAddr, h.BrokerName, h.BrokerID
	s.mu.Lock()
	s.mu.rt.Unregister(cluster, addr, name, id)
	s.mu.Unlock()
	s.log.Info("namesrv: broker unregistered", "cluster", cluster, "broker", name, "addr", addr, "brokerId", id)
	return success(req, nil)
}

func (s *service) route(req *protocol.Command) *protocol.Command {
	var h header.GetRouteInfo
	if resp := decode(req, &h); resp != nil {
		return resp
	}
	topic := h.Topic
	s.mu.RLock()
	rd, ok := s.mu.rt.Route(topic)
	s.mu.RUnlock()
	if !ok {
		return protocol.NewResponse(req, protocol.TopicNotExist,
			"No topic route info in name server for the topic: "+topic)
	}
	if s.runtime().OrderMessageEnable {
		if conf, ok := s.kv.get(NamespaceOrderTopicConfig, topic); ok {
			rd.OrderTopicConf = conf
		}
	}
	return success(req, body.EncodeRoute(rd, wantsStandardJSON(req, h.AcceptStandardJSONOnly)))
}

func (s *service) writePerm(req *protocol.Command) *protocol.Command {
	resp := success(req, nil)
	if req.RequestCode() == protocol.WipeWritePermOfBroker {
		var h header.WipeWritePermOfBroker
		if resp := decode(req, &h); resp != nil {
			return resp
		}
		s.mu.Lock()
		n := s.mu.rt.WipeWritePerm(h.BrokerName)
		s.mu.Unlock()
		header.WipeWritePermOfBrokerResponse{WipeTopicCount: int32(n)}.Encode(resp)
		s.log.Info("namesrv: wiped write perm", "broker", h.BrokerName, "topics", n)
		return resp
	}
	var h header.AddWritePermOfBroker
	if resp := decode(req, &h); resp != nil {
		return resp
	}
	s.mu.Lock()
	n := s.mu.rt.AddWritePerm(h.BrokerName)
	s.mu.Unlock()
	header.AddWritePermOfBrokerResponse{AddTopicCount: int32(n)}.Encode(resp)
	s.log.Info("namesrv: added write perm", "broker", h.BrokerName, "topics", n)
	return resp
}

func (s *service) deleteTopic(req *protocol.Command) *protocol.Command {
	var h header.DeleteTopicFromNamesrv
	if resp := decode(req, &h); resp != nil {
		return resp
	}
	topic, cluster := h.Topic, h.ClusterName
	s.mu.Lock()
	s.mu.rt.DeleteTopic(topic, cluster)
	s.mu.Unlock()
	s.log.Info("namesrv: topic deleted", "topic", topic, "cluster", cluster)
	return success(req, nil)
}

func (s *service) queryDataVersion(req *protocol.Command) *protocol.Command {
	var h header.QueryDataVersion
	if resp := decode(req, &h); resp != nil {
		return resp
	}
	addr := h.BrokerAddr
	var dv DataVersion
	if err := json.Unmarshal(req.Body, &dv); err != nil {
		return systemError(req, "bad DataVersion body: %v", err)
	}
	s.mu.Lock()
	changed, stored := s.mu.rt.QueryDataVersion(addr, dv, s.clk.Now())
	s.mu.Unlock()
	resp := success(req, nil)
	header.QueryDataVersionResponse{Changed: changed}.Encode(resp)
	if stored != nil {
		resp.Body, _ = json.Marshal(stored) // two int64s always marshal
	}
	return resp
}

func (s *service) updateConfig(req *protocol.Command) *protocol.Command {
	s.rcMu.Lock()
	rc, err := applyConfigUpdate(req.Body, s.rcMu.rc)
	if err == nil {
		s.rcMu.rc = rc
	}
	s.rcMu.Unlock()
	if err != nil {
		return systemError(req, "update namesrv config: %v", err)
	}
	s.log.Info("namesrv: config updated", "orderMessageEnable", rc.OrderMessageEnable, "brokerTimeout", rc.BrokerTimeout)
	return success(req, nil)
}

// scan runs one liveness scan and logs what it dropped.
func (s *service) scan() {
	timeout := s.runtime().BrokerTimeout
	s.mu.Lock()
	dropped := s.mu.rt.Scan(s.clk.Now(), timeout)
	s.mu.Unlock()
	for _, d := range dropped {
		s.log.Warn("namesrv: broker expired, dropped", "addr", d.Addr, "lastUpdate", d.LastUpdate,
			"timeout", timeout, "conn", d.ConnID, "removedBrokers", d.RemovedNames)
	}
}

// connClosed drops the brokers registered on connection connID.
func (s *service) connClosed(connID uint64, remote string) {
	s.mu.Lock()
	dropped := s.mu.rt.ConnClosed(connID)
	s.mu.Unlock()
	for _, d := range dropped {
		s.log.Info("namesrv: broker connection closed, dropped", "addr", d.Addr, "conn", connID,
			"remote", remote, "removedBrokers", d.RemovedNames)
	}
}
