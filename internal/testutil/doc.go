// Package testutil is the in-process test harness: StartCluster runs a name
// server and a broker on loopback ports with their data in t.TempDir(), both
// closed by t.Cleanup, and WaitFor polls a condition with a deadline instead of
// sleeping.
//
// Example:
//
//	c := testutil.StartCluster(t)
//	p, _ := producer.NewDefaultProducer(producer.WithNameServer([]string{c.NameServerAddr}))
//	...
//	testutil.WaitFor(t, 5*time.Second, func() bool { return received.Load() == 10 })
//
// Everything here is safe for concurrent use by parallel tests; each
// StartCluster call owns its own servers and directories.
//
// Imports: anything, as test support: it wires the name server and broker for
// tests, so only tests import it.
package testutil
