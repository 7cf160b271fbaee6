package filter

import (
	"errors"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// result is the three-valued outcome of an evaluation, plus evaluation errors.
type result int

const (
	rFalse result = iota
	rTrue
	rNull
	rError // Java throws; the broker does not deliver
)

func evalResult(t *testing.T, e *Expr, props Properties) result {
	t.Helper()
	v, ok := e.root.eval(&lookup{props: props})
	switch {
	case !ok:
		return rError
	case v.k == kNull:
		return rNull
	case v.k != kBool:
		t.Fatalf("%s evaluated to a non-boolean %+v", e, v)
	case v.b:
		return rTrue
	}
	return rFalse
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		expr   string
		offset int
		reason string
	}{
		{"", 0, "expected an operand, found end of expression"},
		{"a =", 3, "expected an operand"},
		{"a = 'x", 4, "unterminated string"},
		{"a = 1 /* x", 6, "unterminated comment"},
		{"a # 1", 2, `unexpected character '#'`},
		{"a != 1", 2, `unexpected character '!'`},
		{"a.b = 1", 1, `unexpected character '.'`}, // no dots in 4.9 identifiers
		{"a = 1 b", 6, `unexpected identifier "b" after the end`},
		{"a = 1)", 5, `unexpected ")" after the end`},
		{"(a = 1", 6, `expected ")"`},
		{"a and between 2 and 10", 6, "expected an operand"},
		{"a IS 1", 5, "expected NULL"},
		{"a IS NOT 1", 9, "expected NULL"},
		{"a IN ()", 6, "IN takes string literals"},
		{"a IN (1, 2)", 6, "IN takes string literals"},
		{"a IN 'x'", 5, `expected "(" after IN`},
		{"a IN ('x' 'y')", 10, `expected "," or ")"`},
		{"'a' IN ('x')", 4, "IN needs a property"},
		{"(a = 1) IN ('x')", 8, "IN needs a property"},
		{"-a IN ('x')", 3, "IN needs a property"},
		{"a = NULL", 2, "NULL cannot be compared"},
		{"NULL <> a", 5, "NULL cannot be compared"},
		{"TRUE = 1", 5, "TRUE cannot be compared with 1"},
		{"FALSE = 'x'", 6, "cannot be compared"},
		{"a > 'x'", 2, "'x' cannot be compared with >"},
		{"a < TRUE", 2, "TRUE cannot be compared"},
		{"a >= NULL", 2, "NULL cannot be compared"},
		{"a > b > c", 6, "a > b cannot be compared"},
		{"NOT a > 1", 6, "NOT a cannot be compared"},
		{"a BETWEEN 'a' AND 'b'", 2, "cannot be compared"},
		{"a BETWEEN 10 AND 1", 2, "low bound 10 is greater than high bound 1"},
		{"a BETWEEN 2 AND 1.5", 2, "greater than high bound"},
		{"a BETWEEN NULL AND 1", 2, "cannot be NULL"},
		{"a BETWEEN 1 2", 12, "expected AND"},
		{"5", 0, "5 does not give a boolean value"},
		{"'x'", 0, "does not give a boolean value"},
		{"-a", 0, "does not give a boolean value"},
		{"a = 1 AND 5", 6, "5 does not give a boolean value"},
		{"NOT 'x'", 0, "does not give a boolean value"},
		{"a > 9223372036854775808", 4, "out of the long range"},
		{"a > 100000000000000000000000", 4, "out of the long range"},
		{"a > 0.0", 4, "below the smallest positive double"},
		{"a > .0e5", 4, "below the smallest positive double"},
		{"a > 1e-400", 4, "below the smallest positive double"},
		{"a > 1e400", 4, "greater than the largest double"},
		{"a > 0L", 5, `identifier "L"`},     // "0" takes no suffix
		{"a > 007", 5, `integer "0" after`}, // "0", "0", "7"
		{"a = 1 --x", 6, `unexpected "-"`},  // no line break: not a comment
		{"a\n  = 'x' b", 10, `identifier "b"`},
	} {
		_, err := Compile(tc.expr)
		var se *SyntaxError
		require.ErrorAs(t, err, &se, "%q", tc.expr)
		require.Contains(t, se.Reason, tc.reason, "%q", tc.expr)
		require.Equal(t, tc.offset, se.Offset, "%q: %v", tc.expr, err)
	}

	// Line and column are 1-based, the column in characters.
	_, err := Compile("a = 'é'\nAND ä")
	var se *SyntaxError
	require.ErrorAs(t, err, &se)
	require.Equal(t, 2, se.Line)
	require.Equal(t, 5, se.Column)
	require.Equal(t, "filter: invalid SQL92 expression at line 2, column 5: unexpected character 'ä'", err.Error())
}

