package message

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net/netip"
)

// Magic codes of stored records. Part of the on-disk and wire format; never change.
const (
	// MagicV1 marks a message record (RocketMQ message format V1, 1-byte topic
	// length). It is the only message format Petrel writes or accepts.
	MagicV1 uint32 = 0xDAA320A7
	// MagicBlank marks the unused tail of a commit-log segment: TOTALSIZE covers
	// the rest of the segment, and only TOTALSIZE and the magic are meaningful.
	MagicBlank uint32 = 0xCBD43194
)

// Record layout constants. Part of the on-disk and wire format; never change.
const (
	// RecordFixedSize is the size of a record with IPv4 hosts and an empty body,
	// topic and property string.
	RecordFixedSize = 91
	// BlankHeaderSize is the number of meaningful bytes of a blank record
	// (TOTALSIZE and magic); a segment always has room for it after its last
	// message.
	BlankHeaderSize = 8
	// MaxTopicLength is the longest topic a record holds (1-byte length; RocketMQ
	// clients treat it as signed on write).
	MaxTopicLength = 127

	// Byte positions of the fixed-position fields.
	PosTotalSize   = 0
	PosMagic       = 4
	PosBodyCRC     = 8
	PosQueueID     = 12
	PosFlag        = 16
	PosQueueOffset = 20
	PosPhysOffset  = 28
	PosSysFlag     = 36
	PosBornTime    = 40
	PosBornHost    = 48
)

// Decoding errors. Every decoding failure wraps ErrMalformed.
var (
	ErrMalformed = errors.New("message: malformed record")
	// ErrBadCRC is returned by CheckCRC when the body does not match BODYCRC.
	ErrBadCRC = fmt.Errorf("%w: body CRC mismatch", ErrMalformed)
	// ErrTooLong is returned by encoders when a field does not fit its length
	// field.
	ErrTooLong = errors.New("message: field too long")
)

// hostLen is the encoded length of a host: 4+4 for IPv4, 16+4 for IPv6.
func hostLen(v6 bool) int {
	if v6 {
		return 20
	}
	return 8
}

// PosStoreTimestamp returns the byte position of STORETIMESTAMP in a record with
// the given sysFlag (it moves when BORNHOST is IPv6).
func PosStoreTimestamp(f SysFlag) int { return PosBornHost + hostLen(f.Has(SysFlagBornHostV6)) }

// BodyCRC returns the checksum stored in BODYCRC: CRC-32 (IEEE) & 0x7FFFFFFF.
func BodyCRC(body []byte) uint32 { return crc32.ChecksumIEEE(body) & 0x7FFFFFFF }

func isV6(a netip.AddrPort) bool { return a.Addr().Is6() && !a.Addr().Is4In6() }

// RecordSize returns the encoded size of m as a stored record.
func RecordSize(m *MessageExt, propsLen int) int {
	n := RecordFixedSize + len(m.Body) + len(m.Topic) + propsLen
	if isV6(m.BornHost) {
		n += 12
	}
	if isV6(m.StoreHost) {
		n += 12
	}
	return n
}

// AppendRecord appends m encoded as a stored record (magic V1) to dst and returns
// the extended slice. It encodes m.Properties with AppendProperties, sets the
// host-family bits of the sysFlag from BornHost and StoreHost (an IPv4-mapped or
// invalid address is written as IPv4), and computes BODYCRC; it updates
// m.SysFlag, m.BodyCRC and m.StoreSize to what it wrote. It fails with
// ErrTooLong or ErrBadProperty, leaving dst's content unchanged.
func AppendRecord(dst []byte, m *MessageExt) ([]byte, error) {
	if len(m.Topic) > MaxTopicLength {
		return dst, fmt.Errorf("%w: topic is %d bytes, max %d", ErrTooLong, len(m.Topic), MaxTopicLength)
	}
	if int64(len(m.Body)) > 1<<31-1-RecordFixedSize-24-MaxTopicLength-MaxPropertiesLength {
		return dst, fmt.Errorf("%w: body is %d bytes", ErrTooLong, len(m.Body))
	}
	start := len(dst)
	// Properties go last; encode them in place after reserving the head, so no
	// temporary buffer is needed.
	sf := m.SysFlag &^ (SysFlagBornHostV6 | SysFlagStoreHostV6)
	if isV6(m.BornHost) {
		sf |= SysFlagBornHostV6
	}
	if isV6(m.StoreHost) {
		sf |= SysFlagStoreHostV6
	}
	crc := BodyCRC(m.Body)
	be := binary.BigEndian
	dst = be.AppendUint32(dst, 0) // TOTALSIZE, patched below
	dst = be.AppendUint32(dst, MagicV1)
	dst = be.AppendUint32(dst, crc)
	dst = be.AppendUint32(dst, uint32(m.QueueID))
	dst = be.AppendUint32(dst, uint32(m.Flag))
	dst = be.AppendUint64(dst, uint64(m.QueueOffset))
	dst = be.AppendUint64(dst, uint64(m.PhysOffset))
	dst = be.AppendUint32(dst, uint32(sf))
	dst = be.AppendUint64(dst, uint64(m.BornTimestamp))
	dst = appendHost(dst, m.BornHost, sf.Has(SysFlagBornHostV6))
	dst = be.AppendUint64(dst, uint64(m.StoreTimestamp))
	dst = appendHost(dst, m.StoreHost, sf.Has(SysFlagStoreHostV6))
	dst = be.AppendUint32(dst, uint32(m.ReconsumeTimes))
	dst = be.AppendUint64(dst, uint64(m.PreparedTransactionOffset))
	dst = be.AppendUint32(dst, uint32(len(m.Body)))
	dst = append(dst, m.Body...)
	dst = append(dst, byte(len(m.Topic)))
	dst = append(dst, m.Topic...)
	lenPos := len(dst)
	dst = append(dst, 0, 0)
	var err error
	dst, err = AppendProperties(dst, m.Properties)
	if err != nil {
		return dst[:start], err
	}
	be.PutUint16(dst[lenPos:], uint16(len(dst)-lenPos-2))
	total := len(dst) - start
	be.PutUint32(dst[start:], uint32(total))
	m.SysFlag, m.BodyCRC, m.StoreSize = sf, crc, int32(total)
	return dst, nil
}

