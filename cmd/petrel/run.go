package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/petrelmq/petrel/internal/properties"
)

// loaded is what loadConfig read: where the configuration came from, for the
// start line, and the binder, which remembers where each key was set.
type loaded struct {
	source string
	binder *properties.Binder
}

// loadConfig binds a config's keys, applies defaults from the environment (env,
// may be nil), then the file, then the flags. A key in the file that is neither
// bound nor a RocketMQ key stops the load (with the file, the line and the
// nearest known key); RocketMQ keys Petrel does not implement are logged as
// having no effect.
func loadConfig(log *slog.Logger, file string, ovs []flagOverride, bind func(*properties.Binder), env func(*properties.Binder) error) (*loaded, error) {
	b := properties.NewBinder()
	bind(b)
	if env != nil {
		if err := env(b); err != nil {
			return nil, err
		}
	}
	src, err := applyConfigFile(log, b, file)
	if err != nil {
		return nil, err
	}
	flags, err := applyOverrides(b, ovs)
	if err != nil {
		return nil, err
	}
	return &loaded{source: describeSource(src, flags), binder: b}, nil
}

// applyConfigFile loads path (if set) into b, fails on unknown keys and warns
// about keys that have no effect. It returns a short description of where the
// configuration came from, for the start line.
func applyConfigFile(log *slog.Logger, b *properties.Binder, path string) (string, error) {
	if path == "" {
		return "defaults", nil
	}
	f, err := properties.Load(path)
	if err != nil {
		return "", err
	}
	res, err := b.Apply(f)
	if err != nil {
		return "", err
	}
	if err := res.Err(); err != nil {
		return "", err
	}
	for _, k := range slices.Sorted(maps.Keys(res.Ignored)) {
		log.Warn("configuration key has no effect in Petrel", "key", k, "file", path, "reason", res.Ignored[k])
	}
	return path, nil
}

// logEffective logs the effective configuration of what ("broker", "name
// server"): at INFO one line with the keys in always and every key set by the
// file, a flag or the environment; at DEBUG one line per key with its value and
// where it came from.
func logEffective(log *slog.Logger, what string, ld *loaded, always ...string) {
	attrs := []any{slog.String("source", ld.source)}
	for _, s := range ld.binder.Settings() {
		from := s.Origin
		if from == "" {
			from = "default"
		}
		log.Debug(what+" configuration key", "key", s.Key, "value", s.Value, "from", from)
		if s.Origin != "" || slices.Contains(always, s.Key) {
			attrs = append(attrs, slog.String(s.Key, s.Value))
		}
	}
	log.Info(what+" configuration", attrs...)
}

// flagOverride records a flag that sets a configuration key, applied after the file.
type flagOverride struct {
	flag  string
	key   string
	value func() string
	set   func() bool // whether the user gave the flag
}

func applyOverrides(b *properties.Binder, ovs []flagOverride) (bool, error) {
	any := false
	for _, o := range ovs {
		if !o.set() {
			continue
		}
		if err := b.Set("flag --"+o.flag, o.key, o.value()); err != nil {
			return false, err
		}
		any = true
	}
	return any, nil
}

// describeSource names the config source for the start line.
func describeSource(file string, flags bool) string {
	parts := []string{file}
	if flags {
		parts = append(parts, "flags")
	}
	return strings.Join(parts, "+")
}

// component is something the command starts and stops.
type component interface {
	Start(ctx context.Context) error
	Close() error
}

// runServers is how the server commands run their components: runUntilSignal.
// Tests replace it, so that a command whose configuration loads returns
// instead of serving.
var runServers = runUntilSignal

// runUntilSignal starts each component in order and waits for SIGINT or SIGTERM,
// then closes them in reverse order. If a start fails, what was started is closed
// and the error returned, so the process exits non-zero with the reason. A second
// signal during shutdown exits at once.
func runUntilSignal(log *slog.Logger, comps ...component) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	started := 0
	var startErr error
	for _, c := range comps {
		if err := c.Start(ctx); err != nil {
			startErr = err
			break
		}
		started++
	}
	if startErr == nil {
		sig := <-sigs
		log.Info("shutting down", "signal", sig.String())
		go func() {
			<-sigs
			log.Error("second signal: exiting without a clean shutdown")
			os.Exit(130)
		}()
	}
	cancel()
	t0 := time.Now()
	var closeErr error
	for i := started - 1; i >= 0; i-- {
		if err := comps[i].Close(); err != nil && closeErr == nil {
			closeErr = err
		}
	}
	if startErr != nil {
		return startErr
	}
	if closeErr != nil {
		return fmt.Errorf("shutdown: %w", closeErr)
	}
	log.Info("stopped", "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

// loggedStart wraps a component so its start line names what it is, where it
// listens, the version and where its configuration came from.
type loggedStart struct {
	component
	log    *slog.Logger
	what   string
	source string
	addr   func() string
}

func startLogged(log *slog.Logger, c component, what, source string, addr func() string) component {
	return &loggedStart{component: c, log: log, what: what, source: source, addr: addr}
}

func (l *loggedStart) Start(ctx context.Context) error {
	if err := l.component.Start(ctx); err != nil {
		return fmt.Errorf("start %s: %w", l.what, err)
	}
	bi := readBuildInfo()
	l.log.Info("petrel "+l.what+" listening", "addr", l.addr(), "version", bi.Version, "commit", bi.Commit, "config", l.source)
	return nil
}
