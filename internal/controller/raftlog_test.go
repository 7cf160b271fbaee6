package controller

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A warning Raft repeats (a peer that is down) is logged once a window, with
// the count left out; other lines pass.
func TestRaftLoggerLimitsRepeats(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := newRaftLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	for range 5 {
		l.Error("failed to heartbeat to", "peer", "x")
		l.Info("entering follower state")
	}
	l.Named("net").Warn("failed to accept connection")
	require.Equal(t, 1, strings.Count(buf.String(), "failed to heartbeat to"))
	require.Equal(t, 5, strings.Count(buf.String(), "entering follower state"))
	require.Contains(t, buf.String(), "component=raft.net")

	r := &repeatLimiter{last: map[string]*repeat{}}
	t0 := time.Now()
	ok, _ := r.allow("m", t0)
	require.True(t, ok)
	ok, _ = r.allow("m", t0.Add(time.Second))
	require.False(t, ok)
	ok, n := r.allow("m", t0.Add(repeatWindow+time.Second))
	require.True(t, ok)
	require.Equal(t, 1, n)
}