func TestCompileLimits(t *testing.T) {
	t.Parallel()
	_, err := Compile(strings.Repeat(" ", MaxLength) + "a")
	require.ErrorIs(t, err, ErrTooLong)

	for name, expr := range map[string]string{
		"parens": strings.Repeat("(", MaxDepth+1) + "a" + strings.Repeat(")", MaxDepth+1),
		"NOT":    strings.Repeat("NOT ", MaxDepth+1) + "a",
		"minus":  strings.Repeat("- ", MaxDepth+1) + "1 = a",
		"plus":   strings.Repeat("+", MaxDepth+1) + "1 = a",
		"chain":  "a" + strings.Repeat(" = a", MaxDepth),
		"huge":   strings.Repeat("(", MaxLength/2-1) + strings.Repeat(")", MaxLength/2-1),
	} {
		_, err := Compile(expr)
		require.ErrorIs(t, err, ErrTooDeep, name)
	}
	// Just inside the limits.
	_, err = Compile(strings.Repeat("(", MaxDepth) + "a" + strings.Repeat(")", MaxDepth))
	require.NoError(t, err)
	_, err = Compile(strings.Repeat("NOT ", MaxDepth-2) + "a") // NOTs + cast + property
	require.NoError(t, err)

	// Long flat AND/OR chains are not deep.
	long := "a = 'x'" + strings.Repeat(" AND a = 'x' OR b IS NULL", (MaxLength-100)/26)
	e, err := Compile(long)
	require.NoError(t, err)
	require.LessOrEqual(t, e.root.h, int32(4))
	require.True(t, e.Match(MapProperties{"a": "x"}))
}

func TestString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, out string }{
		{"a=3 and b<>4 And c>5 AND d<=4", "(a = 3) AND (b <> 4) AND (c > 5) AND (d <= 4)"},
		{"a or (b or c) or d", "a OR b OR c OR d"},
		{"(a and b) or c and d", "(a AND b) OR (c AND d)"},
		{"a in ('3', '4''s')", "a IN ('3', '4''s')"},
		{"a not in ('x')", "a NOT IN ('x')"},
		{"a not between -2 and 10L", "a NOT BETWEEN -2 AND 10"},
		{"a is not null /* c */ -- comment\n", "a IS NOT NULL"},
		{"NOT a = 'x'", "NOT a = 'x'"},
		{"not not TRUE", "NOT NOT TRUE"},
		{"- -5 = a", "- -5 = a"},
		{"-(-5) = +a", "- -5 = a"},
		{"a > 5.", "a > 5.0"},
		{"a > 3.1E10", "a > 3.1e+10"},
		{"a > .5e-3", "a > 0.0005"},
		{"a > 2147483648", "a > 2147483648"},
		{"TAGS='''''tag'''''", "TAGS = '''''tag'''''"},
		{"a = b = c", "(a = b) = c"},
		{"now <= 1", "now <= 1"},
		{"$x_1 IS NULL = TRUE", "($x_1 IS NULL) = TRUE"},
	} {
		e, err := Compile(tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.out, e.String(), tc.in)
		again, err := Compile(e.String())
		require.NoError(t, err)
		require.Equal(t, e.String(), again.String())
	}
}