func appendHost(dst []byte, a netip.AddrPort, v6 bool) []byte {
	if v6 {
		b := a.Addr().As16()
		dst = append(dst, b[:]...)
	} else {
		var b [4]byte
		if a.Addr().Is4() || a.Addr().Is4In6() {
			b = a.Addr().Unmap().As4()
		}
		dst = append(dst, b[:]...)
	}
	return binary.BigEndian.AppendUint32(dst, uint32(a.Port()))
}

// AppendBlank appends a blank record header of the given total size (at least
// BlankHeaderSize) to dst: TOTALSIZE and MagicBlank. The rest of the blank
// record's bytes are not written.
func AppendBlank(dst []byte, total int32) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(total))
	return binary.BigEndian.AppendUint32(dst, MagicBlank)
}

// RecordView is a decoded stored record whose variable-length fields alias the
// input buffer: it allocates nothing, and Body, Topic and Properties are valid only
// as long as that buffer is unchanged.
type RecordView struct {
	TotalSize                 int32
	BodyCRC                   uint32
	QueueID                   int32
	Flag                      int32
	QueueOffset               QueueOffset
	PhysOffset                PhysOffset
	SysFlag                   SysFlag
	BornTimestamp             int64
	BornHost                  netip.AddrPort
	StoreTimestamp            int64
	StoreHost                 netip.AddrPort
	ReconsumeTimes            int32
	PreparedTransactionOffset PhysOffset
	Body                      []byte
	Topic                     []byte
	Properties                []byte
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// PeekHeader reads TOTALSIZE and the magic code at the start of b without checking
// them. ok is false when b is shorter than BlankHeaderSize.
func PeekHeader(b []byte) (total int32, magic uint32, ok bool) {
	if len(b) < BlankHeaderSize {
		return 0, 0, false
	}
	return int32(binary.BigEndian.Uint32(b)), binary.BigEndian.Uint32(b[4:]), true
}

// ParseRecord decodes the message record at the start of b into v. It checks that
// the magic is MagicV1, that TOTALSIZE fits in b, and that every length field fits
// and together they add up to exactly TOTALSIZE. It does not check BODYCRC (see
// CheckCRC). On error v is unspecified and the error wraps ErrMalformed. It never
// panics and never allocates on success.
func ParseRecord(b []byte, v *RecordView) error {
	total, magic, ok := PeekHeader(b)
	if !ok {
		return malformed("%d bytes, need a header", len(b))
	}
	if magic != MagicV1 {
		return malformed("magic %#08x", magic)
	}
	if total < RecordFixedSize || int64(total) > int64(len(b)) {
		return malformed("total size %d outside [%d, %d]", total, RecordFixedSize, len(b))
	}
	r := b[:total]
	be := binary.BigEndian
	v.TotalSize = total
	v.BodyCRC = be.Uint32(r[PosBodyCRC:])
	v.QueueID = int32(be.Uint32(r[PosQueueID:]))
	v.Flag = int32(be.Uint32(r[PosFlag:]))
	v.QueueOffset = QueueOffset(be.Uint64(r[PosQueueOffset:]))
	v.PhysOffset = PhysOffset(be.Uint64(r[PosPhysOffset:]))
	v.SysFlag = SysFlag(be.Uint32(r[PosSysFlag:]))
	v.BornTimestamp = int64(be.Uint64(r[PosBornTime:]))
	bornV6, storeV6 := v.SysFlag.Has(SysFlagBornHostV6), v.SysFlag.Has(SysFlagStoreHostV6)
	need := RecordFixedSize
	if bornV6 {
		need += 12
	}
	if storeV6 {
		need += 12
	}
	if int(total) < need {
		return malformed("total size %d < %d for the host families", total, need)
	}
	p := PosBornHost
	v.BornHost, p = readHost(r, p, bornV6)
	v.StoreTimestamp = int64(be.Uint64(r[p:]))
	p += 8
	v.StoreHost, p = readHost(r, p, storeV6)
	v.ReconsumeTimes = int32(be.Uint32(r[p:]))
	p += 4
	v.PreparedTransactionOffset = PhysOffset(be.Uint64(r[p:]))
	p += 8
	// Variable part: p is at BODYLENGTH; need-p bytes of length fields remain
	// (4 + 1 + 2), so each length is checked against what is left.
	bodyLen := int64(int32(be.Uint32(r[p:])))
	p += 4
	if bodyLen < 0 || bodyLen > int64(len(r)-p-3) {
		return malformed("body length %d", bodyLen)
	}
	v.Body = r[p : p+int(bodyLen) : p+int(bodyLen)]
	p += int(bodyLen)
	topicLen := int(r[p])
	p++
	if topicLen > len(r)-p-2 {
		return malformed("topic length %d", topicLen)
	}
	v.Topic = r[p : p+topicLen : p+topicLen]
	p += topicLen
	propsLen := int(int16(be.Uint16(r[p:])))
	p += 2
	if propsLen < 0 || propsLen != len(r)-p {
		return malformed("properties length %d, %d bytes left", propsLen, len(r)-p)
	}
	v.Properties = r[p:len(r):len(r)]
	return nil
}

func readHost(r []byte, p int, v6 bool) (netip.AddrPort, int) {
	var a netip.Addr
	if v6 {
		a = netip.AddrFrom16([16]byte(r[p : p+16]))
		p += 16
	} else {
		a = netip.AddrFrom4([4]byte(r[p : p+4]))
		p += 4
	}
	port := binary.BigEndian.Uint32(r[p:])
	return netip.AddrPortFrom(a, uint16(port)), p + 4
}

// CheckCRC reports ErrBadCRC when v.Body does not match v.BodyCRC.
func (v *RecordView) CheckCRC() error {
	if BodyCRC(v.Body) != v.BodyCRC {
		return ErrBadCRC
	}
	return nil
}

// MessageExt copies v into a new MessageExt (body copied, properties decoded).
func (v *RecordView) MessageExt() *MessageExt {
	m := &MessageExt{
		Message: Message{
			Topic:      string(v.Topic),
			Flag:       v.Flag,
			Properties: DecodeProperties(v.Properties),
			Body:       append([]byte{}, v.Body...),
		},
		QueueID:                   v.QueueID,
		QueueOffset:               v.QueueOffset,
		PhysOffset:                v.PhysOffset,
		SysFlag:                   v.SysFlag,
		BornTimestamp:             v.BornTimestamp,
		BornHost:                  v.BornHost,
		StoreTimestamp:            v.StoreTimestamp,
		StoreHost:                 v.StoreHost,
		ReconsumeTimes:            v.ReconsumeTimes,
		PreparedTransactionOffset: v.PreparedTransactionOffset,
		BodyCRC:                   v.BodyCRC,
		StoreSize:                 v.TotalSize,
	}
	return m
}

// DecodeMessage decodes the record at the start of b, checking its body CRC, and
// returns it with the number of bytes it used. Errors wrap ErrMalformed. The result
// does not alias b.
func DecodeMessage(b []byte) (*MessageExt, int, error) {
	var v RecordView
	if err := ParseRecord(b, &v); err != nil {
		return nil, 0, err
	}
	if err := v.CheckCRC(); err != nil {
		return nil, 0, err
	}
	return v.MessageExt(), int(v.TotalSize), nil
}

// DecodeMessages decodes records laid back to back, as in a pull response body.
// It stops at the first malformed record and returns it as the error together
// with the records before it.
func DecodeMessages(b []byte) ([]*MessageExt, error) {
	var out []*MessageExt
	for len(b) > 0 {
		m, n, err := DecodeMessage(b)
		if err != nil {
			return out, err
		}
		out = append(out, m)
		b = b[n:]
	}
	return out, nil
}

// SetQueueOffset overwrites QUEUEOFFSET of the encoded record rec in place.
// rec must hold at least the fixed fields.
func SetQueueOffset(rec []byte, off QueueOffset) {
	binary.BigEndian.PutUint64(rec[PosQueueOffset:], uint64(off))
}

// SetPhysOffset overwrites PHYSICALOFFSET of the encoded record rec in place.
func SetPhysOffset(rec []byte, off PhysOffset) {
	binary.BigEndian.PutUint64(rec[PosPhysOffset:], uint64(off))
}

// SetStoreTimestamp overwrites STORETIMESTAMP (ms) of the encoded record rec in
// place; its position depends on the record's sysFlag.
func SetStoreTimestamp(rec []byte, ms int64) {
	f := SysFlag(binary.BigEndian.Uint32(rec[PosSysFlag:]))
	binary.BigEndian.PutUint64(rec[PosStoreTimestamp(f):], uint64(ms))
}
