package broker_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestStartFailureCleansUp: a Start that fails (port in use, a bad store
// directory, an unparsable config after the store is open) closes what it opened — no goroutine is
// left and the store directory is unlocked, so a fixed broker starts on it.
// Not parallel, so goleak sees only this test's goroutines.
func TestStartFailureCleansUp(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	newBroker := func(dir, listen string) *broker.Broker {
		t.Helper()
		cfg := broker.DefaultConfig()
		cfg.ListenAddr = listen
		cfg.Store.RootDir = dir
		b, err := broker.New(cfg, nil, clock.Real{})
		require.NoError(t, err)
		return b
	}

	// Port in use.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b := newBroker(t.TempDir(), ln.Addr().String())
	require.Error(t, b.Start(context.Background()))
	require.NoError(t, b.Close())
	require.NoError(t, ln.Close())

	// A store directory that is a file.
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	b = newBroker(file, "127.0.0.1:0")
	require.Error(t, b.Start(context.Background()))
	require.NoError(t, b.Close())

	// A broken config file, read after the store is open.
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "config"), 0o755))
	topics := filepath.Join(dir, "config", "topics.json")
	require.NoError(t, os.WriteFile(topics, []byte(`{"topicConfigTable":5}`), 0o644))
	b = newBroker(dir, "127.0.0.1:0")
	require.Error(t, b.Start(context.Background()))
	require.NoError(t, b.Close())

	// The directory was unlocked: a broker with a good file starts on it.
	require.NoError(t, os.Remove(topics))
	b = newBroker(dir, "127.0.0.1:0")
	require.NoError(t, b.Start(context.Background()))
	require.NoError(t, b.Close())
	require.ErrorIs(t, b.Start(context.Background()), broker.ErrClosed)
}
