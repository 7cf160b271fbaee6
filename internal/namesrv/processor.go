package namesrv

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
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
		return success(req, body.EncodeClusterInfo(ci, wantsStandardJSON(req)))
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
		if resp := need(req, "cluster"); resp != nil {
			return resp
		}
		s.mu.RLock()
		topics := s.mu.rt.TopicsByCluster(req.Ext("cluster"))
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

// need returns an error response naming the first of keys that is absent or empty
// in req's header, or nil.
func need(req *protocol.Command, keys ...string) *protocol.Command {
	for _, k := range keys {
		if req.Ext(k) == "" {
			return systemError(req, "missing required header field %q", k)
		}
	}
	return nil
}

// needPresent is need for fields that may be empty but must be sent.
func needPresent(req *protocol.Command, keys ...string) *protocol.Command {
	for _, k := range keys {
		if _, ok := req.ExtFields[k]; !ok {
			return systemError(req, "missing required header field %q", k)
		}
	}
	return nil
}

// wantsStandardJSON applies the Java rule: standard JSON for requesters of
// version 4.9.4 or later, or that ask for it with acceptStandardJsonOnly=true.
func wantsStandardJSON(req *protocol.Command) bool {
	return req.Version >= StandardJSONMinVersion || strings.EqualFold(req.Ext("acceptStandardJsonOnly"), "true")
}

// parseBool reads a boolean header as Java's Boolean.parseBoolean does: "true" in
// any case is true, anything else false.
func parseBool(s string) bool { return strings.EqualFold(s, "true") }

func (s *service) putKV(req *protocol.Command) *protocol.Command {
	if resp := need(req, "namespace", "key"); resp != nil {
		return resp
	}
	if resp := needPresent(req, "value"); resp != nil {
		return resp
	}
	ns, key, val := req.Ext("namespace"), req.Ext("key"), req.Ext("value")
	if err := s.kv.put(ns, key, val); err != nil {
		s.log.Error("namesrv: persist kv config", "namespace", ns, "key", key, "err", err)
		return systemError(req, "%v", err)
	}
	s.log.Info("namesrv: kv config put", "namespace", ns, "key", key, "value", val)
	return success(req, nil)
}

func (s *service) getKV(req *protocol.Command) *protocol.Command {
	if resp := need(req, "namespace", "key"); resp != nil {
		return resp
	}
	ns, key := req.Ext("namespace"), req.Ext("key")
	v, ok := s.kv.get(ns, key)
	if !ok {
		return protocol.NewResponse(req, protocol.QueryNotFound,
			fmt.Sprintf("No config item, Namespace: %s Key: %s", ns, key))
	}
	resp := success(req, nil)
	resp.SetExt("value", v)
	return resp
}

func (s *service) deleteKV(req *protocol.Command) *protocol.Command {
	if resp := need(req, "namespace", "key"); resp != nil {
		return resp
	}
	ns, key := req.Ext("namespace"), req.Ext("key")
	if err := s.kv.delete(ns, key); err != nil {
		s.log.Error("namesrv: persist kv config", "namespace", ns, "key", key, "err", err)
		return systemError(req, "%v", err)
	}
	s.log.Info("namesrv: kv config deleted", "namespace", ns, "key", key)
	return success(req, nil)
}

func (s *service) listKV(req *protocol.Command) *protocol.Command {
	if resp := need(req, "namespace"); resp != nil {
		return resp
	}
	ns := req.Ext("namespace")
	table, ok := s.kv.list(ns)
	if !ok {
		return protocol.NewResponse(req, protocol.QueryNotFound, fmt.Sprintf("No config item, Namespace: %s", ns))
	}
	return success(req, body.EncodeKVTable(table))
}

// brokerHeader reads the fields REGISTER_BROKER, UNREGISTER_BROKER and
// QUERY_DATA_VERSION share.
func brokerHeader(req *protocol.Command) (cluster, addr, name string, id int64, resp *protocol.Command) {
	if resp := need(req, "brokerName", "brokerAddr", "clusterName", "brokerId"); resp != nil {
		return "", "", "", 0, resp
	}
	id, err := strconv.ParseInt(req.Ext("brokerId"), 10, 64)
	if err != nil {
		return "", "", "", 0, systemError(req, "bad brokerId %q: not an integer", req.Ext("brokerId"))
	}
	return req.Ext("clusterName"), req.Ext("brokerAddr"), req.Ext("brokerName"), id, nil
}

