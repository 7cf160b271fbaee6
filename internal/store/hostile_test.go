package store_test

import (
	"context"
	"encoding/binary"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/internal/store/storetest"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/message"
)

// TestHostileConsumeQueueSize damages the size field of consume-queue entries
// in an old file (outside recovery's window, so open does not look at them) of
// a cleanly closed store: a pull over them must not panic or allocate the
// damaged size, and must still return the intact messages.
func TestHostileConsumeQueueSize(t *testing.T) {
	t.Parallel()
	for _, bad := range []int32{-5, 0, 50, 101, math.MaxInt32 - 1, 1 << 30} {
		mem := vfs.NewMem()
		cfg := testConfig("/store", store.AsyncFlush, 64<<10)
		s := openStarted(t, mem, cfg, nil)
		for i := range 40 {
			storetest.Put(t, s, storetest.Msg("Ho", 0, i, 100))
		}
		storetest.WaitDispatched(t, s, "Ho", 0, 40)
		require.NoError(t, s.Close())

		f, err := mem.OpenReadWrite("/store/consumequeue/Ho/0/00000000000000000000")
		require.NoError(t, err)
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(bad))
		_, err = f.WriteAt(b[:], 2*20+8) // entry 2's size
		require.NoError(t, err)
		require.NoError(t, f.Close())

		s = openStarted(t, mem, cfg, nil)
		r, err := s.GetMessages(context.Background(), "g", "Ho", 0, 0, 16, nil, nil)
		require.NoError(t, err)
		require.Equal(t, store.GetFound, r.Status)
		require.Equal(t, 16, r.Count, "bad size %d: every intact entry of the batch is read", bad)
		require.Equal(t, message.QueueOffset(17), r.NextBeginOffset, "the damaged entry is skipped")
		require.LessOrEqual(t, cap(r.Body), 64<<10, "bad size %d allocated", bad)
		require.NoError(t, s.Close())
	}
}
