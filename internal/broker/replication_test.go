package broker_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/stretchr/testify/require"
)

// runtimeInfo reads a broker's GET_BROKER_RUNTIME_INFO table.
func runtimeInfo(t *testing.T, r *rawBroker, addr string) map[string]string {
	t.Helper()
	resp := invoke(t, r.cl, addr, protocol.GetBrokerRuntimeInfo, nil, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	var kv struct{ Table map[string]string }
	require.NoError(t, json.Unmarshal(resp.Body, &kv))
	return kv.Table
}

// waitInSync waits until the master counts n in-sync slaves.
func waitInSync(t *testing.T, r *rawBroker, n int) {
	t.Helper()
	testutil.WaitFor(t, 30*time.Second, func() bool {
		return runtimeInfo(t, r, r.addr)["haInSyncSlaveNum"] == strconv.Itoa(n)
	})
}

// commitLogBytes concatenates a store's commit-log segments, in order.
func commitLogBytes(t *testing.T, storeDir string) []byte {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(storeDir, "commitlog"))
	require.NoError(t, err)
	var all []byte
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(storeDir, "commitlog", e.Name()))
		require.NoError(t, err)
		all = append(all, data...)
	}
	return all
}

func smallSegments(c *broker.Config) {
	c.Store.CommitLogSegmentSize = 1 << 20 // several segments
	c.Store.MaxMessageSize = 64 << 10
}

func syncMaster(c *broker.Config) {
	c.BrokerRole = broker.RoleSyncMaster
	smallSegments(c)
}

