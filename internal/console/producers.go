package console

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
)

// ProducerConn is one online client of a producer group, as a broker knows
// it from the client's heartbeats.
type ProducerConn struct {
	Broker   string `json:"broker"` // the broker's address
	ClientID string `json:"clientId"`
	Addr     string `json:"clientAddr"`
	Language string `json:"language"`
	Version  int32  `json:"version"`
	// VersionDesc is Version as RocketMQ names it ("V4_9_4").
	VersionDesc string `json:"versionDesc"`
}

// producers lists the online clients of a producer group
// (GET_PRODUCER_CONNECTION_LIST, 204; ?group=[&topic=]): with a topic, of
// the masters of its route (pkg/admin ProducerConnection, merged); without,
// of every master of every cluster, per broker. Brokers learn producer
// groups only from heartbeats and keep no list of them, so the group is
// asked for by name, as in RocketMQ's dashboard.
func (s *Server) producers(ctx context.Context, r *http.Request) (any, error) {
	q := r.URL.Query()
	group, topic := q.Get("group"), q.Get("topic")
	if group == "" {
		return nil, badRequest("group is required (the producer group, as the producers set it)")
	}
	out := []ProducerConn{}
	if topic != "" {
		pc, err := s.adm.ProducerConnection(ctx, group, topic)
		if err != nil {
			return nil, notOnline(err, group)
		}
		for _, c := range pc.ConnectionSet {
			out = append(out, ProducerConn{ClientID: c.ClientID, Addr: c.ClientAddr, Language: c.Language, Version: c.Version, VersionDesc: protocol.VersionName(c.Version)})
		}
		sortConns(out)
		return map[string]any{"group": group, "topic": topic, "connections": out}, nil
	}
	ci, err := s.adm.ClusterInfo(ctx)
	if err != nil {
		return nil, err
	}
	var masters []string
	for _, bd := range ci.BrokerAddrTable {
		if a, ok := bd.Addrs[body.MasterID]; ok {
			masters = append(masters, a)
		}
	}
	sort.Strings(masters)
	type answer struct {
		pc  *body.ProducerConnection
		err error
	}
	var mu sync.Mutex
	answers := make(map[string]answer, len(masters))
	each(s.cfg.Parallel, masters, func(addr string) {
		resp, err := s.adm.Client().Call(ctx, addr, header.NewRequest(protocol.GetProducerConnectionList,
			&header.GetProducerConnectionList{ProducerGroup: group}))
		var a answer
		if err != nil {
			a.err = err
		} else {
			a.pc, a.err = body.DecodeProducerConnection(resp.Body)
		}
		mu.Lock()
		answers[addr] = a
		mu.Unlock()
	})
	var errs []error
	for _, addr := range masters {
		a := answers[addr]
		if a.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", addr, a.err))
			continue
		}
		for _, c := range a.pc.ConnectionSet {
			out = append(out, ProducerConn{Broker: addr, ClientID: c.ClientID, Addr: c.ClientAddr, Language: c.Language, Version: c.Version, VersionDesc: protocol.VersionName(c.Version)})
		}
	}
	if len(out) == 0 && len(errs) > 0 {
		return nil, notOnline(errors.Join(errs...), group)
	}
	sortConns(out)
	return map[string]any{"group": group, "connections": out, "brokers": len(masters)}, nil
}

// notOnline turns a broker's "the producer group[...] not exist" (SYSTEM_ERROR
// with that remark) into a 404 that says what it means.
func notOnline(err error, group string) error {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Code == protocol.SystemError && strings.Contains(pe.Remark, "not exist") {
		return &apiError{status: http.StatusNotFound,
			msg: fmt.Sprintf("producer group %s has no client online (brokers know producers only from their heartbeats)", group)}
	}
	return err
}

func sortConns(cs []ProducerConn) {
	slices.SortFunc(cs, func(a, b ProducerConn) int {
		return cmp.Or(strings.Compare(a.ClientID, b.ClientID), strings.Compare(a.Broker, b.Broker))
	})
}
