package index

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
)

// tinyCfg: 7 slots (collisions guaranteed), 5 keys per file, tiny buffer.
func tinyCfg() Config { return Config{HashSlots: 7, MaxEntries: 6, WriteBufferEntries: 2} }

var t0 = time.Date(2024, 3, 5, 6, 7, 8, 9_000_000, time.Local)

func openS(t *testing.T, fsys vfs.FS, dir string, cfg Config) (*Service, *clock.Manual) {
	t.Helper()
	clk := clock.NewManual(t0)
	s, err := Open(fsys, dir, cfg, clk)
	require.NoError(t, err)
	return s, clk
}

func TestKeyHash(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		key  string
		want int32
	}{
		{"hello", 99162322},
		{"polygenelubricants", 0},      // hashCode is MinInt32: Math.abs stays negative, mapped to 0
		{"TopicTest#key1", 1655984460}, // hashCode -1655984460
		{"abcdefgh", 1259673732},
		{"", 0},
	} {
		require.Equal(t, c.want, KeyHash(c.key), c.key)
	}
	require.Equal(t, "TopicTest#key1", BuildKey("TopicTest", "key1"))
}

func TestKeyHashParts(t *testing.T) {
	t.Parallel()
	for _, c := range [][2]string{
		{"TopicTest", "key1"}, {"", ""}, {"T", ""}, {"", "k"}, {"polygenelubricant", ""},
		{"主题", "键😀"}, {"T\xe4\xb8", "\xb8k"}, {"\xff", "\xed\xa0\x80"}, {"a#b", "#"},
	} {
		require.Equal(t, KeyHash(BuildKey(c[0], c[1])), keyHash(c[0], c[1]), "%q", c)
	}
}

func TestHeaderEntryEncoding(t *testing.T) {
	t.Parallel()
	h := Header{BeginTimestamp: 1, EndTimestamp: 2, BeginPhys: 3, EndPhys: 4, HashSlotCount: 5, IndexCount: 6}
	var b [HeaderSize]byte
	h.Encode(b[:])
	require.Equal(t, "0000000000000001"+"0000000000000002"+"0000000000000003"+"0000000000000004"+"00000005"+"00000006",
		fmt.Sprintf("%x", b[:]))
	got, err := DecodeHeader(b[:])
	require.NoError(t, err)
	require.Equal(t, h, got)
	got, err = DecodeHeader(make([]byte, HeaderSize))
	require.NoError(t, err)
	require.Equal(t, int32(1), got.IndexCount, "an unwritten header reads as index count 1")
	_, err = DecodeHeader(b[:HeaderSize-1])
	require.ErrorIs(t, err, ErrShort)

	e := Entry{KeyHash: 0x01020304, Phys: 0x05060708090a0b0c, TimeDiff: 0x0d0e0f10, Prev: 0x11121314}
	var eb [EntrySize]byte
	e.Encode(eb[:])
	require.Equal(t, "0102030405060708090a0b0c0d0e0f1011121314", fmt.Sprintf("%x", eb[:]))
	ge, err := DecodeEntry(eb[:])
	require.NoError(t, err)
	require.Equal(t, e, ge)
	_, err = DecodeEntry(eb[:EntrySize-1])
	require.ErrorIs(t, err, ErrShort)
}

func TestTimeDiff(t *testing.T) {
	t.Parallel()
	require.Equal(t, int32(0), timeDiff(5000, 0))
	require.Equal(t, int32(2), timeDiff(7999, 5000))
	require.Equal(t, int32(0), timeDiff(4000, 5000))
	require.Equal(t, int32(math.MaxInt32), timeDiff(math.MaxInt64/2, 1))
}

func TestFileNameFormat(t *testing.T) {
	t.Parallel()
	require.Equal(t, "20240305060708009", fileName(t0))
	got, ok := parseFileName("20240305060708009")
	require.True(t, ok)
	require.True(t, got.Equal(t0))
	_, ok = parseFileName("2024030506070800")
	require.False(t, ok)
}

