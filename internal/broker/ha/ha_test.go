package ha

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil/poll"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/message"
)

// TestReplicate100k: a slave follows a master while 100k messages are put;
// the commit logs are byte-identical up to the confirmed offset and every
// consume queue reads the same.
func TestReplicate100k(t *testing.T) {
	for _, mode := range []store.FlushDiskType{store.AsyncFlush, store.SyncFlush} {
		t.Run(mode.String(), func(t *testing.T) {
			n := 100_000
			if testing.Short() {
				n = 20_000
			}
			p := newPair(t, storeOpts{segSize: 4 << 20, mode: mode})
			p.startServer()
			p.startClient()
			putMessages(t, p.m, 0, n/2, 100, "a")
			putMessages(t, p.m, n/2, n/2, 300, "b")
			p.waitCaughtUp(60 * time.Second)
			st := p.srv.Status()
			require.Len(t, st.Slaves, 1)
			sl := st.Slaves[0]
			require.True(t, sl.InSync)
			require.Equal(t, p.m.CommitLogMaxOffset(), sl.AckOffset)
			require.Zero(t, sl.LagBytes)
			if !testing.Short() {
				require.Greater(t, int64(sl.AckOffset), int64(3*(4<<20)), "several segments")
			}
			requireSameLog(t, p.m, p.s, 0, sl.AckOffset)
			requireSameQueues(t, p.m, p.s)
			cs := p.cli.Status()
			require.True(t, cs.Connected)
			require.Equal(t, sl.AckOffset, cs.Offset)
			kv := st.RuntimeInfo()
			require.Equal(t, "1", kv["haInSyncSlaveNum"])
			require.Contains(t, kv["haSlave1"], "lagBytes=0,")
		})
	}
}

// TestSyncMaster: with the Server as the store's Replicator, a put answers
// SLAVE_NOT_AVAILABLE without a slave, waits for the slave's confirmation
// when one follows, and times out (FLUSH_SLAVE_TIMEOUT) when it stalls.
func TestSyncMaster(t *testing.T) {
	p := newPair(t, storeOpts{})
	// Long enough that 2,000 puts from 50 writers are confirmed in time on a
	// loaded machine; the stalled slave below then times out after it.
	p.srvCfg.SlaveTimeout = 3 * time.Second
	p.startServer()
	p.m.SetReplicator(p.srv)
	res := putMessages(t, p.m, 0, 1, 10, "x")
	require.Equal(t, store.PutSlaveNotAvailable, res[0].Status)

	p.startClient()
	p.waitCaughtUp(10 * time.Second)
	// Every put of a concurrent batch is confirmed, and only once the
	// slave has its bytes.
	res = putMessages(t, p.m, 1, 2000, 50, "x")
	for _, r := range res {
		require.Equal(t, store.PutOK, r.Status)
	}
	end := res[len(res)-1].PhysOffset + message.PhysOffset(res[len(res)-1].Size)
	require.GreaterOrEqual(t, p.s.CommitLogMaxOffset(), end)

	q := store.NewCompletions()
	p.m.Put([]*message.MessageExt{msg(5000, 10, "y")}, q, nil)
	c, err := q.Next(context.Background())
	require.NoError(t, err)
	require.Equal(t, store.PutOK, c.Result.Status)
	require.GreaterOrEqual(t, p.s.CommitLogMaxOffset(), c.Result.PhysOffset+message.PhysOffset(c.Result.Size),
		"confirmed before the slave had the bytes")

	// The slave goes away: nobody to confirm.
	p.stopClient()
	poll.WaitFor(t, 10*time.Second, func() bool { return len(p.srv.Status().Slaves) == 0 })
	res = putMessages(t, p.m, 6000, 1, 10, "z")
	require.Equal(t, store.PutSlaveNotAvailable, res[0].Status)

	// A slave that reports once and then stalls: in sync, but never confirms.
	nc := stalledSlave(t, p.srv, p.m.CommitLogMaxOffset())
	defer nc.Close()
	start := time.Now()
	res = putMessages(t, p.m, 6001, 1, 10, "z")
	require.Equal(t, store.PutFlushSlaveTimeout, res[0].Status)
	require.GreaterOrEqual(t, time.Since(start), p.srvCfg.SlaveTimeout-100*time.Millisecond)
	// The message is stored all the same.
	got, err := p.m.LookMessageByOffset(res[0].PhysOffset, nil)
	require.NoError(t, err)
	require.NotEmpty(t, got)
}

