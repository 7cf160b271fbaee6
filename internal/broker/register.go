package broker

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// registrar registers the broker with every name server: from one goroutine
// (loop), every registerNameServerPeriod and whenever a change asks for it.
// Callers that need the route to exist when they return (UPDATE_AND_CREATE_TOPIC)
// wait for the round that covers their change; nothing holds a lock across the
// network calls.
type registrar struct {
	b      *Broker
	client *remoting.Client
	wake   chan struct{} // capacity 1: a registration is wanted
	cancel context.CancelFunc
	done   chan struct{} // closed when loop returns

	mu      sync.Mutex
	want    uint64        // requests so far
	served  uint64        // requests covered by a finished round
	roundCh chan struct{} // closed and replaced when a round finishes
	stopped bool          // after stop: no more rounds
}

func newRegistrar(b *Broker) *registrar {
	return &registrar{
		b:       b,
		client:  remoting.NewClient(remoting.ClientConfig{DialTimeout: b.cfg.RegisterTimeout}, b.log),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		roundCh: make(chan struct{}),
	}
}

// period is registerNameServerPeriod bounded to [10 s, 60 s] as RocketMQ does.
func (r *registrar) period() time.Duration {
	return min(max(r.b.cfg.RegisterNameServerPeriod, 10*time.Second), 60*time.Second)
}

// loop is the registration goroutine: started by Start, stopped by stop (its
// context). It owns the ticker and performs every REGISTER_BROKER round.
func (r *registrar) loop(ctx context.Context) {
	defer close(r.done)
	t := r.b.clk.NewTicker(r.period())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		case <-r.wake:
		}
		r.mu.Lock()
		gen := r.want
		r.mu.Unlock()
		r.registerOnce(ctx)
		r.mu.Lock()
		r.served = max(r.served, gen)
		close(r.roundCh)
		r.roundCh = make(chan struct{})
		r.mu.Unlock()
	}
}

// trigger asks for a registration round soon, without waiting.
func (r *registrar) trigger() {
	r.mu.Lock()
	r.want++
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// registerNow asks for a round and waits until one that started after the call
// has finished, or ctx ends, or the registrar stops.
func (r *registrar) registerNow(ctx context.Context) error {
	r.mu.Lock()
	r.want++
	mine := r.want
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	for {
		r.mu.Lock()
		if r.served >= mine || r.stopped {
			r.mu.Unlock()
			return nil
		}
		ch := r.roundCh
		r.mu.Unlock()
		select {
		case <-ch:
		case <-r.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// stop ends the loop and waits for it; no round runs afterwards. Safe to call
// when the loop never started (cancel is nil).
func (r *registrar) stop() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
}

func (r *registrar) closeClient() { _ = r.client.Close() }

// identity returns the header of UNREGISTER_BROKER, whose fields
// REGISTER_BROKER shares.
func (r *registrar) identity() header.UnregisterBroker {
	b := r.b
	return header.UnregisterBroker{
		BrokerName:  b.cfg.BrokerName,
		BrokerAddr:  b.advertised.String(),
		ClusterName: b.cfg.ClusterName,
		BrokerID:    b.cfg.BrokerID,
	}
}

// registrationBody encodes the topic table for REGISTER_BROKER. When the broker
// permission lacks read or write, every topic's perm is narrowed by it, so
// routes stop offering what the broker refuses.
func (r *registrar) registrationBody() ([]byte, error) {
	w := r.b.topics.snapshot()
	if perm := int32(r.b.runtime().BrokerPermission); perm&(body.PermRead|body.PermWrite) != body.PermRead|body.PermWrite {
		for name, tc := range w.TopicConfigTable {
			tc.Perm &= perm | body.PermInherit
			w.TopicConfigTable[name] = tc
		}
	}
	return body.EncodeRegisterBody(&body.RegisterBody{Topics: w}, false)
}

// registerOnce sends REGISTER_BROKER to every name server in parallel, each
// bounded by RegisterTimeout. Failures are logged; they do not stop the others.
func (r *registrar) registerOnce(ctx context.Context) {
	b := r.b
	if len(b.cfg.NameServers) == 0 {
		return
	}
	data, err := r.registrationBody()
	if err != nil {
		b.log.Error("broker: encode registration", "err", err)
		return
	}
	crc := crc32.ChecksumIEEE(data) & 0x7FFFFFFF
	_, port, _ := net.SplitHostPort(b.advertised.String())
	haPort, _ := strconv.Atoi(port)
	r.each(ctx, func(ctx context.Context, ns string) error {
		id := r.identity()
		req := header.NewRequest(protocol.RegisterBroker, &header.RegisterBroker{
			BrokerName:   id.BrokerName,
			BrokerAddr:   id.BrokerAddr,
			ClusterName:  id.ClusterName,
			HAServerAddr: net.JoinHostPort(b.advertised.Addr().String(), strconv.Itoa(haPort+1)),
			BrokerID:     id.BrokerID,
			BodyCRC32:    int32(crc),
		})
		req.Body = data
		resp, err := r.client.Invoke(ctx, ns, req)
		if err != nil {
			return err
		}
		return protocol.ResponseError(resp)
	}, "register")
}

// unregisterAll sends UNREGISTER_BROKER to every name server in parallel.
func (r *registrar) unregisterAll() {
	if len(r.b.cfg.NameServers) == 0 {
		return
	}
	r.each(context.Background(), func(ctx context.Context, ns string) error {
		id := r.identity()
		resp, err := r.client.Invoke(ctx, ns, header.NewRequest(protocol.UnregisterBroker, &id))
		if err != nil {
			return err
		}
		return protocol.ResponseError(resp)
	}, "unregister")
}

// each runs call for every name server concurrently with a RegisterTimeout
// deadline and waits for all of them.
func (r *registrar) each(ctx context.Context, call func(context.Context, string) error, what string) {
	var wg sync.WaitGroup
	for _, ns := range r.b.cfg.NameServers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, r.b.cfg.RegisterTimeout)
			defer cancel()
			if err := call(cctx, ns); err != nil && !errors.Is(err, context.Canceled) {
				r.b.log.Warn(fmt.Sprintf("broker: %s with name server failed", what), "namesrv", ns, "err", err)
			}
		}()
	}
	wg.Wait()
}
