package controller

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// handledCodes are the request codes a controller serves.
var handledCodes = []protocol.RequestCode{
	protocol.ControllerRegisterBroker, protocol.BrokerHeartbeat, protocol.ControllerAlterSyncStateSet,
	protocol.ControllerElectMaster, protocol.ControllerGetReplicaInfo, protocol.ControllerGetSyncStateData,
	protocol.ControllerGetMetadataInfo, protocol.CleanBrokerData,
}

func (s *Server) registerProcessors(rs *remoting.Server) {
	pool := remoting.NewPool("controller", s.cfg.Workers, s.cfg.QueueSize)
	p := remoting.ProcessorFunc(func(_ context.Context, c *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
		return s.process(c, req), nil
	})
	for _, code := range handledCodes {
		rs.Register(code, p, pool)
	}
}

// process answers one request. Every code but CONTROLLER_GET_METADATA_INFO
// is served by the leader only; the others answer CONTROLLER_NOT_LEADER with
// the leader's id and address when they know it.
func (s *Server) process(c *remoting.Conn, req *protocol.Command) *protocol.Command {
	if req.RequestCode() == protocol.ControllerGetMetadataInfo {
		return s.getMetadata(req)
	}
	if !s.ready.Load() {
		return s.notLeader(req)
	}
	switch req.RequestCode() {
	case protocol.ControllerRegisterBroker:
		return s.registerBroker(c, req)
	case protocol.BrokerHeartbeat:
		return s.heartbeat(c, req)
	case protocol.ControllerAlterSyncStateSet:
		return s.alterSyncStateSet(req)
	case protocol.ControllerElectMaster:
		return s.electMaster(req)
	case protocol.ControllerGetReplicaInfo:
		return s.getReplicaInfo(req)
	case protocol.ControllerGetSyncStateData:
		return s.getSyncStateData(req)
	case protocol.CleanBrokerData:
		return s.cleanBrokerData(req)
	}
	return protocol.NewResponse(req, protocol.RequestCodeNotSupported, "controller: request code not supported")
}

func errorResponse(req *protocol.Command, err error) *protocol.Command {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return protocol.NewResponse(req, pe.Code, pe.Remark)
	}
	return protocol.NewResponse(req, protocol.SystemError, err.Error())
}

func invalidRequest(req *protocol.Command, err error) *protocol.Command {
	return protocol.NewResponse(req, protocol.ControllerInvalidRequest, err.Error())
}

// leaderHint returns the leader's id and address as this controller knows
// them ("" when it does not).
func (s *Server) leaderHint() (string, string) {
	addr, id := s.raft.LeaderWithID()
	return string(id), string(addr)
}

// notLeader answers CONTROLLER_NOT_LEADER, naming the leader if known.
func (s *Server) notLeader(req *protocol.Command) *protocol.Command {
	id, addr := s.leaderHint()
	remark := "controller " + s.self.ID + " is not the leader"
	if addr != "" {
		remark += "; the leader is " + id + " at " + addr
	}
	return header.NewResponse(req, protocol.ControllerNotLeader, remark, &header.ControllerMetadata{
		Group: s.cfg.Group, ControllerLeaderID: id, ControllerLeaderAddress: addr, Peers: s.rocketmqPeers(),
	})
}

// rocketmqPeers renders the peers as RocketMQ's GetMetaDataResponseHeader
// does: "id:host:port;" each.
func (s *Server) rocketmqPeers() string {
	var b strings.Builder
	for _, p := range s.cfg.Peers {
		b.WriteString(p.ID + ":" + p.Addr + ";")
	}
	return b.String()
}

// replicaInfoResponse answers with the state of set k: the header
// BrokerSetState and the body ReplicaInfo.
func (s *Server) replicaInfoResponse(req *protocol.Command, k SetKey) *protocol.Command {
	s.mu.Lock()
	info, err := s.core.Info(k, s.clk.Now())
	s.mu.Unlock()
	if err != nil {
		return errorResponse(req, err)
	}
	resp := header.NewResponse(req, protocol.Success, "", stateHeader(info))
	resp.Body = mustJSON(info)
	return resp
}

