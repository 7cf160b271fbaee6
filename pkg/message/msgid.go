package message

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
)

// TagsHashCode returns the consume-queue tags code of a TAGS value: Java's
// String.hashCode over the UTF-16 code units of tags (h = 31*h + c, 32-bit
// wrap-around, from 0), sign-extended to 64 bits. An empty tags string gives 0.
// Invalid UTF-8 counts as U+FFFD, as a Java decoder would make it.
func TagsHashCode(tags string) int64 {
	var h int32
	for _, r := range tags {
		if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			h = 31*h + hi
			h = 31*h + lo
			continue
		}
		h = 31*h + r
	}
	return int64(h)
}

// OffsetMsgID returns the offset message id of a record: upper-case hex of the
// store host address (4 bytes for IPv4, 16 for IPv6), the port as an int32, and
// the commit-log offset as an int64 (32 or 56 characters).
func OffsetMsgID(storeHost netip.AddrPort, off PhysOffset) string {
	var buf [28]byte
	b := appendHost(buf[:0], storeHost, isV6(storeHost))
	b = binary.BigEndian.AppendUint64(b, uint64(off))
	return strings.ToUpper(hex.EncodeToString(b))
}

// ParseOffsetMsgID decodes an offset message id (either case) into the store host
// and commit-log offset. It fails for a length other than 32 or 56 characters or a
// non-hex character.
func ParseOffsetMsgID(id string) (netip.AddrPort, PhysOffset, error) {
	if len(id) != 32 && len(id) != 56 {
		return netip.AddrPort{}, 0, fmt.Errorf("message: offset msg id %q: length %d, want 32 or 56", id, len(id))
	}
	var buf [28]byte
	n, err := hex.Decode(buf[:], []byte(id))
	if err != nil {
		return netip.AddrPort{}, 0, fmt.Errorf("message: offset msg id %q: %w", id, err)
	}
	b := buf[:n]
	host, p := readHost(b, 0, n == 28)
	return host, PhysOffset(binary.BigEndian.Uint64(b[p:])), nil
}

// UniqIDGenerator makes client unique ids (the UNIQ_KEY property) in the Java
// client layout, all upper-case hex: address (4 or 16 bytes), pid (int16), a
// per-generator random int32, milliseconds since the start of the current month in
// local time (int32), and a counter (int16): 32 characters for IPv4, 56 for IPv6.
// Ids are unique per generator until the counter wraps within one millisecond.
// Receivers must treat the id as an opaque string. Safe for concurrent use.
type UniqIDGenerator struct {
	now    func() time.Time
	prefix string // hex of address, pid, random

	mu         sync.Mutex
	monthStart time.Time
	nextMonth  time.Time
	counter    uint16
}

// NewUniqIDGenerator returns a generator for a client at addr with process id pid.
// salt fills the third field (the Java client uses a class-loader hash; any
// per-process value keeps two processes on one host apart). now is the clock;
// nil means time.Now.
func NewUniqIDGenerator(addr netip.Addr, pid int, salt int32, now func() time.Time) *UniqIDGenerator {
	if now == nil {
		now = time.Now
	}
	var b []byte
	if addr.Is6() && !addr.Is4In6() {
		a := addr.As16()
		b = append(b, a[:]...)
	} else {
		var a [4]byte
		if addr.IsValid() {
			a = addr.Unmap().As4()
		}
		b = append(b, a[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(pid))
	b = binary.BigEndian.AppendUint32(b, uint32(salt))
	return &UniqIDGenerator{now: now, prefix: strings.ToUpper(hex.EncodeToString(b))}
}

// Next returns a new id.
func (g *UniqIDGenerator) Next() string {
	t := g.now()
	g.mu.Lock()
	if g.monthStart.IsZero() || !t.Before(g.nextMonth) || t.Before(g.monthStart) {
		y, m, _ := t.Date()
		g.monthStart = time.Date(y, m, 1, 0, 0, 0, 0, t.Location())
		g.nextMonth = g.monthStart.AddDate(0, 1, 0)
	}
	ms := t.Sub(g.monthStart).Milliseconds()
	g.counter++
	c := g.counter
	g.mu.Unlock()
	var b [6]byte
	binary.BigEndian.PutUint32(b[:], uint32(ms))
	binary.BigEndian.PutUint16(b[4:], c)
	return g.prefix + strings.ToUpper(hex.EncodeToString(b[:]))
}
