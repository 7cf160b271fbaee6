//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/stretchr/testify/require"
)

// slaveConf writes the broker.conf of a slave of broker-a.
func slaveConf(t *testing.T, ns, store string, port int) string {
	return writeBrokerConf(t,
		"brokerClusterName=DefaultCluster", "brokerName=broker-a", "brokerId=1", "brokerRole=SLAVE",
		"namesrvAddr="+ns, "brokerIP1=127.0.0.1", "listenPort="+strconv.Itoa(port), "fastListenPort=-1",
		"storePathRootDir="+store, "mappedFileSizeCommitLog=2097152", "maxMessageSize=65536")
}

// runtimeTable reads a broker's GET_BROKER_RUNTIME_INFO.
func runtimeTable(t *testing.T, addr string) map[string]string {
	t.Helper()
	resp := rawCall(t, newRawClient(t), addr, protocol.GetBrokerRuntimeInfo, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	var kv struct{ Table map[string]string }
	require.NoError(t, json.Unmarshal(resp.Body, &kv))
	return kv.Table
}

// TestKill9SyncMasterLosesNothing is the replication trial of issue #11:
// SYNC_MASTER (ASYNC_FLUSH) with one slave, 64 official-client senders, then
// kill -9 of the master AND deletion of its whole store: every acknowledged
// message must be readable on the slave, byte for byte, at the queue and
// offset it was acknowledged with. PETREL_REPL_TRIALS sets the number of
// trials (default 2; docs/operations.md reports 20).
func TestKill9SyncMasterLosesNothing(t *testing.T) {
	trials := 2
	if s := os.Getenv("PETREL_REPL_TRIALS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		trials = n
	}
	var total, lost int
	for trial := range trials {
		t.Run(strconv.Itoa(trial), func(t *testing.T) {
			acked, missing := killSyncMasterTrial(t, testSeed(t))
			total += acked
			lost += missing
		})
	}
	t.Logf("%d trials: %d acknowledged messages, %d lost", trials, total, lost)
}

func killSyncMasterTrial(t *testing.T, seed uint64) (acked, lost int) {
	dir := t.TempDir()
	masterStore := filepath.Join(dir, "master")
	conf := writeBrokerConf(t, "brokerRole=SYNC_MASTER", "flushDiskType=ASYNC_FLUSH",
		"mapedFileSizeCommitLog=2097152", "maxMessageSize=65536", "fastListenPort=-1",
		"haListenPort="+strconv.Itoa(freePort(t)))
	m := startStandalone(t, conf, masterStore, 0)
	slave := start(t, nil, "broker", "-c", slaveConf(t, m.ns, filepath.Join(dir, "slave"), freePort(t)))
	slaveAddr := slave.waitLog(brokerListenRe, 20*time.Second)
	testutil.WaitFor(t, 30*time.Second, func() bool { return runtimeTable(t, m.broker)["haInSyncSlaveNum"] == "1" })

	createTopic(t, newRawClient(t), m.broker, durTopic, durQueues)
	prod, shutdown := newOfficialProducer(t, m.ns)
	load := startSendLoad(t, prod, durTopic, senders, 1_000_000, seed)
	load.waitAcked(t, 1500)
	require.NoError(t, m.p.cmd.Process.Signal(syscall.SIGKILL))
	require.Error(t, m.p.wait(10*time.Second), "the master should die from SIGKILL")
	require.NoError(t, os.RemoveAll(masterStore), "the master's disk is gone too")
	acks := load.wait(t)
	shutdown()
	t.Logf("acknowledged %d; send errors %d (last: %v); stored but not confirmed %d",
		len(acks), load.errs.Load(), load.lastErr.Load(), load.nacked.Load())
	require.Positive(t, len(acks))

	// The slave's consume queues follow its commit log: wait until every
	// acknowledged offset is dispatched, then check each message.
	want := make([]int64, durQueues)
	for _, a := range acks {
		want[a.queue] = max(want[a.queue], a.offset+1)
	}
	cl := newRawClient(t)
	testutil.WaitFor(t, 30*time.Second, func() bool {
		for q, w := range want {
			if maxQueueOffset(t, cl, slaveAddr, durTopic, q) < w {
				return false
			}
		}
		return true
	})
	verifyAcked(t, slaveAddr, durTopic, durQueues, acks)
	require.NoError(t, slave.stop(syscall.SIGTERM, 15*time.Second))
	return len(acks), 0
}
