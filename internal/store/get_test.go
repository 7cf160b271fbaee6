package store_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/internal/store/storetest"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/message"
)

// skipThirds refuses, by record, every message whose body number is 1 mod 3.
type skipThirds struct{}

func (skipThirds) MatchTagsCode(int64) bool { return true }
func (skipThirds) MatchRecord(rec []byte) bool {
	m, _, err := message.DecodeMessage(rec)
	if err != nil {
		panic(err)
	}
	n, _ := strconv.Atoi(string(m.Body))
	return n%3 != 1
}

// TestGetReadAhead: records written back to back are read ahead together;
// whatever a filter refuses in such a run, segment ends inside it, and
// records of another queue between runs, every pull returns exactly the
// records it would read one by one, after the caller's bytes in dst.
func TestGetReadAhead(t *testing.T) {
	t.Parallel()
	s := openStarted(t, vfs.NewMem(), testConfig("/store", store.AsyncFlush, 64<<10), nil)
	defer s.Close()
	ctx := context.Background()
	var want, wantAll []string
	for i := range 300 {
		q := int32(0)
		if i%50 >= 40 {
			q = 1 // breaks the runs of queue 0
		}
		m := storetest.BenchMsg("RA", q, 1)
		m.Body = []byte(strconv.Itoa(i))
		m.SetProperty("PAD", strings.Repeat("p", i%7*150)) // record sizes vary
		_, err := store.PutWait(ctx, s, m)
		require.NoError(t, err)
		if q == 0 {
			wantAll = append(wantAll, string(m.Body))
			if i%3 != 1 {
				want = append(want, string(m.Body))
			}
		}
	}
	storetest.WaitCaughtUp(t, s)
	pull := func(filter store.MessageFilter, batch int, dst []byte) []string {
		var got []string
		off := message.QueueOffset(0)
		for {
			r, err := s.GetMessages(ctx, "g", "RA", 0, off, batch, filter, dst)
			require.NoError(t, err)
			if r.Status == store.GetOffsetOverflowOne {
				return got
			}
			require.Equal(t, string(dst), string(r.Body[:len(dst)]), "the caller's bytes stay")
			msgs, err := message.DecodeMessages(r.Body[len(dst):])
			require.NoError(t, err)
			require.Len(t, msgs, r.Count)
			for _, m := range msgs {
				got = append(got, string(m.Body))
			}
			off = r.NextBeginOffset
		}
	}
	for _, batch := range []int{1, 5, 32} {
		require.Equal(t, wantAll, pull(nil, batch, nil), "batch %d", batch)
		require.Equal(t, want, pull(skipThirds{}, batch, nil), "batch %d, filtered", batch)
		require.Equal(t, want, pull(skipThirds{}, batch, append(make([]byte, 0, 1<<20), "prefix"...)), "batch %d, dst", batch)
	}
}
