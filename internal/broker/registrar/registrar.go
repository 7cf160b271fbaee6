package registrar

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/internal/lifecycle"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/header"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// Config says who registers where.
type Config struct {
	ClusterName string
	BrokerName  string
	BrokerID    int64
	// BrokerAddr is the advertised client address "ip:port".
	BrokerAddr string
	// HAServerAddr is the advertised replication address "ip:haPort".
	HAServerAddr string
	NameServers  []string
	// Period is registerNameServerPeriod, used bounded to [10 s, 60 s] as
	// RocketMQ does.
	Period time.Duration
	// Timeout bounds one call (registerBrokerTimeoutMills).
	Timeout time.Duration
	// Client configures the connections to the name servers beyond the dial
	// timeout: request signing (the broker's accessKey/secretKey) and TLS.
	Client remoting.ClientConfig
}

// ErrHold, returned (wrapped) by the body function, skips a round without
// an error: the broker must not register now (a controller-mode master whose
// lease ran out must not claim id 0 over the newly elected master). Rounds
// resume when the body function returns a body again; while held, the body
// function is asked again every HoldRetry.
var ErrHold = errors.New("registration held")

// HoldRetry is how soon a held round is tried again.
const HoldRetry = time.Second

// Registrar is the registration loop. Lifecycle: New → Start → Close; all
// methods are safe for concurrent use.
type Registrar struct {
	cfg    Config
	log    *slog.Logger
	clk    clock.Clock
	body   func() ([]byte, error)
	client *remoting.Client
	grp    lifecycle.Group
	wake   chan struct{} // capacity 1: a registration is wanted
	done   chan struct{} // closed when loop returns

	mu      sync.Mutex
	want    uint64        // requests so far
	served  uint64        // requests covered by a finished round
	roundCh chan struct{} // closed and replaced when a round finishes
	stopped bool          // no more rounds
	master  Master
	held    bool // the last round was held (ErrHold)

	lastOK atomic.Int64 // Unix ms of the last registration a name server accepted; 0: none
}

// LastRegistered returns when a name server last accepted this broker's
// registration, or the zero time if none has (for /readyz).
func (r *Registrar) LastRegistered() time.Time {
	if ms := r.lastOK.Load(); ms != 0 {
		return time.UnixMilli(ms)
	}
	return time.Time{}
}

// Master is what the name servers answered about this broker's master: for a
// slave, the master's client and HA addresses; for a master, empty.
type Master struct {
	Addr   string // masterAddr
	HAAddr string // haServerAddr
}

// New builds a registrar. body returns the REGISTER_BROKER body (the encoded
// RegisterBrokerBody), called once per round.
func New(cfg Config, log *slog.Logger, clk clock.Clock, body func() ([]byte, error)) *Registrar {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Registrar{
		cfg:     cfg,
		log:     log,
		clk:     clk,
		body:    body,
		client:  remoting.NewClient(withDialTimeout(cfg.Client, cfg.Timeout), log),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		roundCh: make(chan struct{}),
	}
}

// period is the registration period bounded to [10 s, 60 s].
func (r *Registrar) period() time.Duration {
	return min(max(r.cfg.Period, 10*time.Second), 60*time.Second)
}

// Start launches the loop and runs the first round synchronously (bounded by
// ctx), so that routes exist when it returns unless a name server is down;
// the loop retries those.
func (r *Registrar) Start(ctx context.Context) error {
	if err := r.grp.Start(ctx, "registrar"); err != nil {
		return err
	}
	r.grp.Go("loop", r.loop)
	rctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout+time.Second)
	defer cancel()
	_ = r.RegisterNow(rctx)
	return nil
}

// loop is the registration goroutine: started by Start, stopped by Close. It
// owns the ticker and performs every round.
func (r *Registrar) loop(ctx context.Context) {
	defer close(r.done)
	t := r.clk.NewTicker(r.period())
	defer t.Stop()
	retry := r.clk.NewTimer(HoldRetry)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		case <-r.wake:
		case <-retry.C():
		}
		r.mu.Lock()
		gen := r.want
		r.mu.Unlock()
		retry.Stop()
		if r.registerOnce(ctx) {
			retry.Reset(HoldRetry)
		}
		r.mu.Lock()
		r.served = max(r.served, gen)
		close(r.roundCh)
		r.roundCh = make(chan struct{})
		r.mu.Unlock()
	}
}

