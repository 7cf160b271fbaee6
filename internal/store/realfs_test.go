package store_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/internal/store/storetest"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/message"
)

// mountExt4 makes an ext4 image of size bytes with mkfs.ext4 and the given
// options, loop-mounts it and returns the mount point, unmounted at cleanup.
// It skips the test when not root or when mkfs.ext4, mount or loop devices
// are not available.
func mountExt4(t *testing.T, size int64, mkfsArgs ...string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to loop-mount a filesystem")
	}
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "fs.img"), filepath.Join(dir, "mnt")
	require.NoError(t, os.Mkdir(mnt, 0o755))
	f, err := os.Create(img)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(size))
	require.NoError(t, f.Close())
	args := append([]string{"-q", "-F"}, mkfsArgs...)
	if out, err := exec.Command("mkfs.ext4", append(args, img)...).CombinedOutput(); err != nil {
		t.Skipf("mkfs.ext4 unavailable: %v: %s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot loop-mount: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	return mnt
}

// fillTo makes the filesystem at dir ratio full, as df counts it, by
// reserving space in the file path (which it creates).
func fillTo(t *testing.T, dir, path string, ratio float64) {
	t.Helper()
	var st unix.Statfs_t
	require.NoError(t, unix.Statfs(dir, &st))
	unit := int64(st.Frsize)
	used, avail := int64(st.Blocks-st.Bfree)*unit, int64(st.Bavail)*unit
	want := int64(ratio*float64(used+avail)) - used
	require.Positive(t, want, "already fuller than %.2f", ratio)
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, unix.Fallocate(int(f.Fd()), 0, 0, want))
}

// TestReservedBlocksRealDisk: on ext4 made with -m 50 and filled to 70% as
// df shows it, statfs's (f_blocks - f_bavail) / f_blocks is above 85%: the
// store must neither refuse messages nor delete unexpired segments.
func TestReservedBlocksRealDisk(t *testing.T) {
	mnt := mountExt4(t, 64<<20, "-m", "50")
	cfg := testConfig(filepath.Join(mnt, "store"), store.AsyncFlush, 1<<20)
	cfg.MaxMessageSize = 64 << 10
	s := openStarted(t, vfs.OS, cfg, nil)
	defer func() { require.NoError(t, s.Close()) }()
	for i := range 3000 {
		storetest.Put(t, s, storetest.Msg("Ext", 0, i, 1000))
	}
	storetest.WaitDispatched(t, s, "Ext", 0, 3000)
	fillTo(t, mnt, filepath.Join(mnt, "filler"), 0.70)
	var st unix.Statfs_t
	require.NoError(t, unix.Statfs(mnt, &st))
	old := float64(st.Blocks-st.Bavail) / float64(st.Blocks)
	require.Greater(t, old, 0.85, "statfs's figure that counted reserved blocks as used")

	segs := s.Stats().CommitLogSegments
	s.CleanForTest()
	stats := s.Stats()
	require.InDelta(t, 0.70, stats.DiskUsedRatio, 0.03)
	require.Equal(t, segs, stats.CommitLogSegments, "nothing deleted early")
	require.Empty(t, stats.Problems)
	storetest.Put(t, s, storetest.Msg("Ext", 0, 3000, 1000))
}

// TestDiskFullRealDisk: an unpaced load on a small real disk (the retention
// timer out of the way) is refused with ErrDiskFull before the commit log
// runs out of space: by the guard at diskSpaceWarningLevelRatio, measured
// every few written MiB, or, with the guard at 99%, when the next segment
// cannot be allocated. Never ErrNotWritable, and every acknowledged message
// stays readable. Once space is freed, puts are accepted again by themselves,
// derived data that hit ENOSPC is repaired, and Close is clean.
func TestDiskFullRealDisk(t *testing.T) {
	for _, limit := range []int{90, 99} {
		t.Run(fmt.Sprintf("guard=%d", limit), func(t *testing.T) { diskFullRealDisk(t, limit) })
	}
}

func diskFullRealDisk(t *testing.T, limit int) {
	mnt := mountExt4(t, 24<<20, "-m", "0")
	root := filepath.Join(mnt, "store")
	cfg := testConfig(root, store.AsyncFlush, 512<<10)
	cfg.CleanResourceInterval = time.Hour
	cfg.DiskFullRatio = limit
	cfg.DiskSpaceCleanForciblyRatio = 99
	filler := filepath.Join(mnt, "filler")
	fillTo(t, mnt, filler, 0.30)
	s := openStarted(t, vfs.OS, cfg, nil)

	var (
		mu    sync.Mutex
		acked = map[string]int{} // topic -> messages acknowledged (in order)
		wg    sync.WaitGroup
	)
	deadline := time.Now().Add(60 * time.Second)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			topic := fmt.Sprintf("Full%d", w)
			refused := 0
			for i := 0; refused < 20 && time.Now().Before(deadline); {
				_, err := storetest.PutErr(s, storetest.Msg(topic, 0, i, 2000))
				switch {
				case err == nil:
					i++
					refused = 0
					mu.Lock()
					acked[topic] = i
					mu.Unlock()
				case errors.Is(err, store.ErrDiskFull) && !errors.Is(err, store.ErrNotWritable):
					refused++
				default:
					t.Errorf("put %s/%d: %v", topic, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	require.False(t, t.Failed())
	for w := range 4 {
		require.Positive(t, acked[fmt.Sprintf("Full%d", w)])
	}
	for _, p := range s.Stats().Problems {
		require.NotContains(t, p.Err, "read-only", "the commit log never failed for space")
	}
	require.True(t, s.Stats().Degraded(), "a full disk is reported")
	t.Logf("problems while full: %+v", s.Stats().Problems)

	// Free the space: puts resume without a restart.
	require.NoError(t, os.Remove(filler))
	storetest.WaitFor(t, 30*time.Second, func() bool {
		_, err := storetest.PutErr(s, storetest.Msg("Full0", 0, acked["Full0"], 2000))
		if err == nil {
			acked["Full0"]++
		}
		return err == nil
	})
	storetest.WaitFor(t, 30*time.Second, func() bool { return !s.Stats().Degraded() })
	for topic, n := range acked {
		storetest.WaitDispatched(t, s, topic, 0, message.QueueOffset(n))
		got := storetest.GetAll(t, s, topic, 0, 0)
		require.Len(t, got, n, topic)
		for i, m := range got {
			require.EqualValues(t, i, m.Flag, topic)
			checkBody(t, m)
		}
	}
	require.NoError(t, s.Close())
	_, err := os.Stat(filepath.Join(root, "abort"))
	require.ErrorIs(t, err, fs.ErrNotExist, "a clean close removes the abort marker")
}
