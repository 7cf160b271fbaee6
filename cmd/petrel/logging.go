package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/spf13/cobra"
	"gopkg.in/natefinch/lumberjack.v2"
)

// logSetup builds the process logger from the persistent log flags, which every
// command takes: --log-level, --log-format, and --log-file with its rotation
// limits. It opens the log file at most once; Close closes it.
type logSetup struct {
	level, format, file string
	maxSizeMB           int // rotate when the file reaches this size
	maxBackups          int // rotated files kept; 0: all
	maxAgeDays          int // rotated files older than this are removed; 0: never
	compress            bool

	stderr io.Writer // os.Stderr; tests replace it

	mu  sync.Mutex
	log *slog.Logger
	lj  *lumberjack.Logger
}

func newLogSetup() *logSetup { return &logSetup{stderr: os.Stderr} }

// addFlags binds the log flags as persistent flags of root, so every command
// takes them.
func (l *logSetup) addFlags(root *cobra.Command) {
	fs := root.PersistentFlags()
	fs.StringVar(&l.level, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&l.format, "log-format", "text", "log format: text (logfmt) or json (one object a line)")
	fs.StringVar(&l.file, "log-file", "", "write logs to this file instead of standard error, rotated by size")
	fs.IntVar(&l.maxSizeMB, "log-max-size", 100, "with --log-file: rotate when the file reaches this many MB")
	fs.IntVar(&l.maxBackups, "log-max-backups", 10, "with --log-file: rotated files to keep (0: all)")
	fs.IntVar(&l.maxAgeDays, "log-max-age", 0, "with --log-file: remove rotated files older than this many days (0: never)")
	fs.BoolVar(&l.compress, "log-compress", false, "with --log-file: gzip rotated files")
}

// logger returns the process logger, built on first use from the flags.
func (l *logSetup) logger() (*slog.Logger, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.log != nil {
		return l.log, nil
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(l.level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", l.level)
	}
	if l.format != "text" && l.format != "json" {
		return nil, fmt.Errorf("--log-format: %q is not one of text, json", l.format)
	}
	w := l.stderr
	if l.file != "" {
		if l.maxSizeMB < 1 || l.maxBackups < 0 || l.maxAgeDays < 0 {
			return nil, fmt.Errorf("--log-max-size must be at least 1 and --log-max-backups, --log-max-age not negative")
		}
		// Open (or create) it now, so that a bad path stops the start with the
		// reason instead of losing every log line.
		f, err := os.OpenFile(l.file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("--log-file: %w", err)
		}
		_ = f.Close()
		l.lj = &lumberjack.Logger{Filename: l.file, MaxSize: l.maxSizeMB, MaxBackups: l.maxBackups,
			MaxAge: l.maxAgeDays, Compress: l.compress, LocalTime: false}
		w = l.lj
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if l.format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	l.log = slog.New(h)
	return l.log, nil
}

// Close closes the log file, if one was opened. Later log lines reopen it.
func (l *logSetup) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lj == nil {
		return nil
	}
	return l.lj.Close()
}

// logFailure also writes a command's failure to the log file, if one is in
// use (main prints it to standard error in any case), so the file says why the
// server stopped.
func (l *logSetup) logFailure(err error) {
	l.mu.Lock()
	log := l.log
	l.mu.Unlock()
	if log != nil && l.file != "" {
		log.Error("petrel: exiting", "err", err)
	}
}
