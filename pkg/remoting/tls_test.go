package remoting

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil/tlstest"
	"github.com/petrelmq/petrel/pkg/protocol"
)

// tlsServer starts an echo server in mode with a certificate for 127.0.0.1
// signed by a fresh CA, and returns it with the CA.
func tlsServer(t *testing.T, mode TLSMode, auth tls.ClientAuthType) (*Server, *tlstest.CA, string) {
	t.Helper()
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir)
	cert, key := ca.Issue(t, "server", "server-1")
	cfg := testServerConfig()
	var err error
	cfg.TLS, err = ServerTLSConfig(CertFiles{CertPath: cert, KeyPath: key, TrustCertPath: ca.CertPath, ClientAuth: auth}, nil)
	require.NoError(t, err)
	cfg.TLSMode = mode
	s := startServer(t, cfg, nil, func(s *Server) { s.Register(protocol.GetBrokerConfig, echo, NewPool("p", 1, 10)) })
	return s, ca, cert
}

func tlsCall(t *testing.T, cl *Client, addr string) (*protocol.Command, error) {
	t.Helper()
	req := protocol.NewRequest(protocol.GetBrokerConfig, map[string]string{"k": "v"})
	return cl.Invoke(ctxTimeout(t, 5*time.Second), addr, req)
}

func TestTLSModes(t *testing.T) {
	t.Parallel()
	for _, mode := range []TLSMode{TLSPermissive, TLSEnforcing} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			s, ca, _ := tlsServer(t, mode, tls.NoClientCert)
			addr := s.Addr().String()
			ccfg, err := ClientTLSConfig(ca.CertPath, "", "", false)
			require.NoError(t, err)
			resp, err := tlsCall(t, newClient(t, ClientConfig{TLS: ccfg}, nil), addr)
			require.NoError(t, err)
			require.Equal(t, "v", resp.Ext("k"))

			resp, err = tlsCall(t, newClient(t, ClientConfig{}, nil), addr)
			if mode == TLSPermissive {
				require.NoError(t, err, "permissive serves plain clients too")
				require.Equal(t, "v", resp.Ext("k"))
			} else {
				require.Error(t, err, "enforcing refuses plain clients")
			}

			// A client that does not trust the CA fails the handshake.
			_, err = tlsCall(t, newClient(t, ClientConfig{TLS: &tls.Config{MinVersion: tls.VersionTLS12}}, nil), addr)
			require.ErrorContains(t, err, "certificate")
		})
	}
}

func TestTLSClientCertificateRequired(t *testing.T) {
	t.Parallel()
	s, ca, _ := tlsServer(t, TLSEnforcing, tls.RequireAndVerifyClientCert)
	addr := s.Addr().String()
	noCert, err := ClientTLSConfig(ca.CertPath, "", "", false)
	require.NoError(t, err)
	_, err = tlsCall(t, newClient(t, ClientConfig{TLS: noCert}, nil), addr)
	require.Error(t, err)
	ccert, ckey := ca.Issue(t, "client", "client-1")
	withCert, err := ClientTLSConfig(ca.CertPath, ccert, ckey, false)
	require.NoError(t, err)
	_, err = tlsCall(t, newClient(t, ClientConfig{TLS: withCert}, nil), addr)
	require.NoError(t, err)
}

// A renewed certificate file is served to new connections without a restart.
func TestTLSCertificateReload(t *testing.T) {
	t.Parallel()
	s, ca, _ := tlsServer(t, TLSEnforcing, tls.NoClientCert)
	addr := s.Addr().String()
	served := func() string {
		ccfg, err := ClientTLSConfig(ca.CertPath, "", "", false)
		require.NoError(t, err)
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, ccfg)
		require.NoError(t, err)
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	require.Equal(t, "server-1", served())
	ca.Issue(t, "server", "server-2")
	waitFor(t, 10*time.Second, func() bool { return served() == "server-2" })
}

func TestTLSModeNeedsConfig(t *testing.T) {
	t.Parallel()
	cfg := testServerConfig()
	cfg.TLSMode = TLSEnforcing
	require.ErrorContains(t, cfg.Validate(), "needs a TLS configuration")
	_, err := ParseTLSMode("on")
	require.Error(t, err)
	_, err = ClientAuth("maybe")
	require.Error(t, err)
}
