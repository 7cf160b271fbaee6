package ha

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/internal/testutil/poll"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/message"
)

func TestHelloWelcomeRoundTrip(t *testing.T) {
	h := Hello{BrokerID: 3, Epoch: 7}
	b := AppendHello(nil, h)
	require.Len(t, b, HelloSize)
	got, err := ParseHello(b)
	require.NoError(t, err)
	require.Equal(t, h, got)

	w := Welcome{Epoch: 7, Entries: []EpochEntry{{1, 0}, {4, 1 << 20}, {7, 5 << 20}}}
	gw, err := ReadWelcome(bytes.NewReader(AppendWelcome(nil, w)))
	require.NoError(t, err)
	require.Equal(t, w, gw)

	// A classic first report is no hello; a hello's magic is an absurd report.
	_, err = ParseHello(append(AppendReport(nil, 4096), make([]byte, 16)...))
	require.ErrorIs(t, err, errBadHandshake)
	require.Greater(t, int64(ParseReport(b)), int64(1)<<60)
	// Entries out of order, or past the master's epoch.
	_, err = ReadWelcome(bytes.NewReader(AppendWelcome(nil, Welcome{Epoch: 7, Entries: []EpochEntry{{4, 10}, {2, 20}}})))
	require.ErrorIs(t, err, errBadHandshake)
	_, err = ReadWelcome(bytes.NewReader(AppendWelcome(nil, Welcome{Epoch: 3, Entries: []EpochEntry{{4, 10}}})))
	require.ErrorIs(t, err, errBadHandshake)
}

// FuzzHandshake: any bytes decode into a valid hello or welcome, or a clean
// error; a welcome never allocates for more than MaxEpochEntries.
func FuzzHandshake(f *testing.F) {
	f.Add(AppendHello(nil, Hello{BrokerID: 1, Epoch: 2}))
	f.Add(AppendWelcome(nil, Welcome{Epoch: 2, Entries: []EpochEntry{{1, 0}, {2, 100}}}))
	f.Add(AppendWelcome(nil, Welcome{Epoch: 2})[:12])
	f.Fuzz(func(t *testing.T, data []byte) {
		if h, err := ParseHello(data); err == nil && (h.Epoch <= 0 || h.BrokerID < 0) {
			t.Fatalf("accepted hello %+v", h)
		}
		w, err := ReadWelcome(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, errBadHandshake) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		require.NoError(t, CheckEpochEntries(w.Entries))
		require.LessOrEqual(t, len(w.Entries), MaxEpochEntries)
	})
}

func TestEpochAt(t *testing.T) {
	es := []EpochEntry{{1, 0}, {2, 100}, {5, 100}, {6, 300}}
	for _, c := range []struct {
		end  message.PhysOffset
		want int32
	}{{0, 0}, {1, 1}, {100, 1}, {101, 5}, {300, 5}, {301, 6}} {
		require.Equal(t, c.want, EpochAt(es, c.end), "end %d", c.end)
	}
}

func TestEpochFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "epochFileCheckpoint")
	f, err := OpenEpochFile(vfs.OS, path)
	require.NoError(t, err)
	require.Empty(t, f.Entries())
	require.NoError(t, f.Begin(1, 0))
	require.NoError(t, f.Begin(1, 0), "the same epoch again adds nothing")
	require.NoError(t, f.Begin(3, 500))
	require.Error(t, f.Begin(2, 600), "epochs only grow")

	g, err := OpenEpochFile(vfs.OS, path)
	require.NoError(t, err)
	require.Equal(t, []EpochEntry{{1, 0}, {3, 500}}, g.Entries())
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Contains(t, string(data), "1 0\n3 500\ncrc ")

	// A master that lost its tail starts its epoch where its log ends:
	// entries past it go.
	require.NoError(t, g.Begin(4, 200))
	require.Equal(t, []EpochEntry{{1, 0}, {4, 200}}, g.Entries())
	require.NoError(t, g.Replace([]EpochEntry{{1, 0}, {3, 500}, {6, 900}}))
	require.EqualValues(t, 6, g.EpochAt(901))

	// A changed byte fails the CRC; the error names the file.
	data, err = os.ReadFile(path)
	require.NoError(t, err)
	data[0] = '2'
	require.NoError(t, os.WriteFile(path, data, 0o644))
	_, err = OpenEpochFile(vfs.OS, path)
	require.ErrorContains(t, err, path)
	require.ErrorContains(t, err, "crc")
}

func TestQuorumConfirm(t *testing.T) {
	now := time.Unix(100, 0)
	q := newQuorum(now)
	require.EqualValues(t, -1, q.confirm(), "nothing needed")
	q.set([]int64{2, 3}, 2)
	require.EqualValues(t, 0, q.confirm())
	q.ack(2, 500, 1000, now)
	require.EqualValues(t, 0, q.confirm(), "3 has nothing")
	q.ack(3, 300, 1000, now)
	require.EqualValues(t, 300, q.confirm())
	q.ack(3, 200, 1000, now)
	require.EqualValues(t, 300, q.confirm(), "acks never go back")
	q.set([]int64{2, 3}, 1)
	require.EqualValues(t, 500, q.confirm(), "one of two: the best")
	q.set([]int64{2, 3, 4}, 5)
	require.Equal(t, 3, q.need, "need clamped to the members")
	require.EqualValues(t, 0, q.confirm())
	q.ack(2, 1000, 1000, now)
	require.Equal(t, now, q.caught[2])
}

