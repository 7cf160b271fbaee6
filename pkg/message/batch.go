package message

import (
	"encoding/binary"
	"fmt"
)

// BatchHeaderSize is the size of an inner batch message with an empty body and
// property string: TOTALSIZE, MAGICCODE, BODYCRC, FLAG, BODYLENGTH (4 bytes each)
// and PROPERTIESLENGTH (2). Part of the wire format; never change.
const BatchHeaderSize = 22

// ParseBatch walks a SEND_BATCH_MESSAGE body, calling fn for each inner message
// with its flag, body and property string, which alias body. The inner MAGICCODE
// and BODYCRC are ignored (clients send 0). It fails, wrapping ErrMalformed, when a
// length field does not fit or TOTALSIZE disagrees with the fields; it returns fn's
// first error. It never panics and allocates nothing itself.
func ParseBatch(body []byte, fn func(flag int32, body, props []byte) error) error {
	be := binary.BigEndian
	for off := 0; off < len(body); {
		r := body[off:]
		if len(r) < BatchHeaderSize {
			return malformed("batch: %d trailing bytes at %d", len(r), off)
		}
		total := int64(int32(be.Uint32(r)))
		if total < BatchHeaderSize || total > int64(len(r)) {
			return malformed("batch: total size %d at %d", total, off)
		}
		r = r[:total]
		flag := int32(be.Uint32(r[12:]))
		bodyLen := int64(int32(be.Uint32(r[16:])))
		if bodyLen < 0 || bodyLen > total-BatchHeaderSize {
			return malformed("batch: body length %d at %d", bodyLen, off)
		}
		p := 20 + int(bodyLen)
		b := r[20:p:p]
		propsLen := int(int16(be.Uint16(r[p:])))
		p += 2
		if propsLen < 0 || propsLen != len(r)-p {
			return malformed("batch: properties length %d at %d", propsLen, off)
		}
		if err := fn(flag, b, r[p:len(r):len(r)]); err != nil {
			return err
		}
		off += int(total)
	}
	return nil
}

// DecodeBatch decodes a SEND_BATCH_MESSAGE body into messages without topics; the
// broker takes the topic and the rest from the request header. Bodies are copied.
// Errors are those of ParseBatch.
func DecodeBatch(body []byte) ([]*Message, error) {
	var out []*Message
	err := ParseBatch(body, func(flag int32, b, props []byte) error {
		out = append(out, &Message{Flag: flag, Body: append([]byte{}, b...), Properties: DecodeProperties(props)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AppendBatch appends msgs encoded as a SEND_BATCH_MESSAGE body to dst, with MAGIC
// and BODYCRC 0 as clients send them; topics are not encoded. It fails with
// ErrTooLong or ErrBadProperty, leaving dst's content unchanged.
func AppendBatch(dst []byte, msgs []*Message) ([]byte, error) {
	start := len(dst)
	be := binary.BigEndian
	for _, m := range msgs {
		if int64(len(m.Body)) > 1<<31-1-BatchHeaderSize-MaxPropertiesLength {
			return dst[:start], fmt.Errorf("%w: batch body is %d bytes", ErrTooLong, len(m.Body))
		}
		rs := len(dst)
		dst = be.AppendUint32(dst, 0)
		dst = be.AppendUint32(dst, 0)
		dst = be.AppendUint32(dst, 0)
		dst = be.AppendUint32(dst, uint32(m.Flag))
		dst = be.AppendUint32(dst, uint32(len(m.Body)))
		dst = append(dst, m.Body...)
		lp := len(dst)
		dst = append(dst, 0, 0)
		var err error
		if dst, err = AppendProperties(dst, m.Properties); err != nil {
			return dst[:start], err
		}
		be.PutUint16(dst[lp:], uint16(len(dst)-lp-2))
		be.PutUint32(dst[rs:], uint32(len(dst)-rs))
	}
	return dst, nil
}
