package acl

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// DefaultReloadInterval is how often a Guard looks at its file for changes
// (RocketMQ's file watch looks every 500ms).
const DefaultReloadInterval = 500 * time.Millisecond

// Config configures a Guard.
type Config struct {
	// Path is the plain_acl.yml file. It must exist when the Guard opens.
	Path string
	// AdminCodes are the request codes that need an admin account
	// (BrokerAdminCodes or NameServerAdminCodes).
	AdminCodes map[protocol.RequestCode]bool
	// OnlyAdminCodes checks only the AdminCodes and lets every other request
	// through unchecked (the name server: route reads stay open). False
	// checks every request (the broker).
	OnlyAdminCodes bool
	// ReloadInterval is how often the file is looked at. Default (0)
	// DefaultReloadInterval.
	ReloadInterval time.Duration
	// Clock drives the reload loop. Default clock.Real{}.
	Clock clock.Clock
}

// Guard checks requests against plain_acl.yml and reloads the file when it
// changes. Check and Intercept are safe for concurrent use; they read the
// rules without a lock. The file is only read by the reload loop and the
// admin methods, which serialise on a mutex.
//
// Goroutines: Start launches one reload loop; Close stops it and waits.
type Guard struct {
	cfg      Config
	log      *slog.Logger
	refusals refusalLog
	rules    atomic.Pointer[rules]
	mu       sync.Mutex // serialises reading and writing the file
	sum      [32]byte   // sha256 of the file last loaded, under mu
	life     struct {
		sync.Mutex
		cancel context.CancelFunc
		closed bool
	}
	wg sync.WaitGroup
}

// Open loads cfg.Path. It fails if the file is missing or invalid: a broker
// asked for ACL must not start open.
func Open(cfg Config, log *slog.Logger) (*Guard, error) {
	if cfg.Path == "" {
		return nil, errors.New("acl: no ACL file path")
	}
	if cfg.ReloadInterval <= 0 {
		cfg.ReloadInterval = DefaultReloadInterval
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Guard{cfg: cfg, log: log, refusals: refusalLog{log: log}}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, err := g.loadLocked(); err != nil {
		return nil, err
	}
	r := g.rules.Load()
	log.Info("acl: loaded", "file", cfg.Path, "accounts", len(r.accounts), "global_white_addresses", len(r.global))
	if st, err := os.Stat(cfg.Path); err == nil && st.Mode().Perm()&0o004 != 0 {
		log.Warn("acl: the ACL file holds secret keys and every user may read it; chmod 600 it", "file", cfg.Path,
			"mode", st.Mode().Perm().String())
	}
	return g, nil
}

// Path returns the ACL file's path.
func (g *Guard) Path() string { return g.cfg.Path }

// loadLocked reads the file and swaps the rules in if its bytes changed. It
// reports whether they did.
func (g *Guard) loadLocked() (bool, error) {
	data, err := os.ReadFile(g.cfg.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("%w: %s", errNoFile, g.cfg.Path)
		}
		return false, fmt.Errorf("acl: %w", err)
	}
	sum := sha256.Sum256(data)
	if sum == g.sum && g.rules.Load() != nil {
		return false, nil
	}
	f, err := ParseFile(data)
	if err != nil {
		return false, fmt.Errorf("%s: %w", g.cfg.Path, err)
	}
	r, err := compile(f)
	if err != nil {
		return false, err
	}
	g.rules.Store(r)
	g.sum = sum
	return true, nil
}

// Reload reads the file now and reports whether the rules changed. On error
// the rules in force stay.
func (g *Guard) Reload() (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.loadLocked()
}

// Start launches the reload loop. It fails after Close.
func (g *Guard) Start(ctx context.Context) error {
	g.life.Lock()
	defer g.life.Unlock()
	if g.life.closed {
		return errors.New("acl: closed")
	}
	if g.life.cancel != nil {
		return errors.New("acl: already started")
	}
	ctx, cancel := context.WithCancel(ctx)
	g.life.cancel = cancel
	g.wg.Add(1)
	go pprof.Do(ctx, pprof.Labels("loop", "acl-reload"), func(ctx context.Context) {
		defer g.wg.Done()
		g.reloadLoop(ctx)
	})
	return nil
}

// reloadLoop looks at the file every ReloadInterval until ctx ends. A file
// that fails to load is logged once per distinct error and the rules in
// force stay.
func (g *Guard) reloadLoop(ctx context.Context) {
	t := g.cfg.Clock.NewTicker(g.cfg.ReloadInterval)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		changed, err := g.Reload()
		switch {
		case err != nil:
			if err.Error() != lastErr {
				g.log.Error("acl: cannot reload the ACL file; the rules loaded before stay in force", "file", g.cfg.Path, "err", err)
				lastErr = err.Error()
			}
		case changed:
			lastErr = ""
			r := g.rules.Load()
			g.log.Info("acl: reloaded", "file", g.cfg.Path, "accounts", len(r.accounts), "global_white_addresses", len(r.global))
		}
	}
}

// Close stops the reload loop and waits for it. It is idempotent.
func (g *Guard) Close() error {
	g.life.Lock()
	g.life.closed = true
	cancel := g.life.cancel
	g.life.Unlock()
	if cancel != nil {
		cancel()
	}
	g.wg.Wait()
	return nil
}

// Check returns nil if req may run, else a *DeniedError.
func (g *Guard) Check(req Request) error {
	if g.cfg.OnlyAdminCodes && !g.cfg.AdminCodes[req.Code] {
		return nil
	}
	return g.rules.Load().check(req, g.cfg.AdminCodes)
}

// Intercept is a remoting.Interceptor: it answers a refused request
// NO_PERMISSION (16) with the reason, and logs the account, address, request
// code and reason (never a key's secret), at most one line per account and
// address every 10s (the next line counts the refusals in between).
func (g *Guard) Intercept(_ context.Context, c *remoting.Conn, req *protocol.Command) *protocol.Command {
	err := g.Check(Request{Code: req.RequestCode(), Ext: req.ExtFields, Body: req.Body, Remote: c.RemoteAddr()})
	if err == nil {
		return nil
	}
	var d *DeniedError
	if errors.As(err, &d) {
		g.refusals.refused(d, time.Now())
	}
	return protocol.NewResponse(req, protocol.NoPermission, "[ACL] "+err.Error())
}

// LoadFile reads and checks an ACL file, as Open does, without keeping it:
// commands use it to report a bad file before starting servers.
func LoadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", errNoFile, path)
		}
		return nil, fmt.Errorf("acl: %w", err)
	}
	f, err := ParseFile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// DefaultPath returns where a server looks for plain_acl.yml when aclFilePath
// is not set: dir/plain_acl.yml.
func DefaultPath(dir string) string { return filepath.Join(dir, "plain_acl.yml") }
