package header

import (
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/petrelmq/petrel/pkg/protocol"
)

//go:generate go run gen.go

// Header is one request or response header: a typed view of a command's
// extFields. Every header type of this package implements it through its
// pointer (Encode has a value receiver, so a value can be encoded directly).
// The interface is sealed: only this package's types implement it.
type Header interface {
	// Encode writes the header into c.ExtFields, allocating the map if it is
	// nil and leaving keys it does not own alone. A required field is always
	// written; an optional string only when it is not empty; an Opt field only
	// when Set; every other number or boolean always. Headers that have two
	// namings (SendMessage) choose by c's code, so set Code first.
	Encode(c *protocol.Command)
	// Decode overwrites every field of the header from c.ExtFields. It reads
	// every field it can and returns the first problem: a *FieldError that
	// matches ErrMissingField (a required key is absent) or ErrBadField (a
	// number does not parse). An empty value is the zero value, not an error,
	// even for a required field (the key is there).
	Decode(c *protocol.Command) error

	fields() []Field
}

// Kind is the wire type of a field. Values are always strings on the wire;
// Kind says what text they hold.
type Kind uint8

const (
	KindString Kind = iota // any text
	KindInt32              // decimal, fits in 32 bits (Java int/Integer)
	KindInt64              // decimal, fits in 64 bits (Java long/Long)
	KindBool               // "true" in any case is true, anything else false (Java's Boolean.parseBoolean)
)