// TestFileBytes checks the bytes RocketMQ would read, field by field.
func TestFileBytes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, _ := openS(t, vfs.OS, dir, tinyCfg())
	key := BuildKey("T", "k")
	require.NoError(t, s.Put(key, 100, 5_000))
	require.NoError(t, s.Put(key, 200, 7_500))
	require.NoError(t, s.Close())

	names, err := vfs.OS.List(dir)
	require.NoError(t, err)
	require.Equal(t, []string{"20240305060708009"}, names)
	raw, err := os.ReadFile(filepath.Join(dir, names[0]))
	require.NoError(t, err)
	require.Len(t, raw, 40+7*4+6*20)
	be := binary.BigEndian
	// Header.
	require.Equal(t, uint64(5_000), be.Uint64(raw[0:]), "begin timestamp")
	require.Equal(t, uint64(7_500), be.Uint64(raw[8:]), "end timestamp")
	require.Equal(t, uint64(100), be.Uint64(raw[16:]), "begin phys")
	require.Equal(t, uint64(200), be.Uint64(raw[24:]), "end phys")
	require.Equal(t, uint32(2), be.Uint32(raw[32:]), "hash slot count (= puts)")
	require.Equal(t, uint32(3), be.Uint32(raw[36:]), "index count (next entry number)")
	// Slot: "T#k".hashCode() = 81916, 81916 % 7 = 2 → slot 2 holds entry number 2.
	require.Equal(t, int32(81916), KeyHash(key))
	for slot := 0; slot < 7; slot++ {
		want := uint32(0)
		if slot == 81916%7 {
			want = 2
		}
		require.Equal(t, want, be.Uint32(raw[40+4*slot:]), "slot %d", slot)
	}
	entries := 40 + 7*4
	require.Equal(t, make([]byte, 20), raw[entries:entries+20], "entry number 0 is never used")
	e1, _ := DecodeEntry(raw[entries+20:])
	require.Equal(t, Entry{KeyHash: 81916, Phys: 100, TimeDiff: 0, Prev: 0}, e1)
	e2, _ := DecodeEntry(raw[entries+40:])
	require.Equal(t, Entry{KeyHash: 81916, Phys: 200, TimeDiff: 2, Prev: 1}, e2)
}

func sorted(p []message.PhysOffset) []message.PhysOffset {
	out := append([]message.PhysOffset(nil), p...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func TestPutQueryRollReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, clk := openS(t, vfs.OS, dir, tinyCfg())
	// 12 messages, keys a/b/c round robin, one second apart: 3 files of 5 keys.
	for i := 0; i < 12; i++ {
		clk.Advance(time.Millisecond)
		key := []string{"a", "b", "c"}[i%3]
		require.NoError(t, s.Put(BuildKey("T", key), message.PhysOffset(1000+i*100), int64(10_000+i*1000)))
	}
	check := func(s *Service) {
		t.Helper()
		got, err := s.Query("T", "a", 100, 0, math.MaxInt64)
		require.NoError(t, err)
		require.Equal(t, []message.PhysOffset{1900, 1600, 1300, 1000}, got, "newest first")
		got, err = s.Query("T", "b", 100, 0, math.MaxInt64)
		require.NoError(t, err)
		require.Equal(t, []message.PhysOffset{1100, 1400, 1700, 2000}, sorted(got))
		got, err = s.Query("T", "a", 2, 0, math.MaxInt64)
		require.NoError(t, err)
		require.Equal(t, []message.PhysOffset{1900, 1600}, got)
		// Time window [13 s, 16 s]: messages 3..6; key a at i=3 and 6.
		got, err = s.Query("T", "a", 100, 13_000, 16_000)
		require.NoError(t, err)
		require.Equal(t, []message.PhysOffset{1300, 1600}, sorted(got))
		got, err = s.Query("T", "zz", 100, 0, math.MaxInt64)
		require.NoError(t, err)
		require.Empty(t, got)
		got, err = s.Query("Other", "a", 100, 0, math.MaxInt64)
		require.NoError(t, err)
		require.Empty(t, got)
		ts, phys := s.LastUpdate()
		require.Equal(t, int64(21_000), ts)
		require.Equal(t, message.PhysOffset(2100), phys)
		require.Equal(t, message.PhysOffset(2100), s.EndPhysOffset())
	}
	check(s)
	hs := s.Headers()
	require.Len(t, hs, 3)
	require.Equal(t, Header{BeginTimestamp: 10_000, EndTimestamp: 14_000, BeginPhys: 1000, EndPhys: 1400, HashSlotCount: 5, IndexCount: 6}, hs[0])
	require.Equal(t, int32(3), hs[2].IndexCount)
	require.NoError(t, s.Close())
	_, err := s.Query("T", "a", 1, 0, 1)
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, s.Put("x", 1, 1), ErrClosed)

	s, clk = openS(t, vfs.OS, dir, tinyCfg())
	check(s)
	// Keep writing into the reopened, not yet full, last file.
	clk.Advance(time.Hour)
	require.NoError(t, s.Put(BuildKey("T", "a"), 2600, 26_000))
	got, err := s.Query("T", "a", 3, 0, math.MaxInt64)
	require.NoError(t, err)
	require.Equal(t, []message.PhysOffset{2600, 1900, 1600}, got)
	require.NoError(t, s.Close())
}

