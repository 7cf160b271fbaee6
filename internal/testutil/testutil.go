package testutil

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/namesrv"
	"github.com/petrelmq/petrel/internal/testutil/poll"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// WaitFor calls fn every few milliseconds until it returns true, and fails the
// test if that does not happen within timeout.
// It is poll.WaitFor, kept for the tests that use the cluster harness.
func WaitFor(t testing.TB, timeout time.Duration, fn func() bool) {
	t.Helper()
	poll.WaitFor(t, timeout, fn)
}

// Cluster is a running name server and broker. Both are closed by t.Cleanup.
type Cluster struct {
	NameServer *namesrv.Server
	Broker     *broker.Broker
	// NameServerAddr is the name server's "127.0.0.1:port".
	NameServerAddr string
	// BrokerAddr is the broker's advertised "127.0.0.1:port".
	BrokerAddr string
	// StoreDir is the broker's storePathRootDir.
	StoreDir string
}

type options struct {
	brokerCfg  []func(*broker.Config)
	namesrvCfg []func(*namesrv.Config)
	log        *slog.Logger
}

// Option changes how StartCluster builds the servers.
type Option func(*options)

// WithBrokerConfig lets f change the broker's config after the harness has set
// its listen address, name server and store directory.
func WithBrokerConfig(f func(*broker.Config)) Option {
	return func(o *options) { o.brokerCfg = append(o.brokerCfg, f) }
}

// WithNameServerConfig lets f change the name server's config.
func WithNameServerConfig(f func(*namesrv.Config)) Option {
	return func(o *options) { o.namesrvCfg = append(o.namesrvCfg, f) }
}

// WithLogger sends both servers' logs to log (default: discarded).
func WithLogger(log *slog.Logger) Option {
	return func(o *options) { o.log = log }
}

// StartCluster starts a name server and one broker ("broker-a" of
// "DefaultCluster") on 127.0.0.1 ephemeral ports, with the broker's store in a
// fresh t.TempDir(). It returns once the broker has registered, so routes of
// its topics (TBW102 included) are available. Failures end the test.
func StartCluster(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	o := options{log: slog.New(slog.DiscardHandler)}
	for _, f := range opts {
		f(&o)
	}
	dir := t.TempDir()
	ctx := context.Background()
	ns, nsAddr := startNameServer(t, &o, dir)

	bcfg := broker.DefaultConfig()
	bcfg.ListenAddr = "127.0.0.1:0"
	bcfg.BrokerIP1 = "127.0.0.1"
	bcfg.NameServers = []string{nsAddr}
	bcfg.Store.RootDir = filepath.Join(dir, "store")
	bcfg.FS = vfs.OS
	// Sends that wait longer than waitTimeMillsInSendQueue (200 ms) are shed
	// with TIMEOUT_CLEAN_QUEUE, as RocketMQ does; on a machine loaded with
	// other test runs a test's sends can wait that long, so test brokers
	// allow 10 s unless a test sets it.
	bcfg.WaitTimeInSendQueue = testSendQueueWait
	for _, f := range o.brokerCfg {
		f(&bcfg)
	}
	b, err := broker.New(bcfg, o.log.With("server", "broker"), clock.Real{})
	if err != nil {
		t.Fatalf("testutil: broker config: %v", err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatalf("testutil: start broker: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("testutil: close broker: %v", err)
		}
	})
	return &Cluster{NameServer: ns, Broker: b, NameServerAddr: nsAddr, BrokerAddr: b.Addr(), StoreDir: bcfg.Store.RootDir}
}

// StartNameServer starts a name server alone on a 127.0.0.1 ephemeral port
// and returns it with its address; it is closed by t.Cleanup.
func StartNameServer(t testing.TB, opts ...Option) (*namesrv.Server, string) {
	t.Helper()
	o := options{log: slog.New(slog.DiscardHandler)}
	for _, f := range opts {
		f(&o)
	}
	return startNameServer(t, &o, t.TempDir())
}

func startNameServer(t testing.TB, o *options, dir string) (*namesrv.Server, string) {
	t.Helper()
	ncfg := namesrv.DefaultConfig()
	ncfg.ListenAddr = "127.0.0.1:0"
	ncfg.KVConfigPath = filepath.Join(dir, "namesrv", "kvConfig.json")
	ncfg.FS = vfs.OS
	for _, f := range o.namesrvCfg {
		f(&ncfg)
	}
	ns, err := namesrv.New(ncfg, o.log.With("server", "namesrv"), clock.Real{})
	if err != nil {
		t.Fatalf("testutil: name server config: %v", err)
	}
	if err := ns.Start(context.Background()); err != nil {
		t.Fatalf("testutil: start name server: %v", err)
	}
	t.Cleanup(func() { _ = ns.Close() })
	return ns, ns.Addr().String()
}

