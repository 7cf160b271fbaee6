package vfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMemBasicFileOps(t *testing.T) {
	t.Parallel()
	m := NewMem()
	require.NoError(t, m.MkdirAll("/d/e", 0o755))
	f, err := m.Create("/d/e/a")
	require.NoError(t, err)
	n, err := f.Write([]byte("hello"))
	require.NoError(t, err)
	require.Equal(t, 5, n)
	_, err = f.WriteAt([]byte("XY"), 8) // leaves a zero hole
	require.NoError(t, err)
	st, err := f.Stat()
	require.NoError(t, err)
	require.Equal(t, int64(10), st.Size())
	buf := make([]byte, 10)
	n, err = f.ReadAt(buf, 0)
	require.NoError(t, err)
	require.Equal(t, 10, n)
	require.Equal(t, []byte("hello\x00\x00\x00XY"), buf)
	n, err = f.ReadAt(buf, 6)
	require.Equal(t, io.EOF, err)
	require.Equal(t, 4, n)
	require.NoError(t, f.Truncate(3))
	require.NoError(t, f.Truncate(6)) // grows with zeros, not old bytes
	got, err := ReadFile(m, "/d/e/a")
	require.NoError(t, err)
	require.Equal(t, []byte("hel\x00\x00\x00"), got)
	require.NoError(t, f.Close())
	_, err = f.Write([]byte("x"))
	require.ErrorIs(t, err, fs.ErrClosed)

	r, err := m.Open("/d/e/a")
	require.NoError(t, err)
	_, err = r.WriteAt([]byte("x"), 0)
	require.Error(t, err, "read-only handle must refuse writes")
	all, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Equal(t, got, all)
	require.NoError(t, r.Close())

	_, err = m.Open("/d/e/missing")
	require.ErrorIs(t, err, fs.ErrNotExist)
	_, err = m.Stat("/nope/x")
	require.ErrorIs(t, err, fs.ErrNotExist)

	names, err := m.List("/d/e")
	require.NoError(t, err)
	require.Equal(t, []string{"a"}, names)
}

func TestMemOpenReadWriteKeepsContent(t *testing.T) {
	t.Parallel()
	m := NewMem()
	require.NoError(t, WriteFileAtomic(m, "f", []byte("abc")))
	f, err := m.OpenReadWrite("f")
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("Z"), 1)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	got, err := ReadFile(m, "f")
	require.NoError(t, err)
	require.Equal(t, "aZc", string(got))
	names, err := m.List(".")
	require.NoError(t, err)
	require.Equal(t, []string{"f"}, names, "no temp file left")
}

func TestMemRenameRemove(t *testing.T) {
	t.Parallel()
	m := NewMem()
	require.NoError(t, m.MkdirAll("d", 0o755))
	require.NoError(t, WriteFileAtomic(m, "d/a", []byte("A")))
	require.NoError(t, WriteFileAtomic(m, "d/b", []byte("B")))
	require.NoError(t, m.Rename("d/a", "d/b"))
	got, err := ReadFile(m, "d/b")
	require.NoError(t, err)
	require.Equal(t, "A", string(got))
	_, err = m.Stat("d/a")
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.Error(t, m.Remove("d"), "non-empty directory")
	require.NoError(t, m.Remove("d/b"))
	require.NoError(t, m.Remove("d"))
	require.NoError(t, m.RemoveAll("d"))
	require.NoError(t, m.MkdirAll("x/y/z", 0o755))
	require.NoError(t, WriteFileAtomic(m, "x/y/z/f", []byte("F")))
	require.NoError(t, m.RemoveAll("x"))
	_, err = m.Stat("x")
	require.ErrorIs(t, err, fs.ErrNotExist)
}

func TestMemLock(t *testing.T) {
	t.Parallel()
	m := NewMem()
	l, err := m.Lock("LOCK")
	require.NoError(t, err)
	_, err = m.Lock("LOCK")
	require.Error(t, err)
	require.NoError(t, l.Close())
	l2, err := m.Lock("LOCK")
	require.NoError(t, err)
	require.NoError(t, l2.Close())
}

func TestMemCapacityENOSPC(t *testing.T) {
	t.Parallel()
	m := NewMem()
	m.SetCapacity(100)
	f, err := m.Create("f")
	require.NoError(t, err)
	_, err = f.Write(make([]byte, 60))
	require.NoError(t, err)
	sp, err := m.Space("/")
	require.NoError(t, err)
	require.Equal(t, Space{Total: 100, Free: 40, Avail: 40}, sp)

	_, err = f.Write(make([]byte, 41))
	require.ErrorIs(t, err, syscall.ENOSPC)
	st, _ := f.Stat()
	require.Equal(t, int64(60), st.Size(), "a failed write changes nothing")

	err = f.(Preallocator).Preallocate(0, 200)
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.NoError(t, f.(Preallocator).Preallocate(0, 100))
	// Writes inside preallocated space never fail for space.
	_, err = f.WriteAt(make([]byte, 40), 60)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{1}, 100)
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.NoError(t, f.Close())
	require.NoError(t, m.Remove("f"))
	sp, _ = m.Space("/")
	require.Equal(t, uint64(100), sp.Free)
}

