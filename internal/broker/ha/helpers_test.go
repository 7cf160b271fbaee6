package ha

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil/poll"
	"go.uber.org/goleak"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/internal/store/storetest"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLogger logs to the test output when -v and HA_TEST_LOG=1.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("HA_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// storeOpts tunes a test store.
type storeOpts struct {
	segSize int64
	mode    store.FlushDiskType
	cfg     func(*store.Config)
}

// openStore opens and starts a store on the OS filesystem in dir.
func openStore(t testing.TB, dir string, o storeOpts) *store.Store {
	t.Helper()
	if o.segSize == 0 {
		o.segSize = 256 << 10
	}
	cfg := store.DefaultConfig()
	cfg.RootDir = dir
	cfg.CommitLogSegmentSize = o.segSize
	cfg.MaxMessageSize = int(min(o.segSize/4, 1<<20))
	cfg.FlushDiskType = o.mode
	cfg.ConsumeQueueEntriesPerFile = 1000
	cfg.MaxHashSlotNum = 1024
	cfg.MaxIndexNum = 4096
	cfg.StoreHost = netip.MustParseAddrPort("127.0.0.1:10911")
	cfg.PhysicalMemorySize = 8 << 30
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	s, err := store.Open(vfs.OS, cfg, testLogger(t), clock.Real{})
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	return s
}

// pair is a master store with its HA server and a slave store with its client.
type pair struct {
	t       testing.TB
	mdir    string
	sdir    string
	m       *store.Store
	s       *store.Store
	srv     *Server
	cli     *Client
	opts    storeOpts
	srvCfg  ServerConfig
	cliCfg  ClientConfig
	master  func(*store.Store) Master // how the slave reaches the master's broker port
	closeMu sync.Mutex
}

func newPair(t testing.TB, o storeOpts) *pair {
	t.Helper()
	root := t.TempDir()
	p := &pair{t: t, mdir: filepath.Join(root, "master"), sdir: filepath.Join(root, "slave"), opts: o,
		srvCfg: ServerConfig{ListenAddr: "127.0.0.1:0", HeartbeatInterval: 200 * time.Millisecond, HousekeepingInterval: 5 * time.Second},
		cliCfg: ClientConfig{HeartbeatInterval: 200 * time.Millisecond, HousekeepingInterval: 5 * time.Second, RetryInterval: 500 * time.Millisecond},
		master: func(m *store.Store) Master { return LocalMaster{Src: m} },
	}
	p.m = openStore(t, p.mdir, o)
	p.s = openStore(t, p.sdir, o)
	t.Cleanup(p.close)
	return p
}

func (p *pair) startServer() {
	p.t.Helper()
	srv, err := NewServer(p.srvCfg, p.m, testLogger(p.t), nil)
	require.NoError(p.t, err)
	require.NoError(p.t, srv.Start(context.Background()))
	p.srv = srv
}

func (p *pair) startClient() {
	p.t.Helper()
	cfg := p.cliCfg
	srv := p.srv
	cfg.MasterAddress = func() string {
		if a := srv.Addr(); a != nil {
			return a.String()
		}
		return ""
	}
	var master Master
	if p.master != nil {
		master = p.master(p.m)
	}
	cli, err := NewClient(cfg, p.s, master, testLogger(p.t), nil)
	require.NoError(p.t, err)
	require.NoError(p.t, cli.Start(context.Background()))
	p.cli = cli
	// Streaming has started: a new slave got its start before the test puts.
	poll.WaitFor(p.t, 10*time.Second, func() bool {
		for _, sl := range srv.Status().Slaves {
			if sl.Reported {
				return true
			}
		}
		return false
	})
}

func (p *pair) stopClient() {
	if p.cli != nil {
		require.NoError(p.t, p.cli.Close())
		p.cli = nil
	}
}

func (p *pair) stopServer() {
	if p.srv != nil {
		require.NoError(p.t, p.srv.Close())
		p.srv = nil
	}
}

func (p *pair) reopenSlave() {
	p.t.Helper()
	require.NoError(p.t, p.s.Close())
	p.s = openStore(p.t, p.sdir, p.opts)
}

func (p *pair) close() {
	p.closeMu.Lock()
	defer p.closeMu.Unlock()
	p.stopClient()
	p.stopServer()
	for _, s := range []*store.Store{p.s, p.m} {
		if s != nil {
			_ = s.Close()
		}
	}
	p.s, p.m = nil, nil
}