func TestEval(t *testing.T) {
	t.Parallel()
	none := MapProperties{}
	for _, tc := range []struct {
		expr  string
		props MapProperties
		want  result
	}{
		// From RocketMQ 4.9's ExpressionTest.
		{"a=3 and b<>4 And c>5 AND d<=4", MapProperties{"a": "3", "b": "5", "c": "6", "d": "1"}, rTrue},
		{"a=3 and b<>4 And c>5 AND d<=4", MapProperties{"a": "4", "b": "5", "c": "6", "d": "1"}, rFalse},
		{"a=3 or b<>4 Or c>5 OR d<=4", MapProperties{"a": "4", "b": "4", "c": "3", "d": "10"}, rFalse},
		{"a=3 or b<>4 Or c>5 OR d<=4", MapProperties{"a": "4", "b": "4", "c": "3", "d": "2"}, rTrue},
		{"a in ('3', '4', '5')", MapProperties{"a": "4"}, rTrue},
		{"a in ('3', '4', '5')", MapProperties{"a": "8"}, rFalse},
		{"a not in ('3', '4', '5')", MapProperties{"a": "8"}, rTrue},
		{"a between 2 and 10", MapProperties{"a": "2"}, rTrue},
		{"a between 2 and 10", MapProperties{"a": "10"}, rTrue},
		{"a between 2 and 10", MapProperties{"a": "11"}, rFalse},
		{"a not between 2 and 10", MapProperties{"a": "1"}, rTrue},
		{"a not between 2 and 10", MapProperties{"a": "3"}, rFalse},
		{"a is null", MapProperties{"abc": "2"}, rTrue},
		{"a is not null", MapProperties{"abc": "2"}, rFalse},
		{"a is not null and a='hello'", none, rFalse},
		{"a is null OR a='hello'", none, rTrue},
		{"a is null OR a='hello'", MapProperties{"a": "abc"}, rFalse},
		{"a=TRUE OR b=FALSE", MapProperties{"a": "true", "b": "false"}, rTrue},
		{"a=TRUE OR b=FALSE", MapProperties{"a": "false", "b": "true"}, rFalse},
		{"TAGS is not null and TAGS='''''tag'''''", MapProperties{"TAGS": "''tag''"}, rTrue},
		{"a > 3.1E10", MapProperties{"a": "3.1415E10"}, rTrue},
		{"a > 3.14", MapProperties{"a": "3.1415"}, rTrue},
		{"a > b", MapProperties{"a": "10", "b": "20"}, rFalse},
		{"a > b", MapProperties{"a": "20", "b": "10"}, rTrue},
		{"a=b", MapProperties{"a": "3.14", "b": "3.14"}, rTrue},
		{"a<>b", MapProperties{"a": "3.14", "b": "3.141"}, rTrue},
		{"a between 0 and 100", MapProperties{"a": "abc"}, rError},
		{"key is not null and key between 0 and 100", MapProperties{"key": "con"}, rError},
		{"a between up and low", MapProperties{"a": "3.14", "up": "up", "low": "low"}, rError},

		// Missing properties: comparisons are unknown, never TRUE.
		{"a > 5", none, rNull},
		{"a <= 5", none, rNull},
		{"a = 'x'", none, rNull},
		{"a <> 'x'", none, rNull},
		{"a IN ('x')", none, rNull},
		{"a NOT IN ('x')", none, rNull},
		{"a BETWEEN 1 AND 2", none, rNull},
		{"a NOT BETWEEN 1 AND 2", none, rNull},
		{"NOT (a > 5)", none, rNull},
		{"a IS NULL", none, rTrue},
		{"a IS NOT NULL", none, rFalse},
		{"a = b", none, rTrue}, // NULL = NULL
		{"a <> b", none, rFalse},
		{"'x' = a", none, rFalse}, // value = NULL is FALSE ...
		{"'x' <> a", none, rTrue}, // ... so its negation is TRUE
		{"5 = a", none, rFalse},
		{"a = b", MapProperties{"a": "x"}, rFalse},
		{"a = b", MapProperties{"b": "x"}, rNull},
		{"NULL IS NULL", none, rTrue},
		{"NULL", none, rNull},
		{"NOT NULL", none, rNull},

		// Three-valued AND / OR.
		{"a > 5 AND b = 'x'", MapProperties{"b": "y"}, rFalse},
		{"a > 5 AND b = 'x'", MapProperties{"b": "x"}, rNull},
		{"a > 5 OR b = 'x'", MapProperties{"b": "x"}, rTrue},
		{"a > 5 OR b = 'x'", MapProperties{"b": "y"}, rNull},
		{"a > 5 OR TRUE", none, rTrue},
		{"a > 5 AND FALSE", none, rFalse},
		{"TRUE", none, rTrue},
		{"FALSE OR NULL", none, rNull},

		// Type conversion of property strings.
		{"a > 5", MapProperties{"a": "6"}, rTrue},
		{"a > 5", MapProperties{"a": "+6"}, rTrue},
		{"a > -5", MapProperties{"a": "-4"}, rTrue},
		{"a > 5", MapProperties{"a": "5.5"}, rError},    // Integer.valueOf("5.5") fails
		{"a > 5", MapProperties{"a": " 6"}, rError},     // Integer.valueOf does not trim
		{"a > 5", MapProperties{"a": "abc"}, rError},    // not a number: the whole expression fails
		{"a > 5.0e0", MapProperties{"a": " 6 "}, rTrue}, // Double.valueOf trims
		{"a > 5.5", MapProperties{"a": "6"}, rTrue},
		{"a > 5.5", MapProperties{"a": "6d"}, rTrue},
		{"a > 5.5", MapProperties{"a": "0x1.8p3"}, rTrue}, // 12.0
		{"a > 5.5", MapProperties{"a": "NaN"}, rTrue},     // Double.compare puts NaN last
		{"a < 5.5", MapProperties{"a": "-Infinity"}, rTrue},
		{"a > 5.5", MapProperties{"a": "inf"}, rError},
		{"a > 5.5", MapProperties{"a": "1_0"}, rError},
		{"a > 5", MapProperties{"a": "2147483648"}, rError}, // does not fit an int
		{"a > 2147483648", MapProperties{"a": "2147483649"}, rTrue},
		{"a > 2147483648", MapProperties{"a": "9223372036854775808"}, rError},
		{"a = 5", MapProperties{"a": "5"}, rTrue},
		{"a = 5", MapProperties{"a": "05"}, rTrue},
		{"a = 5", MapProperties{"a": "x"}, rError},
		{"a = 5.0", MapProperties{"a": "5"}, rTrue},
		{"a = 0.5", MapProperties{"a": "-0.5"}, rFalse},
		{"a = -5", MapProperties{"a": "-5"}, rTrue},
		{"a = '5'", MapProperties{"a": "5.0"}, rFalse}, // string equality
		{"a = TRUE", MapProperties{"a": "TrUe"}, rTrue},
		{"a = FALSE", MapProperties{"a": "anything"}, rTrue}, // Boolean.valueOf is false
		{"TRUE = a", MapProperties{"a": "true"}, rError},     // Java's ClassCastException
		{"TRUE = a", none, rFalse},
		{"5 = TRUE", none, rFalse},
		{"1 = 1.0", none, rTrue},
		{"2147483648 > 1", none, rTrue},
		{"a > b", MapProperties{"a": "1e3", "b": "999"}, rTrue},
		{"a > b", MapProperties{"a": "1", "b": "x"}, rError},
		{"a > b", MapProperties{"a": "1"}, rNull},
		{"a > b", MapProperties{"b": "x"}, rNull}, // left null: right never converted

		// Evaluation errors abort unless AND/OR already short-circuited.
		{"b = 'x' OR a > 5", MapProperties{"a": "x", "b": "x"}, rTrue},
		{"a > 5 OR b = 'x'", MapProperties{"a": "x", "b": "x"}, rError},
		{"b = 'x' AND a > 5", MapProperties{"a": "x", "b": "y"}, rFalse},
		{"NOT (a > 5)", MapProperties{"a": "x"}, rError},
		{"a BETWEEN 1 AND 3", MapProperties{"a": "0"}, rFalse},
		{"a NOT BETWEEN 1 AND 3", MapProperties{"a": "0"}, rTrue},
		{"a BETWEEN -5 AND -10", MapProperties{"a": "-7"}, rFalse}, // negated bounds skip the range check

		// Negation and boolean casts.
		{"-a = 5", MapProperties{"a": "-5"}, rNull}, // negating a string gives null
		{"-'x' > 1", none, rNull},
		{"a", MapProperties{"a": "true"}, rFalse}, // a string is never a Boolean
		{"a", none, rNull},
		{"NOT a", MapProperties{"a": "x"}, rTrue},
		{"NOT a = 'x'", MapProperties{"a": "x"}, rError}, // (NOT a) = 'x': Boolean vs String
		{"NOT a = TRUE", MapProperties{"a": "x"}, rTrue},
		{"(a > 1) = TRUE", MapProperties{"a": "2"}, rTrue},
		{"(a > 1) = 5", MapProperties{"a": "2"}, rFalse},
		{"(a > 1) IS NULL", none, rTrue},

		// Strings and IN.
		{"a = 'héllo'", MapProperties{"a": "héllo"}, rTrue},
		{"a = ''", MapProperties{"a": ""}, rTrue},
		{"a IN ('1','2','3','4','5','6','7','8','9')", MapProperties{"a": "9"}, rTrue},
		{"a NOT IN ('1','2','3','4','5','6','7','8','9')", MapProperties{"a": "9"}, rFalse},
		{"a NOT IN ('1','2','3','4','5','6','7','8','9')", MapProperties{"a": "x"}, rTrue},
		{"A = 'x'", MapProperties{"a": "x"}, rNull}, // names are case-sensitive
		{"a = 'X'", MapProperties{"a": "x"}, rFalse},
	} {
		e, err := Compile(tc.expr)
		require.NoError(t, err, tc.expr)
		require.Equal(t, tc.want, evalResult(t, e, tc.props), "%s with %v", tc.expr, tc.props)
		require.Equal(t, tc.want == rTrue, e.Match(tc.props), tc.expr)
		if slices.Contains(slices.Collect(maps.Values(tc.props)), "") {
			continue // a raw property string cannot hold an empty value
		}
		raw := encode(tc.props)
		require.Equal(t, tc.want == rTrue, e.MatchRaw(raw), tc.expr)
		require.Equal(t, tc.want == rTrue, e.Match(RawProperties(raw)), tc.expr)
	}

	// The Java broker drops a pair with an empty value, so it reads as NULL.
	for expr, want := range map[string]bool{"a = ''": false, "a IS NULL": true} {
		e, err := Compile(expr)
		require.NoError(t, err)
		require.Equal(t, want, e.MatchRaw([]byte("a\x01\x02b\x01c")), expr)
	}
}