// Trigger asks for a registration round soon, without waiting.
func (r *Registrar) Trigger() {
	r.mu.Lock()
	r.want++
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// RegisterNow asks for a round and waits until one that started after the
// call has finished, or ctx ends, or the registrar stops.
func (r *Registrar) RegisterNow(ctx context.Context) error {
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

// Master returns the master addresses the name servers last answered.
func (r *Registrar) Master() Master {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.master
}

// Close stops the loop (no round runs afterwards), sends UNREGISTER_BROKER to
// every name server in parallel, and closes the client. Idempotent; safe
// before Start (then nothing is unregistered).
func (r *Registrar) Close() error {
	r.mu.Lock()
	already := r.stopped
	r.stopped = true
	r.mu.Unlock()
	if already {
		return nil
	}
	started := r.grp.Running()
	r.grp.Stop()
	if started {
		r.unregisterAll()
	}
	return r.client.Close()
}

// identity returns the header of UNREGISTER_BROKER, whose fields
// REGISTER_BROKER shares.
func (r *Registrar) identity() header.UnregisterBroker {
	return header.UnregisterBroker{
		BrokerName:  r.cfg.BrokerName,
		BrokerAddr:  r.cfg.BrokerAddr,
		ClusterName: r.cfg.ClusterName,
		BrokerID:    r.cfg.BrokerID,
	}
}

// registerOnce sends REGISTER_BROKER to every name server in parallel.
// Failures are logged; they do not stop the others. It reports whether the
// round was held (ErrHold).
func (r *Registrar) registerOnce(ctx context.Context) (held bool) {
	if len(r.cfg.NameServers) == 0 {
		return false
	}
	data, err := r.body()
	r.mu.Lock()
	was := r.held
	r.held = errors.Is(err, ErrHold)
	r.mu.Unlock()
	switch {
	case errors.Is(err, ErrHold):
		if !was {
			r.log.Warn("registrar: not registering with the name servers", "why", err)
		}
		return true
	case err != nil:
		r.log.Error("registrar: encode registration", "err", err)
		return false
	case was:
		r.log.Info("registrar: registering with the name servers again")
	}
	crc := crc32.ChecksumIEEE(data) & 0x7FFFFFFF
	r.each(ctx, func(ctx context.Context, ns string) error {
		id := r.identity()
		req := header.NewRequest(protocol.RegisterBroker, &header.RegisterBroker{
			BrokerName:   id.BrokerName,
			BrokerAddr:   id.BrokerAddr,
			ClusterName:  id.ClusterName,
			HAServerAddr: r.cfg.HAServerAddr,
			BrokerID:     id.BrokerID,
			BodyCRC32:    int32(crc),
		})
		req.Body = data
		resp, err := r.client.Invoke(ctx, ns, req)
		if err != nil {
			return err
		}
		if err := protocol.ResponseError(resp); err != nil {
			return err
		}
		var rh header.RegisterBrokerResponse
		if err := rh.Decode(resp); err != nil {
			return err
		}
		r.lastOK.Store(r.clk.Now().UnixMilli())
		if m := (Master{Addr: rh.MasterAddr, HAAddr: rh.HAServerAddr}); m.Addr != "" || m.HAAddr != "" {
			r.mu.Lock()
			r.master = m
			r.mu.Unlock()
		}
		return nil
	}, "register")
	return false
}

// unregisterAll sends UNREGISTER_BROKER to every name server in parallel.
func (r *Registrar) unregisterAll() {
	r.each(context.Background(), func(ctx context.Context, ns string) error {
		id := r.identity()
		resp, err := r.client.Invoke(ctx, ns, header.NewRequest(protocol.UnregisterBroker, &id))
		if err != nil {
			return err
		}
		return protocol.ResponseError(resp)
	}, "unregister")
}

// each runs call for every name server concurrently with a Timeout deadline
// and waits for all of them.
func (r *Registrar) each(ctx context.Context, call func(context.Context, string) error, what string) {
	var wg sync.WaitGroup
	for _, ns := range r.cfg.NameServers {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
			defer cancel()
			if err := call(cctx, ns); err != nil && !errors.Is(err, context.Canceled) {
				r.log.Warn(fmt.Sprintf("registrar: %s with name server failed", what), "namesrv", ns, "err", err)
			}
		})
	}
	wg.Wait()
}

// withDialTimeout returns c with DialTimeout set to d.
func withDialTimeout(c remoting.ClientConfig, d time.Duration) remoting.ClientConfig {
	c.DialTimeout = d
	return c
}
