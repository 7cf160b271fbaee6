// Package vfs is the filesystem seam of the store. Production code uses OS; tests use
// the in-memory, crashable and fault-injecting implementations so storage logic is
// exercised without real disks and can be crashed at any point.
//
// Paths are slash-separated OS paths. Implementations are safe for concurrent use; a
// File is safe for concurrent ReadAt/WriteAt at disjoint ranges, as *os.File is.
//
// Imports: the standard library and x/sys only (internal/lint).
package vfs
