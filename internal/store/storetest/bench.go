package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/message"
)

// BenchMsg returns a message with a body of size bytes and the usual tags and
// keys, for benchmarks.
func BenchMsg(topic string, queueID int32, size int) *message.MessageExt {
	return Msg(topic, queueID, 1, size)
}

// WaitCaughtUp waits until the store has dispatched everything (Stats reports
// no dispatch lag).
func WaitCaughtUp(tb testing.TB, s store.MessageStore) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for s.Stats().DispatchBehindBytes > 0 {
		if time.Now().After(deadline) {
			tb.Fatal("dispatcher did not catch up")
		}
		time.Sleep(100 * time.Microsecond) // polling with a deadline
	}
}

// BenchPut measures Put of size-byte bodies from writers goroutines (1: the
// benchmark goroutine in b.Loop), including dispatch: the timer stops only once
// the dispatcher has caught up. Every put waits for its own answer, so with
// SYNC_FLUSH it measures group commit.
func BenchPut(b *testing.B, s store.MessageStore, size, writers int) {
	msg := BenchMsg("Bench", 0, size)
	rec, err := message.AppendRecord(nil, msg)
	require.NoError(b, err)
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	if writers <= 1 {
		q := store.NewCompletions()
		msgs := []*message.MessageExt{msg}
		ctx := context.Background()
		for b.Loop() {
			s.Put(msgs, q, nil)
			if c, _ := q.Next(ctx); c.Err != nil {
				b.Fatal(c.Err)
			}
		}
		WaitCaughtUp(b, s)
		return
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	var next sync.Mutex
	n := 0
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msgs := []*message.MessageExt{BenchMsg("Bench", int32(w%8), size)}
			q := store.NewCompletions()
			ctx := context.Background()
			for {
				next.Lock()
				if n >= b.N {
					next.Unlock()
					return
				}
				n++
				next.Unlock()
				s.Put(msgs, q, nil)
				if c, _ := q.Next(ctx); c.Err != nil {
					b.Error(c.Err)
					return
				}
			}
		}()
	}
	wg.Wait()
	WaitCaughtUp(b, s)
}

// FillQueue puts n messages of size-byte bodies into (topic, queueID) and waits
// for dispatch.
func FillQueue(tb testing.TB, s store.MessageStore, topic string, queueID int32, n, size int) {
	tb.Helper()
	msg := BenchMsg(topic, queueID, size)
	for range n {
		_, err := store.PutWait(context.Background(), s, msg)
		require.NoError(tb, err)
	}
	WaitCaughtUp(tb, s)
}

// BenchGet measures GetMessages of batches of batch messages from a queue that
// FillQueue filled with n messages, cycling through it; it reports msgs/s.
func BenchGet(b *testing.B, s store.MessageStore, topic string, queueID int32, n, batch int) {
	ctx := context.Background()
	buf := make([]byte, 0, 1<<20)
	var off message.QueueOffset
	total := 0
	b.ReportAllocs()
	for b.Loop() {
		r, err := s.GetMessages(ctx, "g", topic, queueID, off, batch, nil, buf[:0])
		if err != nil || r.Status != store.GetFound {
			b.Fatalf("get at %d: %v %v", off, r.Status, err)
		}
		total += r.Count
		off = r.NextBeginOffset
		if int(off)+batch > n {
			off = 0
		}
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "msgs/s")
}
