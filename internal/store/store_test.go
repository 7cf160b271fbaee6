package store_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/internal/store/storetest"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/clock"
)

func TestMain(m *testing.M) {
	if os.Getenv(killChildEnv) != "" {
		os.Exit(runKillChild())
	}
	goleak.VerifyTestMain(m)
}

var testStoreHost = netip.MustParseAddrPort("10.0.0.2:10911")

// testConfig returns a small-geometry config rooted at root: 8-entry consume-queue
// files and a 64-slot, 32-entry index, so files roll often.
func testConfig(root string, mode store.FlushDiskType, segSize int64) store.Config {
	cfg := store.DefaultConfig()
	cfg.RootDir = root
	cfg.CommitLogSegmentSize = segSize
	cfg.MaxMessageSize = int(min(segSize/2, 1<<20))
	cfg.FlushDiskType = mode
	cfg.ConsumeQueueEntriesPerFile = 8
	cfg.MaxHashSlotNum = 64
	cfg.MaxIndexNum = 32
	cfg.StoreHost = testStoreHost
	cfg.PhysicalMemorySize = 8 << 30
	return cfg
}

// env is one storage configuration: a config template (RootDir unset) and a
// way to get a fresh, empty location.
type env struct {
	cfg    store.Config
	newLoc func(t *testing.T) (vfs.FS, string)
}

// config returns the template rooted at root.
func (e env) config(root string) store.Config {
	c := e.cfg
	c.RootDir = root
	return c
}

// forEachConfig runs fn under every combination of flush mode, segment size
// (tiny, to force rolls, and moderate) and filesystem (MemFS and OS).
func forEachConfig(t *testing.T, fn func(t *testing.T, e env)) {
	fss := []struct {
		name string
		mk   func(t *testing.T) (vfs.FS, string)
	}{
		{"mem", func(t *testing.T) (vfs.FS, string) { return vfs.NewMem(), "/store" }},
		{"os", func(t *testing.T) (vfs.FS, string) { return vfs.OS, filepath.Join(t.TempDir(), "store") }},
	}
	for _, f := range fss {
		for _, mode := range []store.FlushDiskType{store.AsyncFlush, store.SyncFlush} {
			for _, seg := range []int64{8 << 10, 1 << 20} {
				t.Run(fmt.Sprintf("%s/%s/seg=%d", f.name, mode, seg), func(t *testing.T) {
					t.Parallel()
					fn(t, env{cfg: testConfig("", mode, seg), newLoc: f.mk})
				})
			}
		}
	}
}

func TestConformance(t *testing.T) {
	forEachConfig(t, func(t *testing.T, e env) {
		storetest.Run(t, func(t *testing.T) storetest.Harness {
			fsys, root := e.newLoc(t)
			cfg := e.config(root)
			return storetest.Harness{Open: func(t *testing.T) store.MessageStore {
				s, err := store.Open(fsys, cfg, nil, clock.Real{})
				require.NoError(t, err)
				return s
			}}
		})
	})
}
