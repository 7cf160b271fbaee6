package main

import (
	"bytes"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/testutil"
)

// runHealth runs `petrel health` with args and returns its output and error.
func runHealth(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"health"}, args...))
	err := root.Execute()
	return out.String(), err
}

// refusedAddr is an address nothing listens on (bound, then closed).
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// health tells a ready broker and a ready name server apart, passes a refused
// address on to the next, and fails with a one-line reason when nothing is
// ready.
func TestHealth(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t)
	brokerAddr := c.Broker.ListenAddr().String()
	down := refusedAddr(t)

	out, err := runHealth(t, "--addr", brokerAddr)
	require.NoError(t, err)
	require.Regexp(t, `^ok: broker at `+brokerAddr+` is ready \(\d+ messages stored, up \S+\)\n$`, out)

	out, err = runHealth(t, "--addr", c.NameServerAddr)
	require.NoError(t, err)
	require.Regexp(t, `^ok: name server at `+c.NameServerAddr+` is ready \(\d+ topics\)\n$`, out)

	// The first address that accepts decides.
	out, err = runHealth(t, "--addr", down+","+c.NameServerAddr+","+brokerAddr)
	require.NoError(t, err)
	require.Contains(t, out, "name server at "+c.NameServerAddr)

	_, err = runHealth(t, "--addr", down)
	require.EqualError(t, err, "not ready: nothing listens on "+down+" (connection refused)")

	// Something that accepts but never answers: not ready, within the timeout.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	accepted := make(chan net.Conn, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- conn
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		close(accepted)
		for conn := range accepted {
			_ = conn.Close()
		}
	})
	_, err = runHealth(t, "--addr", ln.Addr().String()+","+brokerAddr, "--timeout", "300ms")
	require.EqualError(t, err, "not ready: "+ln.Addr().String()+" did not answer in time")

	_, err = runHealth(t, "--timeout", "0s")
	require.EqualError(t, err, "--timeout must be positive")
}

// health --http asks the metrics endpoint's /readyz.
func TestHealthReadyz(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t, testutil.WithBrokerConfig(func(cfg *broker.Config) {
		cfg.Metrics = broker.MetricsConfig{ExporterType: broker.MetricsProm, Host: "127.0.0.1", CardinalityLimit: 10}
	}))
	addr := c.Broker.MetricsAddr().String()
	out, err := runHealth(t, "--http", addr)
	require.NoError(t, err)
	require.Equal(t, "ok: broker at "+addr+" is ready\n", out)

	down := refusedAddr(t)
	_, err = runHealth(t, "--http", down)
	require.ErrorContains(t, err, "not ready: ")
	require.ErrorContains(t, err, "connection refused")
}
