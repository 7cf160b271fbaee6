package commitlog

import (
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/internal/vfs/errorfs"
)

// errorfsCount wraps fsys, calling onSync for every file sync.
func errorfsCount(fsys vfs.FS, onSync func()) vfs.FS {
	return errorfs.Wrap(fsys, errorfs.InjectorFunc(func(op errorfs.Op, _ string) error {
		if op == errorfs.OpSync {
			onSync()
		}
		return nil
	}))
}

// errorfsBlockSync wraps fsys so that file syncs after the first few (made while
// opening) block until release is closed.
func errorfsBlockSync(fsys vfs.FS, release chan struct{}) vfs.FS {
	return errorfs.Wrap(fsys, errorfs.InjectorFunc(func(op errorfs.Op, path string) error {
		if op == errorfs.OpSync && len(path) > 0 && path[len(path)-1] != 'l' { // not the directory "/cl"
			<-release
		}
		return nil
	}))
}
