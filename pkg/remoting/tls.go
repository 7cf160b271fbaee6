package remoting

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// TLSDialer wraps d so that every connection is a TLS client connection
// with cfg, handshaken (within timeout) before it is returned; a ServerName
// left empty is the host of the address dialled. Servers that speak another
// protocol than remoting's (the broker's HA port) use it too.
func TLSDialer(d Dialer, cfg *tls.Config, timeout time.Duration) Dialer {
	return tlsDialer(d, cfg, timeout)
}

// tlsDialer is TLSDialer.
func tlsDialer(d Dialer, cfg *tls.Config, timeout time.Duration) Dialer {
	return DialerFunc(func(ctx context.Context, addr string) (net.Conn, error) {
		raw, err := d.Dial(ctx, addr)
		if err != nil {
			return nil, err
		}
		c := cfg.Clone()
		if c.ServerName == "" {
			if host, _, err := net.SplitHostPort(addr); err == nil {
				c.ServerName = host
			}
		}
		tc := tls.Client(raw, c)
		hctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := tc.HandshakeContext(hctx); err != nil {
			_ = raw.Close()
			return nil, fmt.Errorf("remoting: TLS handshake with %s: %w", addr, err)
		}
		return tc, nil
	})
}

// TLSMode is a server's tls.server.mode: whether its port speaks TLS.
type TLSMode int

// TLS modes, as RocketMQ's TlsMode.
const (
	// TLSDisabled serves plain TCP only (the default).
	TLSDisabled TLSMode = iota
	// TLSPermissive serves TLS and plain TCP on the same port: a connection
	// whose first byte is 0x16 (a TLS handshake record) is TLS.
	TLSPermissive
	// TLSEnforcing serves TLS only; a plain connection is closed.
	TLSEnforcing
)

func (m TLSMode) String() string {
	switch m {
	case TLSPermissive:
		return "permissive"
	case TLSEnforcing:
		return "enforcing"
	}
	return "disabled"
}

// ParseTLSMode parses disabled, permissive or enforcing.
func ParseTLSMode(s string) (TLSMode, error) {
	switch s {
	case "disabled":
		return TLSDisabled, nil
	case "permissive":
		return TLSPermissive, nil
	case "enforcing":
		return TLSEnforcing, nil
	}
	return 0, fmt.Errorf("want disabled, permissive or enforcing, got %q", s)
}

// tlsHandshakeRecord is the first byte of every TLS connection.
const tlsHandshakeRecord = 0x16

// TLSListener wraps ln so that its connections speak TLS as mode says
// (permissive: decided per connection by its first byte; enforcing: plain
// ones are closed, refused is told their address). TLSDisabled returns ln.
// Servers that speak another protocol than remoting's (the broker's HA
// port) use it; a Server does it itself from ServerConfig.TLSMode.
func TLSListener(ln net.Listener, mode TLSMode, cfg *tls.Config, refused func(remote string)) net.Listener {
	if mode == TLSDisabled {
		return ln
	}
	return &sniffListener{Listener: ln, cfg: cfg, enforce: mode == TLSEnforcing, refused: refused}
}

// sniffListener hands out connections that decide on their first byte
// whether they are TLS. Accept never reads, so a silent peer cannot stall
// the accept loop: the decision happens on the connection's reader.
type sniffListener struct {
	net.Listener
	cfg     *tls.Config
	enforce bool
	refused func(remote string) // a plain connection on an enforcing port
}

func (l *sniffListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &sniffConn{Conn: c, l: l}, nil
}

// sniffConn is a server connection that is TLS or plain, decided by its
// first byte. Deadlines and Close act on the socket directly.
type sniffConn struct {
	net.Conn
	l     *sniffListener
	mu    sync.Mutex
	inner net.Conn // set once decided
}

// errPlainRefused ends a plain connection on an enforcing port.
var errPlainRefused = errors.New("remoting: plain connection refused: this port requires TLS (tls.server.mode=enforcing)")

