package commitlog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/message"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	goleak.VerifyTestMain(m)
}

// testConfig is one storage configuration tests run under.
type testConfig struct {
	name    string
	newFS   func(t *testing.T) (vfs.FS, string)
	mode    FlushMode
	segSize int64
}

// forEachConfig runs fn under every combination of flush mode, segment size
// (tiny, to force rolls, and moderate) and filesystem (MemFS and OS).
func forEachConfig(t *testing.T, fn func(t *testing.T, fsys vfs.FS, cfg Config)) {
	fss := []struct {
		name string
		mk   func(t *testing.T) (vfs.FS, string)
	}{
		{"mem", func(t *testing.T) (vfs.FS, string) { return vfs.NewMem(), "/store/commitlog" }},
		{"os", func(t *testing.T) (vfs.FS, string) { return vfs.OS, filepath.Join(t.TempDir(), "commitlog") }},
	}
	for _, f := range fss {
		for _, mode := range []FlushMode{FlushAsync, FlushSync} {
			for _, seg := range []int64{4096, 1 << 20} {
				name := fmt.Sprintf("%s/%s/seg=%d", f.name, mode, seg)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					fsys, dir := f.mk(t)
					cfg := Config{Dir: dir, SegmentSize: seg, FlushMode: mode, MaxMessageSize: min(int(seg)-8, 64<<10)}
					fn(t, fsys, cfg)
				})
			}
		}
	}
}

// seed returns the seed for randomised tests (env COMMITLOG_SEED overrides) and
// logs it.
func seed(t *testing.T) uint64 {
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("COMMITLOG_SEED"); v != "" {
		s, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("seed %d (rerun with COMMITLOG_SEED=%d)", s, s)
	return s
}

var (
	testBorn  = netip.MustParseAddrPort("192.168.0.9:40000")
	testStore = netip.MustParseAddrPort("10.0.0.2:10911")
)

// makeRecord encodes a record with a body of size bytes derived from i.
func makeRecord(tb testing.TB, i, size int) []byte {
	tb.Helper()
	rec, err := recordBytes(i, size)
	require.NoError(tb, err)
	return rec
}

func recordBytes(i, size int) ([]byte, error) {
	body := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(i), 7))
	for j := range body {
		body[j] = byte(r.UintN(256))
	}
	m := &message.MessageExt{
		Message: message.Message{
			Topic:      "TopicTest",
			Body:       body,
			Properties: map[string]string{message.PropertyTags: "T" + strconv.Itoa(i%7), message.PropertyKeys: "k" + strconv.Itoa(i)},
		},
		QueueID:       int32(i % 4),
		BornTimestamp: 1700000000000 + int64(i),
		BornHost:      testBorn,
		StoreHost:     testStore,
	}
	return message.AppendRecord(nil, m)
}

func openStarted(t *testing.T, fsys vfs.FS, cfg Config, ro RecoverOptions) *Log {
	t.Helper()
	l, err := Open(fsys, cfg, ro)
	require.NoError(t, err)
	require.NoError(t, l.Start(context.Background()))
	return l
}

// scanAll returns every record of the log by offset.
func scanAll(t *testing.T, l *Log) (offs []message.PhysOffset, recs [][]byte) {
	t.Helper()
	next, err := l.Scan(l.MinOffset(), func(off message.PhysOffset, rec []byte) error {
		offs = append(offs, off)
		recs = append(recs, append([]byte(nil), rec...))
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, l.MaxOffset(), max(next, l.MaxOffset()))
	return offs, recs
}

// expected returns rec as the log stores it at off with time ts and queue offset q.
func expected(rec []byte, off message.PhysOffset, ts int64, q message.QueueOffset) []byte {
	out := append([]byte(nil), rec...)
	message.SetPhysOffset(out, off)
	message.SetStoreTimestamp(out, ts)
	message.SetQueueOffset(out, q)
	return out
}
