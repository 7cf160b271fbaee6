package integration

import (
	"testing"

	"github.com/petrelmq/petrel/internal/testutil"
)

// env is a running cluster: one name server and one broker on loopback.
type env struct {
	nsAddr     string
	brokerAddr string
	brokerName string
	cluster    *testutil.Cluster
}

// startEnv starts a cluster for t, or skips t under the race detector (see
// testutil.SkipOfficialClientUnderRace).
func startEnv(t *testing.T, opts ...testutil.Option) *env {
	t.Helper()
	testutil.SkipOfficialClientUnderRace(t)
	c := testutil.StartCluster(t, opts...)
	return &env{nsAddr: c.NameServerAddr, brokerAddr: c.BrokerAddr, brokerName: "broker-a", cluster: c}
}
