// Package nemesis holds fault injectors for tests: Proxy, a TCP forwarder a
// test can cut to make a network partition without touching the host's
// firewall.
//
// Imports: the standard library only.
package nemesis

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy is a TCP forwarder a test can cut: while blocked it closes every
// connection it carries and every new one at once, so the two sides see a
// network partition (connection resets and refused reconnects) without
// touching the host's firewall.
type Proxy struct {
	ln      net.Listener
	target  string
	blocked atomic.Bool

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// New starts a proxy on 127.0.0.1 to target; t.Cleanup closes it.
func New(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() {
		_ = ln.Close()
		p.closeAll()
	})
	go p.accept()
	return p
}

// Addr is the proxy's address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Block cuts the link: open connections are closed, new ones refused.
func (p *Proxy) Block() {
	p.blocked.Store(true)
	p.closeAll()
}

// Unblock heals the link.
func (p *Proxy) Unblock() { p.blocked.Store(false) }

func (p *Proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.blocked.Load() {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) accept() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.blocked.Load() {
			_ = in.Close()
			continue
		}
		go func() {
			out, err := net.Dial("tcp", p.target)
			if err != nil {
				_ = in.Close()
				return
			}
			if !p.track(in, out) {
				_ = in.Close()
				_ = out.Close()
				return
			}
			pipe := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				_ = dst.Close()
				_ = src.Close()
			}
			go pipe(out, in)
			pipe(in, out)
		}()
	}
}
