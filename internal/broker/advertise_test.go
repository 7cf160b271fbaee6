package broker

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// Without brokerIP1 the broker advertises what clients can dial: the address
// it binds, else the first non-loopback interface address (a container's
// address on its network), as RocketMQ does; never 0.0.0.0.
func TestAdvertisedIP(t *testing.T) {
	t.Parallel()
	a := netip.MustParseAddr
	lo := ifaceAddrs{up: true, loopback: true, addrs: []netip.Addr{a("127.0.0.1"), a("::1")}}
	eth0 := ifaceAddrs{up: true, addrs: []netip.Addr{a("fe80::1"), a("169.254.3.4"), a("172.18.0.5")}}
	docker0 := ifaceAddrs{up: true, addrs: []netip.Addr{a("172.17.0.1")}}
	down := ifaceAddrs{addrs: []netip.Addr{a("10.9.9.9")}}
	v6only := ifaceAddrs{up: true, addrs: []netip.Addr{a("2001:db8::5")}}
	f := func(brokerIP1, listenAddr string, ifs []ifaceAddrs, want, how string) {
		t.Helper()
		c := DefaultConfig()
		c.BrokerIP1, c.ListenAddr = brokerIP1, listenAddr
		require.NoError(t, c.Validate())
		ip, gotHow := c.advertisedIP(ifs)
		require.Equal(t, want, ip.String())
		require.Equal(t, how, gotHow)
	}
	all := []ifaceAddrs{lo, down, eth0, docker0}
	f("10.0.0.9", "", all, "10.0.0.9", "brokerIP1")
	f("10.0.0.9", "127.0.0.1:0", all, "10.0.0.9", "brokerIP1")
	f("", "127.0.0.1:0", all, "127.0.0.1", "listen address")
	f("", "192.0.2.7:10911", all, "192.0.2.7", "listen address")
	f("", "", all, "172.18.0.5", "first non-loopback interface address")
	f("", "0.0.0.0:10911", all, "172.18.0.5", "first non-loopback interface address")
	f("", "[::]:10911", []ifaceAddrs{lo, docker0, eth0}, "172.17.0.1", "first non-loopback interface address")
	f("", "", []ifaceAddrs{lo, down, v6only}, "127.0.0.1", "no non-loopback interface address; loopback")
	f("", "", nil, "127.0.0.1", "no non-loopback interface address; loopback")
}

// brokerIP2 is bound, validated like brokerIP1, and is the host of the HA
// address registered with the name servers; unset, it is brokerIP1.
func TestBrokerIP2(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	require.Empty(t, c.BrokerIP1)
	require.Empty(t, c.BrokerIP2)
	adv := netip.MustParseAddrPort("172.18.0.5:10911")
	require.Equal(t, "172.18.0.5", haIP(&c, adv).String())
	c.BrokerIP2 = "10.1.2.3"
	require.NoError(t, c.Validate())
	require.Equal(t, "10.1.2.3", haIP(&c, adv).String())

	for _, bad := range []string{"0.0.0.0", "broker-a"} {
		c := DefaultConfig()
		c.BrokerIP2 = bad
		require.ErrorContains(t, c.Validate(), "key brokerIP2")
	}
}
