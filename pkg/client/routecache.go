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
		// latest holds, by broker name, the broker data of the route stored
		// last that lists it: the freshest addresses known, when routes of
		// several topics disagree (one refreshed after a failover, another
		// not yet).
		latest map[string]*body.BrokerData
		// stale holds, by topic, the last refresh a failure triggered
		// (RefreshStaleRoute): in flight, or finished and rate-limiting.
		stale map[string]*staleFetch
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
	rc.mu.latest = map[string]*body.BrokerData{}
	rc.mu.stale = map[string]*staleFetch{}
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
	delete(c.routes.mu.stale, topic)
}

// Topics returns the topics with a cached route, sorted.
func (c *Client) Topics() []string {
	c.routes.mu.Lock()
	defer c.routes.mu.Unlock()
	return slices.Sorted(maps.Keys(c.routes.mu.entries))
}

// Brokers returns every broker (name, addresses by id) in a cached route, by
// broker name. When the routes of several topics list a broker name with
// different addresses, the route stored last wins. The BrokerData values are
// shared; do not modify them.
func (c *Client) Brokers() map[string]*body.BrokerData {
	c.routes.mu.Lock()
	defer c.routes.mu.Unlock()
	return maps.Clone(c.routes.mu.latest)
}

// brokerAddrs returns every address any cached route lists, masters only
// unless all, sorted.
func (c *Client) brokerAddrs(all bool) []string {
	c.routes.mu.Lock()
	defer c.routes.mu.Unlock()
	var out []string
	for _, e := range c.routes.mu.entries {
		for _, bd := range e.route.data.BrokerDatas {
			for id, a := range bd.Addrs {
				if a != "" && (all || id == body.MasterID) {
					out = append(out, a)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// MasterAddr finds the master address of a broker name in the cached routes
// (the route stored last that lists the name, see Brokers).
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
	kept := rc.mu.entries[topic].route == r // not a provisional route refused above
	var moved []string                      // addresses that now hold another role (id) than in the old route
	for _, bd := range r.data.BrokerDatas {
		if kept {
			rc.mu.latest[bd.BrokerName] = bd
		}
		var was map[int64]string
		if old != nil {
			if obd, ok := old.route.Broker(bd.BrokerName); ok {
				was = obd.Addrs
			}
		}
		for id, a := range bd.Addrs {
			if !rc.mu.addrs[a] {
				rc.mu.addrs[a] = true
				newAddr = true
			} else if was != nil && was[id] != a {
				moved = append(moved, a)
			}
		}
	}
	rc.mu.Unlock()
	if old == nil || old.route != r {
		EachHook(rc.c, func(h HookRouteUpdated) { h.OnRouteUpdated(topic, r) })
	}
	if len(moved) > 0 {
		// A broker that changed role restarted in controller mode (a
		// promoted slave, a demoted master): it has forgotten this client's
		// groups, so heartbeat it again now rather than at the next round.
		rc.c.hb.forget(moved)
	}
	if newAddr || len(moved) > 0 {
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
	names := map[string]bool{}
	for _, e := range rc.mu.entries {
		for _, bd := range e.route.data.BrokerDatas {
			names[bd.BrokerName] = true
			for _, a := range bd.Addrs {
				live[a] = true
			}
		}
	}
	// A copy: live is read below without rc.mu, while store adds to addrs.
	rc.mu.addrs = maps.Clone(live)
	for name := range rc.mu.latest {
		if !names[name] {
			delete(rc.mu.latest, name)
		}
	}
	rc.mu.Unlock()
	rc.c.hb.forgetExcept(live)
}