func stateHeader(info body.ReplicaInfo) *header.BrokerSetState {
	return &header.BrokerSetState{
		MasterBrokerID: info.MasterBrokerID, MasterAddress: info.MasterAddress, MasterHAAddress: info.MasterHAAddress,
		MasterEpoch: info.MasterEpoch, SyncStateSetEpoch: info.SyncStateSetEpoch,
	}
}

// roleChangedRequest is the NOTIFY_BROKER_ROLE_CHANGED request for info.
func roleChangedRequest(info body.ReplicaInfo) *protocol.Command {
	req := header.NewRequest(protocol.NotifyBrokerRoleChanged, stateHeader(info))
	req.Body = mustJSON(info)
	return req
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("controller: encode body: " + err.Error()) // plain data; cannot fail
	}
	return b
}

// confirm waits until this controller is known to still lead, so that an
// answer confirming a broker's role cannot come from a deposed leader: a new
// leader can only be elected after this point, and it counts every replica
// alive for a full timeout after it takes over.
func (s *Server) confirm() error {
	return s.raft.VerifyLeader().Error()
}

func millis(ms int64) time.Duration {
	if ms <= 0 {
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}

func requireFields(fields ...string) error {
	names := []string{"clusterName", "brokerName", "brokerAddress"}
	for i, f := range fields {
		if f == "" {
			return errors.New("the custom field <" + names[i] + "> is empty")
		}
	}
	return nil
}

// electAfter runs the automatic election of k (a registration or heartbeat
// may give a set without master a candidate) and notifies on a change.
func (s *Server) electAfter(k SetKey) {
	s.mu.Lock()
	cmd := s.core.DecideElection(k, s.clk.Now())
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	r, err := s.propose(*cmd)
	if err == nil && r.Err == nil && r.MasterChanged {
		s.log.Info("controller: elected", "set", k.String(), "master", cmd.Elect.NewMaster, "epoch", r.Set.Epoch,
			"reason", cmd.Elect.Reason, "unclean", cmd.Elect.Unclean)
		s.notifyRoleChanged(k)
	}
}

func (s *Server) registerBroker(c *remoting.Conn, req *protocol.Command) *protocol.Command {
	var h header.ControllerRegisterBroker
	if err := h.Decode(req); err != nil {
		return invalidRequest(req, err)
	}
	if err := requireFields(h.ClusterName, h.BrokerName, h.BrokerAddress); err != nil {
		return invalidRequest(req, err)
	}
	if h.BrokerID < 0 {
		return invalidRequest(req, errors.New("brokerId must not be negative"))
	}
	k := SetKey{h.ClusterName, h.BrokerName}
	rk := ReplicaKey{k, h.BrokerID}
	rep := Report{Addr: h.BrokerAddress, Epoch: h.Epoch, MaxOffset: h.MaxOffset, ConfirmOffset: h.ConfirmOffset,
		Timeout: millis(h.HeartbeatTimeoutMillis)}
	s.mu.Lock()
	cmd := s.core.Register(k, Replica{ID: h.BrokerID, Addr: h.BrokerAddress, HAAddr: h.HAServerAddr, Priority: h.ElectionPriority},
		rep, s.clk.Now())
	s.conns[rk] = c
	s.mu.Unlock()
	if cmd != nil {
		r, err := s.propose(*cmd)
		if err != nil {
			return s.raftErrorResponse(req, err)
		}
		if r.Err != nil {
			return errorResponse(req, r.Err)
		}
		s.log.Info("controller: broker registered", "set", k.String(), "brokerId", h.BrokerID, "addr", h.BrokerAddress)
	}
	s.electAfter(k)
	if err := s.confirm(); err != nil {
		return s.raftErrorResponse(req, err)
	}
	return s.replicaInfoResponse(req, k)
}

func (s *Server) heartbeat(c *remoting.Conn, req *protocol.Command) *protocol.Command {
	var h header.BrokerHeartbeat
	if err := h.Decode(req); err != nil {
		return invalidRequest(req, err)
	}
	k := SetKey{h.ClusterName, h.BrokerName}
	rk := ReplicaKey{k, h.BrokerID}
	rep := Report{Addr: h.BrokerAddr, Epoch: h.Epoch, MaxOffset: h.MaxOffset, ConfirmOffset: h.ConfirmOffset,
		Timeout: millis(h.HeartbeatTimeoutMills)}
	s.mu.Lock()
	err := s.core.Heartbeat(rk, rep, s.clk.Now())
	noMaster := false
	if err == nil {
		s.conns[rk] = c
		bs := s.core.State.sets[k]
		noMaster = bs.Master == NoMaster
	}
	s.mu.Unlock()
	if err != nil {
		return errorResponse(req, err)
	}
	if noMaster {
		s.electAfter(k)
	}
	if err := s.confirm(); err != nil {
		return s.raftErrorResponse(req, err)
	}
	return s.replicaInfoResponse(req, k)
}

func (s *Server) alterSyncStateSet(req *protocol.Command) *protocol.Command {
	var h header.ControllerAlterSyncStateSet
	if err := h.Decode(req); err != nil {
		return invalidRequest(req, err)
	}
	var ss body.SyncStateSet
	if err := body.DecodeJSON("SyncStateSet", req.Body, &ss); err != nil {
		return invalidRequest(req, err)
	}
	k := SetKey{h.ClusterName, h.BrokerName}
	s.mu.Lock()
	cmd, err := s.core.DecideAlter(k, AlterCmd{Master: h.MasterBrokerID, MasterEpoch: h.MasterEpoch,
		SyncStateSetEpoch: ss.SyncStateSetEpoch, NewSyncStateSet: ss.SyncStateSet}, s.clk.Now())
	s.mu.Unlock()
	if err != nil {
		return errorResponse(req, err)
	}
	if cmd != nil {
		r, err := s.propose(*cmd)
		if err != nil {
			return s.raftErrorResponse(req, err)
		}
		if r.Err != nil {
			return errorResponse(req, r.Err)
		}
		s.log.Info("controller: SyncStateSet changed", "set", k.String(), "syncStateSet", r.Set.SyncStateSet,
			"syncStateSetEpoch", r.Set.SyncStateSetEpoch)
	}
	return s.replicaInfoResponse(req, k)
}

func (s *Server) electMaster(req *protocol.Command) *protocol.Command {
	var h header.ControllerElectMaster
	if err := h.Decode(req); err != nil {
		return invalidRequest(req, err)
	}
	now := s.clk.Now()
	s.mu.Lock()
	k, err := s.core.State.Resolve(h.ClusterName, h.BrokerName)
	var cmd *Command
	if err == nil {
		if h.BrokerID.Set {
			cmd, err = s.core.DecideElect(k, h.BrokerID.V, now)
		} else {
			cmd = s.core.DecideElection(k, now)
		}
	}
	s.mu.Unlock()
	if err != nil {
		return errorResponse(req, err)
	}
	if cmd != nil {
		r, err := s.propose(*cmd)
		if err != nil {
			return s.raftErrorResponse(req, err)
		}
		if r.Err != nil {
			return errorResponse(req, r.Err)
		}
		if r.MasterChanged {
			s.log.Info("controller: elected", "set", k.String(), "master", cmd.Elect.NewMaster, "epoch", r.Set.Epoch,
				"reason", cmd.Elect.Reason, "unclean", cmd.Elect.Unclean)
			s.notifyRoleChanged(k)
		}
	}
	return s.replicaInfoResponse(req, k)
}

func (s *Server) getReplicaInfo(req *protocol.Command) *protocol.Command {
	var h header.ControllerGetReplicaInfo
	if err := h.Decode(req); err != nil {
		return invalidRequest(req, err)
	}
	s.mu.Lock()
	k, err := s.core.State.Resolve(h.ClusterName, h.BrokerName)
	s.mu.Unlock()
	if err != nil {
		return errorResponse(req, err)
	}
	if err := s.confirm(); err != nil {
		return s.raftErrorResponse(req, err)
	}
	return s.replicaInfoResponse(req, k)
}

func (s *Server) getSyncStateData(req *protocol.Command) *protocol.Command {
	var h header.ControllerGetSyncStateData
	if err := h.Decode(req); err != nil {
		return invalidRequest(req, err)
	}
	s.mu.Lock()
	sets := s.core.Describe(h.ClusterName, h.BrokerName, s.clk.Now())
	s.mu.Unlock()
	resp := protocol.NewResponse(req, protocol.Success, "")
	resp.Body = mustJSON(body.SyncStateData{BrokerSets: sets})
	return resp
}

func (s *Server) cleanBrokerData(req *protocol.Command) *protocol.Command {
	var h header.CleanBrokerData
	if err := h.Decode(req); err != nil {
		return invalidRequest(req, err)
	}
	var ids []int64
	for _, f := range strings.Split(h.BrokerIDsToClean, ";") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return invalidRequest(req, errors.New("brokerControllerIdsToClean: "+strconv.Quote(f)+" is not a broker id"))
		}
		ids = append(ids, id)
	}
	s.mu.Lock()
	k, err := s.core.State.Resolve(h.ClusterName, h.BrokerName)
	var cmd *Command
	if err == nil {
		cmd, err = s.core.DecideClean(k, ids, h.CleanLivingBroker, s.clk.Now())
	}
	s.mu.Unlock()
	if err != nil {
		return errorResponse(req, err)
	}
	r, err := s.propose(*cmd)
	if err != nil {
		return s.raftErrorResponse(req, err)
	}
	if r.Err != nil {
		return errorResponse(req, r.Err)
	}
	s.log.Info("controller: replicas forgotten", "set", k.String(), "ids", ids)
	return s.replicaInfoResponse(req, k)
}