func (k Kind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindInt32:
		return "int32"
	case KindInt64:
		return "int64"
	case KindBool:
		return "bool"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Field describes one field of a header, as its type's struct tag declares it.
type Field struct {
	Name     string // wire name (Java field name)
	V2       string // one-letter name under SEND_MESSAGE_V2 naming, or ""
	Kind     Kind
	Required bool // Java marks it @CFNotNull: decoding fails when the key is absent
	Opt      bool // an Opt[T] field: absent or empty is distinct from zero
}

// Opt is an optional number whose absence means something other than zero
// (Java's nullable Integer or Long where the broker tests for null). Set
// reports whether the field was on the wire with a non-empty value.
type Opt[T int32 | int64] struct {
	V   T
	Set bool
}

// Some returns a set Opt holding v.
func Some[T int32 | int64](v T) Opt[T] { return Opt[T]{V: v, Set: true} }

// UsesV2Names reports whether a send-family request with this code carries
// SendMessage under its one-letter names (a..n): SEND_MESSAGE_V2 (310),
// SEND_BATCH_MESSAGE (320) and SEND_REPLY_MESSAGE_V2 (325). SEND_MESSAGE (10)
// and SEND_REPLY_MESSAGE (324) use the long names.
func UsesV2Names(code protocol.RequestCode) bool {
	return code == protocol.SendMessageV2 || code == protocol.SendBatchMessage || code == protocol.SendReplyMessageV2
}

// NewRequest returns protocol.NewRequest(code, ...) with h encoded into its
// extFields, which are sized for h.
func NewRequest(code protocol.RequestCode, h Header) *protocol.Command {
	c := protocol.NewRequest(code, make(map[string]string, len(h.fields())))
	h.Encode(c)
	return c
}

// NewResponse returns protocol.NewResponse(req, code, remark) with h encoded
// into its extFields.
func NewResponse(req *protocol.Command, code protocol.ResponseCode, remark string, h Header) *protocol.Command {
	c := protocol.NewResponse(req, code, remark)
	h.Encode(c)
	return c
}

// Fields returns the fields of h's type in declaration order. The slice is
// shared; do not modify it.
func Fields(h Header) []Field { return h.fields() }

// Errors of Decode, matched with errors.Is; the details are in *FieldError.
var (
	// ErrMissingField: a required field is absent.
	ErrMissingField = errors.New("header: required field missing")
	// ErrBadField: a number field holds text that is not a number in range.
	ErrBadField = errors.New("header: field does not parse")
)

// FieldError is a header field that is missing or does not parse. Its text is
// Java's for a missing field ("the custom field <topic> is null"), which Petrel
// servers put in the SYSTEM_ERROR remark as the Java broker does.
type FieldError struct {
	Name    string // wire name
	Kind    Kind
	Value   string // the text that did not parse; "" when Missing
	Missing bool
}

func (e *FieldError) Error() string {
	if e.Missing {
		return "the custom field <" + e.Name + "> is null"
	}
	what := "a number"
	if e.Kind == KindInt32 {
		what = "a 32-bit number"
	}
	return "the custom field <" + e.Name + "> is not " + what + ": " + strconv.Quote(e.Value)
}

// Unwrap returns ErrMissingField or ErrBadField.
func (e *FieldError) Unwrap() error {
	if e.Missing {
		return ErrMissingField
	}
	return ErrBadField
}

// decoder reads typed fields from extFields, remembering the first problem.
// The generated Decode methods drive it, one call per field.
type decoder struct {
	ext map[string]string
	err error
}

func (d *decoder) missing(name string, k Kind) {
	if d.err == nil {
		d.err = &FieldError{Name: name, Kind: k, Missing: true}
	}
}

func (d *decoder) bad(name string, k Kind, v string) {
	if d.err == nil {
		d.err = &FieldError{Name: name, Kind: k, Value: v}
	}
}

func (d *decoder) str(name string, required bool) string {
	v, ok := d.ext[name]
	if !ok && required {
		d.missing(name, KindString)
	}
	return v
}

func (d *decoder) int32(name string, required bool) int32 {
	v, ok := d.ext[name]
	if !ok {
		if required {
			d.missing(name, KindInt32)
		}
		return 0
	}
	if v == "" {
		return 0
	}
	n, ok := parseInt(v, 32)
	if !ok {
		d.bad(name, KindInt32, v)
	}
	return int32(n)
}

func (d *decoder) int64(name string, required bool) int64 {
	v, ok := d.ext[name]
	if !ok {
		if required {
			d.missing(name, KindInt64)
		}
		return 0
	}
	if v == "" {
		return 0
	}
	n, ok := parseInt(v, 64)
	if !ok {
		d.bad(name, KindInt64, v)
	}
	return n
}

func (d *decoder) bool(name string, required bool) bool {
	v, ok := d.ext[name]
	if !ok && required {
		d.missing(name, KindBool)
	}
	return len(v) == 4 && strings.EqualFold(v, "true")
}

func (d *decoder) optInt32(name string) Opt[int32] {
	if v := d.ext[name]; v != "" {
		n, ok := parseInt(v, 32)
		if !ok {
			d.bad(name, KindInt32, v)
			return Opt[int32]{}
		}
		return Opt[int32]{V: int32(n), Set: true}
	}
	return Opt[int32]{}
}

func (d *decoder) optInt64(name string) Opt[int64] {
	if v := d.ext[name]; v != "" {
		n, ok := parseInt(v, 64)
		if !ok {
			d.bad(name, KindInt64, v)
			return Opt[int64]{}
		}
		return Opt[int64]{V: n, Set: true}
	}
	return Opt[int64]{}
}

// parseInt parses a decimal integer of the given bit size as Java's
// Integer.parseInt and Long.parseLong do for ASCII input: an optional sign and
// digits, nothing else. Up to 18 plain digits (which always fit an int64) take
// a fast path; the rest goes to strconv. It returns 0, false when s does not
// parse or is out of range.
func parseInt(s string, bits int) (int64, bool) {
	if n := len(s); n > 0 && n <= 18 {
		var v int64
		for i := range n {
			c := s[i] - '0'
			if c > 9 {
				goto slow
			}
			v = v*10 + int64(c)
		}
		if bits == 32 && v > math.MaxInt32 {
			return 0, false
		}
		return v, true
	}
slow:
	v, err := strconv.ParseInt(s, 10, bits)
	if err != nil {
		return 0, false
	}
	return v, true
}

// encoder writes typed fields into extFields; the generated Encode methods
// drive it.
type encoder struct{ ext map[string]string }

func newEncoder(c *protocol.Command, n int) encoder {
	if c.ExtFields == nil {
		c.ExtFields = make(map[string]string, n)
	}
	return encoder{c.ExtFields}
}

func (e encoder) str(name, v string, required bool) {
	if required || v != "" {
		e.ext[name] = v
	}
}

func (e encoder) int32(name string, v int32) { e.ext[name] = strconv.FormatInt(int64(v), 10) }

func (e encoder) int64(name string, v int64) { e.ext[name] = strconv.FormatInt(v, 10) }

func (e encoder) bool(name string, v bool) { e.ext[name] = strconv.FormatBool(v) }

func (e encoder) optInt32(name string, v Opt[int32]) {
	if v.Set {
		e.ext[name] = strconv.FormatInt(int64(v.V), 10)
	}
}

func (e encoder) optInt64(name string, v Opt[int64]) {
	if v.Set {
		e.ext[name] = strconv.FormatInt(v.V, 10)
	}
}
