package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/petrelmq/petrel/internal/broker/delay"
	"github.com/petrelmq/petrel/internal/broker/ha"
	"github.com/petrelmq/petrel/internal/broker/meta"
	"github.com/petrelmq/petrel/internal/broker/metasync"
	"github.com/petrelmq/petrel/internal/broker/registrar"
	"github.com/petrelmq/petrel/internal/lifecycle"
	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// replication wires master–slave replication into the broker's lifecycle
// (docs/design/replication.md): a master serves slaves on its HA port
// (haListenPort, by default listenPort+1) and, for SYNC_MASTER, answers a
// send only once a slave has it (the HA server is the store's Replicator); a
// slave follows its master's commit log (the HA client appends to its store,
// whose dispatcher builds its own consume queues and index) and copies its
// master's metadata (metasync). The master's addresses come from the name
// servers' answers to REGISTER_BROKER, or haMasterAddress.
type replication struct {
	listener   net.Listener // a master's HA port, bound before the rooms start
	advertised string       // the HA address registered with the name servers ("" on a slave)

	server   *ha.Server        // master
	client   *ha.Client        // slave
	metaSync *metasync.Service // slave
	peers    *remoting.Client  // a slave's calls to its master's broker port
	log      *slog.Logger

	// A slave syncs its master's metadata as soon as it stores a message of
	// a topic it has no config for (newTopics), not only every 10 s, so a
	// topic created just before a failover is known to the new master.
	newTopics *store.DispatchQueue
	topics    *meta.Topics
	watch     lifecycle.Group
}

// replicationDeps are the tables a slave's metadata sync writes.
type replicationDeps struct {
	topics  *meta.Topics
	groups  *meta.Groups
	offsets *meta.Offsets
	delay   *delay.Service
	self    string
	clk     clock.Clock
	log     *slog.Logger
}

// listen binds a master's HA port: haListenPort, or the client port + 1
// (an ephemeral port when the client port is, as in tests). A slave binds
// nothing.
func (r *replication) listen(ctx context.Context, lc *net.ListenConfig, cfg *Config, advertised netip.AddrPort) error {
	if cfg.BrokerRole == RoleSlave {
		return nil
	}
	host := "0.0.0.0"
	if h, _, err := net.SplitHostPort(cfg.listenAddr()); err == nil && h != "" {
		host = h
	}
	port := cfg.HAListenPort
	if port == 0 {
		if _, p, _ := net.SplitHostPort(cfg.listenAddr()); p != "0" {
			port = int(advertised.Port()) + 1
		}
	}
	ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("broker: listen on haListenPort: %w", err)
	}
	// The HA port speaks TLS as the client port does (tls.server.mode).
	r.listener = remoting.TLSListener(ln, cfg.Remoting.TLSMode, cfg.Remoting.TLS, func(remote string) {
		r.log.Warn("broker: plain connection refused on the HA port: tls.server.mode=enforcing", "peer", remote)
	})
	r.advertised = netip.AddrPortFrom(haIP(cfg, advertised), uint16(ln.Addr().(*net.TCPAddr).Port)).String()
	return nil
}

// haIP is the address advertised to slaves: brokerIP2, by default the
// advertised brokerIP1.
func haIP(cfg *Config, advertised netip.AddrPort) netip.Addr {
	if cfg.BrokerIP2 != "" {
		return netip.MustParseAddr(cfg.BrokerIP2)
	}
	return advertised.Addr()
}

// closeListener closes the HA listener after a failed start.
func (r *replication) closeListener() {
	if r.listener != nil && r.server == nil {
		_ = r.listener.Close()
	}
}