func TestMatchNilProperties(t *testing.T) {
	t.Parallel()
	e, err := Compile("a IS NULL")
	require.NoError(t, err)
	require.True(t, e.Match(nil))
	require.True(t, e.MatchRaw(nil))
}

// encode writes props in the Java form (no trailing separator).
func encode(props map[string]string) []byte {
	var b []byte
	for k, v := range props {
		if len(b) > 0 {
			b = append(b, 2)
		}
		b = append(b, k...)
		b = append(b, 1)
		b = append(b, v...)
	}
	return b
}

func TestRawProperties(t *testing.T) {
	t.Parallel()
	raw := RawProperties("TAGS\x01a\x02KEYS\x01k1 k2\x02x\x01\x02\x01v\x02y\x01p\x01q\x02TAGS\x01b\x02")
	for _, tc := range []struct {
		name, want string
		found      bool
	}{
		{"TAGS", "b", true}, // the last one wins
		{"KEYS", "k1 k2", true},
		{"x", "", false}, // empty value: Java skips the pair
		{"", "", false},  // empty name
		{"y", "p\x01q", true},
		{"TAG", "", false},
		{"z", "", false},
	} {
		v, ok := raw.Get(tc.name)
		require.Equal(t, tc.found, ok, tc.name)
		require.Equal(t, tc.want, v, tc.name)
	}
	v, ok := RawProperties("a\x01b").Get("a") // Java form, no final 0x02
	require.True(t, ok)
	require.Equal(t, "b", v)
	_, ok = RawProperties(nil).Get("a")
	require.False(t, ok)
}

