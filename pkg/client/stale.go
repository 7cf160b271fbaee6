package client

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/petrelmq/petrel/pkg/protocol"
)

// SuggestsStaleRoute reports whether err, from a call to a broker, suggests
// that the route the broker's address came from is out of date: a master
// changed (in controller mode a promoted slave becomes brokerId 0 at its own
// address) or the broker went away. That is:
//
//   - a connection error (refused, reset, closed while waiting) or a timeout
//     (context.DeadlineExceeded): anything that is not a *protocol.Error, an
//     ended caller (context.Canceled) or a closed client (ErrClosed);
//   - SERVICE_NOT_AVAILABLE (14): a slave, a master that lost its lease, a
//     broker shutting down or out of disk;
//   - NO_PERMISSION (16): the broker or topic is not writable (a slave, or
//     write permission wiped before maintenance);
//   - SYSTEM_ERROR (1) whose remark mentions "in-sync replicas": a master in
//     controller mode refusing writes while its SyncStateSet is too small.
//
// Other answers (TOPIC_NOT_EXIST, SYSTEM_BUSY, ...) and stored-but-not-OK send
// statuses (FLUSH_*_TIMEOUT, SLAVE_NOT_AVAILABLE, which only a live master
// answers) do not.
func SuggestsStaleRoute(err error) bool {
	if err == nil {
		return false
	}
	var pe *protocol.Error
	switch {
	case errors.As(err, &pe):
		switch pe.Code {
		case protocol.ServiceNotAvailable, protocol.NoPermission:
			return true
		case protocol.SystemError:
			return strings.Contains(strings.ToLower(pe.Remark), "in-sync replicas")
		}
		return false
	case errors.Is(err, context.Canceled), errors.Is(err, ErrClosed):
		return false
	}
	return true
}

// staleFetch is one refresh of a topic's route triggered by a failure.
type staleFetch struct {
	started time.Time
	done    chan struct{} // closed when route and err are set
	route   *Route
	err     error
}

func (f *staleFetch) finished() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// RefreshStaleRoute refreshes topic's route after a call to one of its
// brokers failed in a way SuggestsStaleRoute recognises, and returns the
// route to use next. Refreshes are shared and rate-limited per topic: a
// caller arriving while one is in flight waits for it, and within
// StaleRouteRefreshInterval of the start of the last one no new one starts
// (the cached route is returned at once). The refresh runs on a goroutine
// of the client, so a caller giving up (ctx) does not fail it for the
// others; before Start it runs on the caller's goroutine.
//
// Errors are the route source's (the cached route, if any, is kept), or
// ctx's. A refresh that finds a changed route stores it as RefreshRoute
// does (hooks, heartbeats to new addresses).
func (c *Client) RefreshStaleRoute(ctx context.Context, topic string) (*Route, error) {
	if c.Closed() {
		return nil, ErrClosed
	}
	f, fresh := c.routes.staleFetch(c, topic)
	if f == nil {
		// Rate-limited: the last refresh is recent enough.
		if r, ok := c.CachedRoute(topic); ok {
			return r, nil
		}
		return c.Route(ctx, topic)
	}
	if fresh && !c.startStaleFetch(topic, f) {
		c.runStaleFetch(ctx, topic, f) // not started: on the caller's goroutine
	}
	select {
	case <-f.done:
		return f.route, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// MarkRouteStale is RefreshStaleRoute without waiting: it starts a refresh
// of topic's route in the background, unless one is in flight or started
// within StaleRouteRefreshInterval, and returns at once. It does nothing
// before Start or after Close.
func (c *Client) MarkRouteStale(topic string) {
	if c.Closed() {
		return
	}
	f, fresh := c.routes.staleFetch(c, topic)
	if f != nil && fresh && !c.startStaleFetch(topic, f) {
		c.routes.abandonStaleFetch(topic, f)
	}
}

// startStaleFetch runs f on a goroutine of the client; false when the
// client is not running.
func (c *Client) startStaleFetch(topic string, f *staleFetch) bool {
	return c.Go("route-refresh-stale", func(life context.Context) { c.runStaleFetch(life, topic, f) })
}

func (c *Client) runStaleFetch(ctx context.Context, topic string, f *staleFetch) {
	f.route, f.err = c.RefreshRoute(ctx, topic)
	if f.err != nil {
		c.log.Debug("client: route refresh after a failure failed; keeping the cached route", "topic", topic, "err", f.err)
	}
	close(f.done)
}

// staleFetch returns the refresh of topic to wait for: the one in flight
// (fresh false), a new one the caller must start (fresh true), or nil when
// the last one started less than StaleRouteRefreshInterval ago.
func (rc *routeCache) staleFetch(c *Client, topic string) (f *staleFetch, fresh bool) {
	now := c.cfg.clk.Now()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if f := rc.mu.stale[topic]; f != nil {
		if !f.finished() {
			return f, false
		}
		if now.Sub(f.started) < c.cfg.staleRouteInterval {
			return nil, false
		}
	}
	f = &staleFetch{started: now, done: make(chan struct{})}
	rc.mu.stale[topic] = f
	return f, true
}

// abandonStaleFetch forgets f, which was never started.
func (rc *routeCache) abandonStaleFetch(topic string, f *staleFetch) {
	rc.mu.Lock()
	if rc.mu.stale[topic] == f {
		delete(rc.mu.stale, topic)
	}
	rc.mu.Unlock()
	f.err = ErrNotStarted
	close(f.done)
}
