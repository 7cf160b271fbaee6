package filter

import (
	"strings"
	"testing"
)

// benchProps is a typical stored property string: what a Java producer sends
// plus what the broker adds.
var benchProps = []byte("KEYS\x01order-1234567\x02UNIQ_KEY\x017F0000010001B4AAC2E2577A7F300000\x02" +
	"CLUSTER\x01DefaultCluster\x02WAIT\x01true\x02TAGS\x01TagA\x02a\x0142\x02b\x01y")

func BenchmarkMatch(b *testing.B) {
	for _, bc := range []struct {
		name, expr string
		props      []byte
	}{
		{"raw/gt-and-in", "a > 5 AND b IN ('x','y')", benchProps},
		{"raw/tags-in-10", "TAGS IN ('T0','T1','T2','T3','T4','T5','T6','T7','T8','TagA')", benchProps},
		{"raw/between-double", "a BETWEEN 1.5 AND 99.5", benchProps},
		{"raw/missing-is-null", "z IS NULL OR z > 5", benchProps},
		{"raw/not-a-number", "KEYS > 5 OR b = 'y'", benchProps},
	} {
		e, err := Compile(bc.expr)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.props)))
			for b.Loop() {
				e.MatchRaw(bc.props)
			}
		})
	}

	e, err := Compile("a > 5 AND b IN ('x','y')")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("interface-raw/gt-and-in", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e.Match(RawProperties(benchProps))
		}
	})
	m := MapProperties{"KEYS": "order-1234567", "TAGS": "TagA", "a": "42", "b": "y"}
	b.Run("map/gt-and-in", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e.Match(m)
		}
	})
}

func BenchmarkCompile(b *testing.B) {
	for _, bc := range []struct{ name, expr string }{
		{"small", "a > 5 AND b IN ('x','y')"},
		{"64KiB-chain", "a = 'x'" + strings.Repeat(" AND a = 'x' OR b IS NULL", (MaxLength-100)/26)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.expr)))
			for b.Loop() {
				if _, err := Compile(bc.expr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