func TestJavaNumbers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s      string
		bits   uint
		want   int64
		wantOK bool
	}{
		{"0", 32, 0, true},
		{"-0", 32, 0, true},
		{"+7", 32, 7, true},
		{"2147483647", 32, math.MaxInt32, true},
		{"-2147483648", 32, math.MinInt32, true},
		{"2147483648", 32, 0, false},
		{"-2147483649", 32, 0, false},
		{"9223372036854775807", 64, math.MaxInt64, true},
		{"-9223372036854775808", 64, math.MinInt64, true},
		{"9223372036854775808", 64, 0, false},
		{"99999999999999999999", 64, 0, false},
		{"", 64, 0, false},
		{"-", 64, 0, false},
		{"1_000", 64, 0, false},
		{"1.0", 64, 0, false},
		{" 1", 64, 0, false},
		{"0x10", 64, 0, false},
	} {
		n, ok := javaLong(tc.s, tc.bits)
		require.Equal(t, tc.wantOK, ok, tc.s)
		require.Equal(t, tc.want, n, tc.s)
	}
	for _, tc := range []struct {
		s      string
		want   float64
		wantOK bool
	}{
		{"1", 1, true},
		{"1.", 1, true},
		{".5", 0.5, true},
		{"-.5e1", -5, true},
		{"1e", 0, false},
		{"1e+", 0, false},
		{".", 0, false},
		{"", 0, false},
		{"  \t2.5f\n", 2.5, true},
		{"2.5F", 2.5, true},
		{"2.5dd", 0, false},
		{"0x10p0", 16, true},
		{"0X.8P1d", 1, true},
		{"0x10", 0, false},
		{"0x_1p0", 0, false},
		{"Infinity", math.Inf(1), true},
		{"-Infinity", math.Inf(-1), true},
		{"+Infinity", math.Inf(1), true},
		{"infinity", 0, false},
		{"Inf", 0, false},
		{"Infinityf", 0, false},
		{"1e999", math.Inf(1), true},
		{"1e-999", 0, true},
		{"1 2", 0, false},
	} {
		f, ok := javaDouble(tc.s)
		require.Equal(t, tc.wantOK, ok, tc.s)
		if ok {
			require.Equal(t, tc.want, f, tc.s)
		}
	}
	f, ok := javaDouble("NaN")
	require.True(t, ok)
	require.True(t, math.IsNaN(f))

	require.Equal(t, -1, cmpDouble(math.Copysign(0, -1), 0))
	require.Equal(t, 0, cmpDouble(math.NaN(), math.NaN()))
	require.Equal(t, 1, cmpDouble(math.NaN(), math.Inf(1)))
}

