package message

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func sampleExt(v6 bool) *MessageExt {
	born := netip.MustParseAddrPort("192.168.1.2:50000")
	store := netip.MustParseAddrPort("10.0.0.2:10911")
	if v6 {
		born = netip.MustParseAddrPort("[2001:db8::1]:50000")
		store = netip.MustParseAddrPort("[2001:db8::2]:10911")
	}
	return &MessageExt{
		Message: Message{
			Topic:      "TopicTest",
			Flag:       7,
			Properties: map[string]string{PropertyTags: "TagA", PropertyKeys: "k1 k2", PropertyUniqKey: "ABC"},
			Body:       []byte("hello"),
		},
		QueueID:                   3,
		QueueOffset:               42,
		PhysOffset:                1 << 33,
		SysFlag:                   SysFlagTransactionCommitType,
		BornTimestamp:             1700000000000,
		BornHost:                  born,
		StoreTimestamp:            1700000000123,
		StoreHost:                 store,
		ReconsumeTimes:            2,
		PreparedTransactionOffset: 99,
	}
}

func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	for _, v6 := range []bool{false, true} {
		m := sampleExt(v6)
		rec, err := AppendRecord([]byte("prefix"), m)
		require.NoError(t, err)
		rec = rec[len("prefix"):]
		props, _ := AppendProperties(nil, m.Properties)
		want := RecordFixedSize + 5 + 9 + len(props)
		if v6 {
			want += 24
			require.True(t, m.SysFlag.Has(SysFlagBornHostV6|SysFlagStoreHostV6))
		}
		require.Len(t, rec, want)
		require.Equal(t, int32(want), m.StoreSize)
		require.Equal(t, RecordSize(m, len(props)), want)

		got, n, err := DecodeMessage(append(rec, 0xFF)) // trailing bytes are not read
		require.NoError(t, err)
		require.Equal(t, want, n)
		require.Equal(t, m, got)
		require.Equal(t, SysFlagTransactionCommitType, got.SysFlag.TransactionType())

		var v RecordView
		require.NoError(t, ParseRecord(rec, &v))
		require.Equal(t, m.StoreTimestamp, v.StoreTimestamp)
		SetQueueOffset(rec, 5)
		SetPhysOffset(rec, 6)
		SetStoreTimestamp(rec, 7)
		require.NoError(t, ParseRecord(rec, &v))
		require.Equal(t, QueueOffset(5), v.QueueOffset)
		require.Equal(t, PhysOffset(6), v.PhysOffset)
		require.Equal(t, int64(7), v.StoreTimestamp)
		require.Equal(t, m.StoreHost, v.StoreHost)
	}
}

// TestRecordSizeReferenceExample checks the reference: topic TopicTest, body hello
// and 51 property bytes make a 156-byte record.
func TestRecordSizeReferenceExample(t *testing.T) {
	t.Parallel()
	m := &MessageExt{Message: Message{Topic: "TopicTest", Body: []byte("hello"),
		Properties: map[string]string{"A": strings.Repeat("x", 48)}}} // 1+1+48 = 50
	m.Properties["A"] += "x" // 51 bytes
	rec, err := AppendRecord(nil, m)
	require.NoError(t, err)
	require.Len(t, rec, 156)
}

func TestParseRecordRejects(t *testing.T) {
	t.Parallel()
	good, err := AppendRecord(nil, sampleExt(false))
	require.NoError(t, err)
	check := func(name string, mutate func(b []byte) []byte) {
		t.Helper()
		b := mutate(append([]byte(nil), good...))
		var v RecordView
		err := ParseRecord(b, &v)
		if err == nil {
			err = v.CheckCRC()
		}
		require.ErrorIs(t, err, ErrMalformed, name)
	}
	check("short", func(b []byte) []byte { return b[:7] })
	check("truncated", func(b []byte) []byte { return b[:len(b)-1] })
	check("magic", func(b []byte) []byte { b[4] ^= 1; return b })
	check("blank", func(b []byte) []byte { copy(b[4:], AppendBlank(nil, 8)[4:]); return b })
	check("total too small", func(b []byte) []byte { b[3] = 90; b[2], b[1], b[0] = 0, 0, 0; return b })
	check("body crc", func(b []byte) []byte { b[84+4] ^= 1; return b })
	check("body length", func(b []byte) []byte { b[87]++; return b })
	check("v6 flag on v4 hosts", func(b []byte) []byte { b[39] |= 0x10; return b })
	check("negative total", func(b []byte) []byte { b[0] = 0x80; return b })
}