func (s *sniffConn) decide() (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inner != nil {
		return s.inner, nil
	}
	var b [1]byte
	if _, err := io.ReadFull(s.Conn, b[:]); err != nil {
		return nil, err
	}
	pc := &prefixConn{Conn: s.Conn, prefix: b[:]}
	switch {
	case b[0] == tlsHandshakeRecord:
		s.inner = tls.Server(pc, s.l.cfg)
	case s.l.enforce:
		if s.l.refused != nil {
			s.l.refused(s.Conn.RemoteAddr().String())
		}
		_ = s.Conn.Close()
		return nil, errPlainRefused
	default:
		s.inner = pc
	}
	return s.inner, nil
}

func (s *sniffConn) Read(p []byte) (int, error) {
	c, err := s.decide()
	if err != nil {
		return 0, err
	}
	return c.Read(p)
}

func (s *sniffConn) Write(p []byte) (int, error) {
	c, err := s.decide()
	if err != nil {
		return 0, err
	}
	return c.Write(p)
}

// prefixConn replays prefix before reading from Conn.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// ClientAuth parses tls.server.need.client.auth: none (default), optional
// (verify a certificate if the client sends one) or require.
func ClientAuth(s string) (tls.ClientAuthType, error) {
	switch s {
	case "", "none":
		return tls.NoClientCert, nil
	case "optional":
		return tls.VerifyClientCertIfGiven, nil
	case "require":
		return tls.RequireAndVerifyClientCert, nil
	}
	return 0, fmt.Errorf("want none, optional or require, got %q", s)
}

// CertFiles are a server's PEM files: its certificate chain and key
// (tls.server.certPath, tls.server.keyPath) and, for client certificates,
// the CAs it trusts (tls.server.trustCertPath).
type CertFiles struct {
	CertPath, KeyPath, TrustCertPath string
	ClientAuth                       tls.ClientAuthType
}

// certCheckInterval bounds how often the files are looked at for changes.
const certCheckInterval = time.Second

// ServerTLSConfig loads files and returns a tls.Config that reloads them
// when they change (looked at, at most once a second, on new handshakes):
// a renewed certificate is served without a restart. A change that fails
// to load keeps the previous files' config and is reported through onError
// (may be nil). It fails if the files cannot be loaded now.
func ServerTLSConfig(files CertFiles, onError func(error)) (*tls.Config, error) {
	r := &certReloader{files: files, onError: onError}
	if _, err := r.load(); err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetConfigForClient: r.config}, nil
}

type certReloader struct {
	files   CertFiles
	onError func(error)
	mu      sync.Mutex
	cfg     *tls.Config
	stamp   string    // sizes and modification times of the files loaded
	checked time.Time // last look at the files
}

func (r *certReloader) stampNow() string {
	var sb strings.Builder
	for _, p := range []string{r.files.CertPath, r.files.KeyPath, r.files.TrustCertPath} {
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err == nil {
			fmt.Fprintf(&sb, "%s:%d:%d;", p, st.Size(), st.ModTime().UnixNano())
		}
	}
	return sb.String()
}