func TestConcurrentMatch(t *testing.T) {
	t.Parallel()
	e, err := Compile("a > 5 AND b IN ('x', 'y')")
	require.NoError(t, err)
	raw := []byte("a\x017\x02b\x01y")
	done := make(chan bool)
	for range 4 {
		go func() {
			ok := true
			for range 1000 {
				ok = ok && e.MatchRaw(raw)
			}
			done <- ok
		}()
	}
	for range 4 {
		require.True(t, <-done)
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	e, err := Compile("a > 5 AND b IN ('x', 'y') OR c BETWEEN 1.5 AND 2e3 OR d <> 'z' OR e IS NULL")
	require.NoError(t, err)
	raw := []byte("a\x017\x02b\x01y\x02c\x0117\x02d\x01w")
	require.Zero(t, testing.AllocsPerRun(100, func() { e.MatchRaw(raw) }))
	bad := []byte("a\x01abc\x02b\x01y")
	require.Zero(t, testing.AllocsPerRun(100, func() { e.MatchRaw(bad) }))
	m := MapProperties{"a": "7", "b": "y"}
	require.Zero(t, testing.AllocsPerRun(100, func() { e.Match(m) }))
}

func TestSyntaxErrorUnwrap(t *testing.T) {
	t.Parallel()
	_, err := Compile("a = ")
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrTooDeep))
	require.False(t, errors.Is(err, ErrTooLong))
}
