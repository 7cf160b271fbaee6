package acl

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// addrMatcher matches a client's IP address against a whiteRemoteAddress or
// globalWhiteRemoteAddresses pattern. The zero value matches nothing.
type addrMatcher struct {
	all   bool
	exact []netip.Addr
	// ranges are IPv4 patterns, one [lo, hi] per octet.
	ranges [][4][2]uint8
}

// parseAddrPattern parses the forms RocketMQ's RemoteAddressStrategyFactory
// accepts:
//
//	""                         nothing (an account without a white address)
//	"*", "*.*.*.*", "*:*:*:*:*:*:*:*"   everyone
//	"192.168.0.1"              one address (IPv4 or IPv6)
//	"192.168.0.1,10.0.0.2"     a list of addresses
//	"192.168.0.{1,2,30}"       a list in the last octet
//	"192.168.*.*", "192.168.1.10-20"   octets as *, n or n-m (IPv4)
func parseAddrPattern(s string) (addrMatcher, error) {
	s = strings.TrimSpace(s)
	var m addrMatcher
	switch s {
	case "":
		return m, nil
	case "*", "*.*.*.*", "*:*:*:*:*:*:*:*":
		m.all = true
		return m, nil
	}
	if i := strings.IndexByte(s, '{'); i >= 0 {
		if !strings.HasSuffix(s, "}") || i == 0 {
			return m, fmt.Errorf("address pattern %q: want prefix{a,b,...}", s)
		}
		prefix := s[:i]
		for _, last := range strings.Split(s[i+1:len(s)-1], ",") {
			a, err := netip.ParseAddr(prefix + strings.TrimSpace(last))
			if err != nil {
				return m, fmt.Errorf("address pattern %q: %w", s, err)
			}
			m.exact = append(m.exact, a.Unmap())
		}
		return m, nil
	}
	if strings.Contains(s, ",") {
		for _, one := range strings.Split(s, ",") {
			a, err := netip.ParseAddr(strings.TrimSpace(one))
			if err != nil {
				return m, fmt.Errorf("address pattern %q: %w", s, err)
			}
			m.exact = append(m.exact, a.Unmap())
		}
		return m, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		m.exact = append(m.exact, a.Unmap())
		return m, nil
	}
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return m, fmt.Errorf("address pattern %q is not an address, a list, a {..} list or an IPv4 pattern", s)
	}
	var r [4][2]uint8
	for i, p := range parts {
		lo, hi, err := octetRange(p)
		if err != nil {
			return m, fmt.Errorf("address pattern %q: %w", s, err)
		}
		r[i] = [2]uint8{lo, hi}
	}
	m.ranges = append(m.ranges, r)
	return m, nil
}

// octetRange parses "*", "n" or "n-m" with 0 <= n <= m <= 255.
func octetRange(p string) (lo, hi uint8, err error) {
	p = strings.TrimSpace(p)
	if p == "*" {
		return 0, 255, nil
	}
	a, b, isRange := strings.Cut(p, "-")
	if !isRange {
		b = a
	}
	x, err1 := strconv.ParseUint(a, 10, 8)
	y, err2 := strconv.ParseUint(b, 10, 8)
	if err1 != nil || err2 != nil || x > y {
		return 0, 0, fmt.Errorf("octet %q is not *, 0-255 or a range n-m", p)
	}
	return uint8(x), uint8(y), nil
}

// match reports whether the host part of remote ("ip:port" or "ip")
// matches.
func (m *addrMatcher) match(ip netip.Addr) bool {
	if m.all {
		return true
	}
	if !ip.IsValid() {
		return false
	}
	for _, a := range m.exact {
		if a == ip {
			return true
		}
	}
	if ip.Is4() {
		b := ip.As4()
	next:
		for _, r := range m.ranges {
			for i := range 4 {
				if b[i] < r[i][0] || b[i] > r[i][1] {
					continue next
				}
			}
			return true
		}
	}
	return false
}

// remoteIP returns the IP of remote ("ip:port", "[ipv6]:port" or a bare IP),
// or the zero Addr.
func remoteIP(remote string) netip.Addr {
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}
