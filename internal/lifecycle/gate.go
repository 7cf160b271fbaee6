package lifecycle

import (
	"sync"
	"time"

	"github.com/petrelmq/petrel/pkg/clock"
)

// Gate counts admitted operations from admission to end, so that a shutdown
// can refuse new ones and wait for the rest (the broker admits every write
// through one: sends, send-backs, transaction ends, replies). The zero value
// is open. Safe for concurrent use.
type Gate struct {
	mu      sync.Mutex
	n       int
	closing bool
	zero    chan struct{} // closed when closing and n reaches 0
}

// Enter admits an operation; false once Close has begun. Every true must be
// matched by one Exit.
func (g *Gate) Enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	g.n++
	return true
}

// Exit ends an admitted operation.
func (g *Gate) Exit() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n--
	if g.closing && g.n == 0 && g.zero != nil {
		close(g.zero)
		g.zero = nil
	}
}

// InFlight returns the number of admitted operations.
func (g *Gate) InFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}

// Close refuses new operations and waits until every admitted one has ended
// or d passes on clk; it reports whether they all ended. Later calls wait
// again.
func (g *Gate) Close(clk clock.Clock, d time.Duration) bool {
	g.mu.Lock()
	g.closing = true
	if g.n == 0 {
		g.mu.Unlock()
		return true
	}
	if g.zero == nil {
		g.zero = make(chan struct{})
	}
	zero := g.zero
	g.mu.Unlock()
	t := clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-zero:
		return true
	case <-t.C():
		return false
	}
}