func TestBlank(t *testing.T) {
	t.Parallel()
	b := AppendBlank(nil, 1000)
	total, magic, ok := PeekHeader(b)
	require.True(t, ok)
	require.Equal(t, int32(1000), total)
	require.Equal(t, MagicBlank, magic)
	_, _, ok = PeekHeader(b[:7])
	require.False(t, ok)
}

func TestProperties(t *testing.T) {
	t.Parallel()
	check := func(in string, want map[string]string) {
		t.Helper()
		require.Equal(t, want, DecodeProperties([]byte(in)))
	}
	check("", nil)
	check("a\x01b", map[string]string{"a": "b"})
	check("a\x01b\x02", map[string]string{"a": "b"})
	check("a\x01b\x02c\x01d\x02", map[string]string{"a": "b", "c": "d"})
	check("a\x01b\x02a\x01c", map[string]string{"a": "c"})
	check("\x01b\x02x\x02y\x01z\x01w\x02k\x01", map[string]string{"k": ""})

	b, err := AppendProperties(nil, map[string]string{"b": "2", "a": "1"})
	require.NoError(t, err)
	require.Equal(t, "a\x011\x02b\x012", string(b))
	v, ok := LookupProperty(b, "b")
	require.True(t, ok)
	require.Equal(t, "2", string(v))
	_, ok = LookupProperty(b, "z")
	require.False(t, ok)

	for _, bad := range []map[string]string{{"": "x"}, {"a\x01": "x"}, {"a": "x\x02"}, {"a": strings.Repeat("v", MaxPropertiesLength)}} {
		out, err := AppendProperties([]byte("keep"), bad)
		require.ErrorIs(t, err, ErrBadProperty)
		require.Equal(t, "keep", string(out))
	}
	_, err = AppendRecord(nil, &MessageExt{Message: Message{Topic: strings.Repeat("t", 128)}})
	require.ErrorIs(t, err, ErrTooLong)
}

func TestTagsHashCode(t *testing.T) {
	t.Parallel()
	// Values of java.lang.String.hashCode.
	require.Equal(t, int64(0), TagsHashCode(""))
	require.Equal(t, int64(96354), TagsHashCode("abc"))
	require.Equal(t, int64(2598919), TagsHashCode("TagA"))
	// Wraps to a negative int32 and sign-extends: "polygenelubricants".hashCode() == Integer.MIN_VALUE.
	require.Equal(t, int64(-2147483648), TagsHashCode("polygenelubricants"))
	// Non-ASCII: 'é' is one UTF-16 unit (0xE9); U+1F600 is two (0xD83D 0xDE00).
	require.Equal(t, int64(0xE9), TagsHashCode("é"))
	require.Equal(t, int64(0xD83D*31+0xDE00), TagsHashCode("\U0001F600"))
}

func TestOffsetMsgID(t *testing.T) {
	t.Parallel()
	host := netip.MustParseAddrPort("10.0.0.2:10911")
	id := OffsetMsgID(host, 0x1234)
	require.Equal(t, "0A00000200002A9F0000000000001234", id)
	h, off, err := ParseOffsetMsgID(strings.ToLower(id))
	require.NoError(t, err)
	require.Equal(t, host, h)
	require.Equal(t, PhysOffset(0x1234), off)

	h6 := netip.MustParseAddrPort("[2001:db8::2]:10911")
	id = OffsetMsgID(h6, 77)
	require.Len(t, id, 56)
	h, off, err = ParseOffsetMsgID(id)
	require.NoError(t, err)
	require.Equal(t, h6, h)
	require.Equal(t, PhysOffset(77), off)

	for _, bad := range []string{"", "0A", strings.Repeat("Z", 32)} {
		_, _, err := ParseOffsetMsgID(bad)
		require.Error(t, err)
	}
	m := sampleExt(false)
	require.Equal(t, "ABC", m.MsgID())
	delete(m.Properties, PropertyUniqKey)
	require.Equal(t, m.OffsetMsgID(), m.MsgID())
}

func TestUniqIDGenerator(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 3, 2, 0, 0, 1, 0, time.UTC) // 1 day + 1 s into the month
	g := NewUniqIDGenerator(netip.MustParseAddr("192.0.2.2"), 0x36B9, 0, func() time.Time { return now })
	a, b := g.Next(), g.Next()
	require.Len(t, a, 32)
	require.NotEqual(t, a, b)
	require.Equal(t, "C000020236B900000000", a[:20])
	raw, err := hex.DecodeString(a)
	require.NoError(t, err)
	require.Equal(t, []byte{0x05, 0x26, 0x5F, 0xE8, 0, 1}, raw[10:]) // 86401000 ms, counter 1
	require.Equal(t, strings.ToUpper(a), a)
	g6 := NewUniqIDGenerator(netip.MustParseAddr("2001:db8::1"), 1, 2, nil)
	require.Len(t, g6.Next(), 56)
}

