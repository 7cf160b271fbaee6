package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// ErrGroupRegistered is returned when a group is registered twice on one client.
var ErrGroupRegistered = errors.New("client: group already registered")

// heartbeats is the registry of groups the client reports in HEART_BEAT, and
// the brokers that have accepted one.
type heartbeats struct {
	mu        sync.Mutex
	producers map[string]bool
	consumers map[string]func() body.ConsumerData
	ok        map[string]bool // addresses that accepted a heartbeat with the current groups
}

func (h *heartbeats) init() {
	h.producers = map[string]bool{}
	h.consumers = map[string]func() body.ConsumerData{}
	h.ok = map[string]bool{}
}

func (h *heartbeats) forgetExcept(live map[string]bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for a := range h.ok {
		if !live[a] {
			delete(h.ok, a)
		}
	}
}

// forget drops addrs from the addresses that accepted a heartbeat.
func (h *heartbeats) forget(addrs []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range addrs {
		delete(h.ok, a)
	}
}

// RegisterProducer adds a producer group (wire name) to the heartbeats and
// returns the function that removes it. Brokers use producer registrations
// to find the client for transaction checks and request/reply.
func (c *Client) RegisterProducer(group string) (unregister func(), err error) {
	c.hb.mu.Lock()
	defer c.hb.mu.Unlock()
	if c.hb.producers[group] {
		return nil, fmt.Errorf("%w: producer %q", ErrGroupRegistered, group)
	}
	c.hb.producers[group] = true
	clear(c.hb.ok)
	c.TriggerHeartbeat()
	return func() {
		c.hb.mu.Lock()
		defer c.hb.mu.Unlock()
		delete(c.hb.producers, group)
	}, nil
}

// RegisterConsumer adds a consumer group (wire name) to the heartbeats. data
// is called for every heartbeat and must return the group's current
// ConsumerData (subscriptions included); it must be fast and safe for
// concurrent use. With a consumer registered, heartbeats go to every broker
// address (slaves included), not only to masters.
func (c *Client) RegisterConsumer(group string, data func() body.ConsumerData) (unregister func(), err error) {
	if data == nil {
		return nil, errors.New("client: RegisterConsumer: nil data function")
	}
	c.hb.mu.Lock()
	defer c.hb.mu.Unlock()
	if c.hb.consumers[group] != nil {
		return nil, fmt.Errorf("%w: consumer %q", ErrGroupRegistered, group)
	}
	c.hb.consumers[group] = data
	clear(c.hb.ok)
	c.TriggerHeartbeat()
	return func() {
		c.hb.mu.Lock()
		defer c.hb.mu.Unlock()
		delete(c.hb.consumers, group)
	}, nil
}

// TriggerHeartbeat asks the heartbeat loop to send heartbeats now, without
// waiting; it does nothing before Start.
func (c *Client) TriggerHeartbeat() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// HeartbeatData returns the body the next heartbeat will carry, and whether
// there is anything to report.
func (c *Client) HeartbeatData() (*body.HeartbeatData, bool) {
	c.hb.mu.Lock()
	producers := slices.Sorted(maps.Keys(c.hb.producers))
	fns := make([]func() body.ConsumerData, 0, len(c.hb.consumers))
	for _, g := range slices.Sorted(maps.Keys(c.hb.consumers)) {
		fns = append(fns, c.hb.consumers[g])
	}
	c.hb.mu.Unlock()
	hd := &body.HeartbeatData{ClientID: c.id, ProducerDataSet: []body.ProducerData{}, ConsumerDataSet: []body.ConsumerData{}}
	for _, g := range producers {
		hd.ProducerDataSet = append(hd.ProducerDataSet, body.ProducerData{GroupName: g})
	}
	for _, f := range fns {
		hd.ConsumerDataSet = append(hd.ConsumerDataSet, f())
	}
	return hd, len(producers)+len(fns) > 0
}

// heartbeatTargets returns the addresses to heartbeat: masters only, or every
// address when the client has consumers.
func (c *Client) heartbeatTargets(all bool) []string { return c.brokerAddrs(all) }

// SendHeartbeat sends HEART_BEAT now to every broker of every cached route (only
// masters unless a consumer is registered), in parallel, and returns the joined
// errors. With no group registered it sends nothing.
func (c *Client) SendHeartbeat(ctx context.Context) error {
	hd, has := c.HeartbeatData()
	if !has {
		return nil
	}
	return c.heartbeatTo(ctx, hd, c.heartbeatTargets(len(hd.ConsumerDataSet) > 0))
}

// EnsureHeartbeat sends a heartbeat to addr unless it has accepted one with
// the current groups already.
func (c *Client) EnsureHeartbeat(ctx context.Context, addr string) error {
	c.hb.mu.Lock()
	done := c.hb.ok[addr]
	c.hb.mu.Unlock()
	if done {
		return nil
	}
	hd, has := c.HeartbeatData()
	if !has {
		return nil
	}
	return c.heartbeatTo(ctx, hd, []string{addr})
}

func (c *Client) heartbeatTo(ctx context.Context, hd *body.HeartbeatData, addrs []string) error {
	payload := body.EncodeHeartbeat(hd)
	errs := make([]error, len(addrs))
	var wg sync.WaitGroup
	for i, addr := range addrs {
		wg.Go(func() {
			req := protocol.NewRequest(protocol.HeartBeat, nil)
			req.Body = payload
			_, err := c.Call(ctx, addr, req)
			if err != nil {
				errs[i] = fmt.Errorf("client: heartbeat to %s: %w", addr, err)
				return
			}
			c.hb.mu.Lock()
			c.hb.ok[addr] = true
			c.hb.mu.Unlock()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// heartbeatLoop is the goroutine started by Start and stopped by Close (ctx):
// it heartbeats at once, then every HeartbeatInterval and whenever
// TriggerHeartbeat asks.
func (c *Client) heartbeatLoop(ctx context.Context) {
	t := c.cfg.clk.NewTicker(c.cfg.heartbeatInterval)
	defer t.Stop()
	// A failed round is tried again soon, not a whole interval later: a
	// broker that just became master (and restarted) must learn this
	// client's groups before it checks transactions or rebalances them.
	retry := c.cfg.clk.NewTimer(c.cfg.heartbeatInterval)
	retry.Stop()
	defer retry.Stop()
	for {
		if err := c.SendHeartbeat(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("client: heartbeat failed; trying again soon", "err", err)
			retry.Reset(min(c.cfg.heartbeatInterval, heartbeatRetry))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		case <-c.wake:
		case <-retry.C():
		}
	}
}

// heartbeatRetry is how soon a failed heartbeat round is tried again.
const heartbeatRetry = time.Second