// TestReplicationSyncMaster: a SYNC_MASTER with one slave answers every send
// SUCCESS only once the slave has it; the slave has the same commit log byte
// for byte, serves the same messages, refuses sends as RocketMQ's slave does,
// and is listed in the route; without a slave the master answers
// SLAVE_NOT_AVAILABLE (the message is stored).
func TestReplicationSyncMaster(t *testing.T) {
	t.Parallel()
	r := startRaw(t, testutil.WithBrokerConfig(syncMaster))
	r.createTopic("Repl", 2, 6)

	// No slave yet: stored, but not confirmed.
	resp := r.send("Repl", 0, "", "lonely")
	require.Equal(t, protocol.SlaveNotAvailable, resp.ResponseCode(), resp.Remark)
	require.NotEmpty(t, resp.Ext("msgId"), "the message is stored")

	slave := testutil.StartSlave(t, r.c, 1, testutil.WithBrokerConfig(smallSegments))
	waitInSync(t, r, 1)
	const n = 3000
	for i := range n {
		resp := r.send("Repl", i%2, "", "m-"+strconv.Itoa(i)+string(bytes.Repeat([]byte("x"), 900)))
		require.Equal(t, protocol.Success, resp.ResponseCode(), "send %d: %s", i, resp.Remark)
	}

	// The slave serves the same queues.
	sr := &rawBroker{t: t, c: r.c, cl: r.cl, addr: slave.Addr}
	for q := range 2 {
		// Acknowledged means in both commit logs; the consume queues follow
		// asynchronously on each broker.
		want := int64(n / 2)
		if q == 0 {
			want++ // "lonely"
		}
		testutil.WaitFor(t, 20*time.Second, func() bool { return maxOffset(t, r.cl, r.addr, "Repl", q) == want })
		deadline := time.Now().Add(20 * time.Second)
		for maxOffset(t, r.cl, slave.Addr, "Repl", q) != want {
			if time.Now().After(deadline) {
				t.Fatalf("queue %d: slave at %d, master at %d\nmaster: %v\nslave: %v", q,
					maxOffset(t, r.cl, slave.Addr, "Repl", q), want, runtimeInfo(t, r, r.addr), runtimeInfo(t, r, slave.Addr))
			}
			time.Sleep(10 * time.Millisecond)
		}
		got := sr.pullMsgs("g-slave", "Repl", q, 0)
		require.NotEmpty(t, got)
		master := r.pullMsgs("g-master", "Repl", q, 0)
		require.Equal(t, len(master), len(got))
		for i := range got {
			require.Equal(t, master[i].Body, got[i].Body)
			require.Equal(t, master[i].PhysOffset, got[i].PhysOffset, "same offsets")
		}
	}
	// Byte for byte, up to what the master has written.
	mlog, slog := commitLogBytes(t, r.c.StoreDir), commitLogBytes(t, slave.StoreDir)
	maxOff, err := strconv.ParseInt(runtimeInfo(t, r, r.addr)["commitLogMaxOffset"], 10, 64)
	require.NoError(t, err)
	require.GreaterOrEqual(t, int64(len(slog)), maxOff)
	require.True(t, bytes.Equal(mlog[:maxOff], slog[:maxOff]), "the slave's commit log is the master's")

	// A slave refuses sends (code 14) and shows its master.
	resp = sr.send("Repl", 0, "", "to-the-slave")
	require.Equal(t, protocol.ServiceNotAvailable, resp.ResponseCode(), resp.Remark)
	require.Contains(t, resp.Remark, "messages are put to the slave")
	info := runtimeInfo(t, r, slave.Addr)
	require.Equal(t, "true", info["haConnected"])

	// The route lists both.
	resp = invoke(t, r.cl, r.c.NameServerAddr, protocol.GetRouteInfoByTopic, map[string]string{"topic": "Repl"}, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	route, err := client.DecodeRoute(resp.Body)
	require.NoError(t, err)
	require.Len(t, route.BrokerDatas, 1)
	require.Equal(t, map[int64]string{0: r.addr, 1: slave.Addr}, route.BrokerDatas[0].Addrs)
}

// TestReplicationMetadataSync: a slave copies its master's topics, groups and
// consumer offsets; offsets committed to the slave while the master is
// unreachable are kept and handed to the master when it is back.
func TestReplicationMetadataSync(t *testing.T) {
	t.Parallel()
	r := startRaw(t)
	r.createTopic("MetaT", 1, 6)
	for i := range 10 {
		require.Equal(t, protocol.Success, r.send("MetaT", 0, "", strconv.Itoa(i)).ResponseCode())
	}
	update := func(addr string, off int64) {
		resp := invoke(t, r.cl, addr, protocol.UpdateConsumerOffset, map[string]string{
			"consumerGroup": "g-meta", "topic": "MetaT", "queueId": "0", "commitOffset": strconv.FormatInt(off, 10)}, nil)
		require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	}
	query := func(addr string) int64 {
		resp := invoke(t, r.cl, addr, protocol.QueryConsumerOffset, map[string]string{
			"consumerGroup": "g-meta", "topic": "MetaT", "queueId": "0"}, nil)
		require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
		n, err := strconv.ParseInt(resp.Ext("offset"), 10, 64)
		require.NoError(t, err)
		return n
	}
	update(r.addr, 4)

	slave := testutil.StartSlave(t, r.c, 1)
	sr := &rawBroker{t: t, c: r.c, cl: r.cl, addr: slave.Addr}
	testutil.WaitFor(t, 20*time.Second, func() bool { return query(slave.Addr) == 4 })
	resp := sr.call(protocol.GetAllTopicConfig, nil, nil)
	var w body.TopicConfigWrapper
	require.NoError(t, json.Unmarshal(resp.Body, &w))
	require.Contains(t, w.TopicConfigTable, "MetaT", "topics come from the master")

	// The consumer moves on through the slave (say, while the master is
	// unreachable); the master's older 4 must not rewind it, and the master
	// gets the newer offset back.
	update(slave.Addr, 9)
	require.Equal(t, int64(9), query(slave.Addr))
	testutil.WaitFor(t, 30*time.Second, func() bool { return query(r.addr) == 9 })
	require.Equal(t, int64(9), query(slave.Addr), "not rewound by the master's table")
}

// TestReplicationSlaveRead: with slaveReadEnable a master answers a pull that
// is so far behind that its data is no longer in memory (more than
// accessMessageInMemoryMaxRatio of the machine's memory behind the commit
// log's end) with suggestWhichBrokerId = the group's
// whichBrokerWhenConsumeSlowly (1, RocketMQ's default), and a pull near the
// end with the group's brokerId (0); the slave serves the same messages.
// Without slaveReadEnable the suggestion is always the master.
func TestReplicationSlaveRead(t *testing.T) {
	t.Parallel()
	tinyMemory := func(c *broker.Config) {
		smallSegments(c)
		c.Store.PhysicalMemorySize = 1 << 20 // 40% of it: 419,430 bytes
	}
	for _, slaveRead := range []bool{true, false} {
		t.Run("slaveReadEnable="+strconv.FormatBool(slaveRead), func(t *testing.T) {
			t.Parallel()
			r := startRaw(t, testutil.WithBrokerConfig(tinyMemory), testutil.WithBrokerConfig(func(c *broker.Config) {
				c.SlaveReadEnable = slaveRead
			}))
			r.createTopic("SR", 1, 6)
			slave := testutil.StartSlave(t, r.c, 1, testutil.WithBrokerConfig(smallSegments))
			waitInSync(t, r, 1)
			const n = 1000 // about 1 MiB of commit log: the first half is "far behind"
			for i := range n {
				resp := r.send("SR", 0, "", "m-"+strconv.Itoa(i)+string(bytes.Repeat([]byte("x"), 1000)))
				require.Equal(t, protocol.Success, resp.ResponseCode(), "send %d: %s", i, resp.Remark)
			}
			r.waitMax("SR", 0, n)

			suggest := func(offset int64) string {
				resp := r.call(protocol.PullMessage, pullExt("g-sr", "SR", 0, offset, 4, "*", 0), nil)
				require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
				return resp.Ext("suggestWhichBrokerId")
			}
			if slaveRead {
				require.Equal(t, "1", suggest(0), "far behind: read from the slave")
			} else {
				require.Equal(t, "0", suggest(0), "slaveReadEnable=false: always the master")
			}
			require.Equal(t, "0", suggest(n-2), "caught up: the master")

			sr := &rawBroker{t: t, c: r.c, cl: r.cl, addr: slave.Addr}
			testutil.WaitFor(t, 20*time.Second, func() bool { return maxOffset(t, r.cl, slave.Addr, "SR", 0) == n })
			got, want := sr.pullMsgs("g-sr", "SR", 0, 0), r.pullMsgs("g-sr", "SR", 0, 0)
			// Far behind, the master hands out at most maxTransferCountOnMessageInDisk
			// (8) messages; the slave, with all of it in memory, more.
			require.NotEmpty(t, want)
			require.GreaterOrEqual(t, len(got), len(want))
			for i := range want {
				require.Equal(t, want[i].Body, got[i].Body)
			}
		})
	}
}

// TestReplicationTwoSlaves: a SYNC_MASTER with two slaves: both copy every
// message, the route lists all three, and with one slave gone the master
// still answers SUCCESS (one in-sync slave confirms a put, as in RocketMQ).
func TestReplicationTwoSlaves(t *testing.T) {
	t.Parallel()
	r := startRaw(t, testutil.WithBrokerConfig(syncMaster))
	r.createTopic("Repl2", 1, 6)
	s1 := testutil.StartSlave(t, r.c, 1, testutil.WithBrokerConfig(smallSegments))
	s2 := testutil.StartSlave(t, r.c, 2, testutil.WithBrokerConfig(smallSegments))
	waitInSync(t, r, 2)
	const n = 300
	for i := range n {
		resp := r.send("Repl2", 0, "", "m-"+strconv.Itoa(i))
		require.Equal(t, protocol.Success, resp.ResponseCode(), "send %d: %s", i, resp.Remark)
	}
	for _, s := range []*testutil.Slave{s1, s2} {
		testutil.WaitFor(t, 20*time.Second, func() bool { return maxOffset(t, r.cl, s.Addr, "Repl2", 0) == n })
	}
	resp := invoke(t, r.cl, r.c.NameServerAddr, protocol.GetRouteInfoByTopic, map[string]string{"topic": "Repl2"}, nil)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	route, err := client.DecodeRoute(resp.Body)
	require.NoError(t, err)
	require.Equal(t, map[int64]string{0: r.addr, 1: s1.Addr, 2: s2.Addr}, route.BrokerDatas[0].Addrs)

	require.NoError(t, s1.Broker.Close())
	waitInSync(t, r, 1)
	for i := range 50 {
		resp := r.send("Repl2", 0, "", "after-"+strconv.Itoa(i))
		require.Equal(t, protocol.Success, resp.ResponseCode(), "send %d with one slave: %s", i, resp.Remark)
	}
	testutil.WaitFor(t, 20*time.Second, func() bool { return maxOffset(t, r.cl, s2.Addr, "Repl2", 0) == n+50 })
}