// stalledSlave connects to srv, reports off, and waits until the master
// counts it; it never reads or reports again.
func stalledSlave(t testing.TB, srv *Server, off message.PhysOffset) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", srv.Addr().String())
	require.NoError(t, err)
	_, err = nc.Write(AppendReport(nil, off))
	require.NoError(t, err)
	poll.WaitFor(t, 10*time.Second, func() bool {
		for _, sl := range srv.Status().Slaves {
			if sl.Reported {
				return true
			}
		}
		return false
	})
	return nc
}

// TestSlaveRestartCatchUp: the slave stops, the master writes several more
// segments, the slave restarts (store and client) and catches up.
func TestSlaveRestartCatchUp(t *testing.T) {
	p := newPair(t, storeOpts{segSize: 64 << 10})
	p.startServer()
	p.startClient()
	putMessages(t, p.m, 0, 500, 200, "a")
	p.waitCaughtUp(20 * time.Second)
	p.stopClient()
	p.reopenSlave()
	before := p.s.CommitLogMaxOffset()
	putMessages(t, p.m, 500, 2000, 200, "b")
	require.Greater(t, int64(p.m.CommitLogMaxOffset()-before), int64(3*(64<<10)), "lags by several segments")
	p.startClient()
	p.waitCaughtUp(30 * time.Second)
	requireSameLog(t, p.m, p.s, 0, p.m.CommitLogMaxOffset())
	requireSameQueues(t, p.m, p.s)
}

// TestSlaveBehindMinOffset: while the slave was away, retention deleted
// master segments the slave never got; the slave empties its log and
// resumes from the master's min offset.
func TestSlaveBehindMinOffset(t *testing.T) {
	p := newPair(t, storeOpts{segSize: 64 << 10})
	p.startServer()
	p.startClient()
	putMessages(t, p.m, 0, 200, 200, "a")
	p.waitCaughtUp(20 * time.Second)
	p.stopClient()
	p.stopServer()
	putMessages(t, p.m, 200, 2000, 200, "b")
	slaveMax := p.s.CommitLogMaxOffset()

	// Reopen the master with retention that deletes every old segment.
	require.NoError(t, p.m.Close())
	o := p.opts
	o.cfg = func(c *store.Config) {
		c.FileReservedTime = time.Millisecond
		c.DeleteWhen = []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23}
		c.CleanResourceInterval = 20 * time.Millisecond
	}
	p.m = openStore(t, p.mdir, o)
	poll.WaitFor(t, 20*time.Second, func() bool { return p.m.CommitLogMinOffset() > slaveMax })

	p.startServer()
	p.startClient()
	p.waitCaughtUp(30 * time.Second)
	lo := p.m.CommitLogMinOffset()
	require.Greater(t, p.s.CommitLogMinOffset(), slaveMax, "the slave restarted at the master's min")
	requireSameLog(t, p.m, p.s, max(lo, p.s.CommitLogMinOffset()), p.m.CommitLogMaxOffset())
	// Queues answer from the master's queue offsets.
	for _, topic := range topics {
		for _, qid := range p.m.QueueIDs(topic) {
			poll.WaitFor(t, 10*time.Second, func() bool { return p.s.MaxOffsetInQueue(topic, qid) == p.m.MaxOffsetInQueue(topic, qid) })
		}
	}
}

// noDigestMaster is a RocketMQ master as a Petrel slave sees it: bounds, no
// digests.
type noDigestMaster struct{ Master }

func (noDigestMaster) Digests(context.Context, []Range) ([]Digest, error) {
	return nil, ErrDigestUnsupported
}

// TestSlaveAheadTruncates: the slave holds records past the master's end
// (the master lost its tail); it cuts them and follows. With a RocketMQ
// master (no digests) the cut is by offset.
func TestSlaveAheadTruncates(t *testing.T) {
	for _, digests := range []bool{true, false} {
		name := "petrel-master"
		if !digests {
			name = "rocketmq-master"
		}
		t.Run(name, func(t *testing.T) {
			p := newPair(t, storeOpts{segSize: 64 << 10})
			if !digests {
				p.master = func(m *store.Store) Master { return noDigestMaster{LocalMaster{Src: m}} }
			}
			p.startServer()
			p.startClient()
			putMessages(t, p.m, 0, 300, 200, "a")
			p.waitCaughtUp(20 * time.Second)
			p.stopClient()
			masterMax := p.m.CommitLogMaxOffset()
			putMessages(t, p.s, 300, 400, 200, "ahead") // the master never had these
			require.Greater(t, p.s.CommitLogMaxOffset(), masterMax+2*(64<<10))

			p.startClient()
			poll.WaitFor(t, 20*time.Second, func() bool { return p.s.CommitLogMaxOffset() == masterMax })
			putMessages(t, p.m, 300, 200, 150, "b")
			p.waitCaughtUp(20 * time.Second)
			requireSameLog(t, p.m, p.s, 0, p.m.CommitLogMaxOffset())
			requireSameQueues(t, p.m, p.s)
			res, err := p.s.QueryMessage(topics[0], "key-300ahead", 10, 0, 1<<62)
			require.NoError(t, err)
			require.Empty(t, res.Records, "the slave still serves a record the master never had")
		})
	}
}

