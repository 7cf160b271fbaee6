package ha

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/message"
)

// FuzzFrameReader: any byte stream from a "master" decodes into frames or a
// clean error; the body buffer never grows past the limit.
func FuzzFrameReader(f *testing.F) {
	var ok []byte
	ok = binary.BigEndian.AppendUint64(ok, 4096)
	ok = binary.BigEndian.AppendUint32(ok, 3)
	ok = append(ok, 1, 2, 3)
	ok = binary.BigEndian.AppendUint64(ok, 4099)
	ok = binary.BigEndian.AppendUint32(ok, 0) // heartbeat
	f.Add(ok)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff})
	f.Add(make([]byte, 11))
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1024
		// Odd first byte: controller mode, where confirm frames are allowed.
		fr := &frameReader{r: bytes.NewReader(data), max: limit, confirms: len(data) > 0 && data[0]&1 == 1}
		for {
			off, body, err := fr.next()
			if err == nil && fr.confirm {
				if off < -1 || body != nil {
					t.Fatalf("confirm frame off %d body %d", off, len(body))
				}
				continue
			}
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, errBadFrame) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			if off < 0 || len(body) > limit || cap(fr.body) > limit {
				t.Fatalf("frame off %d len %d cap %d", off, len(body), cap(fr.body))
			}
		}
	})
}

// testRecords returns the bytes of a small commit log: n records in segments
// of segSize, blank records and zero tails included, as a master sends them.
func testRecords(t testing.TB, n int, segSize int64, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	var log []byte
	for i := range n {
		m := &message.MessageExt{
			Message:       message.Message{Topic: "T", Body: make([]byte, r.IntN(200)), Properties: map[string]string{"K": "v"}},
			BornTimestamp: int64(i),
			BornHost:      netip.MustParseAddrPort("1.2.3.4:5"),
			StoreHost:     netip.MustParseAddrPort("1.2.3.4:6"),
		}
		rec, err := message.AppendRecord(nil, m)
		require.NoError(t, err)
		left := segSize - int64(len(log))%segSize
		if int64(len(rec))+message.BlankHeaderSize > left {
			blank := message.AppendBlank(nil, int32(left))
			log = append(log, blank...)
			log = append(log, make([]byte, left-int64(len(blank)))...)
		}
		message.SetPhysOffset(rec, message.PhysOffset(len(log)))
		log = append(log, rec...)
	}
	return log
}

// feedCut feeds log to a walker in pieces cut at the given points.
func feedCut(w *walker, log []byte, cuts []byte) error {
	off := 0
	for i := 0; off < len(log); i++ {
		n := 1
		if len(cuts) > 0 {
			n = int(cuts[i%len(cuts)]) + 1
		}
		n = min(n, len(log)-off)
		if err := w.feed(message.PhysOffset(off), log[off:off+n]); err != nil {
			return err
		}
		off += n
	}
	return nil
}

func TestWalkerAcceptsALog(t *testing.T) {
	const seg = 2048
	log := testRecords(t, 200, seg, 1)
	for _, cuts := range [][]byte{nil, {0}, {7}, {35}, {36}, {255}, {3, 200, 17, 90}} {
		w := newWalker(seg, 0)
		require.NoError(t, feedCut(w, log, cuts))
	}
	// A flipped magic, size or offset is refused, wherever the cut.
	for _, pos := range []int{1, 5, 30} {
		bad := bytes.Clone(log)
		bad[pos] ^= 0x40
		require.ErrorIs(t, feedCut(newWalker(seg, 0), bad, []byte{9}), errBadFrame, "byte %d", pos)
	}
	// A walker must be fed where it stands.
	require.ErrorIs(t, newWalker(seg, 0).feed(5, log[5:10]), errBadFrame)
}

// FuzzWalker: arbitrary bytes cut anywhere never panic the walker; a valid
// log cut anywhere is accepted.
func FuzzWalker(f *testing.F) {
	const seg = 1024
	valid := testRecords(f, 30, seg, 2)
	f.Add(valid, []byte{3, 40})
	f.Add(valid[:500], []byte{0})
	f.Add([]byte{0, 0, 0, 0, 0xcb, 0xd4, 0x31, 0x94}, []byte{1})
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		_ = feedCut(newWalker(seg, 0), data, cuts)
		require.NoError(t, feedCut(newWalker(seg, 0), valid, cuts))
	})
}

