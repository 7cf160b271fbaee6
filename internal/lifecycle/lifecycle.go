package lifecycle

import (
	"context"
	"errors"
	"runtime/pprof"
	"sync"
)

// ErrClosed is returned by Start after Stop. Components usually translate it
// to their own ErrClosed sentinel.
var ErrClosed = errors.New("lifecycle: closed")

// ErrStarted is returned by a second Start.
var ErrStarted = errors.New("lifecycle: already started")

// Group owns a set of goroutines. The zero value is ready to Start. All
// methods are safe for concurrent use.
type Group struct {
	mu      sync.Mutex
	name    string
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started bool
	stopped bool
}

// Start opens the group: goroutines started with Go get a context derived
// from parent without its cancellation (the group's lifetime is ended by
// Stop, not by the context that bounded the start) and the pprof label
// component=name. It fails after Stop and on a second Start.
func (g *Group) Start(parent context.Context, name string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.stopped:
		return ErrClosed
	case g.started:
		return ErrStarted
	}
	g.started = true
	g.name = name
	g.ctx, g.cancel = context.WithCancel(context.WithoutCancel(parent))
	return nil
}

// Go runs f on a tracked goroutine with the group's context and the pprof
// labels component=<group name>, goroutine=name. It reports false, and does
// not run f, before Start or once Stop has begun.
func (g *Group) Go(name string, f func(ctx context.Context)) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.started || g.stopped {
		return false
	}
	g.wg.Add(1)
	ctx := g.ctx
	go func() {
		defer g.wg.Done()
		pprof.Do(ctx, pprof.Labels("component", g.name, "goroutine", name), f)
	}()
	return true
}

// Context returns the group's context (cancelled by Stop), or a cancelled
// context before Start.
func (g *Group) Context() context.Context {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ctx == nil {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx
	}
	return g.ctx
}

// Running reports whether the group is started and not stopping.
func (g *Group) Running() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.started && !g.stopped
}

// Stop refuses new goroutines, cancels the group's context and waits for
// every goroutine started with Go. It is idempotent, safe before Start, and
// safe to call concurrently (every caller waits).
func (g *Group) Stop() {
	g.mu.Lock()
	g.stopped = true
	cancel := g.cancel
	g.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	g.wg.Wait()
}
