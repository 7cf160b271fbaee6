package client

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// routeCache holds the route of every topic the client has used. Routes are
// fetched on first use and refreshed by refreshLoop; a failed refresh keeps the
// cached route, so a client keeps working while every name server is down.
type routeCache struct {
	c  *Client
	mu struct {
		sync.Mutex
		entries map[string]*routeEntry
		addrs   map[string]bool // every broker address in a cached route
	}
}

type routeEntry struct {
	route *Route
	// provisional marks a route borrowed from the auto-create topic: it is
	// replaced as soon as the name servers know the topic.
	provisional bool
}

func (rc *routeCache) init(c *Client) {
	rc.c = c
	rc.mu.entries = map[string]*routeEntry{}
	rc.mu.addrs = map[string]bool{}
}

// Route returns the topic's route (wire name, namespace already applied): the
// cached one, or one fetched from the RouteSource and then cached. Errors are
// the source's; *protocol.Error matching protocol.ErrTopicNotExist when the
// topic has no route.
func (c *Client) Route(ctx context.Context, topic string) (*Route, error) {
	if c.Closed() {
		return nil, ErrClosed
	}
	c.routes.mu.Lock()
	e := c.routes.mu.entries[topic]
	c.routes.mu.Unlock()
	if e != nil {
		return e.route, nil
	}
	return c.RefreshRoute(ctx, topic)
}

// CachedRoute returns the cached route of a topic without any I/O.
func (c *Client) CachedRoute(topic string) (*Route, bool) {
	c.routes.mu.Lock()
	defer c.routes.mu.Unlock()
	e := c.routes.mu.entries[topic]
	if e == nil {
		return nil, false
	}
	return e.route, true
}

// RefreshRoute fetches the topic's route now and caches it. On error the cache
// is unchanged.
func (c *Client) RefreshRoute(ctx context.Context, topic string) (*Route, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	r, err := c.src.Route(ctx, topic)
	if err != nil {
		return nil, err
	}
	c.routes.store(topic, r, false)
	return r, nil
}

// StoreRoute caches r as the topic's route until the next successful refresh.
// A producer uses it for a topic that does not exist yet, with the auto-create
// topic's route (Route.WithTopic).
func (c *Client) StoreRoute(topic string, r *Route) { c.routes.store(topic, r, true) }

// ForgetRoute drops a topic from the cache; it is no longer refreshed.
func (c *Client) ForgetRoute(topic string) {
	c.routes.mu.Lock()
	defer c.routes.mu.Unlock()
	delete(c.routes.mu.entries, topic)
}

// Topics returns the topics with a cached route, sorted.
func (c *Client) Topics() []string {
	c.routes.mu.Lock()
	defer c.routes.mu.Unlock()
	return slices.Sorted(maps.Keys(c.routes.mu.entries))
}

// Brokers returns every broker (name, addresses by id) in a cached route, by
// broker name. The BrokerData values are shared; do not modify them.
func (c *Client) Brokers() map[string]*body.BrokerData {
	c.routes.mu.Lock()
	defer c.routes.mu.Unlock()
	out := map[string]*body.BrokerData{}
	for _, e := range c.routes.mu.entries {
		for _, bd := range e.route.data.BrokerDatas {
			out[bd.BrokerName] = bd
		}
	}
	return out
}

// MasterAddr finds the master address of a broker name in the cached routes.
func (c *Client) MasterAddr(brokerName string) (string, bool) {
	bd, ok := c.Brokers()[brokerName]
	if !ok {
		return "", false
	}
	a, ok := bd.Addrs[body.MasterID]
	return a, ok && a != ""
}

func sameRoute(a, b *Route) bool {
	return bytes.Equal(body.EncodeRoute(a.data, true), body.EncodeRoute(b.data, true))
}

func (rc *routeCache) store(topic string, r *Route, provisional bool) {
	rc.mu.Lock()
	old := rc.mu.entries[topic]
	if old != nil && !old.provisional && !provisional && sameRoute(old.route, r) {
		rc.mu.Unlock()
		return // unchanged: keep the old value, so callers may compare routes
	}
	if !provisional || old == nil || old.provisional {
		rc.mu.entries[topic] = &routeEntry{route: r, provisional: provisional}
	}
	newAddr := false
	for _, bd := range r.data.BrokerDatas {
		for _, a := range bd.Addrs {
			if !rc.mu.addrs[a] {
				rc.mu.addrs[a] = true
				newAddr = true
			}
		}
	}
	rc.mu.Unlock()
	if old == nil || old.route != r {
		EachHook(rc.c, func(h HookRouteUpdated) { h.OnRouteUpdated(topic, r) })
	}
	if newAddr {
		rc.c.TriggerHeartbeat()
	}
}

// refreshLoop is the goroutine started by Start and stopped by Close (ctx): it
// refreshes every cached route each RouteRefreshInterval and forgets broker
// addresses no cached route names any more.
func (rc *routeCache) refreshLoop(ctx context.Context) {
	t := rc.c.cfg.clk.NewTicker(rc.c.cfg.routeRefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		rc.refreshAll(ctx)
	}
}

func (rc *routeCache) refreshAll(ctx context.Context) {
	for _, topic := range rc.c.Topics() {
		if ctx.Err() != nil {
			return
		}
		if _, err := rc.c.RefreshRoute(ctx, topic); err != nil {
			rc.c.log.Debug("client: route refresh failed; keeping the cached route", "topic", topic, "err", err)
		}
	}
	rc.mu.Lock()
	live := map[string]bool{}
	for _, e := range rc.mu.entries {
		for _, bd := range e.route.data.BrokerDatas {
			for _, a := range bd.Addrs {
				live[a] = true
			}
		}
	}
	rc.mu.addrs = live
	rc.mu.Unlock()
	rc.c.hb.forgetExcept(live)
}
