package controller

import (
	"context"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// raftLogger adapts slog to hclog.Logger, the logger hashicorp/raft takes,
// so that Raft's lines go to the controller's log with its fields. Raft's
// Info lines (elections, role changes) stay Info; its Trace is Debug. A
// warning or error repeated within repeatWindow (a peer that is down makes
// Raft log several a second) is logged once, then once a window with the
// number left out.
type raftLogger struct {
	log   *slog.Logger
	name  string
	args  []any
	limit *repeatLimiter
}

var _ hclog.Logger = (*raftLogger)(nil)

func newRaftLogger(log *slog.Logger) *raftLogger {
	return &raftLogger{log: log, name: "raft", limit: &repeatLimiter{last: map[string]*repeat{}}}
}

// repeatWindow is how often one repeated warning or error is logged.
const repeatWindow = 10 * time.Second

// repeatLimiter counts repeated messages. It is shared by a logger's
// copies (With, Named).
type repeatLimiter struct {
	mu   sync.Mutex
	last map[string]*repeat
}

type repeat struct {
	at      time.Time
	dropped int
}

// allow reports whether msg may be logged now, and how many were left out
// since it last was.
func (r *repeatLimiter) allow(msg string, now time.Time) (bool, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.last[msg]
	if !ok {
		if len(r.last) > 1024 { // raft's messages are constants; bound it anyway
			clear(r.last)
		}
		r.last[msg] = &repeat{at: now}
		return true, 0
	}
	if now.Sub(e.at) < repeatWindow {
		e.dropped++
		return false, 0
	}
	n := e.dropped
	e.at, e.dropped = now, 0
	return true, n
}

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace, hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (l *raftLogger) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off {
		return
	}
	lv := slogLevel(level)
	if !l.log.Enabled(context.Background(), lv) {
		return
	}
	all := make([]any, 0, len(l.args)+len(args)+4)
	all = append(all, "component", l.name)
	if lv >= slog.LevelWarn {
		ok, dropped := l.limit.allow(l.name+": "+msg, time.Now())
		if !ok {
			return
		}
		if dropped > 0 {
			all = append(all, "repeatsNotLogged", dropped)
		}
	}
	all = append(all, l.args...)
	all = append(all, args...)
	l.log.Log(context.Background(), lv, msg, all...)
}

func (l *raftLogger) Trace(msg string, args ...any) { l.Log(hclog.Trace, msg, args...) }
func (l *raftLogger) Debug(msg string, args ...any) { l.Log(hclog.Debug, msg, args...) }
func (l *raftLogger) Info(msg string, args ...any)  { l.Log(hclog.Info, msg, args...) }
func (l *raftLogger) Warn(msg string, args ...any)  { l.Log(hclog.Warn, msg, args...) }
func (l *raftLogger) Error(msg string, args ...any) { l.Log(hclog.Error, msg, args...) }

func (l *raftLogger) enabled(lv slog.Level) bool { return l.log.Enabled(context.Background(), lv) }

func (l *raftLogger) IsTrace() bool { return l.enabled(slog.LevelDebug) }
func (l *raftLogger) IsDebug() bool { return l.enabled(slog.LevelDebug) }
func (l *raftLogger) IsInfo() bool  { return l.enabled(slog.LevelInfo) }
func (l *raftLogger) IsWarn() bool  { return l.enabled(slog.LevelWarn) }
func (l *raftLogger) IsError() bool { return l.enabled(slog.LevelError) }

func (l *raftLogger) ImpliedArgs() []any { return l.args }

func (l *raftLogger) With(args ...any) hclog.Logger {
	c := *l
	c.args = append(append([]any{}, l.args...), args...)
	return &c
}

func (l *raftLogger) Name() string { return l.name }

func (l *raftLogger) Named(name string) hclog.Logger {
	c := *l
	c.name = l.name + "." + name
	return &c
}

func (l *raftLogger) ResetNamed(name string) hclog.Logger {
	c := *l
	c.name = name
	return &c
}

// SetLevel does nothing: the slog handler decides.
func (l *raftLogger) SetLevel(hclog.Level) {}

func (l *raftLogger) GetLevel() hclog.Level {
	switch {
	case l.enabled(slog.LevelDebug):
		return hclog.Debug
	case l.enabled(slog.LevelInfo):
		return hclog.Info
	case l.enabled(slog.LevelWarn):
		return hclog.Warn
	}
	return hclog.Error
}

func (l *raftLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(l.StandardWriter(opts), "", 0)
}

func (l *raftLogger) StandardWriter(*hclog.StandardLoggerOptions) io.Writer { return lineWriter{l} }

// lineWriter logs each write as one Info line.
type lineWriter struct{ l *raftLogger }

func (w lineWriter) Write(p []byte) (int, error) {
	w.l.Info(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
