package bench

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Line formats p as one progress line, for example
//
//	[  12s] tps 21463 | p50 2.49 ms | p99 9.38 ms | p99.9 14.10 ms | failed 0
//
// Warm-up intervals are marked "warm-up" instead of a time. withLatency false
// leaves the percentiles out (the consumer scenario has none).
func (p Progress) Line(withLatency bool) string {
	var b strings.Builder
	if p.Warmup {
		b.WriteString("[warm-up]")
	} else {
		fmt.Fprintf(&b, "[%5.0fs]", p.Seconds)
	}
	fmt.Fprintf(&b, " tps %.0f", p.TPS)
	if withLatency {
		fmt.Fprintf(&b, " | p50 %.2f ms | p99 %.2f ms | p99.9 %.2f ms", p.P50, p.P99, p.P999)
	}
	fmt.Fprintf(&b, " | failed %d", p.Failed)
	return b.String()
}

// Text formats s as a few lines for people.
func (s Summary) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "scenario %s", s.Scenario)
	if s.Mode != "" {
		fmt.Fprintf(&b, " (%s)", s.Mode)
	}
	fmt.Fprintf(&b, ", topic %s, %d-byte bodies", s.Topic, s.Size)
	if s.Threads > 0 {
		fmt.Fprintf(&b, ", %d threads", s.Threads)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "messages %d, failed %d, in %.2f s: %.0f msgs/s, %.2f MiB/s\n",
		s.Messages, s.Failed, s.Seconds, s.TPS, s.MBps)
	if s.Latency != (Latency{}) {
		l := s.Latency
		fmt.Fprintf(&b, "latency ms: mean %.2f, p50 %.2f, p90 %.2f, p99 %.2f, p99.9 %.2f, max %.2f\n",
			l.Mean, l.P50, l.P90, l.P99, l.P999, l.Max)
	}
	for _, k := range slices.Sorted(maps.Keys(s.Errors)) {
		fmt.Fprintf(&b, "error (%d): %s\n", s.Errors[k], k)
	}
	return b.String()
}
