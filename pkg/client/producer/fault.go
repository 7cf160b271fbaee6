package producer

import (
	"sync"
	"time"

	"github.com/petrelmq/petrel/pkg/message"
)

// LatencyStep maps a send latency to how long the broker is then avoided: a
// send that took at least Latency makes the broker unavailable for Avoid.
type LatencyStep struct {
	Latency time.Duration
	Avoid   time.Duration
}

// DefaultLatencySteps returns the default table: under 550ms a broker is not
// avoided; from 550ms, 1s, 2s, 3s and 15s it is avoided for 30s, 1m, 2m, 3m and
// 10m. (These are RocketMQ's latencyMax / notAvailableDuration values.)
func DefaultLatencySteps() []LatencyStep {
	return []LatencyStep{
		{50 * time.Millisecond, 0},
		{100 * time.Millisecond, 0},
		{550 * time.Millisecond, 30 * time.Second},
		{time.Second, time.Minute},
		{2 * time.Second, 2 * time.Minute},
		{3 * time.Second, 3 * time.Minute},
		{15 * time.Second, 10 * time.Minute},
	}
}

// faultTable is latency fault tolerance: it remembers, per broker name, until
// when the broker should be avoided, and the master address the verdict is
// about. A broker name whose master has since moved to another address (a
// failover) is not avoided: the verdict was about another machine. It is a
// pure state machine; time comes in as arguments. Safe for concurrent use.
type faultTable struct {
	steps   []LatencyStep
	failure time.Duration

	mu    sync.Mutex
	items map[string]faultItem
}

type faultItem struct {
	addr    string // the master address the send went to
	latency time.Duration
	until   time.Time
}

func newFaultTable(steps []LatencyStep, failure time.Duration) *faultTable {
	return &faultTable{steps: steps, failure: failure, items: map[string]faultItem{}}
}

// avoidFor returns how long a broker is avoided after a send of this latency.
func (t *faultTable) avoidFor(latency time.Duration) time.Duration {
	for i := len(t.steps) - 1; i >= 0; i-- {
		if latency >= t.steps[i].Latency {
			return t.steps[i].Avoid
		}
	}
	return 0
}

// update records a send to broker's master at addr that took latency and
// failed or not.
func (t *faultTable) update(broker, addr string, latency time.Duration, failed bool, now time.Time) {
	avoid := t.avoidFor(latency)
	if failed {
		avoid = max(avoid, t.failure)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if avoid == 0 {
		delete(t.items, broker)
		return
	}
	t.items[broker] = faultItem{addr: addr, latency: latency, until: now.Add(avoid)}
}

// avoidedLocked reports whether broker, whose master is now at addr, is to
// be avoided at now. Caller holds t.mu.
func (t *faultTable) avoidedLocked(broker, addr string, now time.Time) bool {
	it, ok := t.items[broker]
	return ok && now.Before(it.until) && it.addr == addr
}

// available reports whether broker, whose master is at addr, may be used at
// now.
func (t *faultTable) available(broker, addr string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.avoidedLocked(broker, addr, now)
}

// filter returns the queues on available brokers; masterAddr gives the
// current master address of a broker name. When no broker is available it
// returns the queues of the broker that becomes available first (then
// lowest latency), so a send is still tried.
func (t *faultTable) filter(queues []message.MessageQueue, now time.Time, masterAddr func(broker string) string) []message.MessageQueue {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.items) == 0 {
		return queues
	}
	var out []message.MessageQueue
	addrs := map[string]string{}
	for _, q := range queues {
		addr, ok := addrs[q.BrokerName]
		if !ok {
			addr = masterAddr(q.BrokerName)
			addrs[q.BrokerName] = addr
		}
		if !t.avoidedLocked(q.BrokerName, addr, now) {
			out = append(out, q)
		}
	}
	if len(out) > 0 {
		return out
	}
	best := ""
	var bi faultItem
	for _, q := range queues {
		it := t.items[q.BrokerName]
		if best == "" || it.until.Before(bi.until) || (it.until.Equal(bi.until) && it.latency < bi.latency) {
			best, bi = q.BrokerName, it
		}
	}
	for _, q := range queues {
		if q.BrokerName == best {
			out = append(out, q)
		}
	}
	return out
}