// waitCaughtUp waits until the slave's log ends where the master's does and
// the master saw the slave confirm it.
func (p *pair) waitCaughtUp(timeout time.Duration) {
	p.t.Helper()
	poll.WaitFor(p.t, timeout, func() bool {
		max := p.m.CommitLogMaxOffset()
		if p.s.CommitLogMaxOffset() != max {
			return false
		}
		if p.srv == nil {
			return true
		}
		for _, sl := range p.srv.Status().Slaves {
			if sl.AckOffset == max {
				return true
			}
		}
		return false
	})
}

var topics = []string{"TopicA", "TopicB", "TopicC"}

// msg builds message i: three topics of four queues, bodies of size bytes
// unique to i and salt.
func msg(i, size int, salt string) *message.MessageExt {
	m := storetest.Msg(topics[i%3], int32(i%4), i, size)
	copy(m.Body, salt)
	m.Properties[message.PropertyKeys] = "key-" + strconv.Itoa(i) + salt
	m.Properties[message.PropertyUniqKey] = fmt.Sprintf("uniq-%s-%d", salt, i)
	return m
}

// putMessages stores messages [first, first+n) pipelined and waits for all;
// it returns their results in order.
func putMessages(t testing.TB, s *store.Store, first, n, size int, salt string) []store.PutResult {
	t.Helper()
	q := store.NewCompletions()
	out := make([]store.PutResult, n)
	const window = 512
	inflight, done := 0, 0
	var buf []store.Completion
	for i := 0; i < n || done < n; {
		for i < n && inflight < window {
			s.Put([]*message.MessageExt{msg(first+i, size, salt)}, q, i)
			i++
			inflight++
		}
		select {
		case <-q.Ready():
		case <-time.After(30 * time.Second):
			t.Fatal("puts not completed")
		}
		buf = q.Drain(buf[:0])
		for _, c := range buf {
			require.NoError(t, c.Err)
			out[c.Tag.(int)] = c.Result
			inflight--
			done++
		}
	}
	return out
}

// requireSameLog compares the stores' commit-log bytes over [from, to).
func requireSameLog(t testing.TB, a, b *store.Store, from, to message.PhysOffset) {
	t.Helper()
	var x, y []byte
	for off := from; off < to; {
		var err error
		x, err = a.ReadCommitLog(off, 1<<20, x[:0])
		require.NoError(t, err)
		y, err = b.ReadCommitLog(off, 1<<20, y[:0])
		require.NoError(t, err)
		n := min(len(x), len(y), int(to-off))
		require.Positive(t, n, "no bytes at %d", off)
		if !bytes.Equal(x[:n], y[:n]) {
			i := 0
			for x[i] == y[i] {
				i++
			}
			t.Fatalf("commit logs differ at offset %d", off+message.PhysOffset(i))
		}
		off += message.PhysOffset(n)
	}
}

// requireSameQueues checks that every queue reads the same on both stores.
func requireSameQueues(t testing.TB, m, s *store.Store) {
	t.Helper()
	requireSameQueuesFrom(t, m, s, false)
}

// requireSameQueuesFrom is requireSameQueues; with partial, the slave may
// start later (it began at the master's last segment) and queues are
// compared from the slave's minimum.
func requireSameQueuesFrom(t testing.TB, m, s *store.Store, partial bool) {
	t.Helper()
	for _, x := range []*store.Store{m, s} {
		poll.WaitFor(t, 30*time.Second, func() bool { return x.Stats().DispatchBehindBytes == 0 })
	}
	for _, topic := range topics {
		ids := m.QueueIDs(topic)
		require.Equal(t, ids, s.QueueIDs(topic), topic)
		for _, qid := range ids {
			require.Equal(t, m.MaxOffsetInQueue(topic, qid), s.MaxOffsetInQueue(topic, qid), "%s/%d", topic, qid)
			lo := m.MinOffsetInQueue(topic, qid)
			if partial {
				lo = max(lo, s.MinOffsetInQueue(topic, qid))
			}
			require.Equal(t, lo, s.MinOffsetInQueue(topic, qid), "%s/%d", topic, qid)
			for off := lo; ; {
				a, err := m.GetMessages(context.Background(), "g", topic, qid, off, 32, nil, nil)
				require.NoError(t, err)
				b, err := s.GetMessages(context.Background(), "g", topic, qid, off, 32, nil, nil)
				require.NoError(t, err)
				require.Equal(t, a.Status, b.Status, "%s/%d at %d", topic, qid, off)
				require.Equal(t, a.NextBeginOffset, b.NextBeginOffset)
				require.True(t, bytes.Equal(a.Body, b.Body), "%s/%d at %d: bodies differ", topic, qid, off)
				if a.Status != store.GetFound {
					break
				}
				off = a.NextBeginOffset
			}
		}
	}
}
