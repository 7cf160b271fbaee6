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

// refuseFlag refuses, by record, the message with flag n.
type refuseFlag int32

func (refuseFlag) MatchTagsCode(int64) bool { return true }
func (f refuseFlag) MatchRecord(rec []byte) bool {
	m, _, err := message.DecodeMessage(rec)
	return err == nil && m.Flag != int32(f)
}

// TestHostileConsumeQueueBackwards: a damaged consume queue whose entry 3
// (in an old file, outside recovery's window) repeats entry 1 (a record the filter refuses, whose place in the answer the
// next record then took) gets entry 1's record from the commit log, not the
// bytes that now sit where the read-ahead had put it.
func TestHostileConsumeQueueBackwards(t *testing.T) {
	t.Parallel()
	mem := vfs.NewMem()
	cfg := testConfig("/store", store.AsyncFlush, 64<<10)
	s := openStarted(t, mem, cfg, nil)
	for i := range 40 { // records 0-9 have equal sizes
		storetest.Put(t, s, storetest.Msg("Hb", 0, i, 100))
	}
	storetest.WaitDispatched(t, s, "Hb", 0, 40)
	require.NoError(t, s.Close())

	f, err := mem.OpenReadWrite("/store/consumequeue/Hb/0/00000000000000000000")
	require.NoError(t, err)
	var e [20]byte
	_, err = f.ReadAt(e[:], 1*20)
	require.NoError(t, err)
	_, err = f.WriteAt(e[:], 3*20)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	s = openStarted(t, mem, cfg, nil)
	defer s.Close()
	r, err := s.GetMessages(context.Background(), "g", "Hb", 0, 0, 6, refuseFlag(1), nil)
	require.NoError(t, err)
	msgs, err := message.DecodeMessages(r.Body)
	require.NoError(t, err)
	var flags []int32
	for _, m := range msgs {
		flags = append(flags, m.Flag)
	}
	require.Equal(t, []int32{0, 2, 4, 5, 6, 7}, flags, "entry 3 reads message 1, which the filter refuses")
	require.Equal(t, message.QueueOffset(8), r.NextBeginOffset)
}
