package filter

import (
	"errors"
	"testing"
)

// FuzzCompile checks that Compile never panics and stays within its limits,
// that errors are *SyntaxErrors pointing into the input, and that for an
// accepted expression String compiles again to the same text and evaluates
// the same (TRUE, FALSE, NULL or error) on the fuzzed property string.
func FuzzCompile(f *testing.F) {
	props := []byte("a\x017\x02b\x01x\x02c\x01abc\x02d\x013.5\x02TAGS\x01t1\x02e\x01true\x02f\x01-0.0\x02g\x01NaN")
	for _, s := range []string{
		"a > 5 AND b IN ('x','y')",
		"a=3 and b<>4 And c>5 AND d<=4",
		"a not between 2 and 10 or b not in ('x', 'y''z')",
		"TAGS is not null and TAGS='''''tag'''''",
		"NOT a = 'x' OR - -5 = +a OR (a > 1) = TRUE",
		"a > 3.1E10 OR d < .5e-3 OR d >= 5. OR a <= 2147483648L",
		"'x' <> c OR c IS NULL = FALSE OR NULL IS NULL",
		"a /* c */ = 1 -- x\n AND $b_1 = 'y'",
		"a BETWEEN -5 AND -10 OR a BETWEEN 1 AND 1.0",
		"f = 0.5 OR g > 1.5 OR e = TRUE OR TRUE = e",
		"((((a)))) AND NOT NOT b",
		"a IN ('1','2','3','4','5','6','7','8','9')",
		"a > 0.0", "a = NULL", "a > 'x'", "5", "a IS", "'x", "/*", "a = 1 b", "(",
	} {
		f.Add(s, props)
	}
	f.Fuzz(func(t *testing.T, expr string, props []byte) {
		e, err := Compile(expr)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Compile(%q): %T %v is not a *SyntaxError", expr, err, err)
			}
			if se.Offset < 0 || se.Offset > len(expr) || se.Line < 1 || se.Column < 1 {
				t.Fatalf("Compile(%q): bad position in %+v", expr, se)
			}
			return
		}
		if e.root.h > MaxDepth {
			t.Fatalf("Compile(%q): height %d", expr, e.root.h)
		}
		s := e.String()
		e2, err := Compile(s)
		if err != nil {
			t.Fatalf("Compile(%q).String() = %q does not compile: %v", expr, s, err)
		}
		if s2 := e2.String(); s2 != s {
			t.Fatalf("String not stable for %q:\n%s\n%s", expr, s, s2)
		}
		v1, ok1 := e.root.eval(&lookup{raw: props})
		v2, ok2 := e2.root.eval(&lookup{raw: props})
		if ok1 != ok2 || v1.k != v2.k || v1.b != v2.b {
			t.Fatalf("%q and %q evaluate differently on %q: %+v %v, %+v %v", expr, s, props, v1, ok1, v2, ok2)
		}
		if ok1 && v1.k != kNull && v1.k != kBool {
			t.Fatalf("%q evaluated to a non-boolean %+v", expr, v1)
		}
		if e.MatchRaw(props) != e.Match(RawProperties(props)) {
			t.Fatalf("MatchRaw and Match differ for %q on %q", expr, props)
		}
	})
}