// load reads the files and swaps the config in.
func (r *certReloader) load() (*tls.Config, error) {
	stamp := r.stampNow()
	cert, err := tls.LoadX509KeyPair(r.files.CertPath, r.files.KeyPath)
	if err != nil {
		return nil, fmt.Errorf("remoting: TLS certificate: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, ClientAuth: r.files.ClientAuth}
	if r.files.TrustCertPath != "" {
		pem, err := os.ReadFile(r.files.TrustCertPath)
		if err != nil {
			return nil, fmt.Errorf("remoting: TLS trust certificates: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("remoting: TLS trust certificates: no PEM certificate in %s", r.files.TrustCertPath)
		}
		cfg.ClientCAs = pool
	}
	r.mu.Lock()
	r.cfg, r.stamp, r.checked = cfg, stamp, time.Now()
	r.mu.Unlock()
	return cfg, nil
}

func (r *certReloader) config(*tls.ClientHelloInfo) (*tls.Config, error) {
	r.mu.Lock()
	cfg := r.cfg
	due := time.Since(r.checked) >= certCheckInterval
	if due {
		r.checked = time.Now()
	}
	stamp := r.stamp
	r.mu.Unlock()
	if !due || r.stampNow() == stamp {
		return cfg, nil
	}
	fresh, err := r.load()
	if err != nil {
		if r.onError != nil {
			r.onError(err)
		}
		return cfg, nil
	}
	return fresh, nil
}

// ClientTLSConfig returns the client side: trusting the CAs in
// trustCertPath (tls.client.trustCertPath; "" means the system roots),
// presenting certPath/keyPath if both are set (for servers that require
// client certificates), and skipping verification only if insecure (as
// RocketMQ's tls.test.mode.enable; never in production).
func ClientTLSConfig(trustCertPath, certPath, keyPath string, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // opt-in test mode
	if trustCertPath != "" {
		pem, err := os.ReadFile(trustCertPath)
		if err != nil {
			return nil, fmt.Errorf("remoting: TLS trust certificates: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("remoting: TLS trust certificates: no PEM certificate in %s", trustCertPath)
		}
		cfg.RootCAs = pool
	}
	if certPath != "" && keyPath != "" {
		cert, err := tls.LoadX509KeyPair(certPath, keyPath)
		if err != nil {
			return nil, fmt.Errorf("remoting: TLS client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// TLSSettings are RocketMQ's TLS settings as files name them, for servers
// and for the connections a server makes itself. The zero value is TLS off.
type TLSSettings struct {
	// ServerMode is tls.server.mode: disabled (default, ""), permissive or
	// enforcing.
	ServerMode string
	// ServerCertPath, ServerKeyPath are tls.server.certPath and
	// tls.server.keyPath: PEM certificate chain and key.
	ServerCertPath, ServerKeyPath string
	// ServerTrustCertPath is tls.server.trustCertPath: PEM CAs that client
	// certificates must chain to.
	ServerTrustCertPath string
	// ServerNeedClientAuth is tls.server.need.client.auth: none (default),
	// optional or require.
	ServerNeedClientAuth string
	// ClientEnable is tls.enable: the server's own outgoing connections
	// (a broker's to name servers and its master) use TLS.
	ClientEnable bool
	// ClientTrustCertPath is tls.client.trustCertPath: PEM CAs the outgoing
	// connections trust; "" means the system roots.
	ClientTrustCertPath string
	// ClientCertPath, ClientKeyPath are tls.client.certPath and
	// tls.client.keyPath: the client certificate, for servers that require
	// one.
	ClientCertPath, ClientKeyPath string
	// ClientInsecure is tls.test.mode.enable: skip verifying the server's
	// certificate. Default false (RocketMQ defaults to true; Petrel does
	// not trust anything by default).
	ClientInsecure bool
}

// Server returns the mode and configuration of a server port; the
// configuration reloads changed certificate files, and reload errors go to
// onError (may be nil).
func (s TLSSettings) Server(onError func(error)) (TLSMode, *tls.Config, error) {
	mode := TLSDisabled
	if s.ServerMode != "" {
		var err error
		if mode, err = ParseTLSMode(s.ServerMode); err != nil {
			return 0, nil, fmt.Errorf("tls.server.mode: %w", err)
		}
	}
	if mode == TLSDisabled {
		return mode, nil, nil
	}
	if s.ServerCertPath == "" || s.ServerKeyPath == "" {
		return 0, nil, fmt.Errorf("tls.server.mode=%s needs tls.server.certPath and tls.server.keyPath", mode)
	}
	auth, err := ClientAuth(s.ServerNeedClientAuth)
	if err != nil {
		return 0, nil, fmt.Errorf("tls.server.need.client.auth: %w", err)
	}
	cfg, err := ServerTLSConfig(CertFiles{CertPath: s.ServerCertPath, KeyPath: s.ServerKeyPath,
		TrustCertPath: s.ServerTrustCertPath, ClientAuth: auth}, onError)
	if err != nil {
		return 0, nil, err
	}
	return mode, cfg, nil
}

// Client returns the configuration of outgoing connections, nil unless
// ClientEnable.
func (s TLSSettings) Client() (*tls.Config, error) {
	if !s.ClientEnable {
		return nil, nil
	}
	return ClientTLSConfig(s.ClientTrustCertPath, s.ClientCertPath, s.ClientKeyPath, s.ClientInsecure)
}
