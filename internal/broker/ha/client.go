package ha

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
)

// Client is a slave's HA service: it connects to the master's HA address,
// checks its log against the master's first (reconcile.go), reports its max
// offset at once, appends the frames it receives through the store, and
// reports after each append and every HeartbeatInterval. It reconnects with
// backoff after any failure. Safe for concurrent use.
//
// Goroutines: the session loop (started by Start, stopped by Close) owns the
// connection's read side and the store appends; per session, a reporter
// owns the write side. Close cancels the loop's context and closes the
// connection, then waits for both.
type Client struct {
	cfg    ClientConfig
	sink   LogSink
	master Master
	log    *slog.Logger
	clk    clock.Clock

	noDigest atomic.Bool // the master answered ErrDigestUnsupported once
	searched bool        // the last reconcile had to search (session loop only)

	mu struct {
		sync.Mutex
		st         ClientStatus
		started    bool
		closed     bool
		endSession context.CancelFunc // ends the current session (Reconnect)
	}
	kick      chan struct{} // cap 1: Reconnect skips the wait before the next session
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// ClientStatus is a slave's view of replication.
type ClientStatus struct {
	// MasterAddr is the HA address of the current or last session.
	MasterAddr string
	// Connected: a session is streaming.
	Connected bool
	// Offset is the offset last reported to the master (what the slave has,
	// as durable as its flush mode makes it).
	Offset message.PhysOffset
	// LastReceive is when the last frame (data or heartbeat) arrived.
	LastReceive time.Time
	// Sessions counts the sessions started; LastError is why the last one
	// ended.
	Sessions  int
	LastError string
	// Epoch is the master epoch of the current or last session, and
	// ConfirmOffset the master's last confirm offset (controller mode).
	Epoch         int32
	ConfirmOffset message.PhysOffset
}

// NewClient builds a slave's Client. master may be nil: the client then
// checks only its own log (it cuts a record left half-written) and cannot
// detect a slave ahead of its master or a diverged history. log may be nil
// (discard), clk nil (clock.Real).
func NewClient(cfg ClientConfig, sink LogSink, master Master, log *slog.Logger, clk clock.Clock) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sink == nil {
		return nil, errors.New("ha: NewClient: nil LogSink")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if clk == nil {
		clk = clock.Real{}
	}
	return &Client{cfg: cfg.withDefaults(), sink: sink, master: master, log: log.With("component", "ha-slave"), clk: clk,
		kick: make(chan struct{}, 1)}, nil
}

// Start launches the session loop. ctx only supplies values (pprof labels).
func (c *Client) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.mu.closed:
		return ErrClosed
	case c.mu.started:
		return nil
	}
	c.mu.started = true
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel = cancel
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		pprof.Do(lctx, pprof.Labels("loop", "ha-slave"), func(ctx context.Context) { c.loop(ctx) })
	}()
	return nil
}

// Close stops the client and waits for its goroutines. Idempotent; safe
// before Start.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.mu.closed = true
		cancel := c.cancel
		c.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		c.wg.Wait()
	})
	return nil
}

// Reconnect ends the current session, if any, and starts the next one at
// once, asking MasterAddress (and the identity's Epoch) again: the broker
// calls it when its master changed.
func (c *Client) Reconnect() {
	c.mu.Lock()
	end := c.mu.endSession
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	if end != nil {
		end()
	}
}

// greet sends the hello and checks the welcome (controller mode).
func (c *Client) greet(nc net.Conn, id *ClientIdentity) error {
	epoch := id.Epoch()
	_ = nc.SetWriteDeadline(time.Now().Add(c.cfg.HousekeepingInterval))
	if _, err := nc.Write(AppendHello(nil, Hello{BrokerID: id.BrokerID, Epoch: epoch})); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(c.cfg.HousekeepingInterval))
	w, err := ReadWelcome(nc)
	if err != nil {
		return fmt.Errorf("welcome (the master refuses a slave of another epoch): %w", err)
	}
	if w.Epoch != epoch {
		return fmt.Errorf("%w: the master is at epoch %d, this slave expects %d", errBadHandshake, w.Epoch, epoch)
	}
	if id.OnWelcome != nil {
		if err := id.OnWelcome(w); err != nil {
			return fmt.Errorf("taking the master's epochs: %w", err)
		}
	}
	c.update(func(st *ClientStatus) { st.Epoch = epoch })
	return nil
}

// Status returns the client's state.
func (c *Client) Status() ClientStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.st
}

func (c *Client) update(f func(st *ClientStatus)) {
	c.mu.Lock()
	f(&c.mu.st)
	c.mu.Unlock()
}

// loop runs sessions until ctx ends, waiting between failed ones: from
// RetryInterval/50, doubling up to RetryInterval, and from the start again
// after a session that made progress.
func (c *Client) loop(ctx context.Context) {
	minWait := max(c.cfg.RetryInterval/50, time.Millisecond)
	wait := minWait
	var lastErr string
	for ctx.Err() == nil {
		addr := c.cfg.MasterAddress()
		if id := c.cfg.Identity; id != nil && id.Epoch() <= 0 {
			addr = "" // no master elected yet
		}
		progress := false
		if addr == "" {
			// The name servers have not answered yet (the broker registers
			// once it serves): ask again soon rather than after a full retry
			// interval, so a new slave starts copying at once.
			wait = min(masterPoll, c.cfg.RetryInterval)
		} else {
			var err error
			progress, err = c.session(ctx, addr)
			if ctx.Err() != nil {
				return
			}
			msg := fmt.Sprint(err)
			c.update(func(st *ClientStatus) { st.Connected, st.LastError = false, msg })
			if msg != lastErr || progress {
				c.log.Warn("HA session ended", "master", addr, "err", err)
			}
			lastErr = msg
			if progress {
				wait = minWait
			}
		}
		t := c.clk.NewTimer(wait)
		select {
		case <-t.C():
		case <-c.kick:
			t.Stop()
			wait = minWait
		case <-ctx.Done():
			t.Stop()
			return
		}
		if !progress && addr != "" {
			wait = min(wait*2, c.cfg.RetryInterval)
		}
	}
}