// TestDivergentHistories: master and slave share a prefix, then each got a
// different history of the same length (the master restarted from an older
// copy and took other messages). The slave finds the last shared record,
// cuts there and follows; nothing the master does not have survives.
func TestDivergentHistories(t *testing.T) {
	for _, tc := range []struct {
		name          string
		shared, extra int
	}{
		{"tail", 500, 3},            // diverged in the last segment
		{"segments-back", 100, 800}, // diverged several segments back
		{"from-start", 0, 300},      // nothing shared
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, storeOpts{segSize: 64 << 10})
			p.startServer()
			p.startClient()
			if tc.shared > 0 {
				putMessages(t, p.m, 0, tc.shared, 200, "a")
				p.waitCaughtUp(20 * time.Second)
			} else {
				poll.WaitFor(t, 10*time.Second, func() bool { return p.cli.Status().Connected })
			}
			p.stopClient()
			// Same sizes, different contents.
			putMessages(t, p.m, tc.shared, tc.extra, 200, "m")
			putMessages(t, p.s, tc.shared, tc.extra, 200, "s")
			require.Equal(t, p.m.CommitLogMaxOffset(), p.s.CommitLogMaxOffset(), "equal lengths")

			p.startClient()
			putMessages(t, p.m, tc.shared+tc.extra, 50, 200, "m")
			p.waitCaughtUp(30 * time.Second)
			// With nothing shared the slave starts over like a new one: at
			// the master's last segment (the master still holds offset 0,
			// and a report of 0 means "new slave").
			requireSameLog(t, p.m, p.s, p.s.CommitLogMinOffset(), p.m.CommitLogMaxOffset())
			requireSameQueuesFrom(t, p.m, p.s, tc.shared == 0)
			res, err := p.s.QueryMessage(topics[tc.shared%3], "key-"+itoa(tc.shared)+"s", 10, 0, 1<<62)
			require.NoError(t, err)
			require.Empty(t, res.Records)
		})
	}
}

func itoa(i int) string {
	return string(appendInt(nil, i))
}

func appendInt(b []byte, i int) []byte {
	if i >= 10 {
		b = appendInt(b, i/10)
	}
	return append(b, byte('0'+i%10))
}

