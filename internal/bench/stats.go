package bench

import (
	"sync"
	"sync/atomic"
	"time"
)

// Progress is one interval's figures.
type Progress struct {
	Elapsed  time.Duration `json:"-"`
	Seconds  float64       `json:"seconds"`  // since the measured phase began (negative: warming up)
	Warmup   bool          `json:"warmup"`   // the interval was (partly) warm-up
	TPS      float64       `json:"tps"`      // messages per second in the interval
	P50      float64       `json:"p50_ms"`   // latency percentiles of the interval, ms
	P99      float64       `json:"p99_ms"`   //
	P999     float64       `json:"p999_ms"`  //
	Failed   int64         `json:"failed"`   // failures in the interval
	Messages int64         `json:"messages"` // measured messages so far
}

// Latency summarises a histogram in milliseconds.
type Latency struct {
	Mean float64 `json:"mean_ms"`
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p999_ms"`
	Max  float64 `json:"max_ms"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func latencyOf(h *Histogram) Latency {
	return Latency{Mean: ms(h.Mean()), P50: ms(h.Quantile(0.5)), P90: ms(h.Quantile(0.9)),
		P99: ms(h.Quantile(0.99)), P999: ms(h.Quantile(0.999)), Max: ms(h.Max())}
}

// Summary is the result of the measured phase.
type Summary struct {
	Scenario string  `json:"scenario"`
	Mode     string  `json:"mode,omitempty"`
	Topic    string  `json:"topic"`
	Threads  int     `json:"threads,omitempty"`
	Size     int     `json:"size"`
	Messages int64   `json:"messages"` // measured messages that succeeded
	Failed   int64   `json:"failed"`   // measured messages that failed
	Seconds  float64 `json:"seconds"`  // length of the measured phase
	TPS      float64 `json:"tps"`      // Messages / Seconds
	MBps     float64 `json:"mb_per_s"` // body bytes per second, MiB
	Latency  Latency `json:"latency"`
	// Errors counts failures by message (at most 10 distinct ones kept).
	Errors map[string]int64 `json:"errors,omitempty"`
}

// recorder collects results from many goroutines: ok and failed counts and
// latencies, for the current interval and the whole measured phase. Results
// recorded while warming up count only in the interval.
type recorder struct {
	measuring atomic.Bool
	start     atomic.Int64 // UnixNano when the measured phase began

	mu       sync.Mutex
	interval Histogram
	total    Histogram
	iok      int64
	ifail    int64
	ok       int64
	fail     int64
	errs     map[string]int64
}

func newRecorder() *recorder { return &recorder{errs: map[string]int64{}} }

// done records n messages that completed with err after latency d, in the
// measured phase too when measured.
func (r *recorder) done(n int, d time.Duration, err error, measured bool) {
	measuring := measured
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.ifail += int64(n)
		if measuring {
			r.fail += int64(n)
			msg := err.Error()
			if _, ok := r.errs[msg]; ok || len(r.errs) < 10 {
				r.errs[msg] += int64(n)
			}
		}
		return
	}
	r.iok += int64(n)
	r.interval.Record(d)
	if measuring {
		r.ok += int64(n)
		r.total.Record(d)
	}
}

// beginMeasuring starts the measured phase now.
func (r *recorder) beginMeasuring(now time.Time) {
	r.start.Store(now.UnixNano())
	r.measuring.Store(true)
}

// tick returns the interval's figures and starts the next interval.
func (r *recorder) tick(elapsed time.Duration, now time.Time) Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := Progress{
		TPS:  float64(r.iok) / elapsed.Seconds(),
		P50:  ms(r.interval.Quantile(0.5)),
		P99:  ms(r.interval.Quantile(0.99)),
		P999: ms(r.interval.Quantile(0.999)),

		Failed:   r.ifail,
		Messages: r.ok,
		Warmup:   !r.measuring.Load(),
	}
	if !p.Warmup {
		p.Elapsed = max(now.Sub(time.Unix(0, r.start.Load())), 0)
		p.Seconds = p.Elapsed.Seconds()
	}
	r.interval.Reset()
	r.iok, r.ifail = 0, 0
	return p
}

// summary returns the measured phase's figures, ending at end.
func (r *recorder) summary(end time.Time, size int) Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	secs := end.Sub(time.Unix(0, r.start.Load())).Seconds()
	s := Summary{Messages: r.ok, Failed: r.fail, Seconds: secs, Latency: latencyOf(&r.total), Size: size}
	if secs > 0 {
		s.TPS = float64(r.ok) / secs
		s.MBps = s.TPS * float64(size) / (1 << 20)
	}
	if len(r.errs) > 0 {
		s.Errors = make(map[string]int64, len(r.errs))
		for k, v := range r.errs {
			s.Errors[k] = v
		}
	}
	return s
}
