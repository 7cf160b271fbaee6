package protocol

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// AppendJSONHeader appends c's header as JSON (serialize type 0) to dst, in the Go
// client's key order:
//
//	{"code":105,"language":"GO","version":317,"opaque":1,"flag":0,"remark":"","extFields":{"topic":"T"}}
//
// extFields is always present and its keys are sorted, so the output is
// deterministic; every value is a JSON string. Strings are escaped as JSON
// requires (control characters such as 0x01 become \u0001) and invalid UTF-8 is
// written as U+FFFD. A language with no name is written as its number.
func AppendJSONHeader(dst []byte, c *Command) []byte {
	dst, _ = appendJSONHeader(dst, c)
	return dst
}

// appendJSONHeader is AppendJSONHeader; it also returns the bytes of c's
// extFields keys and values, for AppendFrame's limit.
func appendJSONHeader(dst []byte, c *Command) ([]byte, int) {
	extBytes := 0
	dst = append(dst, `{"code":`...)
	dst = strconv.AppendInt(dst, int64(c.Code), 10)
	dst = append(dst, `,"language":`...)
	if int(c.Language) < len(languageNames) {
		dst = append(dst, '"')
		dst = append(dst, languageNames[c.Language]...)
		dst = append(dst, '"')
	} else {
		dst = strconv.AppendUint(dst, uint64(c.Language), 10)
	}
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendInt(dst, int64(c.Version), 10)
	dst = append(dst, `,"opaque":`...)
	dst = strconv.AppendInt(dst, int64(c.Opaque), 10)
	dst = append(dst, `,"flag":`...)
	dst = strconv.AppendInt(dst, int64(c.Flag), 10)
	dst = append(dst, `,"remark":`...)
	dst = appendJSONString(dst, c.Remark)
	dst = append(dst, `,"extFields":{`...)
	if len(c.ExtFields) > 0 {
		var arr [16]string
		keys := sortedKeys(arr[:0], c.ExtFields)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			v := c.ExtFields[k]
			extBytes += len(k) + len(v)
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			dst = appendJSONString(dst, v)
		}
	}
	return append(dst, "}}"...), extBytes
}

func sortedKeys(dst []string, m map[string]string) []string {
	for k := range m {
		dst = append(dst, k)
	}
	slices.Sort(dst)
	return dst
}

const hexDigits = "0123456789abcdef"

// safeASCII[b] is true for ASCII bytes that go into a JSON string unescaped.
var safeASCII = func() (t [utf8.RuneSelf]bool) {
	for i := 0x20; i < utf8.RuneSelf; i++ {
		t[i] = i != '"' && i != '\\'
	}
	return t
}()