// build creates the HA server (master) or the HA client and metadata sync
// (slave) over the opened store.
func (r *replication) build(cfg *Config, st *store.Store, reg *registrar.Registrar, d replicationDeps) error {
	r.log = d.log
	cm := cfg.Controller
	if cfg.BrokerRole != RoleSlave {
		scfg := ha.ServerConfig{
			Listener:             r.listener,
			HeartbeatInterval:    cfg.HASendHeartbeatInterval,
			HousekeepingInterval: cfg.HAHousekeepingInterval,
			TransferBatchSize:    cfg.HATransferBatchSize,
			SlaveFallbehindMax:   cfg.HASlaveFallbehindMax,
			SlaveTimeout:         cfg.SlaveTimeout,
		}
		if cm != nil {
			scfg.Controller = &ha.ControllerMode{Epoch: cm.Epoch, Entries: cm.Epochs.Entries,
				LeaseValid: cm.LeaseValid, OnConfirm: dispatchLimit(st)}
		}
		srv, err := ha.NewServer(scfg, st, d.log, d.clk)
		if err != nil {
			return fmt.Errorf("broker: replication: %w", err)
		}
		r.server = srv
		switch {
		case cm != nil:
			// Every put waits for the SyncStateSet the supervisor sets (none
			// at first) and is fenced by the lease.
			srv.SetSyncStateSet(cm.Members, cm.Need)
			st.SetReplicator(srv)
		case cfg.BrokerRole == RoleSyncMaster:
			st.SetReplicator(srv) // a send is answered once a slave has it
		}
		return nil
	}
	masterHA := func() string {
		if cfg.HAMasterAddress != "" {
			return cfg.HAMasterAddress
		}
		return reg.Master().HAAddr
	}
	masterAddr := func() string { return reg.Master().Addr }
	var id *ha.ClientIdentity
	if cm != nil {
		masterHA, masterAddr = cm.MasterHAAddr, cm.MasterAddr
		epochs := cm.Epochs
		id = &ha.ClientIdentity{BrokerID: cm.ReplicaID, Epoch: cm.MasterEpoch,
			OnWelcome: func(w ha.Welcome) error { return epochs.Replace(w.Entries) }}
		// What the log holds now is readable already (recovery dispatched
		// it); from here on the master's confirm frames move the limit.
		st.SetDispatchLimit(st.CommitLogMaxOffset())
	}
	peers := cfg.PeerClient()
	peers.DialTimeout = cfg.RegisterTimeout
	r.peers = remoting.NewClient(peers, d.log)
	var dial func(ctx context.Context, network, addr string) (net.Conn, error)
	if cfg.ClientTLS != nil {
		// tls.enable: the slave's HA connection is TLS too.
		td := remoting.TLSDialer(remoting.DialerFunc(func(ctx context.Context, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}), cfg.ClientTLS, ha.DefaultDialTimeout)
		dial = func(ctx context.Context, _, addr string) (net.Conn, error) { return td.Dial(ctx, addr) }
	}
	cl, err := ha.NewClient(ha.ClientConfig{
		Dial:                 dial,
		MasterAddress:        masterHA,
		HeartbeatInterval:    cfg.HASendHeartbeatInterval,
		HousekeepingInterval: cfg.HAHousekeepingInterval,
		MaxTruncateBytes:     cfg.HAMaxTruncateBytes,
		Identity:             id,
	}, st, ha.RemoteMaster{Invoker: r.peers, Addr: masterAddr}, d.log, d.clk)
	if err != nil {
		return fmt.Errorf("broker: replication: %w", err)
	}
	r.client = cl
	d.offsets.TrackLocal() // offsets committed here while the master is away are kept
	r.metaSync = metasync.New(metasync.Config{Self: d.self, Client: cfg.PeerClient()}, metasync.Deps{
		Master: masterAddr, Topics: d.topics, Groups: d.groups, Offsets: d.offsets,
		DelayOffsets: d.delay.ApplyMasterOffsets, Clock: d.clk, Log: d.log,
	})
	r.topics = d.topics
	r.newTopics = store.NewDispatchQueue(store.DefaultDispatchQueueSize)
	st.AddDispatchQueue(r.newTopics)
	return nil
}

// watchTopics asks the metadata sync for an early run when a replicated
// message names a topic this slave has no config for (at most once per
// topic every unknownTopicRetry).
func (r *replication) watchTopics(ctx context.Context) {
	asked := map[string]time.Time{}
	var evs []store.DispatchEvent
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.newTopics.Ready():
		}
		evs, _ = r.newTopics.Drain(evs[:0])
		now := time.Now()
		for _, ev := range evs {
			if _, ok := r.topics.Get(ev.Topic); ok {
				continue
			}
			if at, ok := asked[ev.Topic]; ok && now.Sub(at) < unknownTopicRetry {
				continue
			}
			asked[ev.Topic] = now
			r.metaSync.Soon()
		}
	}
}

// unknownTopicRetry spaces a slave's early syncs for one unknown topic.
const unknownTopicRetry = 5 * time.Second

// start starts what build made.
func (r *replication) start(ctx context.Context) error {
	if r.server != nil {
		if err := r.server.Start(ctx); err != nil {
			return err
		}
		r.log.Info("broker: serving slaves", "ha", r.advertised)
	}
	if r.client != nil {
		if err := r.client.Start(ctx); err != nil {
			return err
		}
		if err := r.metaSync.Start(ctx); err != nil {
			return err
		}
		if err := r.watch.Start(ctx, "replication"); err != nil {
			return err
		}
		r.watch.Go("unknown-topics", r.watchTopics)
	}
	return nil
}

// stop stops replication: a master first waits (up to wait) for its in-sync
// slaves to confirm everything, so that a clean stop loses nothing they were
// sent; a slave stops following and syncing. Idempotent.
func (r *replication) stop(wait time.Duration) {
	if r.server != nil {
		if wait > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			if err := r.server.WaitCaughtUp(ctx); err != nil {
				r.log.Warn("broker: slaves did not catch up before shutdown", "timeout", wait)
			}
			cancel()
		}
		_ = r.server.Close()
	}
	var errs []error
	if r.client != nil {
		r.watch.Stop()
		errs = append(errs, r.client.Close(), r.metaSync.Close(), r.peers.Close())
	}
	if err := errors.Join(errs...); err != nil {
		r.log.Warn("broker: stopping replication", "err", err)
	}
}

// info adds replication to GET_BROKER_RUNTIME_INFO: a master's slaves (their
// acked offsets, lag in bytes and time, in-sync flags), or a slave's view of
// its master.
func (r *replication) info(kv map[string]string) {
	switch {
	case r.server != nil:
		for k, v := range r.server.Status().RuntimeInfo() {
			kv[k] = v
		}
	case r.client != nil:
		st := r.client.Status()
		kv["haMasterAddress"] = st.MasterAddr
		kv["haConnected"] = strconv.FormatBool(st.Connected)
		kv["haReportedOffset"] = strconv.FormatInt(int64(st.Offset), 10)
		if !st.LastReceive.IsZero() {
			kv["haLastReceiveTimestamp"] = strconv.FormatInt(st.LastReceive.UnixMilli(), 10)
		}
		kv["haSessions"] = strconv.Itoa(st.Sessions)
		kv["haLastError"] = st.LastError
		if t := r.metaSync.LastSync(); !t.IsZero() {
			kv["metaSyncTimestamp"] = strconv.FormatInt(t.UnixMilli(), 10)
		}
	}
}