// TestHostileHAInput: random bytes and absurd reports on the HA port close
// only that connection; a real slave keeps following, the master's log is
// intact, and no hostile report confirms a SYNC_MASTER put.
func TestHostileHAInput(t *testing.T) {
	p := newPair(t, storeOpts{segSize: 64 << 10})
	p.srvCfg.SlaveTimeout = 300 * time.Millisecond
	p.startServer()
	p.m.SetReplicator(p.srv)
	putMessages(t, p.m, 0, 200, 100, "a")
	max0 := p.m.CommitLogMaxOffset()
	addr := p.srv.Addr().String()

	expectClosed := func(name string, send func(nc net.Conn)) {
		t.Helper()
		nc, err := net.Dial("tcp", addr)
		require.NoError(t, err, name)
		defer nc.Close()
		send(nc)
		_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.Copy(io.Discard, nc)
		var ne net.Error
		require.False(t, errors.As(err, &ne) && ne.Timeout(), "%s: the master kept the connection", name)
	}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	for i := range 20 {
		junk := make([]byte, 8+r.IntN(4096))
		for j := range junk {
			junk[j] = byte(r.Uint32())
		}
		if i%2 == 0 {
			junk[0] |= 0x80 // negative first report
		} else {
			junk[0] = 0x7f // far beyond the master's end
		}
		expectClosed("random bytes", func(nc net.Conn) { _, _ = nc.Write(junk) })
	}
	for _, off := range []message.PhysOffset{-1, max0 + 1, 1 << 62} {
		expectClosed("absurd first report", func(nc net.Conn) { _, _ = nc.Write(AppendReport(nil, off)) })
	}
	expectClosed("report going back", func(nc net.Conn) {
		_, _ = nc.Write(AppendReport(nil, max0))
		_, _ = nc.Write(AppendReport(nil, max0-1))
	})

	// A hostile slave in sync claims more than it was sent: closed, and the
	// put it wanted to confirm is not confirmed.
	nc := stalledSlave(t, p.srv, max0)
	q := store.NewCompletions()
	p.m.Put([]*message.MessageExt{msg(1000, 10, "sync")}, q, nil)
	poll.WaitFor(t, 10*time.Second, func() bool { return p.srv.Status().Waiting == 1 })
	_, err := nc.Write(AppendReport(nil, max0+1<<20))
	require.NoError(t, err)
	c, err := q.Next(context.Background())
	require.NoError(t, err)
	require.Equal(t, store.PutFlushSlaveTimeout, c.Result.Status)
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.Copy(io.Discard, nc)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the master kept the connection")
	nc.Close()

	// A partial report followed by silence is dropped after the idle timeout
	// (not tested here: 5 s); a real slave still follows.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() { // concurrent junk while the real slave streams
			defer wg.Done()
			expectClosed("concurrent junk", func(nc net.Conn) { _, _ = nc.Write([]byte{0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9}) })
		}()
	}
	p.startClient()
	putMessages(t, p.m, 2000, 300, 100, "b")
	wg.Wait()
	p.waitCaughtUp(20 * time.Second)
	// A new slave starts at the master's last segment.
	requireSameLog(t, p.m, p.s, p.s.CommitLogMinOffset(), p.m.CommitLogMaxOffset())
	requireSameQueuesFrom(t, p.m, p.s, true)
}

// TestHeartbeats: an idle master sends heartbeat frames and an idle slave
// keeps reporting, so neither side's idle timeout drops a healthy pair.
func TestHeartbeats(t *testing.T) {
	p := newPair(t, storeOpts{})
	p.srvCfg.HousekeepingInterval = time.Second
	p.cliCfg.HousekeepingInterval = time.Second
	p.startServer()
	p.startClient()
	putMessages(t, p.m, 0, 10, 10, "a")
	p.waitCaughtUp(10 * time.Second)
	sessions := p.cli.Status().Sessions
	recv := p.cli.Status().LastReceive
	rep := p.srv.Status().Slaves[0].LastReport
	time.Sleep(2500 * time.Millisecond) // idle for more than the idle timeouts: the subject of the test
	cs := p.cli.Status()
	require.True(t, cs.Connected)
	require.Equal(t, sessions, cs.Sessions, "the session was dropped")
	require.True(t, cs.LastReceive.After(recv), "no heartbeat from the master")
	sl := p.srv.Status().Slaves
	require.Len(t, sl, 1)
	require.True(t, sl[0].LastReport.After(rep), "no report from the slave")
}

// TestMaxTruncateBytes: a slave refuses to drop more than the limit to follow
// a master that came back with a much shorter log, and keeps its data.
func TestMaxTruncateBytes(t *testing.T) {
	p := newPair(t, storeOpts{segSize: 64 << 10})
	p.cliCfg.MaxTruncateBytes = 10 << 10
	p.startServer()
	p.startClient()
	putMessages(t, p.m, 0, 100, 200, "a")
	p.waitCaughtUp(20 * time.Second)
	p.stopClient()
	putMessages(t, p.s, 100, 200, 200, "ahead") // ~60 KiB the master lacks
	before := p.s.CommitLogMaxOffset()
	cli, err := NewClient(ClientConfig{MasterAddress: func() string { return p.srv.Addr().String() }, MaxTruncateBytes: 10 << 10,
		RetryInterval: 100 * time.Millisecond}, p.s, LocalMaster{Src: p.m}, nil, nil)
	require.NoError(t, err)
	require.NoError(t, cli.Start(context.Background()))
	defer cli.Close()
	poll.WaitFor(t, 10*time.Second, func() bool { return cli.Status().Sessions >= 2 })
	require.Contains(t, cli.Status().LastError, "refusing to drop")
	require.False(t, cli.Status().Connected)
	require.Equal(t, before, p.s.CommitLogMaxOffset(), "the slave kept its data")
}
