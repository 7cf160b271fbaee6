// Package nemesis holds fault injectors for tests: Proxy, a TCP forwarder a
// test can cut to make a network partition without touching the host's
// firewall, or (NewFramed) that reads RocketMQ remoting frames and can
// swallow chosen answers, so a client times out and retries a request the
// server has served.
//
// Imports: the standard library and pkg/protocol.
package nemesis

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/petrelmq/petrel/pkg/protocol"
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

	// Framed proxies only (NewFramed): the answers to swallow.
	framed  bool
	dropMu  sync.Mutex
	dropN   int                    // requests whose answers are still to swallow
	dropFor []protocol.RequestCode // of these codes
	dropped []*protocol.Command    // answers swallowed so far
}

// NewFramed starts a proxy like New that forwards whole remoting frames
// (4-byte length, then the frame) and can swallow answers (DropAnswers).
func NewFramed(t testing.TB, target string) *Proxy {
	t.Helper()
	return start(t, target, true)
}

// DropAnswers makes a framed proxy swallow the answers to the next n
// requests with one of codes that pass through it (any connection): the
// server serves them, the client never hears back.
func (p *Proxy) DropAnswers(n int, codes ...protocol.RequestCode) {
	if !p.framed {
		panic("nemesis: DropAnswers needs a proxy from NewFramed")
	}
	p.dropMu.Lock()
	defer p.dropMu.Unlock()
	p.dropN, p.dropFor = n, codes
}

// Dropped returns the answers swallowed so far, oldest first.
func (p *Proxy) Dropped() []*protocol.Command {
	p.dropMu.Lock()
	defer p.dropMu.Unlock()
	return slices.Clone(p.dropped)
}

// readFrame reads one raw frame (length field included).
func readFrame(r *bufio.Reader) ([]byte, error) {
	var l [4]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(l[:])
	if n > protocol.DefaultMaxFrameSize {
		return nil, io.ErrUnexpectedEOF
	}
	f := make([]byte, 4+int(n))
	copy(f, l[:])
	_, err := io.ReadFull(r, f[4:])
	return f, err
}

// pipeFrames forwards frames both ways between client in and server out,
// noting the opaques of requests whose answers are to be swallowed and
// swallowing those answers.
func (p *Proxy) pipeFrames(in, out net.Conn) {
	var mu sync.Mutex
	swallow := map[int32]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := bufio.NewReader(in)
		for {
			f, err := readFrame(r)
			if err != nil {
				break
			}
			if c, err := protocol.DecodeFrame(f, 0); err == nil && !c.IsResponse() && p.takeDrop(c.RequestCode()) {
				mu.Lock()
				swallow[c.Opaque] = true
				mu.Unlock()
			}
			if _, err := out.Write(f); err != nil {
				break
			}
		}
		_ = out.Close()
		_ = in.Close()
	}()
	r := bufio.NewReader(out)
	for {
		f, err := readFrame(r)
		if err != nil {
			break
		}
		if c, err := protocol.DecodeFrame(f, 0); err == nil && c.IsResponse() {
			mu.Lock()
			drop := swallow[c.Opaque]
			delete(swallow, c.Opaque)
			mu.Unlock()
			if drop {
				p.dropMu.Lock()
				p.dropped = append(p.dropped, c)
				p.dropMu.Unlock()
				continue
			}
		}
		if _, err := in.Write(f); err != nil {
			break
		}
	}
	_ = in.Close()
	_ = out.Close()
	<-done
}

func (p *Proxy) takeDrop(code protocol.RequestCode) bool {
	p.dropMu.Lock()
	defer p.dropMu.Unlock()
	if p.dropN > 0 && slices.Contains(p.dropFor, code) {
		p.dropN--
		return true
	}
	return false
}

// New starts a proxy on 127.0.0.1 to target; t.Cleanup closes it.
func New(t testing.TB, target string) *Proxy {
	t.Helper()
	return start(t, target, false)
}

func start(t testing.TB, target string, framed bool) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}, framed: framed}
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
			if p.framed {
				p.pipeFrames(in, out)
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