// masterPoll is how often a slave asks for its master's address while it is
// not known.
const masterPoll = 100 * time.Millisecond

// session checks the log, connects, and streams until something fails. It
// reports whether it appended anything.
func (c *Client) session(ctx context.Context, addr string) (progress bool, err error) {
	c.update(func(st *ClientStatus) { st.MasterAddr = addr; st.Sessions++ })
	report, err := c.reconcile(ctx)
	if err != nil {
		return false, fmt.Errorf("checking the log against the master: %w", err)
	}
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	nc, err := c.cfg.Dial(dctx, "tcp", addr)
	cancel()
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	sctx, stop := context.WithCancel(ctx)
	c.mu.Lock()
	c.mu.endSession = stop
	c.mu.Unlock()
	var swg sync.WaitGroup
	defer func() {
		stop()
		_ = nc.Close()
		swg.Wait()
	}()
	swg.Add(1)
	go func() { // ends the blocked read when the session or the client stops
		defer swg.Done()
		<-sctx.Done()
		_ = nc.Close()
	}()

	if id := c.cfg.Identity; id != nil {
		if err := c.greet(nc, id); err != nil {
			return false, err
		}
	}

	// Report at once (a RocketMQ slave waits haSendHeartbeatInterval).
	var acked atomic.Int64
	acked.Store(int64(report))
	_ = nc.SetWriteDeadline(time.Now().Add(c.cfg.HousekeepingInterval))
	if _, err := nc.Write(AppendReport(nil, report)); err != nil {
		return false, fmt.Errorf("first report: %w", err)
	}
	c.update(func(st *ClientStatus) { st.Connected, st.Offset = true, report })
	c.log.Info("connected to master", "master", addr, "offset", report)

	kick := make(chan struct{}, 1)
	swg.Add(1)
	go func() {
		defer swg.Done()
		defer stop()
		c.reportLoop(sctx, nc, &acked, kick)
	}()

	seg := message.PhysOffset(c.sink.CommitLogSegmentSize())
	fr := &frameReader{r: nc, max: c.cfg.MaxFrameSize, confirms: c.cfg.Identity != nil}
	expect := report
	// A new log (report 0) takes whatever segment boundary the master starts
	// at (its last segment's).
	anyStart := report == 0 && c.sink.CommitLogEmpty()
	var w *walker
	if !anyStart {
		w = newWalker(int64(seg), expect)
	}
	for {
		_ = nc.SetReadDeadline(time.Now().Add(c.cfg.HousekeepingInterval))
		off, body, err := fr.next()
		if err != nil {
			if sctx.Err() != nil && ctx.Err() == nil {
				return progress, errors.New("reporting to the master failed")
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return progress, fmt.Errorf("nothing from the master for %v", c.cfg.HousekeepingInterval)
			}
			return progress, fmt.Errorf("read: %w", err)
		}
		now := c.clk.Now()
		if fr.confirm {
			c.sink.SetDispatchLimit(off)
			c.update(func(st *ClientStatus) { st.LastReceive, st.ConfirmOffset = now, off })
			continue
		}
		if anyStart {
			if off%seg != 0 {
				return progress, fmt.Errorf("%w: an empty slave needs a segment start, master sent offset %d", errBadFrame, off)
			}
			expect, anyStart = off, false
			w = newWalker(int64(seg), expect)
		}
		if off != expect {
			// RocketMQ's slave closes here too.
			return progress, fmt.Errorf("%w: master sent offset %d, the slave is at %d", errBadFrame, off, expect)
		}
		c.update(func(st *ClientStatus) { st.LastReceive = now })
		if len(body) == 0 {
			continue // heartbeat
		}
		if int64(off%seg)+int64(len(body)) > int64(seg) {
			return progress, fmt.Errorf("%w: %d bytes at %d cross a segment end", errBadFrame, len(body), off)
		}
		if err := w.feed(off, body); err != nil {
			return progress, err
		}
		end, err := c.sink.AppendReplicated(ctx, off, body)
		if err != nil {
			return progress, fmt.Errorf("append %d bytes at %d: %w", len(body), off, err)
		}
		progress = true
		expect = end
		acked.Store(int64(end))
		c.update(func(st *ClientStatus) { st.Offset = end })
		select {
		case kick <- struct{}{}:
		default:
		}
	}
}

// reportLoop is a session's reporter goroutine: it writes acked after each
// kick (an append) when it grew, and every HeartbeatInterval regardless. A
// failed write ends the session.
func (c *Client) reportLoop(ctx context.Context, nc net.Conn, acked *atomic.Int64, kick <-chan struct{}) {
	t := c.clk.NewTicker(c.cfg.HeartbeatInterval)
	defer t.Stop()
	last := message.PhysOffset(acked.Load())
	var b [ReportSize]byte
	for {
		force := false
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-t.C():
			force = true
		}
		off := message.PhysOffset(acked.Load())
		if off == last && !force {
			continue
		}
		_ = nc.SetWriteDeadline(time.Now().Add(c.cfg.HousekeepingInterval))
		if _, err := nc.Write(AppendReport(b[:0], off)); err != nil {
			if ctx.Err() == nil {
				c.log.Info("report to master failed", "err", err)
			}
			return
		}
		last = off
	}
}
