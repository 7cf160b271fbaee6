package client

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
)

// RouteSource finds the route of a topic. It is the route-discovery seam: the
// client uses name servers by default; tests and static set-ups may pass their
// own with WithRouteSource.
//
// Route returns a new Route each call (the caller may cache it), or an error:
// *protocol.Error matching protocol.ErrTopicNotExist when the topic has no
// route, anything else when no answer could be had. Implementations must be
// safe for concurrent use and honour ctx.
type RouteSource interface {
	Route(ctx context.Context, topic string) (*Route, error)
}

// StaticRoutes is an in-memory RouteSource: a fixed table of routes. Topics not
// in it give protocol.ErrTopicNotExist. Safe for concurrent use.
type StaticRoutes struct {
	mu     sync.RWMutex
	routes map[string]*body.TopicRouteData
}

var _ RouteSource = (*StaticRoutes)(nil)

// NewStaticRoutes returns a source serving the given route data by topic.
func NewStaticRoutes(routes map[string]*body.TopicRouteData) *StaticRoutes {
	s := &StaticRoutes{routes: map[string]*body.TopicRouteData{}}
	for t, rd := range routes {
		s.routes[t] = rd
	}
	return s
}

// Set adds or replaces the route data of a topic; nil removes it.
func (s *StaticRoutes) Set(topic string, rd *body.TopicRouteData) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rd == nil {
		delete(s.routes, topic)
		return
	}
	s.routes[topic] = rd
}

// Route returns a copy of the topic's route.
func (s *StaticRoutes) Route(ctx context.Context, topic string) (*Route, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	rd := s.routes[topic]
	s.mu.RUnlock()
	if rd == nil {
		return nil, &protocol.Error{Code: protocol.TopicNotExist, Remark: "no route for " + topic}
	}
	cp := &body.TopicRouteData{OrderTopicConf: rd.OrderTopicConf, QueueDatas: append([]body.QueueData(nil), rd.QueueDatas...), FilterServerTable: rd.FilterServerTable}
	for _, bd := range rd.BrokerDatas {
		cp.BrokerDatas = append(cp.BrokerDatas, bd.Clone())
	}
	return NewRoute(topic, cp), nil
}

// ErrNoNameServer is matched when no name server could be reached.
var ErrNoNameServer = errors.New("client: no name server reachable")

// nameServers talks to the configured name servers: it starts on one picked
// at random (so the clients of a fleet spread over the list, as RocketMQ's
// do), sticks to the one that last answered, and moves to the next on a
// transport error, trying each once per call.
type nameServers struct {
	c     *Client
	addrs []string

	mu  sync.Mutex
	cur int
}

func newNameServers(c *Client, addrs []string, randIntN func(int) int) *nameServers {
	n := &nameServers{c: c, addrs: addrs}
	if len(addrs) > 1 {
		n.cur = randIntN(len(addrs))
	}
	return n
}

var _ RouteSource = (*nameServers)(nil)

// invoke sends req (rebuilt per attempt by mk) to the current name server,
// moving on after transport errors. A response of any code is returned as is.
func (n *nameServers) invoke(ctx context.Context, mk func() *protocol.Command) (*protocol.Command, error) {
	if len(n.addrs) == 0 {
		return nil, fmt.Errorf("%w: none configured", ErrNoNameServer)
	}
	n.mu.Lock()
	start := n.cur
	n.mu.Unlock()
	var errs []error
	for i := range n.addrs {
		idx := (start + i) % len(n.addrs)
		addr := n.addrs[idx]
		cctx, cancel := context.WithTimeout(ctx, n.c.cfg.nameServerTimeout)
		resp, err := n.c.Invoke(cctx, addr, mk())
		cancel()
		if err == nil {
			n.mu.Lock()
			n.cur = idx
			n.mu.Unlock()
			return resp, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
		n.c.log.Debug("client: name server failed; trying the next", "peer", addr, "err", err)
	}
	return nil, fmt.Errorf("%w: %w", ErrNoNameServer, errors.Join(errs...))
}

// Route asks the name servers for the topic's route (GET_ROUTEINFO_BY_TOPIC).
// Requests carry version 409, so Java 4.9.4+ and Petrel name servers answer in
// standard JSON; older ones answer in fastjson's form, which DecodeRoute reads
// too.
func (n *nameServers) Route(ctx context.Context, topic string) (*Route, error) {
	resp, err := n.invoke(ctx, func() *protocol.Command {
		return header.NewRequest(protocol.GetRouteInfoByTopic, &header.GetRouteInfo{Topic: topic})
	})
	if err != nil {
		return nil, err
	}
	if err := protocol.ResponseError(resp); err != nil {
		return nil, err
	}
	rd, err := DecodeRoute(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("client: route of %q: %w", topic, err)
	}
	return NewRoute(topic, rd), nil
}