func TestPutMessage(t *testing.T) {
	t.Parallel()
	s, _ := openS(t, vfs.OS, t.TempDir(), Config{HashSlots: 101, MaxEntries: 100, WriteBufferEntries: 4})
	defer s.Close()
	require.NoError(t, s.PutMessage("T", "UNIQ1", "k1 k2  k3", 100, 1000))
	require.NoError(t, s.PutMessage("T", "", "k1", 200, 2000))
	require.NoError(t, s.PutMessage("T", "UNIQ3", "", 300, 3000))
	// Re-dispatch below the indexed end is skipped.
	require.NoError(t, s.PutMessage("T", "UNIQ1", "k1", 150, 1500))
	for key, want := range map[string][]message.PhysOffset{
		"UNIQ1": {100}, "k1": {200, 100}, "k2": {100}, "k3": {100}, "UNIQ3": {300}, "": nil,
	} {
		got, err := s.Query("T", key, 32, 0, math.MaxInt64)
		require.NoError(t, err)
		require.Equal(t, want, got, key)
	}
}

func TestTruncateAndDrop(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, clk := openS(t, vfs.OS, dir, tinyCfg())
	for i := 0; i < 12; i++ { // files end at phys 1400, 1900, 2100
		clk.Advance(time.Millisecond)
		require.NoError(t, s.Put(BuildKey("T", "a"), message.PhysOffset(1000+i*100), int64(10_000+i*1000)))
	}
	from, err := s.TruncateTo(5000)
	require.NoError(t, err)
	require.Equal(t, message.PhysOffset(2100), from, "nothing past the end")
	require.Len(t, s.Headers(), 3)

	from, err = s.TruncateTo(1900)
	require.NoError(t, err)
	require.Equal(t, message.PhysOffset(1400), from, "re-dispatch from the last kept file's end")
	require.Len(t, s.Headers(), 1)
	got, err := s.Query("T", "a", 100, 0, math.MaxInt64)
	require.NoError(t, err)
	require.Equal(t, []message.PhysOffset{1400, 1300, 1200, 1100, 1000}, got)

	// Re-dispatch: messages below the end are skipped, the rest rebuilt.
	for i := 4; i < 8; i++ {
		clk.Advance(time.Millisecond)
		require.NoError(t, s.PutMessage("T", "", "a", message.PhysOffset(1000+i*100), int64(10_000+i*1000)))
	}
	got, err = s.Query("T", "a", 100, 0, math.MaxInt64)
	require.NoError(t, err)
	require.Equal(t, []message.PhysOffset{1700, 1600, 1500, 1400, 1400, 1300, 1200, 1100, 1000}, got,
		"1400 is indexed twice: RocketMQ only skips offsets below the end")
	require.NoError(t, s.Flush())

	// Crash rule: files that end after the checkpoint's index time go.
	from, err = s.DropNewerThan(14_000)
	require.NoError(t, err)
	require.Equal(t, message.PhysOffset(1400), from)
	require.Len(t, s.Headers(), 1)
	from, err = s.DropNewerThan(0)
	require.NoError(t, err)
	require.Equal(t, message.PhysOffset(0), from)
	require.Empty(t, s.Headers())
	require.NoError(t, s.Close())
	names, err := vfs.OS.List(dir)
	require.NoError(t, err)
	require.Empty(t, names)
}

func TestDeleteBelow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, clk := openS(t, vfs.OS, dir, tinyCfg())
	defer s.Close()
	for i := 0; i < 12; i++ {
		clk.Advance(time.Millisecond)
		require.NoError(t, s.Put(BuildKey("T", "a"), message.PhysOffset(1000+i*100), int64(10_000+i*1000)))
	}
	n, err := s.DeleteBelow(1400)
	require.NoError(t, err)
	require.Zero(t, n, "end phys 1400 is not below 1400")
	n, err = s.DeleteBelow(1401)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = s.DeleteBelow(1 << 40)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the newest file is never removed")
	got, err := s.Query("T", "a", 100, 0, math.MaxInt64)
	require.NoError(t, err)
	require.Equal(t, []message.PhysOffset{2100, 2000}, got)
}

