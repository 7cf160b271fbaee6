package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/internal/testutil/tlstest"
	"github.com/petrelmq/petrel/pkg/remoting"
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

// health against a broker with ACL and TLS on: it connects with --tls (or
// $PETREL_TLS...), signs with the keys from flags or the environment, and
// reports an ACL refusal as ready without figures.
func TestHealthWithACLAndTLS(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir)
	cert, key := ca.Issue(t, "server", "petrel")
	aclPath := filepath.Join(dir, "plain_acl.yml")
	require.NoError(t, os.WriteFile(aclPath, []byte("accounts:\n  - accessKey: healthKey1\n    secretKey: healthSecret1\n    admin: true\n"), 0o600))
	c := testutil.StartCluster(t, testutil.WithBrokerConfig(func(cfg *broker.Config) {
		cfg.ACLEnable, cfg.ACLFilePath = true, aclPath
		cfg.TLS = remoting.TLSSettings{ServerMode: "enforcing", ServerCertPath: cert, ServerKeyPath: key}
		cfg.FastListenPort = -1
	}))
	addr := c.Broker.ListenAddr().String()
	tlsArgs := []string{"--addr", addr, "--tls", "--tls-trust-cert", ca.CertPath}

	out, err := runHealth(t, tlsArgs...)
	require.NoError(t, err)
	require.Contains(t, out, "is ready (ACL on; sign with --access-key/--secret-key for figures)")

	out, err = runHealth(t, append(tlsArgs, "--access-key", "healthKey1", "--secret-key", "healthSecret1")...)
	require.NoError(t, err)
	require.Regexp(t, `messages stored`, out)

	t.Setenv("PETREL_ACCESS_KEY", "healthKey1")
	t.Setenv("PETREL_SECRET_KEY", "healthSecret1")
	t.Setenv("PETREL_TLS", "true")
	t.Setenv("PETREL_TLS_TRUST_CERT", ca.CertPath)
	out, err = runHealth(t, "--addr", addr)
	require.NoError(t, err)
	require.Regexp(t, `messages stored`, out)

	_, err = runHealth(t, "--addr", addr, "--tls=false", "--tls-trust-cert", "", "--timeout", "2s")
	require.Error(t, err, "a plain connection to an enforcing port")

	t.Setenv("PETREL_SECRET_KEY", "")
	_, err = runHealth(t, "--addr", addr)
	require.ErrorContains(t, err, "give both an access key and a secret key")
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