func TestBatch(t *testing.T) {
	t.Parallel()
	// Reference example: body "b", tag "x".
	ref, _ := hex.DecodeString("0000001e000000000000000000000000000000016200075441475301780" + "2")
	var flags []int32
	require.NoError(t, ParseBatch(ref, func(flag int32, body, props []byte) error {
		flags = append(flags, flag)
		require.Equal(t, "b", string(body))
		require.Equal(t, map[string]string{"TAGS": "x"}, DecodeProperties(props))
		return nil
	}))
	require.Len(t, flags, 1)

	msgs := []*Message{
		{Flag: 1, Body: []byte("one"), Properties: map[string]string{PropertyTags: "a"}},
		{Body: []byte{}, Properties: nil},
		{Flag: -1, Body: bytes.Repeat([]byte{9}, 1000), Properties: map[string]string{PropertyKeys: "k"}},
	}
	enc, err := AppendBatch(nil, msgs)
	require.NoError(t, err)
	got, err := DecodeBatch(enc)
	require.NoError(t, err)
	require.Equal(t, msgs, got)

	_, err = DecodeBatch(enc[:len(enc)-1])
	require.ErrorIs(t, err, ErrMalformed)
	stop := errors.New("stop")
	require.ErrorIs(t, ParseBatch(enc, func(int32, []byte, []byte) error { return stop }), stop)
}

func TestMessageHelpers(t *testing.T) {
	t.Parallel()
	var m Message
	require.Nil(t, m.Keys())
	m.SetProperty(PropertyKeys, "a  b")
	m.SetProperty(PropertyTags, "t")
	require.Equal(t, []string{"a", "b"}, m.Keys())
	require.Equal(t, "t", m.Tags())
	require.Equal(t, "T@b#1", MessageQueue{"T", "b", 1}.String())
	f := SysFlagCompressed | SysFlagTransactionPreparedType
	require.Equal(t, SysFlagCompressed|SysFlagTransactionCommitType, f.WithTransactionType(SysFlagTransactionCommitType))
	require.Equal(t, SysFlagCompressionZLIB, (SysFlagCompressionZLIB | SysFlagCompressed).CompressionType())
}

func TestDecodeMessages(t *testing.T) {
	t.Parallel()
	var body []byte
	for i := range 3 {
		m := sampleExt(i == 1)
		m.QueueOffset = QueueOffset(i)
		var err error
		body, err = AppendRecord(body, m)
		require.NoError(t, err)
	}
	msgs, err := DecodeMessages(body)
	require.NoError(t, err)
	require.Len(t, msgs, 3)
	msgs, err = DecodeMessages(body[:len(body)-3])
	require.ErrorIs(t, err, ErrMalformed)
	require.Len(t, msgs, 2)
}

// The unsorted encoding holds the same pairs as the sorted one, refuses the
// same bad input, and AppendProperty adds a pair whose value wins on decode.
func TestAppendPropertiesUnsorted(t *testing.T) {
	t.Parallel()
	props := map[string]string{"TAGS": "a", "KEYS": "k1 k2", "x": "", "UNIQ_KEY": "old"}
	sorted, err := AppendProperties(nil, props)
	require.NoError(t, err)
	for range 20 {
		b, err := AppendPropertiesUnsorted([]byte("prefix"), props)
		require.NoError(t, err)
		require.Equal(t, "prefix", string(b[:6]))
		require.Len(t, b, 6+len(sorted))
		require.Equal(t, props, DecodeProperties(b[6:]))
	}
	b, err := AppendPropertiesUnsorted(nil, props)
	require.NoError(t, err)
	b, err = AppendProperty(b, 0, "UNIQ_KEY", "new")
	require.NoError(t, err)
	require.Equal(t, "new", DecodeProperties(b)["UNIQ_KEY"])
	empty, err := AppendProperty(nil, 0, "UNIQ_KEY", "id")
	require.NoError(t, err)
	require.Equal(t, "UNIQ_KEY\x01id", string(empty))

	for _, bad := range []map[string]string{{"": "v"}, {"a\x01": "v"}, {"a": "v\x02"}, {"a": string(make([]byte, MaxPropertiesLength))}} {
		b, err := AppendPropertiesUnsorted([]byte("keep"), bad)
		require.ErrorIs(t, err, ErrBadProperty)
		require.Equal(t, "keep", string(b))
	}
	_, err = AppendProperty([]byte("a\x01b"), 0, "c\x02", "d")
	require.ErrorIs(t, err, ErrBadProperty)
}
