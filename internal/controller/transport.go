package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// One port serves both Raft and the brokers, as RocketMQ's controllers do (a
// broker's controllerAddr lists the controllerDLegerPeers addresses). The
// first byte of a connection tells them apart: a remoting frame starts with
// the high byte of its length, which is below 0x40 for any frame Petrel
// accepts (1 GiB at most), while a Raft connection starts with raftMagic,
// then one byte of length and the Raft group's name, which the accepting
// side checks, so that controllers of two groups never mix; with aclEnable a
// signed handshake follows (raftauth.go).
const (
	raftMagic byte = 0xFE
	// sniffTimeout bounds the wait for a new connection's first bytes.
	sniffTimeout = 10 * time.Second
	// maxSniffing bounds the connections whose first bytes are awaited.
	maxSniffing = 256
)

// mux splits one listener into a Raft listener and a remoting listener.
//
// Goroutines: the accept loop, and one per connection while its first bytes
// are read (at most maxSniffing). start launches them; close stops them and
// waits. The sub-listeners' Close only stops their Accept; close closes the
// real listener.
type mux struct {
	ln    net.Listener
	group string
	auth  *raftAuth // nil: Raft connections are checked by group only
	log   *slog.Logger
	raft  *subListener
	rpc   *subListener
	sem   chan struct{}
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
	// conns are the Raft connections, accepted and dialled, open now: Raft's
	// transport does not close them on Close (its per-connection goroutines
	// would block reading forever), so close does.
	conns struct {
		sync.Mutex
		m      map[*raftConn]struct{}
		closed bool
	}
}

// raftConn is a tracked Raft connection.
type raftConn struct {
	net.Conn
	m    *mux
	once sync.Once
}

func (c *raftConn) Close() error {
	var err error
	c.once.Do(func() {
		c.m.conns.Lock()
		delete(c.m.conns.m, c)
		c.m.conns.Unlock()
		err = c.Conn.Close()
	})
	return err
}

// track registers a Raft connection, or closes it if the mux is closed.
func (m *mux) track(c net.Conn) (net.Conn, error) {
	rc := &raftConn{Conn: c, m: m}
	m.conns.Lock()
	defer m.conns.Unlock()
	if m.conns.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	m.conns.m[rc] = struct{}{}
	return rc, nil
}

func newMux(ln net.Listener, group string, log *slog.Logger) *mux {
	m := &mux{ln: ln, group: group, log: log, sem: make(chan struct{}, maxSniffing), done: make(chan struct{})}
	m.conns.m = map[*raftConn]struct{}{}
	m.raft = &subListener{m: m, ch: make(chan net.Conn), closed: make(chan struct{})}
	m.rpc = &subListener{m: m, ch: make(chan net.Conn), closed: make(chan struct{})}
	return m
}

func (m *mux) start() {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		pprof.Do(context.Background(), pprof.Labels("controller", "mux-accept"), func(context.Context) { m.acceptLoop() })
	}()
}

// close closes the listener, every connection not yet handed over and every
// Raft connection, and waits for the mux's goroutines.
func (m *mux) close() error {
	var err error
	m.once.Do(func() {
		close(m.done)
		err = m.ln.Close()
	})
	m.wg.Wait()
	m.conns.Lock()
	m.conns.closed = true
	open := make([]*raftConn, 0, len(m.conns.m))
	for c := range m.conns.m {
		open = append(open, c)
	}
	m.conns.Unlock()
	for _, c := range open {
		_ = c.Close()
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (m *mux) acceptLoop() {
	var backoff time.Duration
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			m.log.Warn("controller: accept failed", "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-m.done:
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		select {
		case m.sem <- struct{}{}:
		case <-m.done:
			_ = c.Close()
			return
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			defer func() { <-m.sem }()
			m.sniff(c)
		}()
	}
}

// sniff reads the first bytes of c and hands it to the Raft or the remoting
// listener, or closes it.
func (m *mux) sniff(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(sniffTimeout))
	var first [1]byte
	if _, err := io.ReadFull(c, first[:]); err != nil {
		_ = c.Close()
		return
	}
	if first[0] != raftMagic {
		_ = c.SetReadDeadline(time.Time{})
		m.rpc.handOver(&prefixConn{Conn: c, prefix: first[:]})
		return
	}
	var n [1]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		_ = c.Close()
		return
	}
	group := make([]byte, n[0])
	if _, err := io.ReadFull(c, group); err != nil {
		_ = c.Close()
		return
	}
	if string(group) != m.group {
		m.log.Warn("controller: refused a Raft connection from another group", "peer", c.RemoteAddr().String(),
			"group", string(group), "want", m.group)
		_ = c.Close()
		return
	}
	if m.auth != nil {
		_ = c.SetWriteDeadline(time.Now().Add(sniffTimeout))
		if err := m.auth.accept(c, m.group); err != nil {
			m.log.Warn("controller: refused a Raft connection", "peer", c.RemoteAddr().String(), "err", err)
			_ = c.Close()
			return
		}
		_ = c.SetWriteDeadline(time.Time{})
	}
	_ = c.SetReadDeadline(time.Time{})
	tc, err := m.track(c)
	if err != nil {
		return
	}
	m.raft.handOver(tc)
}

// subListener is one side of a mux.
type subListener struct {
	m      *mux
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *subListener) handOver(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.closed:
		_ = c.Close()
	case <-l.m.done:
		_ = c.Close()
	}
}

// Accept waits for the next connection of this side.
func (l *subListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-l.m.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept; the real listener is closed by the mux.
func (l *subListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

// Addr is the real listener's address.
func (l *subListener) Addr() net.Addr { return l.m.ln.Addr() }

// prefixConn is a connection whose first bytes were already read.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// streamLayer is the Raft transport's network: the mux's Raft side for
// accepting, and dials that send the preamble.
type streamLayer struct {
	*subListener
	advertise raftAddr
	preamble  []byte
	group     string
}

var _ raft.StreamLayer = (*streamLayer)(nil)

func newStreamLayer(l *subListener, advertise, group string) (*streamLayer, error) {
	if len(group) > 255 {
		return nil, fmt.Errorf("controller: group name %q is longer than 255 bytes", group)
	}
	pre := append([]byte{raftMagic, byte(len(group))}, group...)
	return &streamLayer{subListener: l, advertise: raftAddr(advertise), preamble: pre, group: group}, nil
}

// Addr is the address the other controllers know this one by.
func (s *streamLayer) Addr() net.Addr { return s.advertise }

// Dial connects to a controller and sends the preamble.
func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp", string(address))
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(max(timeout, handshakeTimeout)))
	if _, err := c.Write(s.preamble); err != nil {
		_ = c.Close()
		return nil, err
	}
	if a := s.m.auth; a != nil {
		if err := a.dial(c, s.group); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	_ = c.SetDeadline(time.Time{})
	return s.m.track(c)
}

// raftAddr is an advertised host:port.
type raftAddr string

func (a raftAddr) Network() string { return "tcp" }
func (a raftAddr) String() string  { return string(a) }