// FuzzDigestCodec: request and response bodies decode or fail cleanly, and
// what decodes encodes back to the same bytes.
func FuzzDigestCodec(f *testing.F) {
	f.Add(EncodeDigestRanges([]Range{{Offset: 0, Length: 100}, {Offset: 4096, Length: 4096}}), 2)
	f.Add(EncodeDigests([]Digest{{OK: true, Sum: [16]byte{1}}, {}}), 2)
	f.Add([]byte{}, 0)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if rs, err := DecodeDigestRanges(b, 1<<20); err == nil {
			require.Equal(t, b, EncodeDigestRanges(rs))
			for _, r := range rs {
				require.True(t, r.Offset >= 0 && r.Length > 0 && r.Length <= MaxDigestRangeSize)
			}
		}
		if n < 0 || n > 1000 {
			return
		}
		if ds, err := DecodeDigests(b, n); err == nil {
			require.Equal(t, b, EncodeDigests(ds))
		}
	})
}

// FuzzRuntimeBounds: any GET_BROKER_RUNTIME_INFO body parses or fails cleanly.
func FuzzRuntimeBounds(f *testing.F) {
	f.Add([]byte(`{"table":{"commitLogMinOffset":"0","commitLogMaxOffset":"210890"}}`))
	f.Add([]byte(`{"table":{"commitLogMinOffset":"-1"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if bd, err := parseRuntimeBounds(b); err == nil {
			require.True(t, bd.Min >= 0 && bd.Max >= 0)
		}
	})
}

// FuzzTracker drives a Tracker with arbitrary reports, sends, waits and
// disconnects: it never panics, a slave's confirmed offset never exceeds what
// it was sent, and every waiter is completed exactly once.
func FuzzTracker(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add(bytes.Repeat([]byte{1, 0x80, 3, 0x7f, 2, 9}, 10))
	f.Fuzz(func(t *testing.T, ops []byte) {
		tr := NewTracker(TrackerConfig{FallbehindMax: 1 << 20, Timeout: time.Second})
		now := time.Unix(0, 0)
		b := Bounds{Min: 1 << 20, Max: 8 << 20}
		done := map[int]int{}
		waiters := 0
		val := func(i int) message.PhysOffset {
			if i+8 > len(ops) {
				return message.PhysOffset(i) << 16
			}
			return message.PhysOffset(binary.BigEndian.Uint64(ops[i:]))
		}
		for i := 0; i < len(ops); i++ {
			id := SlaveID(ops[i] >> 4 & 3)
			switch ops[i] & 7 {
			case 0:
				tr.Connect(id, "s", now)
			case 1:
				_, _ = tr.First(id, val(i+1), b, 1<<20, now)
			case 2:
				rel, _ := tr.Report(id, val(i+1), b.Max, now, nil)
				release(rel)
			case 3:
				tr.Sent(id, val(i+1))
			case 4:
				k := waiters
				waiters++
				if st, queued := tr.Wait(val(i+1), now, func(store.PutStatus) { done[k]++ }); !queued {
					_ = st
					done[k]++
				}
			case 5:
				now = now.Add(300 * time.Millisecond)
				release(tr.Expire(now, nil))
			case 6:
				tr.Disconnect(id)
			case 7:
				b.Max += message.PhysOffset(ops[i])
			}
			for _, s := range tr.Status(b.Max, now) {
				if s.Reported && (s.AckOffset > s.SentOffset || s.AckOffset < s.StartOffset) {
					t.Fatalf("slave %d: ack %d outside [start %d, sent %d]", s.ID, s.AckOffset, s.StartOffset, s.SentOffset)
				}
			}
		}
		release(tr.Drain(store.PutFlushSlaveTimeout, nil))
		for k := range waiters {
			if done[k] != 1 {
				t.Fatalf("waiter %d completed %d times", k, done[k])
			}
		}
	})
}
