package testutil

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"testing"
)

// StablePort returns a TCP port that is free on every interface now and lies
// below the kernel's ephemeral range, for a server a test stops and starts
// again on the same port (a broker restarted by failover, a killed process
// restarted on its store). A port picked by binding :0 lies inside the
// ephemeral range: between two binds any outgoing connection on the machine
// may take it as its local port, and the restart then fails with "address
// already in use" for as long as that connection lives.
func StablePort(t testing.TB) int {
	t.Helper()
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var a, z int
		if _, err := fmt.Sscanf(strings.TrimSpace(string(b)), "%d %d", &a, &z); err == nil && a > 11000 {
			lo = a
		}
	}
	const base = 10000
	for range 200 {
		p := base + rand.IntN(lo-base)
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", p))
		if err != nil {
			continue
		}
		_ = ln.Close()
		return p
	}
	t.Fatalf("testutil: no free port in [%d, %d)", base, lo)
	return 0
}
