package remoting

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"
)

// tlsDialer wraps d so that every connection is a TLS client connection,
// handshaken before it is returned.
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
