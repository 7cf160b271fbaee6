package protocol

import (
	"encoding/binary"
	"fmt"
	"math"
)

// SharedHeaderLimit is the largest header (bytes) whose decoded strings share
// one copy of it. It bounds what one retained string (a topic or group a
// server keeps as a map key) can keep alive; sends and pulls stay under it.
const SharedHeaderLimit = 1 << 10

// rocketMQFixedLen is the fixed part of a ROCKETMQ header: code 2, language 1,
// version 2, opaque 4, flag 4, remark length 4, extFields length 4.
const rocketMQFixedLen = 21

// AppendRocketMQHeader appends c's header in the ROCKETMQ binary serialization
// (type 1) to dst:
//
//	code int16 | language uint8 | version int16 | opaque int32 | flag int32 |
//	remarkLen int32 | remark | extLen int32 | { keyLen int16 | key | valLen int32 | val }...
//
// An empty remark is written as length 0. extFields entries are written in sorted
// key order. It fails with ErrBadHeader if a key is longer than 32767 bytes, a
// length does not fit int32, or the keys and values add up to more than
// ExtFieldsSizeLimit; dst is then returned unchanged in length.
func AppendRocketMQHeader(dst []byte, c *Command) ([]byte, error) {
	start := len(dst)
	if len(c.Remark) > math.MaxInt32 {
		return dst, fmt.Errorf("%w: remark of %d bytes", ErrBadHeader, len(c.Remark))
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(c.Code))
	dst = append(dst, byte(c.Language))
	dst = binary.BigEndian.AppendUint16(dst, uint16(c.Version))
	dst = binary.BigEndian.AppendUint32(dst, uint32(c.Opaque))
	dst = binary.BigEndian.AppendUint32(dst, uint32(c.Flag))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(c.Remark)))
	dst = append(dst, c.Remark...)
	extAt := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	if len(c.ExtFields) > 0 {
		var arr [16]string
		extBytes := 0
		for _, k := range sortedKeys(arr[:0], c.ExtFields) {
			v := c.ExtFields[k]
			if extBytes += len(k) + len(v); extBytes > ExtFieldsSizeLimit {
				return dst[:start], extFieldsTooLarge(extBytes)
			}
			if len(k) > math.MaxInt16 || len(v) > math.MaxInt32 {
				return dst[:start], fmt.Errorf("%w: extFields entry %.32q: key of %d bytes (max %d) or value of %d bytes",
					ErrBadHeader, k, len(k), math.MaxInt16, len(v))
			}
			dst = binary.BigEndian.AppendUint16(dst, uint16(len(k)))
			dst = append(dst, k...)
			dst = binary.BigEndian.AppendUint32(dst, uint32(len(v)))
			dst = append(dst, v...)
		}
	}
	extLen := len(dst) - extAt - 4
	if extLen > math.MaxInt32 {
		return dst[:start], fmt.Errorf("%w: extFields block of %d bytes", ErrBadHeader, extLen)
	}
	binary.BigEndian.PutUint32(dst[extAt:], uint32(extLen))
	return dst, nil
}

// DecodeRocketMQHeader decodes a ROCKETMQ binary header (serialize type 1) into c's
// header fields and sets c.Serialize. Every length is checked against the bytes
// that remain before anything is allocated; the header must be used up exactly.
// A zero-length remark reads as "", entries with an empty key or value are kept;
// more than MaxExtFields distinct keys, a remark longer than RemarkSizeLimit, and
// entries whose keys and values add up to more than ExtFieldsSizeLimit bytes are
// rejected.
// c.ExtFields is always non-nil afterwards. Errors are *DecodeError with Kind
// ErrBadHeader. In a header of at most SharedHeaderLimit bytes the extFields
// keys and values share one copy of their bytes (a string kept for long keeps
// that copy alive); a larger header copies each on its own.
func DecodeRocketMQHeader(b []byte, c *Command) error {
	bad := func(off int, format string, args ...any) error {
		return headerErr(SerializeRocketMQ, off, fmt.Sprintf(format, args...))
	}
	if len(b) < rocketMQFixedLen {
		return bad(0, "header of %d bytes is shorter than the fixed %d", len(b), rocketMQFixedLen)
	}
	*c = Command{
		Code:      int16(binary.BigEndian.Uint16(b[0:])),
		Language:  LanguageCode(b[2]),
		Version:   int16(binary.BigEndian.Uint16(b[3:])),
		Opaque:    int32(binary.BigEndian.Uint32(b[5:])),
		Flag:      int32(binary.BigEndian.Uint32(b[9:])),
		Serialize: SerializeRocketMQ,
		Body:      c.Body,
	}
	pos := 13
	remarkLen := int64(int32(binary.BigEndian.Uint32(b[pos:])))
	pos += 4
	// The extFields length word must still follow the remark.
	if remarkLen < 0 || remarkLen > int64(len(b)-pos-4) {
		return bad(pos-4, "remark length %d does not fit the %d bytes left", remarkLen, len(b)-pos)
	}
	if remarkLen > RemarkSizeLimit {
		return bad(pos-4, "remark of %d bytes exceeds the limit of %d", remarkLen, RemarkSizeLimit)
	}
	c.Remark = string(b[pos : pos+int(remarkLen)])
	pos += int(remarkLen)
	extLen := int64(int32(binary.BigEndian.Uint32(b[pos:])))
	pos += 4
	if extLen < 0 || extLen != int64(len(b)-pos) {
		return bad(pos-4, "extFields length %d, but %d bytes are left", extLen, len(b)-pos)
	}
	c.ExtFields = map[string]string{}
	text := func(from, n int) string { return string(b[from : from+n]) }
	if len(b) <= SharedHeaderLimit {
		extAt, ext := pos, string(b[pos:]) // backs every key and value
		text = func(from, n int) string { return ext[from-extAt : from-extAt+n] }
	}
	extBytes := int64(0)
	for pos < len(b) {
		if len(b)-pos < 2 {
			return bad(pos, "truncated key length")
		}
		kl := int(int16(binary.BigEndian.Uint16(b[pos:])))
		pos += 2
		if kl < 0 || kl > len(b)-pos {
			return bad(pos-2, "key length %d does not fit the %d bytes left", kl, len(b)-pos)
		}
		key := b[pos : pos+kl]
		pos += kl
		if len(b)-pos < 4 {
			return bad(pos, "truncated value length")
		}
		vl := int64(int32(binary.BigEndian.Uint32(b[pos:])))
		pos += 4
		if vl < 0 || vl > int64(len(b)-pos) {
			return bad(pos-4, "value length %d does not fit the %d bytes left", vl, len(b)-pos)
		}
		if len(c.ExtFields) >= MaxExtFields {
			if _, ok := c.ExtFields[string(key)]; !ok {
				return bad(pos-4-len(key)-2, "more than %d extFields entries", MaxExtFields)
			}
		}
		if extBytes += int64(kl) + vl; extBytes > ExtFieldsSizeLimit {
			return bad(pos-4-len(key)-2, "extFields exceed the limit of %d bytes", ExtFieldsSizeLimit)
		}
		c.ExtFields[text(pos-4-kl, kl)] = text(pos, int(vl))
		pos += int(vl)
	}
	return nil
}
