package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil/poll"
)

// --log-format json writes one JSON object a line; text stays logfmt; bad
// values stop the command with the flag's name.
func TestLogFormat(t *testing.T) {
	t.Parallel()
	f := func(format string) string {
		t.Helper()
		var buf bytes.Buffer
		l := &logSetup{level: "info", format: format, stderr: &buf}
		log, err := l.logger()
		require.NoError(t, err)
		log.Info("petrel broker listening", "addr", "10.0.0.1:10911")
		log.Debug("not shown")
		return buf.String()
	}
	var line map[string]any
	require.NoError(t, json.Unmarshal([]byte(f("json")), &line))
	require.Equal(t, "petrel broker listening", line["msg"])
	require.Equal(t, "10.0.0.1:10911", line["addr"])
	require.Equal(t, "INFO", line["level"])
	require.Contains(t, f("text"), `msg="petrel broker listening" addr=10.0.0.1:10911`)
	require.Equal(t, 1, strings.Count(f("text"), "\n"))

	_, err := (&logSetup{level: "info", format: "xml"}).logger()
	require.EqualError(t, err, `--log-format: "xml" is not one of text, json`)
	_, err = (&logSetup{level: "loud", format: "text"}).logger()
	require.EqualError(t, err, `--log-level: "loud" is not one of debug, info, warn, error`)
}

// Every command takes the log flags; a server command with --log-file logs
// there, not to standard error.
func TestLogFlagsOnEveryCommand(t *testing.T) {
	t.Setenv("NAMESRV_ADDR", "")
	file := filepath.Join(t.TempDir(), "petrel.log")
	root, logs := newRoot()
	var stderr bytes.Buffer
	logs.stderr = &stderr
	runServers = func(log *slog.Logger, _ ...component) error { log.Info("would serve"); return errLoaded }
	defer func() { runServers = runUntilSignal }()
	root.SetArgs([]string{"namesrv", "--listen", "127.0.0.1:0", "--log-format", "json", "--log-file", file})
	require.ErrorIs(t, root.Execute(), errLoaded)
	require.NoError(t, logs.Close())
	require.Empty(t, stderr.String())
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	require.GreaterOrEqual(t, len(lines), 2)
	for _, l := range lines {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
	}
	require.Contains(t, lines[len(lines)-1], `"msg":"would serve"`)

	for _, cmd := range [][]string{{"version"}, {"health", "--help"}, {"broker", "--help"}, {"standalone", "--help"}} {
		root := newRootCmd()
		root.SetOut(&bytes.Buffer{})
		root.SetArgs(append(cmd, "--log-format", "json", "--log-file", file, "--log-max-size", "5"))
		require.NoError(t, root.Execute(), cmd)
	}

	// An unwritable log file stops the start with the reason.
	root, _ = newRoot()
	root.SetArgs([]string{"namesrv", "--log-file", filepath.Join(t.TempDir(), "missing", "dir", "p.log")})
	require.ErrorContains(t, root.Execute(), "--log-file: open ")
}

// The log file rotates at --log-max-size and keeps --log-max-backups files.
func TestLogFileRotates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "petrel.log")
	l := &logSetup{level: "info", format: "text", file: file, maxSizeMB: 1, maxBackups: 2}
	log, err := l.logger()
	require.NoError(t, err)
	pad := strings.Repeat("x", 1000)
	for range 4 * 1100 { // about 4.4 MB: four rotations
		log.Info("line", "pad", pad)
	}
	require.NoError(t, l.Close())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		info, err := e.Info()
		require.NoError(t, err)
		require.LessOrEqual(t, info.Size(), int64(1<<20), e.Name())
	}
	require.Contains(t, names, "petrel.log")
	// Backups beyond MaxBackups are removed by lumberjack's background
	// goroutine, so wait for it rather than count at once.
	poll.Until(t, 10*time.Second, "petrel.log and 2 backups (have "+strings.Join(names, " ")+")", func() bool {
		entries, err := os.ReadDir(dir)
		return err == nil && len(entries) == 3
	})
}
