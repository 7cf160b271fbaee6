// Package storetest is the conformance suite for implementations of
// store.MessageStore. Run it from a test of the implementation:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Harness {
//			fsys, dir := vfs.NewMem(), "/store"
//			return storetest.Harness{Open: func(t *testing.T) store.MessageStore {
//				s, err := store.Open(fsys, cfgFor(dir), nil, nil)
//				require.NoError(t, err)
//				return s
//			}}
//		})
//	}
//
// Each subtest asks the factory for a fresh Harness (an empty store location) and
// opens, starts and closes stores through it; "reopen" subtests open the same
// location again. The suite checks observable behaviour only: put/get round trips
// with byte-identical records, contiguous queue offsets, batches, filters, every
// GetMessages status and its NextBeginOffset, offset-by-time, lookups, queries by
// key and unique key, topic deletion, config files, and that reopening keeps
// everything. It waits for dispatch by polling with a deadline.
//
// Imports: the store's own dependencies, testify and internal/testutil/poll;
// it is test support and nothing but tests imports it.
package storetest
