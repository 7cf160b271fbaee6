package filter

import (
	"math"
	"strconv"
	"strings"
)

// kind is the runtime type of a value. The set mirrors the Java objects that
// RocketMQ 4.9's evaluator sees: null, Boolean, Integer (literals that fit in
// 32 bits), Long, Double and String (every property value).
type kind uint8

const (
	kNull kind = iota
	kBool
	kInt    // java.lang.Integer; i holds the value
	kLong   // java.lang.Long; i holds the value
	kDouble // java.lang.Double; f holds the value
	kString // java.lang.String; s holds the value
)

// value is one evaluated operand. It is passed by value so evaluation does not
// allocate; s may alias a caller's property bytes and must not be retained.
type value struct {
	k kind
	b bool
	i int64
	f float64
	s string
}

var (
	vNull  = value{k: kNull}
	vTrue  = value{k: kBool, b: true}
	vFalse = value{k: kBool}
)

func boolValue(b bool) value {
	if b {
		return vTrue
	}
	return vFalse
}

func (v value) isNumber() bool { return v.k == kInt || v.k == kLong || v.k == kDouble }

// asDouble widens a number the way Java's Number.doubleValue does.
func (v value) asDouble() float64 {
	if v.k == kDouble {
		return v.f
	}
	return float64(v.i)
}

// cmpInt returns -1, 0 or 1.
func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cmpDouble orders like Java's Double.compare: -0.0 < 0.0, and NaN equals NaN
// and is greater than every other value, +Inf included.
func cmpDouble(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	bits := func(f float64) int64 {
		if f != f {
			return 0x7ff8000000000000
		}
		return int64(math.Float64bits(f))
	}
	return cmpInt(bits(a), bits(b))
}

// compare is ComparisonExpression.__compare with string conversion on, as the
// 4.9 parser always builds it. Operands of different types are converted: a
// narrower number widens (Integer → Long → Double), and a string is parsed as
// the other side's type (Integer.valueOf, Long.valueOf, Double.valueOf or
// Boolean.valueOf). A string that does not parse, or a Boolean on the left of a
// string, is an evaluation error (ok false), which Java reports as an exception
// that fails the whole expression. Other mixed pairs compare as -1.
// Neither operand may be null.
func compare(l, r value) (c int, ok bool) {
	if l.k == kString && r.k != kString {
		if r.k == kBool {
			return cmpBool(javaBool(l.s), r.b), true
		}
		if l, ok = parseAs(l.s, r.k); !ok {
			return 0, false
		}
	}
	if r.k == kString && l.k != kString {
		if l.k == kBool {
			return 0, false // Java: ClassCastException casting the Boolean to String
		}
		if r, ok = parseAs(r.s, l.k); !ok {
			return 0, false
		}
	}
	switch {
	case l.k == r.k:
		switch l.k {
		case kBool:
			return cmpBool(l.b, r.b), true
		case kInt, kLong:
			return cmpInt(l.i, r.i), true
		case kDouble:
			return cmpDouble(l.f, r.f), true
		case kString:
			return strings.Compare(l.s, r.s), true
		}
		return 0, true
	case l.isNumber() && r.isNumber():
		if l.k == kDouble || r.k == kDouble {
			return cmpDouble(l.asDouble(), r.asDouble()), true
		}
		return cmpInt(l.i, r.i), true // Integer and Long
	}
	return -1, true
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case b:
		return -1
	}
	return 1
}

// parseAs converts a property string to the numeric kind k like the Java
// valueOf methods do.
func parseAs(s string, k kind) (value, bool) {
	switch k {
	case kInt:
		n, ok := javaLong(s, 32)
		return value{k: kInt, i: n}, ok
	case kLong:
		n, ok := javaLong(s, 64)
		return value{k: kLong, i: n}, ok
	case kDouble:
		f, ok := javaDouble(s)
		return value{k: kDouble, f: f}, ok
	}
	return value{}, false
}

// javaBool is Boolean.valueOf(String): true only for "true" in any case.
func javaBool(s string) bool { return len(s) == 4 && strings.EqualFold(s, "true") }

// javaLong is Integer.valueOf (bits 32) or Long.valueOf (bits 64): an optional
// sign and at least one ASCII digit, nothing else (no spaces, no underscores),
// within range. It does not allocate. Java also accepts non-ASCII Unicode
// digits; this does not.
func javaLong(s string, bits uint) (int64, bool) {
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" {
		return 0, false
	}
	limit := uint64(1) << (bits - 1) // magnitude of the minimum value
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) {
			return 0, false
		}
		if n > (limit)/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
		if n > limit {
			return 0, false
		}
	}
	if neg {
		return -int64(n), true // n == limit gives the minimum value
	}
	if n == limit {
		return 0, false
	}
	return int64(n), true
}

// javaDouble is Double.valueOf(String): it trims characters <= ' ', accepts an
// optional sign, "NaN", "Infinity", decimal and hexadecimal ("0x1.8p1")
// forms, and one optional trailing f, F, d or D. Overflow gives ±Inf. It does
// not allocate for valid input.
func javaDouble(s string) (float64, bool) {
	for s != "" && s[0] <= ' ' {
		s = s[1:]
	}
	for s != "" && s[len(s)-1] <= ' ' {
		s = s[:len(s)-1]
	}
	body := s
	neg := false
	if body != "" && (body[0] == '+' || body[0] == '-') {
		neg = body[0] == '-'
		body = body[1:]
	}
	switch body {
	case "NaN":
		return math.NaN(), true
	case "Infinity":
		if neg {
			return math.Inf(-1), true
		}
		return math.Inf(1), true
	}
	if n := len(body); n > 0 {
		switch body[n-1] {
		case 'f', 'F', 'd', 'D':
			body = body[:n-1]
			s = s[:len(s)-1]
		}
	}
	if !validJavaFloat(body) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// validJavaFloat reports whether s (without sign and suffix) is a decimal or
// hexadecimal floating-point number in Java's syntax, which strconv.ParseFloat
// then accepts too. It rules out what Go accepts and Java does not: "inf",
// underscores, and a hexadecimal mantissa without a "p" exponent.
func validJavaFloat(s string) bool {
	hex := len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')
	isMant := isDigit
	if hex {
		s = s[2:]
		isMant = func(c byte) bool {
			return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
		}
	}
	i, nd := 0, 0
	for i < len(s) && isMant(s[i]) {
		i, nd = i+1, nd+1
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isMant(s[i]) {
			i, nd = i+1, nd+1
		}
	}
	if nd == 0 {
		return false
	}
	if i == len(s) {
		return !hex // a hexadecimal float needs its binary exponent
	}
	if e := s[i]; !(hex && (e == 'p' || e == 'P')) && !(!hex && (e == 'e' || e == 'E')) {
		return false
	}
	i++
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	if i == len(s) {
		return false
	}
	for ; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