// TestMemReserved: reserved bytes are free but not available, count as
// neither used nor available in UsedRatio, and writes cannot use them.
func TestMemReserved(t *testing.T) {
	t.Parallel()
	m := NewMem()
	m.SetCapacity(100)
	m.SetReserved(50)
	f, err := m.Create("f")
	require.NoError(t, err)
	_, err = f.Write(make([]byte, 10))
	require.NoError(t, err)
	sp, err := m.Space("/")
	require.NoError(t, err)
	require.Equal(t, Space{Total: 100, Free: 90, Avail: 40}, sp)
	require.InDelta(t, 0.2, sp.UsedRatio(), 1e-9, "df: 10 used of 10+40")
	_, err = f.Write(make([]byte, 41))
	require.ErrorIs(t, err, syscall.ENOSPC, "the reserve is not for us")
	_, err = f.Write(make([]byte, 40))
	require.NoError(t, err)
	sp, _ = m.Space("/")
	require.Equal(t, 1.0, sp.UsedRatio())
	require.NoError(t, f.Close())
}

func TestSpaceUsedRatio(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sp   Space
		want float64
	}{
		{Space{}, 0},
		{Space{Total: 100, Free: 100, Avail: 95}, 0},
		{Space{Total: 100, Free: 55, Avail: 50}, 45.0 / 95},
		// ext4 -m 50, nearly empty: statfs's (blocks-bavail)/blocks says 60%.
		{Space{Total: 14073, Free: 14059, Avail: 5540}, 14.0 / 5554},
		{Space{Total: 100, Free: 5, Avail: 0}, 1},
		{Space{Total: 100, Free: 200, Avail: 0}, 0}, // nonsense figures stay in range
	} {
		require.InDelta(t, tc.want, tc.sp.UsedRatio(), 1e-9, "%+v", tc.sp)
	}
}

func TestMemClock(t *testing.T) {
	t.Parallel()
	m := NewMem()
	t0 := time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)
	now := t0
	m.SetClock(func() time.Time { return now })
	f, err := m.Create("f")
	require.NoError(t, err)
	now = t0.Add(time.Hour)
	_, err = f.Write([]byte("x"))
	require.NoError(t, err)
	st, err := m.Stat("f")
	require.NoError(t, err)
	require.Equal(t, t0.Add(time.Hour), st.ModTime())
	require.NoError(t, f.Close())
}

func TestMemConcurrentWriteAt(t *testing.T) {
	t.Parallel()
	m := NewMem()
	f, err := m.Create("f")
	require.NoError(t, err)
	const n, size = 8, 1000
	done := make(chan error, n)
	for i := range n {
		go func() {
			_, err := f.WriteAt(bytes.Repeat([]byte{byte(i)}, size), int64(i*size))
			done <- err
		}()
	}
	for range n {
		require.NoError(t, <-done)
	}
	got, err := ReadFile(m, "f")
	require.NoError(t, err)
	for i := range n {
		require.Equal(t, bytes.Repeat([]byte{byte(i)}, size), got[i*size:(i+1)*size])
	}
}

func TestCrashCloneKeepsSyncedOnly(t *testing.T) {
	t.Parallel()
	m := NewCrashableMem()
	require.NoError(t, m.MkdirAll("d", 0o755))
	f, err := m.Create("d/f")
	require.NoError(t, err)
	_, err = f.Write([]byte("synced"))
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, SyncDir(m, "d"))
	_, err = f.Write([]byte("-unsynced"))
	require.NoError(t, err)
	g, err := m.Create("d/g") // entry never made durable
	require.NoError(t, err)
	_, err = g.Write([]byte("g"))
	require.NoError(t, err)
	require.NoError(t, g.Sync())

	c := m.CrashClone(CrashCloneOptions{UnsyncedFraction: 0, Seed: 1})
	got, err := ReadFile(c, "d/f")
	require.NoError(t, err)
	require.Equal(t, "synced", string(got))
	_, err = c.Stat("d/g")
	require.ErrorIs(t, err, fs.ErrNotExist, "file synced but directory not: entry lost")

	c = m.CrashClone(CrashCloneOptions{UnsyncedFraction: 1, Seed: 1})
	got, err = ReadFile(c, "d/f")
	require.NoError(t, err)
	require.Equal(t, "synced-unsynced", string(got))
	got, err = ReadFile(c, "d/g")
	require.NoError(t, err)
	require.Equal(t, "g", string(got))

	// The original keeps working and the clone is independent and crashable.
	_, err = f.Write([]byte("!"))
	require.NoError(t, err)
	got, err = ReadFile(c, "d/f")
	require.NoError(t, err)
	require.Equal(t, "synced-unsynced", string(got))
	c2 := c.CrashClone(CrashCloneOptions{})
	got, err = ReadFile(c2, "d/f")
	require.NoError(t, err)
	require.Equal(t, "synced-unsynced", string(got))
}

