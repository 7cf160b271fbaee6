package remoting

import (
	"log/slog"
	"sync"
	"time"
)

// logEvery is how often each rate-limited message is logged at most.
const logEvery = 10 * time.Second

// rateLog logs each message at most once per logEvery. A line that is logged
// after others were suppressed says how many with a "suppressed" attribute, so
// an operator sees both the first peer concerned and how often it happened.
type rateLog struct {
	log *slog.Logger
	mu  sync.Mutex
	// by message: when it was last logged and how many were dropped since
	last       map[string]time.Time
	suppressed map[string]int
}

func newRateLog(log *slog.Logger) *rateLog {
	return &rateLog{log: log, last: map[string]time.Time{}, suppressed: map[string]int{}}
}

// warn logs msg at Warn with args unless it was logged less than logEvery ago.
func (r *rateLog) warn(msg string, args ...any) {
	now := time.Now()
	r.mu.Lock()
	if t, ok := r.last[msg]; ok && now.Sub(t) < logEvery {
		r.suppressed[msg]++
		r.mu.Unlock()
		return
	}
	n := r.suppressed[msg]
	r.suppressed[msg] = 0
	r.last[msg] = now
	r.mu.Unlock()
	r.log.Warn(msg, append(args, "suppressed", n)...)
}