// Slave is a slave broker started by StartSlave.
type Slave struct {
	Broker   *broker.Broker
	Addr     string
	StoreDir string
}

// StartSlave starts a slave (brokerRole=SLAVE, the given id > 0) of c's
// broker on 127.0.0.1, registered with c's name server; it finds its master
// through the name server as RocketMQ's slaves do. opts' broker changes apply
// after the harness's (the master's brokerName and cluster are copied from
// WithBrokerConfig options passed here, so pass the same ones the master got).
// The slave is closed by t.Cleanup.
// testSendQueueWait is test brokers' waitTimeMillsInSendQueue.
const testSendQueueWait = 10 * time.Second

func StartSlave(t testing.TB, c *Cluster, id int64, opts ...Option) *Slave {
	t.Helper()
	o := options{log: slog.New(slog.DiscardHandler)}
	for _, f := range opts {
		f(&o)
	}
	bcfg := broker.DefaultConfig()
	bcfg.ListenAddr = "127.0.0.1:0"
	bcfg.BrokerIP1 = "127.0.0.1"
	bcfg.NameServers = []string{c.NameServerAddr}
	bcfg.Store.RootDir = filepath.Join(t.TempDir(), "slave-store")
	bcfg.FS = vfs.OS
	bcfg.WaitTimeInSendQueue = testSendQueueWait
	for _, f := range o.brokerCfg {
		f(&bcfg)
	}
	bcfg.BrokerRole = broker.RoleSlave
	bcfg.BrokerID = id
	b, err := broker.New(bcfg, o.log.With("server", "slave"), clock.Real{})
	if err != nil {
		t.Fatalf("testutil: slave config: %v", err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatalf("testutil: start slave: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("testutil: close slave: %v", err)
		}
	})
	return &Slave{Broker: b, Addr: b.Addr(), StoreDir: bcfg.Store.RootDir}
}

// Registration is a REGISTER_BROKER that RegisterBroker sends on a broker's
// behalf, to stage route changes a test cannot get from a real broker (a
// slave promoted to master registering as brokerId 0 from its own address).
type Registration struct {
	Cluster      string // default "DefaultCluster"
	BrokerName   string
	BrokerAddr   string
	BrokerID     int64
	HAServerAddr string
	// Topics maps each topic to its read and write queue count (perm 6).
	Topics      map[string]int32
	DataVersion int64
}

// Registrar sends REGISTER_BROKER to one name server on a connection of its
// own, which stays open until the test ends (the name server drops the
// addresses registered on a connection when it closes).
type Registrar struct {
	t      testing.TB
	nsAddr string
	cl     *remoting.Client
}

// NewRegistrar returns a Registrar for the name server at nsAddr; t.Cleanup
// closes its connection.
func NewRegistrar(t testing.TB, nsAddr string) *Registrar {
	t.Helper()
	cl := remoting.NewClient(remoting.DefaultClientConfig(), slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = cl.Close() })
	return &Registrar{t: t, nsAddr: nsAddr, cl: cl}
}

// Register sends r and returns the master address the name server answered
// (for a slave whose master is registered). Failures end the test.
func (g *Registrar) Register(r Registration) string {
	g.t.Helper()
	if r.Cluster == "" {
		r.Cluster = "DefaultCluster"
	}
	rb := &body.RegisterBody{Topics: body.TopicConfigWrapper{
		DataVersion:      body.DataVersion{Counter: r.DataVersion, Timestamp: time.Now().UnixMilli()},
		TopicConfigTable: map[string]body.TopicConfig{},
	}}
	for topic, n := range r.Topics {
		rb.Topics.TopicConfigTable[topic] = body.TopicConfig{TopicName: topic, ReadQueueNums: n, WriteQueueNums: n,
			Perm: body.PermRead | body.PermWrite, TopicFilterType: "SINGLE_TAG"}
	}
	data, err := body.EncodeRegisterBody(rb, false)
	if err != nil {
		g.t.Fatalf("testutil: encode registration: %v", err)
	}
	req := header.NewRequest(protocol.RegisterBroker, &header.RegisterBroker{
		BrokerName:   r.BrokerName,
		BrokerAddr:   r.BrokerAddr,
		ClusterName:  r.Cluster,
		HAServerAddr: r.HAServerAddr,
		BrokerID:     r.BrokerID,
	})
	req.Body = data
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := g.cl.Invoke(ctx, g.nsAddr, req)
	if err == nil {
		err = protocol.ResponseError(resp)
	}
	if err != nil {
		g.t.Fatalf("testutil: register %s as %s/%d: %v", r.BrokerAddr, r.BrokerName, r.BrokerID, err)
	}
	var rh header.RegisterBrokerResponse
	if err := rh.Decode(resp); err != nil {
		g.t.Fatalf("testutil: registration answer: %v", err)
	}
	return rh.MasterAddr
}
