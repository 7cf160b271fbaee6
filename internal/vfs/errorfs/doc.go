// Package errorfs wraps a vfs.FS so that chosen operations fail with chosen errors,
// for fault-injection tests of storage code: a failed write, fsync, rename,
// preallocation or create, or ENOSPC, at the Nth operation or wherever a predicate
// says.
//
// An Injector decides, for each operation before it reaches the wrapped FS, whether
// it fails. A failed operation does nothing to the wrapped FS. Injectors and the
// wrapped FS are safe for concurrent use.
//
//	inj := errorfs.OnNth(errorfs.OpSync, 3, errorfs.ErrInjected) // third fsync fails
//	fsys := errorfs.Wrap(vfs.NewMem(), inj)
//
// Imports: the standard library and internal/vfs only (internal/lint).
package errorfs
