package remoting

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// addrLimiter caps connections and the request rate per remote IP address
// (ServerConfig.MaxConnsPerAddr, MaxRequestsPerSecondPerAddr). An address's
// state lives while it has connections.
type addrLimiter struct {
	maxConns int
	rate     float64 // requests per second; 0 means no limit
	mu       sync.Mutex
	by       map[netip.Addr]*addrState
}

type addrState struct {
	conns  int
	tokens float64 // token bucket of rate tokens a second, holding at most rate
	last   time.Time
}

func newAddrLimiter(maxConns, rate int) *addrLimiter {
	if maxConns <= 0 && rate <= 0 {
		return nil
	}
	return &addrLimiter{maxConns: maxConns, rate: float64(rate), by: map[netip.Addr]*addrState{}}
}

// peerIP returns the IP of a connection's remote address, or the zero Addr.
func peerIP(nc net.Conn) netip.Addr {
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// admit counts a new connection from ip, or reports false if ip has
// maxConns already.
func (l *addrLimiter) admit(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.by[ip]
	if st == nil {
		st = &addrState{tokens: l.rate, last: time.Now()}
		l.by[ip] = st
	}
	if l.maxConns > 0 && st.conns >= l.maxConns {
		return false
	}
	st.conns++
	return true
}

// release forgets a closed connection of ip.
func (l *addrLimiter) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.by[ip]
	if st == nil {
		return
	}
	if st.conns--; st.conns <= 0 {
		delete(l.by, ip)
	}
}

// allow takes one request token of ip, reporting false when its rate is
// spent.
func (l *addrLimiter) allow(ip netip.Addr, now time.Time) bool {
	if l.rate <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.by[ip]
	if st == nil {
		return true // the connection is closing
	}
	st.tokens = min(l.rate, st.tokens+now.Sub(st.last).Seconds()*l.rate)
	st.last = now
	if st.tokens < 1 {
		return false
	}
	st.tokens--
	return true
}