func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if safeASCII[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// maxJSONDepth bounds the nesting of values skipped under unknown keys.
const maxJSONDepth = 64

// DecodeJSONHeader decodes a JSON header (serialize type 0) into c's header fields
// and sets c.Serialize. It accepts both the Go client's and the Java (fastjson)
// shapes:
//
//   - keys in any order; unknown keys (serializeTypeCurrentRPC, ...) are skipped,
//     whatever their value; a repeated key takes its last value;
//   - code and version must be integers within int16, opaque and flag within
//     int32; a missing or null field reads as 0;
//   - language may be a name ("JAVA", "GO"; unknown names read as OTHER), a number
//     (0–255 as is; anything else reads as OTHER), or missing/null (JAVA, 0);
//   - remark may be a string, null or missing ("");
//   - extFields may be missing or null (empty map). Values that are strings are
//     taken as is; numbers and booleans are accepted by their JSON text ("1",
//     "true"), as fastjson does when it fills a Map<String,String>; null values
//     drop the key; objects and arrays are rejected; more than MaxExtFields
//     distinct keys are rejected.
//   - a remark longer than RemarkSizeLimit, or extFields whose keys and values
//     (decoded, repeated keys counted each time) add up to more than
//     ExtFieldsSizeLimit bytes, are rejected.
//
// Strings may use every JSON escape; invalid UTF-8 and lone surrogates read as
// U+FFFD. c.ExtFields is always non-nil afterwards. Errors are *DecodeError with
// Kind ErrBadHeader.
//
// A header of at most SharedHeaderLimit bytes (a send's or a pull's) is
// copied once and every key and value without escapes is cut from that copy,
// so a dozen entries cost the copy and the map, not an allocation per string;
// a string kept for long keeps the copy alive. A larger header copies each
// string on its own.
func DecodeJSONHeader(b []byte, c *Command) error {
	d := jsonDecoder{b: b}
	if len(b) <= SharedHeaderLimit {
		d.s = string(b)
	}
	if err := d.header(c); err != nil {
		return err
	}
	c.Serialize = SerializeJSON
	if c.ExtFields == nil {
		c.ExtFields = map[string]string{}
	}
	return nil
}

type jsonDecoder struct {
	b        []byte
	s        string // string(b), or "" when b is not shared (see cut)
	scratch  []byte // decodes strings with escapes, reused
	pos      int
	extBytes int // decoded extFields key and value bytes so far
}

func (d *jsonDecoder) err(reason string) error { return headerErr(SerializeJSON, d.pos, reason) }

func (d *jsonDecoder) ws() {
	for d.pos < len(d.b) {
		switch d.b[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// peek skips whitespace and returns the next byte, or 0 at the end.
func (d *jsonDecoder) peek() byte {
	d.ws()
	if d.pos < len(d.b) {
		return d.b[d.pos]
	}
	return 0
}

func (d *jsonDecoder) expect(ch byte) error {
	if d.peek() != ch {
		return d.err("expected '" + string(ch) + "'")
	}
	d.pos++
	return nil
}

func (d *jsonDecoder) literal(lit string) bool {
	if len(d.b)-d.pos >= len(lit) && string(d.b[d.pos:d.pos+len(lit)]) == lit {
		d.pos += len(lit)
		return true
	}
	return false
}

// object calls field for each key of an object; field must consume the value.
func (d *jsonDecoder) object(field func(key string) error) error {
	if err := d.expect('{'); err != nil {
		return err
	}
	if d.peek() == '}' {
		d.pos++
		return nil
	}
	for {
		if d.peek() != '"' {
			return d.err("expected object key")
		}
		key, err := d.strText()
		if err != nil {
			return err
		}
		if err := d.expect(':'); err != nil {
			return err
		}
		d.ws()
		if err := field(key); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return nil
		default:
			return d.err("expected ',' or '}'")
		}
	}
}

func (d *jsonDecoder) header(c *Command) error {
	*c = Command{Body: c.Body}
	err := d.object(func(key string) error {
		switch key {
		case "code":
			v, err := d.intField(math.MinInt16, math.MaxInt16)
			c.Code = int16(v)
			return err
		case "version":
			v, err := d.intField(math.MinInt16, math.MaxInt16)
			c.Version = int16(v)
			return err
		case "opaque":
			v, err := d.intField(math.MinInt32, math.MaxInt32)
			c.Opaque = int32(v)
			return err
		case "flag":
			v, err := d.intField(math.MinInt32, math.MaxInt32)
			c.Flag = int32(v)
			return err
		case "language":
			return d.language(c)
		case "remark":
			if d.literal("null") {
				c.Remark = ""
				return nil
			}
			if d.peek() != '"' {
				return d.err("remark is not a string")
			}
			start := d.pos
			s, err := d.strText()
			if err != nil {
				return err
			}
			if len(s) > RemarkSizeLimit {
				d.pos = start
				return d.err("remark of " + strconv.Itoa(len(s)) + " bytes exceeds the limit of " + strconv.Itoa(RemarkSizeLimit))
			}
			c.Remark = s
			return nil
		case "extFields":
			return d.extFields(c)
		default:
			return d.skip(0)
		}
	})
	if err != nil {
		return err
	}
	// peek returns 0 both at the end and for a NUL byte, so test the position.
	if d.ws(); d.pos != len(d.b) {
		return d.err("trailing data after header object")
	}
	return nil
}

func (d *jsonDecoder) intField(lo, hi int64) (int64, error) {
	if d.literal("null") {
		return 0, nil
	}
	start := d.pos
	num, isInt, err := d.number()
	if err != nil {
		return 0, err
	}
	if !isInt {
		d.pos = start
		return 0, d.err("not an integer")
	}
	v, ok := parseInt(num)
	if !ok || v < lo || v > hi {
		d.pos = start
		return 0, d.err("integer " + string(num) + " out of range")
	}
	return v, nil
}

func (d *jsonDecoder) language(c *Command) error {
	switch ch := d.peek(); {
	case d.literal("null"):
		c.Language = LanguageJava
	case ch == '"':
		s, _, err := d.str(nil)
		if err != nil {
			return err
		}
		c.Language, _ = ParseLanguage(string(s))
	case ch == '-' || (ch >= '0' && ch <= '9'):
		num, isInt, err := d.number()
		if err != nil {
			return err
		}
		c.Language = LanguageOther
		if isInt {
			if v, ok := parseInt(num); ok && v >= 0 && v <= math.MaxUint8 {
				c.Language = LanguageCode(v)
			}
		}
	default:
		return d.err("language is not a string or number")
	}
	return nil
}

func (d *jsonDecoder) extFields(c *Command) error {
	// A repeated extFields key replaces the earlier object, as any repeated key does.
	c.ExtFields = nil
	if d.literal("null") {
		return nil
	}
	// Size the map once: every key ends in `":` (a value may hold that text
	// too, which only over-sizes the map).
	c.ExtFields = make(map[string]string, min(bytes.Count(d.b[d.pos:], []byte(`":`)), MaxExtFields))
	return d.object(func(key string) error {
		if len(c.ExtFields) >= MaxExtFields {
			if _, ok := c.ExtFields[key]; !ok {
				return d.err("more than " + strconv.Itoa(MaxExtFields) + " extFields entries")
			}
		}
		start := d.pos
		switch ch := d.peek(); {
		case ch == '"':
			v, err := d.strText()
			if err != nil {
				return err
			}
			if err := d.countExt(start, len(key)+len(v)); err != nil {
				return err
			}
			c.ExtFields[key] = v
		case ch == '-' || (ch >= '0' && ch <= '9'):
			num, _, err := d.number()
			if err != nil {
				return err
			}
			if err := d.countExt(start, len(key)+len(num)); err != nil {
				return err
			}
			c.ExtFields[key] = d.cut(d.pos-len(num), d.pos)
		case d.literal("true"):
			c.ExtFields[key] = "true"
		case d.literal("false"):
			c.ExtFields[key] = "false"
		case d.literal("null"):
			delete(c.ExtFields, key)
		default:
			return d.err("extFields value is not a string, number or boolean")
		}
		return nil
	})
}

// countExt adds n decoded extFields bytes and fails, at offset pos, past
// ExtFieldsSizeLimit.
func (d *jsonDecoder) countExt(pos, n int) error {
	d.extBytes += n
	if d.extBytes > ExtFieldsSizeLimit {
		d.pos = pos
		return d.err("extFields exceed the limit of " + strconv.Itoa(ExtFieldsSizeLimit) + " bytes")
	}
	return nil
}

// number scans a JSON number and returns its text and whether it is an integer
// (no fraction or exponent).
func (d *jsonDecoder) number() (text []byte, isInt bool, err error) {
	start := d.pos
	b := d.b
	i := d.pos
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		d.pos = i
		return nil, false, d.err("bad number")
	}
	isInt = true
	if i < len(b) && b[i] == '.' {
		isInt = false
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.pos = i
			return nil, false, d.err("bad number fraction")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		isInt = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.pos = i
			return nil, false, d.err("bad number exponent")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	d.pos = i
	return b[start:i], isInt, nil
}

// cut returns the input's bytes [from, to) as a string: a substring of the
// shared copy, or a copy of its own.
func (d *jsonDecoder) cut(from, to int) string {
	if d.s == "" {
		return string(d.b[from:to])
	}
	return d.s[from:to]
}

// strText reads a JSON string at d.pos (which holds '"') as a string: cut from
// d.s when it is the input as is, else copied from its decoding.
func (d *jsonDecoder) strText() (string, error) {
	start := d.pos + 1
	if d.scratch == nil {
		// Decoded text is at most a little longer than the rest of the input.
		d.scratch = make([]byte, 0, len(d.b)-d.pos)
	}
	v, raw, err := d.str(d.scratch[:0])
	if !raw {
		d.scratch = v[:0] // keep what append grew
	}
	switch {
	case err != nil:
		return "", err
	case raw:
		return d.cut(start, start+len(v)), nil
	}
	return string(v), nil
}

// str reads a JSON string at d.pos (which holds '"'). Without escapes or invalid
// UTF-8 it returns a sub-slice of the input and raw true; otherwise it decodes
// into buf. The result is valid only until the next call; callers copy it
// (strText).
func (d *jsonDecoder) str(buf []byte) (v []byte, raw bool, err error) {
	d.pos++ // opening quote
	start := d.pos
	b := d.b
	i := start
	// Fast path: plain ASCII with no escapes.
	for i < len(b) {
		ch := b[i]
		if ch == '"' {
			d.pos = i + 1
			return b[start:i], true, nil
		}
		if ch == '\\' || ch < 0x20 || ch >= utf8.RuneSelf {
			break
		}
		i++
	}
	buf = append(buf, b[start:i]...)
	for i < len(b) {
		ch := b[i]
		switch {
		case ch == '"':
			d.pos = i + 1
			return buf, false, nil
		case ch < 0x20:
			d.pos = i
			return nil, false, d.err("control character in string")
		case ch == '\\':
			if i+1 >= len(b) {
				d.pos = i
				return nil, false, d.err("unterminated escape")
			}
			esc := b[i+1]
			i += 2
			switch esc {
			case '"', '\\', '/':
				buf = append(buf, esc)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := hex4(b, i)
				if !ok {
					d.pos = i
					return nil, false, d.err("bad \\u escape")
				}
				i += 4
				if utf16.IsSurrogate(r) {
					r2, ok2 := rune(-1), false
					if i+6 <= len(b) && b[i] == '\\' && b[i+1] == 'u' {
						r2, ok2 = hex4(b, i+2)
					}
					if dec := utf16.DecodeRune(r, r2); ok2 && dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				buf = utf8.AppendRune(buf, r)
			default:
				d.pos = i - 1
				return nil, false, d.err("bad escape")
			}
		case ch < utf8.RuneSelf:
			buf = append(buf, ch)
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				buf = append(buf, "\uFFFD"...)
			} else {
				buf = append(buf, b[i:i+size]...)
			}
			i += size
		}
	}
	d.pos = i
	return nil, false, d.err("unterminated string")
}

// parseInt parses the text of a JSON integer; ok is false beyond ±(2^63-1).
func parseInt(num []byte) (v int64, ok bool) {
	neg := len(num) > 0 && num[0] == '-'
	if neg {
		num = num[1:]
	}
	if len(num) == 0 || len(num) > 19 {
		return 0, false
	}
	var u uint64
	for _, ch := range num {
		u = u*10 + uint64(ch-'0')
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	if neg {
		return -int64(u), true
	}
	return int64(u), true
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, ch := range b[i : i+4] {
		r <<= 4
		switch {
		case ch >= '0' && ch <= '9':
			r |= rune(ch - '0')
		case ch >= 'a' && ch <= 'f':
			r |= rune(ch - 'a' + 10)
		case ch >= 'A' && ch <= 'F':
			r |= rune(ch - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// skip consumes any JSON value, checking its syntax.
func (d *jsonDecoder) skip(depth int) error {
	if depth > maxJSONDepth {
		return d.err("value nested too deeply")
	}
	switch ch := d.peek(); {
	case ch == '"':
		_, _, err := d.str(nil)
		return err
	case ch == '{':
		return d.object(func(string) error { return d.skip(depth + 1) })
	case ch == '[':
		d.pos++
		if d.peek() == ']' {
			d.pos++
			return nil
		}
		for {
			if err := d.skip(depth + 1); err != nil {
				return err
			}
			switch d.peek() {
			case ',':
				d.pos++
			case ']':
				d.pos++
				return nil
			default:
				return d.err("expected ',' or ']'")
			}
		}
	case ch == '-' || (ch >= '0' && ch <= '9'):
		_, _, err := d.number()
		return err
	case d.literal("true"), d.literal("false"), d.literal("null"):
		return nil
	default:
		return d.err("unexpected character")
	}
}
