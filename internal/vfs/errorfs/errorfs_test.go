package errorfs_test

import (
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/internal/vfs/errorfs"
)

func TestOnNthWrite(t *testing.T) {
	t.Parallel()
	mem := vfs.NewMem()
	e := errorfs.Wrap(mem, errorfs.OnNth(errorfs.OpWrite, 2, syscall.ENOSPC))
	f, err := e.Create("f")
	require.NoError(t, err)
	_, err = f.Write([]byte("a"))
	require.NoError(t, err)
	_, err = f.Write([]byte("b"))
	require.ErrorIs(t, err, syscall.ENOSPC)
	_, err = f.WriteAt([]byte("c"), 1)
	require.NoError(t, err, "only the 2nd write fails")
	got, err := vfs.ReadFile(mem, "f")
	require.NoError(t, err)
	require.Equal(t, "ac", string(got), "the failed write changed nothing")
}

func TestFromNthSync(t *testing.T) {
	t.Parallel()
	e := errorfs.Wrap(vfs.NewMem(), errorfs.FromNth(errorfs.OpSync, 2, errorfs.ErrInjected))
	f, err := e.Create("f")
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	for range 3 {
		require.ErrorIs(t, f.Sync(), errorfs.ErrInjected)
		require.ErrorIs(t, vfs.SyncData(f), errorfs.ErrInjected)
	}
}

func TestPredicateAndOps(t *testing.T) {
	t.Parallel()
	mem := vfs.NewMem()
	inj := errorfs.If(func(op errorfs.Op, p string) bool {
		return strings.HasSuffix(p, ".bad") && op != errorfs.OpRead
	}, errorfs.ErrInjected)
	e := errorfs.Wrap(mem, inj)
	_, err := e.Create("x.bad")
	require.ErrorIs(t, err, errorfs.ErrInjected)
	_, err = mem.Stat("x.bad")
	require.ErrorIs(t, err, fs.ErrNotExist, "a failed create does nothing")
	require.NoError(t, vfs.WriteFileAtomic(e, "ok", []byte("1")))
	require.ErrorIs(t, e.Rename("ok", "y.bad"), errorfs.ErrInjected)

	f, err := e.Create("z")
	require.NoError(t, err)
	require.NoError(t, f.(vfs.Preallocator).Preallocate(0, 10))
	st, err := f.Stat()
	require.NoError(t, err)
	require.Equal(t, int64(10), st.Size())
}

func TestSwitch(t *testing.T) {
	t.Parallel()
	var sw errorfs.Switch
	e := errorfs.Wrap(vfs.NewMem(), &sw)
	f, err := e.Create("f")
	require.NoError(t, err)
	sw.Set(errorfs.If(func(op errorfs.Op, _ string) bool { return op == errorfs.OpPreallocate }, syscall.ENOSPC))
	require.ErrorIs(t, f.(vfs.Preallocator).Preallocate(0, 1), syscall.ENOSPC)
	require.NoError(t, f.Sync())
	sw.Set(nil)
	require.NoError(t, f.(vfs.Preallocator).Preallocate(0, 1))
	require.Equal(t, "preallocate", errorfs.OpPreallocate.String())
}