func (s *service) registerBroker(connID uint64, req *protocol.Command) *protocol.Command {
	cluster, addr, name, id, resp := brokerHeader(req)
	if resp != nil {
		return resp
	}
	if resp := needPresent(req, "haServerAddr"); resp != nil {
		return resp
	}
	if v := req.Ext("bodyCrc32"); v != "" {
		want, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return systemError(req, "bad bodyCrc32 %q: not an integer", v)
		}
		// 0 disables the check. Java masks the CRC to 31 bits.
		if want != 0 && int64(crc32.ChecksumIEEE(req.Body)&0x7fffffff) != want {
			s.log.Warn("namesrv: register body crc32 mismatch", "broker", name, "addr", addr, "want", want)
			return systemError(req, "crc32 not match")
		}
	}
	rb, err := body.DecodeRegisterBody(req.Body, parseBool(req.Ext("compressed")))
	if err != nil {
		return systemError(req, "%v", err)
	}
	reg := Registration{
		Cluster:       cluster,
		BrokerAddr:    addr,
		BrokerName:    name,
		BrokerID:      id,
		HAServerAddr:  req.Ext("haServerAddr"),
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
	resp = success(req, nil)
	if res.MasterAddr != "" {
		resp.SetExt("haServerAddr", res.HAServerAddr)
		resp.SetExt("masterAddr", res.MasterAddr)
	}
	if table, ok := s.kv.list(NamespaceOrderTopicConfig); ok {
		resp.Body = body.EncodeKVTable(table)
	}
	return resp
}

func (s *service) unregisterBroker(req *protocol.Command) *protocol.Command {
	cluster, addr, name, id, resp := brokerHeader(req)
	if resp != nil {
		return resp
	}
	s.mu.Lock()
	s.mu.rt.Unregister(cluster, addr, name, id)
	s.mu.Unlock()
	s.log.Info("namesrv: broker unregistered", "cluster", cluster, "broker", name, "addr", addr, "brokerId", id)
	return success(req, nil)
}

func (s *service) route(req *protocol.Command) *protocol.Command {
	if resp := need(req, "topic"); resp != nil {
		return resp
	}
	topic := req.Ext("topic")
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
	return success(req, body.EncodeRoute(rd, wantsStandardJSON(req)))
}

func (s *service) writePerm(req *protocol.Command) *protocol.Command {
	if resp := need(req, "brokerName"); resp != nil {
		return resp
	}
	name := req.Ext("brokerName")
	resp := success(req, nil)
	s.mu.Lock()
	if req.RequestCode() == protocol.WipeWritePermOfBroker {
		n := s.mu.rt.WipeWritePerm(name)
		s.mu.Unlock()
		resp.SetExt("wipeTopicCount", strconv.Itoa(n))
		s.log.Info("namesrv: wiped write perm", "broker", name, "topics", n)
	} else {
		n := s.mu.rt.AddWritePerm(name)
		s.mu.Unlock()
		resp.SetExt("addTopicCount", strconv.Itoa(n))
		s.log.Info("namesrv: added write perm", "broker", name, "topics", n)
	}
	return resp
}

func (s *service) deleteTopic(req *protocol.Command) *protocol.Command {
	if resp := need(req, "topic"); resp != nil {
		return resp
	}
	topic, cluster := req.Ext("topic"), req.Ext("clusterName")
	s.mu.Lock()
	s.mu.rt.DeleteTopic(topic, cluster)
	s.mu.Unlock()
	s.log.Info("namesrv: topic deleted", "topic", topic, "cluster", cluster)
	return success(req, nil)
}

func (s *service) queryDataVersion(req *protocol.Command) *protocol.Command {
	_, addr, _, _, resp := brokerHeader(req)
	if resp != nil {
		return resp
	}
	var dv DataVersion
	if err := json.Unmarshal(req.Body, &dv); err != nil {
		return systemError(req, "bad DataVersion body: %v", err)
	}
	s.mu.Lock()
	changed, stored := s.mu.rt.QueryDataVersion(addr, dv, s.clk.Now())
	s.mu.Unlock()
	resp = success(req, nil)
	resp.SetExt("changed", strconv.FormatBool(changed))
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
