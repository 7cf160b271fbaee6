package checkpoint

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/vfs"
)

// rocketMQFile builds a checkpoint file as RocketMQ's StoreCheckpoint leaves it:
// one 4 KiB page, three big-endian longs at 0, 8 and 16, zeros elsewhere.
func rocketMQFile(physic, logics, index int64) []byte {
	b := make([]byte, 4096)
	binary.BigEndian.PutUint64(b[0:], uint64(physic))
	binary.BigEndian.PutUint64(b[8:], uint64(logics))
	binary.BigEndian.PutUint64(b[16:], uint64(index))
	return b
}

func TestDecode(t *testing.T) {
	t.Parallel()
	want := Values{PhysicMsgTimestamp: 1_700_000_000_123, LogicsMsgTimestamp: 1_700_000_000_100, IndexMsgTimestamp: 1_699_999_999_000}
	good := Encode(want)
	corrupt := Encode(want)
	corrupt[3] ^= 1
	newer := Encode(want)
	binary.BigEndian.PutUint32(newer[versionPos:], Version+1)
	cases := []struct {
		name string
		in   []byte
		want Values
		err  error
	}{
		{"petrel", good, want, nil},
		{"rocketmq page", rocketMQFile(want.PhysicMsgTimestamp, want.LogicsMsgTimestamp, want.IndexMsgTimestamp), want, nil},
		{"rocketmq 24 bytes", rocketMQFile(1, 2, 3)[:24], Values{1, 2, 3}, nil},
		{"zero page", make([]byte, 4096), Values{}, nil},
		{"short", make([]byte, 23), Values{}, ErrCorrupt},
		{"bad checksum", corrupt, Values{}, ErrCorrupt},
		{"newer version", newer, Values{}, ErrNewerVersion},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decode(c.in)
			if c.err != nil {
				require.ErrorIs(t, err, c.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}
	require.Len(t, good, FileSize)
	require.Equal(t, rocketMQFile(want.PhysicMsgTimestamp, want.LogicsMsgTimestamp, want.IndexMsgTimestamp)[:trailerPos], good[:trailerPos],
		"the part RocketMQ reads is byte-identical")
}

func TestMinTimestamp(t *testing.T) {
	t.Parallel()
	require.Equal(t, int64(7000), Values{PhysicMsgTimestamp: 10_000, LogicsMsgTimestamp: 12_000}.MinTimestamp())
	require.Equal(t, int64(0), Values{PhysicMsgTimestamp: 2_000, LogicsMsgTimestamp: 12_000}.MinTimestamp())
	require.Equal(t, int64(5000), Values{PhysicMsgTimestamp: 10_000, LogicsMsgTimestamp: 12_000, IndexMsgTimestamp: 5000}.MinTimestampIndex())
	require.Equal(t, int64(7000), Values{PhysicMsgTimestamp: 10_000, LogicsMsgTimestamp: 12_000, IndexMsgTimestamp: 9000}.MinTimestampIndex())
}

func TestLoadFlushReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "checkpoint")
	c, err := Load(vfs.OS, path)
	require.NoError(t, err)
	require.False(t, c.Existed())
	require.Equal(t, Values{}, c.Values())
	c.SetPhysicMsgTimestamp(300)
	c.SetLogicsMsgTimestamp(200)
	c.SetIndexMsgTimestamp(100)
	require.NoError(t, c.Flush())

	c2, err := Load(vfs.OS, path)
	require.NoError(t, err)
	require.True(t, c2.Existed())
	require.Equal(t, Values{300, 200, 100}, c2.Values())
	require.Equal(t, int64(300), c2.PhysicMsgTimestamp())
	require.Equal(t, int64(200), c2.LogicsMsgTimestamp())
	require.Equal(t, int64(100), c2.IndexMsgTimestamp())
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, int64(FileSize), st.Size())

	// A file written by RocketMQ loads, and Flush rewrites it in our format.
	require.NoError(t, os.WriteFile(path, rocketMQFile(9, 8, 7), 0o644))
	c3, err := Load(vfs.OS, path)
	require.NoError(t, err)
	require.Equal(t, Values{9, 8, 7}, c3.Values())
	require.NoError(t, c3.Flush())
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, Encode(Values{9, 8, 7}), raw)

	// A corrupt file is refused, not silently reset.
	raw[1] ^= 0x80
	require.NoError(t, os.WriteFile(path, raw, 0o644))
	_, err = Load(vfs.OS, path)
	require.ErrorIs(t, err, ErrCorrupt)
}

func TestConcurrentSetAndFlush(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "checkpoint")
	c, err := Load(vfs.OS, path)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := int64(1); i <= 50; i++ {
				switch g {
				case 0:
					c.SetPhysicMsgTimestamp(i)
				case 1:
					c.SetLogicsMsgTimestamp(i)
				default:
					if err := c.Flush(); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	require.NoError(t, c.Flush())
	c2, err := Load(vfs.OS, path)
	require.NoError(t, err)
	require.Equal(t, Values{50, 50, 0}, c2.Values())
}

// TestCrashAfterFlush: after a crash at any point, the checkpoint holds the values
// of the last completed Flush, or of the one in progress, never a mix or garbage.
func TestCrashAfterFlush(t *testing.T) {
	t.Parallel()
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	fsys := vfs.NewCrashableMem()
	require.NoError(t, fsys.MkdirAll("/store", 0o755))
	path := "/store/checkpoint"
	c, err := Load(fsys, path)
	require.NoError(t, err)
	var flushed Values
	for i := int64(1); i <= 40; i++ {
		c.SetPhysicMsgTimestamp(i * 10)
		c.SetLogicsMsgTimestamp(i*10 - 1)
		c.SetIndexMsgTimestamp(i*10 - 2)
		if rng.IntN(2) == 0 {
			require.NoError(t, c.Flush())
			flushed = c.Values()
		}
		crashed := fsys.CrashClone(vfs.CrashCloneOptions{UnsyncedFraction: rng.Float64(), Seed: rng.Uint64()})
		got, err := Load(crashed, path)
		require.NoError(t, err)
		require.Equal(t, flushed, got.Values(), "step %d", i)
	}
}

func TestAbort(t *testing.T) {
	t.Parallel()
	fsys := vfs.NewCrashableMem()
	require.NoError(t, fsys.MkdirAll("/store", 0o755))
	path := "/store/abort"
	ok, err := AbortExists(fsys, path)
	require.NoError(t, err)
	require.False(t, ok)

	require.NoError(t, CreateAbort(fsys, path))
	ok, err = AbortExists(fsys.CrashClone(vfs.CrashCloneOptions{}), path)
	require.NoError(t, err)
	require.True(t, ok, "abort marker durable after CreateAbort")

	require.NoError(t, RemoveAbort(fsys, path))
	ok, err = AbortExists(fsys.CrashClone(vfs.CrashCloneOptions{UnsyncedFraction: 1}), path)
	require.NoError(t, err)
	require.False(t, ok, "removal durable after RemoveAbort")
	require.NoError(t, RemoveAbort(fsys, path), "missing marker is fine")

	// On the real filesystem too.
	osPath := filepath.Join(t.TempDir(), "abort")
	require.NoError(t, CreateAbort(vfs.OS, osPath))
	ok, err = AbortExists(vfs.OS, osPath)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, RemoveAbort(vfs.OS, osPath))
	ok, err = AbortExists(vfs.OS, osPath)
	require.NoError(t, err)
	require.False(t, ok)
}