func TestCrashCloneUnsyncedRemoveAndRename(t *testing.T) {
	t.Parallel()
	m := NewCrashableMem()
	require.NoError(t, WriteFileAtomic(m, "a", []byte("old")))
	require.NoError(t, m.Remove("a"))
	c := m.CrashClone(CrashCloneOptions{UnsyncedFraction: 0})
	got, err := ReadFile(c, "a")
	require.NoError(t, err, "unsynced removal is undone by a crash")
	require.Equal(t, "old", string(got))

	// WriteFileAtomic syncs the directory, so its result survives any crash.
	require.NoError(t, WriteFileAtomic(m, "b", []byte("new")))
	for seed := range uint64(20) {
		c := m.CrashClone(CrashCloneOptions{UnsyncedFraction: 0.5, Seed: seed})
		got, err := ReadFile(c, "b")
		require.NoError(t, err)
		require.Equal(t, "new", string(got))
	}
}

// TestCrashClonePartialPages checks that unsynced writes survive page by page, in
// arbitrary subsets, and that the choice is deterministic for a seed.
func TestCrashClonePartialPages(t *testing.T) {
	t.Parallel()
	m := NewCrashableMem()
	f, err := m.Create("f")
	require.NoError(t, err)
	require.NoError(t, SyncDir(m, "."))
	data := bytes.Repeat([]byte{0xAB}, 16*crashPage)
	_, err = f.Write(data)
	require.NoError(t, err)
	sawPartial := false
	for seed := range uint64(20) {
		opts := CrashCloneOptions{UnsyncedFraction: 0.5, Seed: seed}
		a, err := ReadFile(m.CrashClone(opts), "f")
		require.NoError(t, err)
		b, err := ReadFile(m.CrashClone(opts), "f")
		require.NoError(t, err)
		require.Equal(t, a, b, "same seed, same clone")
		kept := 0
		for p := 0; p < len(a); p += crashPage {
			page := a[p:min(p+crashPage, len(a))]
			switch {
			case bytes.Equal(page, data[p:p+len(page)]):
				kept++
			case bytes.Count(page, []byte{0}) == len(page):
			default:
				t.Fatalf("seed %d: page at %d is neither whole nor zero", seed, p)
			}
		}
		if kept > 0 && kept < 16 {
			sawPartial = true
		}
	}
	require.True(t, sawPartial)
}

func TestCrashCloneRequiresCrashable(t *testing.T) {
	t.Parallel()
	require.Panics(t, func() { NewMem().CrashClone(CrashCloneOptions{}) })
}

func TestMemDirErrors(t *testing.T) {
	t.Parallel()
	m := NewMem()
	require.NoError(t, m.MkdirAll("d", 0o755))
	_, err := m.Create("d")
	require.True(t, errors.Is(err, syscall.EISDIR))
	require.NoError(t, WriteFileAtomic(m, "f", nil))
	_, err = m.OpenDir("f")
	require.ErrorIs(t, err, syscall.ENOTDIR)
	require.Error(t, m.MkdirAll("f/x", 0o755))
}

// Regression: a zero-length WriteAt was recorded as an unsynced op with nil data,
// which Sync and CrashClone took for a resize to 0, emptying the file.
func TestCrashableMemZeroLengthWriteAt(t *testing.T) {
	t.Parallel()
	m := NewCrashableMem()
	f, err := m.Create("/a")
	require.NoError(t, err)
	_, err = f.Write([]byte("hello"))
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, SyncDir(m, "/"))
	n, err := f.WriteAt(nil, 2)
	require.NoError(t, err)
	require.Equal(t, 0, n)
	c := m.CrashClone(CrashCloneOptions{UnsyncedFraction: 1, Seed: 1})
	got, err := ReadFile(c, "/a")
	require.NoError(t, err)
	require.Equal(t, []byte("hello"), got)
	require.NoError(t, f.Sync())
	c = m.CrashClone(CrashCloneOptions{Seed: 2})
	got, err = ReadFile(c, "/a")
	require.NoError(t, err)
	require.Equal(t, []byte("hello"), got)
	got, err = ReadFile(m, "/a")
	require.NoError(t, err)
	require.Equal(t, []byte("hello"), got)
}

// Regression: a growing WriteAt cleared MemFS.crashable for a moment (under the
// lock) while CrashClone read the flag before taking the lock, so a concurrent
// CrashClone could race and even panic "not made by NewCrashableMem".
func TestCrashCloneConcurrentWithGrowingWrites(t *testing.T) {
	t.Parallel()
	m := NewCrashableMem()
	f, err := m.Create("/a")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			_, err := f.WriteAt([]byte("x"), int64(i))
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 200 {
		_ = m.CrashClone(CrashCloneOptions{UnsyncedFraction: 0.5, Seed: 1})
	}
	<-done
}