func TestOpenRejects(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "20240101000000000"), make([]byte, 10_000), 0o644)) // too big for tinyCfg
	_, err := Open(vfs.OS, dir, tinyCfg(), clock.Real{})
	require.ErrorIs(t, err, ErrCorrupt)
	dir = t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "junk"), nil, 0o644))
	_, err = Open(vfs.OS, dir, tinyCfg(), clock.Real{})
	require.ErrorIs(t, err, ErrCorrupt)
	require.Error(t, Config{HashSlots: 1, MaxEntries: 1, WriteBufferEntries: 1}.Validate())
	require.NoError(t, DefaultConfig().Validate())
	require.Equal(t, int64(420_000_040), fileSize(DefaultHashSlots, DefaultMaxEntries))
}

// TestConcurrentQuery: one writer, several readers under -race. Every offset a
// reader gets for key k must belong to k.
func TestConcurrentQuery(t *testing.T) {
	t.Parallel()
	s, clk := openS(t, vfs.OS, t.TempDir(), Config{HashSlots: 13, MaxEntries: 50, WriteBufferEntries: 3})
	const total = 600
	keyOf := func(i int) string { return fmt.Sprintf("k%d", i%5) }
	var wg sync.WaitGroup
	done := make(chan struct{})
	errc := make(chan error, 8)
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				k := fmt.Sprintf("k%d", r)
				got, err := s.Query("T", k, 64, 0, math.MaxInt64)
				if err != nil {
					errc <- err
					return
				}
				for _, p := range got {
					if keyOf(int(p)) != k {
						errc <- fmt.Errorf("query %s returned %d", k, p)
						return
					}
				}
			}
		}(r)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := s.Flush(); err != nil {
				errc <- err
				return
			}
		}
	}()
	for i := 0; i < total; i++ {
		clk.Advance(time.Millisecond)
		if err := s.Put(BuildKey("T", keyOf(i)), message.PhysOffset(i), int64(1000+i)); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	got, err := s.Query("T", "k1", 1000, 0, math.MaxInt64)
	require.NoError(t, err)
	require.Len(t, got, total/5)
	require.NoError(t, s.Close())
}

// TestCrashAfterFlush: keys put before a Flush are all found after a crash that
// keeps any part of the later, unsynced writes.
func TestCrashAfterFlush(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	for round := 0; round < 30; round++ {
		fsys := vfs.NewCrashableMem()
		s, clk := openS(t, fsys, "/store/index", Config{HashSlots: 11, MaxEntries: 9, WriteBufferEntries: 3})
		r := seed + uint64(round)
		n := 5 + int(r%40)
		flushed := int(r/7) % (n + 1)
		for i := 0; i < n; i++ {
			if i == flushed {
				require.NoError(t, s.Flush())
			}
			clk.Advance(time.Millisecond)
			require.NoError(t, s.Put(BuildKey("T", fmt.Sprintf("k%d", i%4)), message.PhysOffset(i), int64(1000+i*10)))
		}
		if flushed == n {
			require.NoError(t, s.Flush())
		}
		crashed := fsys.CrashClone(vfs.CrashCloneOptions{UnsyncedFraction: float64(r%5) / 4, Seed: r})
		s2, err := Open(crashed, "/store/index", Config{HashSlots: 11, MaxEntries: 9, WriteBufferEntries: 3}, clock.Real{})
		require.NoError(t, err, "round %d", round)
		for k := 0; k < 4; k++ {
			got, err := s2.Query("T", fmt.Sprintf("k%d", k), 1000, 0, math.MaxInt64)
			require.NoError(t, err)
			have := map[message.PhysOffset]bool{}
			for _, p := range got {
				require.Equal(t, k, int(p)%4, "round %d: wrong key", round)
				have[p] = true
			}
			for i := k; i < flushed; i += 4 {
				require.True(t, have[message.PhysOffset(i)], "round %d: flushed key k%d@%d lost", round, k, i)
			}
		}
		require.NoError(t, s2.Close())
		require.NoError(t, s.Close())
	}
}
