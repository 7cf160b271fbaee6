// Package ha is master–slave commit-log replication in RocketMQ 4.x's classic
// HA wire format, so a Petrel slave can follow a RocketMQ 4.9 master and a
// RocketMQ 4.9 slave can follow a Petrel master. See
// docs/design/replication.md for the wire format, offsets, checks, guarantees
// and the differences from RocketMQ 4.9.
//
// It owns:
//   - Server (master): listens on the HA port (haListenPort, the broker's
//     listenPort+1), streams the commit log to every slave from the offset it
//     reports, tracks each slave's confirmed offset and lag, and implements
//     store.Replicator, so that SYNC_MASTER puts answer once a slave has
//     their bytes (PUT_OK), or FLUSH_SLAVE_TIMEOUT / SLAVE_NOT_AVAILABLE.
//   - Tracker: the Server's pure state machine (slaves, acks, in-sync set,
//     waiting puts), time passed in; tested with datadriven scripts.
//   - Client (slave): checks its log against the master's through the broker
//     port (Master: GET_BROKER_RUNTIME_INFO, and the Petrel-only
//     COMMITLOG_DIGEST request, code 7001) and cuts a tail the master does not
//     have or a diverged history, empties it when the master's retention went
//     past it, then connects to the HA address, reports at once, and appends
//     what the master sends through the store.
//   - DigestProcessor: the master's handler for COMMITLOG_DIGEST, which the
//     broker registers on its remoting server.
//   - Controller mode (ServerConfig.Controller, ClientConfig.Identity;
//     docs/design/failover.md): a hello/welcome handshake names the replica
//     and checks the master epoch, acknowledgements count per replica id,
//     puts wait for a confirm offset over the SyncStateSet (SetSyncStateSet)
//     and are fenced outside the lease, confirm frames carry that offset to
//     the slaves; EpochFile is the broker's epoch file.
//
// It must not import internal/broker: the broker wires it (config keys,
// routes, the master's addresses from the name server). It reads and writes
// the store only through the store's replication API (LogSource, LogSink),
// never MessageStore.
//
// Concurrency: every exported method is safe for concurrent use. A Server
// runs an accept goroutine and, per slave, a reader and a writer goroutine; a
// Client runs one session loop and, per session, a reporter. Close stops them
// all and waits. No goroutine is started per put: waiting puts sit in the
// Tracker's queue, released by slave reports (group commit) or by one timer.
//
// Example (master and slave in one process):
//
//	srv, _ := ha.NewServer(ha.ServerConfig{ListenAddr: ":10912"}, masterStore, log, nil)
//	_ = srv.Start(ctx)
//	masterStore.SetReplicator(srv) // SYNC_MASTER only
//	defer srv.Close()
//
//	cli, _ := ha.NewClient(ha.ClientConfig{MasterAddress: func() string { return haAddr }},
//		slaveStore, ha.RemoteMaster{Invoker: remotingClient, Addr: masterBrokerAddr}, log, nil)
//	_ = cli.Start(ctx)
//	defer cli.Close()
package ha
