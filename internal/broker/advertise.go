package broker

import (
	"net"
	"net/netip"
)

// hostAddrs lists this host's interfaces and their addresses, for the
// brokerIP1 default (advertisedIP takes the list, so tests pass their own).
func hostAddrs() ([]ifaceAddrs, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	out := make([]ifaceAddrs, 0, len(ifs))
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		ia := ifaceAddrs{up: ifc.Flags&net.FlagUp != 0, loopback: ifc.Flags&net.FlagLoopback != 0}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok {
					ia.addrs = append(ia.addrs, ip.Unmap())
				}
			}
		}
		out = append(out, ia)
	}
	return out, nil
}

// ifaceAddrs is one network interface as advertisedIP sees it.
type ifaceAddrs struct {
	up, loopback bool
	addrs        []netip.Addr
}

// advertisedIP is the address the broker advertises (brokerIP1) and how it
// was chosen: the configured brokerIP1; else the host of listenAddr when it
// binds one address (a broker bound to 127.0.0.1 advertises 127.0.0.1); else,
// as RocketMQ does, the first IPv4 address of an interface that is up and not
// loopback (in a container: the container's address on its network); else
// 127.0.0.1.
func (c *Config) advertisedIP(ifs []ifaceAddrs) (ip netip.Addr, how string) {
	if c.BrokerIP1 != "" {
		return netip.MustParseAddr(c.BrokerIP1), "brokerIP1"
	}
	if host, _, err := net.SplitHostPort(c.listenAddr()); err == nil {
		if ip, err := netip.ParseAddr(host); err == nil && !ip.IsUnspecified() {
			return ip.Unmap(), "listen address"
		}
	}
	if ip, ok := firstNonLoopback(ifs); ok {
		return ip, "first non-loopback interface address"
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1}), "no non-loopback interface address; loopback"
}

// firstNonLoopback returns the first IPv4 address of an up, non-loopback
// interface that is neither loopback nor link-local.
func firstNonLoopback(ifs []ifaceAddrs) (netip.Addr, bool) {
	for _, ifc := range ifs {
		if !ifc.up || ifc.loopback {
			continue
		}
		for _, ip := range ifc.addrs {
			if ip.Is4() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() && !ip.IsUnspecified() {
				return ip, true
			}
		}
	}
	return netip.Addr{}, false
}