// controllerPair starts a controller-mode master and an identified slave.
func controllerPair(t *testing.T, lease *atomic.Bool, epoch int32) (*pair, *[]EpochEntry) {
	p := newPair(t, storeOpts{})
	p.srvCfg.SlaveTimeout = 500 * time.Millisecond
	entries := []EpochEntry{{1, 0}, {epoch, 0}}
	p.srvCfg.Controller = &ControllerMode{Epoch: epoch,
		Entries:    func() []EpochEntry { return entries },
		LeaseValid: func(time.Time) bool { return lease.Load() },
		OnConfirm:  func(off message.PhysOffset) { p.m.SetDispatchLimit(off) },
	}
	var got []EpochEntry
	p.cliCfg.Identity = &ClientIdentity{BrokerID: 2, Epoch: func() int32 { return epoch },
		OnWelcome: func(w Welcome) error { got = w.Entries; return nil }}
	p.startServer()
	p.m.SetReplicator(p.srv)
	return p, &got
}

// TestControllerModeQuorum: puts wait for the SyncStateSet's members by id,
// confirm frames move the slave's dispatch limit, and a put decided outside
// the lease answers PutFenced.
func TestControllerModeQuorum(t *testing.T) {
	var lease atomic.Bool
	lease.Store(true)
	p, welcome := controllerPair(t, &lease, 3)

	// No member: the master alone acknowledges.
	res := putMessages(t, p.m, 0, 10, 50, "a")
	require.Equal(t, store.PutOK, res[9].Status)
	require.EqualValues(t, -1, p.srv.ConfirmOffset())

	p.startClient()
	p.waitCaughtUp(10 * time.Second)
	require.Equal(t, []EpochEntry{{1, 0}, {3, 0}}, *welcome, "the slave got the master's epochs")
	reps := p.srv.Replicas()
	require.Len(t, reps, 1)
	require.EqualValues(t, 2, reps[0].BrokerID)
	require.True(t, reps[0].Connected)

	// Member 2 (connected) and member 5 (never seen), both needed: puts
	// time out; with only 2 needed they are confirmed once 2 has them.
	p.srv.SetSyncStateSet([]int64{2, 5}, 2)
	res = putMessages(t, p.m, 10, 1, 50, "b")
	require.Equal(t, store.PutFlushSlaveTimeout, res[0].Status)
	p.srv.SetSyncStateSet([]int64{2}, 1)
	res = putMessages(t, p.m, 11, 500, 50, "c")
	for _, r := range res {
		require.Equal(t, store.PutOK, r.Status)
	}
	end := res[len(res)-1].PhysOffset + message.PhysOffset(res[len(res)-1].Size)
	require.GreaterOrEqual(t, p.s.CommitLogMaxOffset(), end, "confirmed before the slave had it")
	poll.WaitFor(t, 10*time.Second, func() bool { return p.srv.ConfirmOffset() >= end })
	// The slave's dispatch follows the confirm frames: its queues get there.
	requireSameQueuesFrom(t, p.m, p.s, false)

	// Outside the lease: stored, answered fenced.
	lease.Store(false)
	res = putMessages(t, p.m, 600, 1, 50, "d")
	require.Equal(t, store.PutFenced, res[0].Status)
}

// TestControllerModeRefusals: a master in controller mode refuses a classic
// slave and a slave of another epoch; a slave refuses a master of another
// epoch.
func TestControllerModeRefusals(t *testing.T) {
	var lease atomic.Bool
	lease.Store(true)
	p, _ := controllerPair(t, &lease, 3)

	// A classic slave's first report is no hello.
	nc, err := net.Dial("tcp", p.srv.Addr().String())
	require.NoError(t, err)
	_, err = nc.Write(append(AppendReport(nil, 0), make([]byte, 16)...))
	require.NoError(t, err)
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = nc.Read(make([]byte, 1))
	require.Error(t, err, "the master closes the connection")
	nc.Close()

	// A slave that expects epoch 2 never streams from the master of 3.
	p.cliCfg.Identity.Epoch = func() int32 { return 2 }
	cfg := p.cliCfg
	srv := p.srv
	cfg.MasterAddress = func() string { return srv.Addr().String() }
	cli, err := NewClient(cfg, p.s, LocalMaster{Src: p.m}, testLogger(t), nil)
	require.NoError(t, err)
	require.NoError(t, cli.Start(context.Background()))
	defer cli.Close()
	putMessages(t, p.m, 0, 10, 50, "x")
	poll.WaitFor(t, 10*time.Second, func() bool { return cli.Status().Sessions >= 2 })
	require.Zero(t, p.s.CommitLogMaxOffset())
	require.Contains(t, cli.Status().LastError, "welcome")
}