// Metadata returns this controller's view of the group.
func (s *Server) Metadata() body.ControllerMetadata {
	id, addr := s.leaderHint()
	md := body.ControllerMetadata{
		Group: s.cfg.Group, SelfID: s.self.ID, SelfAddress: s.self.Addr, State: s.raft.State().String(),
		IsLeader: s.ready.Load(), LeaderID: id, LeaderAddress: addr,
		LastIndex: s.raft.LastIndex(), AppliedIndex: s.raft.AppliedIndex(), Peers: []body.ControllerPeer{},
	}
	if t, err := strconv.ParseUint(s.raft.Stats()["term"], 10, 64); err == nil {
		md.Term = t
	}
	if f := s.raft.GetConfiguration(); f.Error() == nil {
		for _, sv := range f.Configuration().Servers {
			md.Peers = append(md.Peers, body.ControllerPeer{ID: string(sv.ID), Address: string(sv.Address), Voter: sv.Suffrage == raft.Voter})
		}
	}
	slices.SortFunc(md.Peers, func(a, b body.ControllerPeer) int { return strings.Compare(a.ID, b.ID) })
	return md
}

func (s *Server) getMetadata(req *protocol.Command) *protocol.Command {
	md := s.Metadata()
	resp := header.NewResponse(req, protocol.Success, "", &header.ControllerMetadata{
		Group: md.Group, ControllerLeaderID: md.LeaderID, ControllerLeaderAddress: md.LeaderAddress,
		IsLeader: md.IsLeader, Peers: s.rocketmqPeers(),
	})
	resp.Body = mustJSON(md)
	return resp
}
