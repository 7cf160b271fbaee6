package consumer

import (
	"errors"
	"fmt"
	"time"

	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/clock"
)

// Defaults of the consumer options (RocketMQ's defaults unless noted).
const (
	DefaultRebalanceInterval = 20 * time.Second
	DefaultCommitInterval    = 5 * time.Second
	DefaultLockInterval      = 20 * time.Second
	DefaultPullBatchSize     = 32
	DefaultConsumeBatchSize  = 1
	DefaultConsumeGoroutines = 20
	DefaultMaxCachedMessages = 1000      // per queue
	DefaultMaxCachedBytes    = 100 << 20 // per queue, bytes
	DefaultMaxReconsumeTimes = 16
	DefaultSuspendTimeout    = 20 * time.Second // long-poll hold asked of the broker
	DefaultPullTimeout       = 30 * time.Second // bounds one long-polling pull
	DefaultOrderlySuspend    = time.Second
	DefaultPullRetryDelay    = 3 * time.Second
	DefaultFlowControlDelay  = 50 * time.Millisecond
	DefaultConsumeTimeout    = 15 * time.Minute // RocketMQ's consumeTimeout
	// maxExpiryScan bounds the period of the ConsumeTimeout scan, so a stuck
	// call is found at most this long after it expired.
	maxExpiryScan = time.Minute
	// lockLifetime is how long a broker lock is trusted after its last renewal
	// (RocketMQ: 30 s client side, 60 s broker side).
	lockLifetime = 30 * time.Second
)

// MessageModel says how a group shares messages.
type MessageModel int

// Message models.
const (
	// Clustering gives each message to one member of the group (default).
	Clustering MessageModel = iota
	// Broadcasting gives each message to every member of the group; offsets are
	// kept in a local file.
	Broadcasting
)

func (m MessageModel) String() string {
	if m == Broadcasting {
		return "BROADCASTING"
	}
	return "CLUSTERING"
}

// ConsumeFrom is where a group without a stored offset starts on a queue.
type ConsumeFrom int

// Consume-from policies.
const (
	// ConsumeFromLastOffset starts at the end of the queue (default). A broker
	// following RocketMQ's rule still answers offset 0 for a queue from which
	// nothing was deleted, so a new group then reads the whole queue.
	ConsumeFromLastOffset ConsumeFrom = iota
	// ConsumeFromFirstOffset starts at the first message still stored.
	ConsumeFromFirstOffset
	// ConsumeFromTimestamp starts at the message stored nearest to the
	// timestamp set with ConsumeTimestamp.
	ConsumeFromTimestamp
)

func (c ConsumeFrom) String() string {
	switch c {
	case ConsumeFromFirstOffset:
		return "CONSUME_FROM_FIRST_OFFSET"
	case ConsumeFromTimestamp:
		return "CONSUME_FROM_TIMESTAMP"
	}
	return "CONSUME_FROM_LAST_OFFSET"
}

type config struct {
	err error

	group             string
	model             MessageModel
	from              ConsumeFrom
	timestamp         time.Time
	strategy          AllocateStrategy
	rebalanceInterval time.Duration
	commitInterval    time.Duration
	lockInterval      time.Duration
	pullBatchSize     int
	consumeBatchSize  int
	goroutines        int
	maxCachedMessages int
	maxCachedBytes    int64
	maxReconsumeTimes int
	suspendTimeout    time.Duration
	pullTimeout       time.Duration
	orderlySuspend    time.Duration
	pullRetryDelay    time.Duration
	consumeTimeout    time.Duration
	offsetFile        string
	autoCommit        bool
	clk               clock.Clock
}

func defaultConfig() config {
	return config{
		model:             Clustering,
		from:              ConsumeFromLastOffset,
		strategy:          Averagely(),
		rebalanceInterval: DefaultRebalanceInterval,
		commitInterval:    DefaultCommitInterval,
		lockInterval:      DefaultLockInterval,
		pullBatchSize:     DefaultPullBatchSize,
		consumeBatchSize:  DefaultConsumeBatchSize,
		goroutines:        DefaultConsumeGoroutines,
		maxCachedMessages: DefaultMaxCachedMessages,
		maxCachedBytes:    DefaultMaxCachedBytes,
		maxReconsumeTimes: DefaultMaxReconsumeTimes,
		suspendTimeout:    DefaultSuspendTimeout,
		pullTimeout:       DefaultPullTimeout,
		orderlySuspend:    DefaultOrderlySuspend,
		pullRetryDelay:    DefaultPullRetryDelay,
		consumeTimeout:    DefaultConsumeTimeout,
		autoCommit:        true,
		clk:               clock.Real{},
	}
}

func (c *config) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("consumer: "+format, args...)
	}
}

func (c *config) validate() error {
	if c.err != nil {
		return c.err
	}
	if c.group == "" {
		return errors.New("consumer: Group is required")
	}
	if c.pullTimeout <= c.suspendTimeout {
		return fmt.Errorf("consumer: PullTimeout %s must exceed the long-poll hold %s", c.pullTimeout, c.suspendTimeout)
	}
	return nil
}

type option struct {
	client.ConsumerOptionBase
	f func(*config)
}

type consumerOption interface{ applyConsumer(*config) }

func (o option) applyConsumer(c *config) { o.f(c) }

func opt(f func(*config)) client.ConsumerOption { return option{f: f} }

func splitOptions(opts []client.ConsumerOption) (config, []client.Option, error) {
	cfg := defaultConfig()
	copts := make([]client.Option, 0, len(opts))
	for _, o := range opts {
		if o == nil {
			return cfg, nil, errors.New("consumer: nil option")
		}
		if co, ok := o.(consumerOption); ok {
			co.applyConsumer(&cfg)
			continue
		}
		copts = append(copts, o)
	}
	return cfg, copts, cfg.validate()
}

func positive(name string, d time.Duration, set func(*config)) client.ConsumerOption {
	return opt(func(c *config) {
		if d <= 0 {
			c.fail("%s: %s must be positive", name, d)
			return
		}
		set(c)
	})
}

func count(name string, n int, set func(*config)) client.ConsumerOption {
	return opt(func(c *config) {
		if n <= 0 {
			c.fail("%s: %d must be positive", name, n)
			return
		}
		set(c)
	})
}

// Group sets the consumer group. Required.
func Group(name string) client.ConsumerOption {
	return opt(func(c *config) {
		if name == "" {
			c.fail("Group: empty name")
		}
		c.group = name
	})
}

// Model sets the message model. Default Clustering.
func Model(m MessageModel) client.ConsumerOption {
	return opt(func(c *config) {
		if m != Clustering && m != Broadcasting {
			c.fail("Model: unknown model %d", m)
		}
		c.model = m
	})
}

// FromWhere sets where a group without a stored offset starts. Default
// ConsumeFromLastOffset.
func FromWhere(f ConsumeFrom) client.ConsumerOption {
	return opt(func(c *config) {
		if f < ConsumeFromLastOffset || f > ConsumeFromTimestamp {
			c.fail("FromWhere: unknown policy %d", f)
		}
		c.from = f
	})
}

// ConsumeTimestamp sets ConsumeFromTimestamp and the time to start from.
// Default (with FromWhere(ConsumeFromTimestamp) alone): 30 minutes before Start.
func ConsumeTimestamp(t time.Time) client.ConsumerOption {
	return opt(func(c *config) { c.from, c.timestamp = ConsumeFromTimestamp, t })
}

// Strategy sets the allocation strategy used in clustering. Default Averagely().
func Strategy(s AllocateStrategy) client.ConsumerOption {
	return opt(func(c *config) {
		if s == nil {
			c.fail("Strategy: nil strategy")
		}
		c.strategy = s
	})
}

// RebalanceInterval sets how often the group's queues are re-allocated (also
// done at once on NOTIFY_CONSUMER_IDS_CHANGED). Default 20s.
func RebalanceInterval(d time.Duration) client.ConsumerOption {
	return positive("RebalanceInterval", d, func(c *config) { c.rebalanceInterval = d })
}

// CommitInterval sets how often consumed offsets are committed (to the broker
// in clustering, to the offset file in broadcasting). Default 5s.
func CommitInterval(d time.Duration) client.ConsumerOption {
	return positive("CommitInterval", d, func(c *config) { c.commitInterval = d })
}

// LockInterval sets how often an orderly consumer renews its broker locks.
// Default 20s (brokers expire a lock 60s after its last renewal).
func LockInterval(d time.Duration) client.ConsumerOption {
	return positive("LockInterval", d, func(c *config) { c.lockInterval = d })
}

// PullBatchSize caps the messages asked for in one pull. Default 32. The
// broker answers with fewer when its own caps are lower: RocketMQ and Petrel
// brokers return at most maxTransferCountOnMessageInMemory (default 32) and
// maxTransferBytesOnMessageInMemory (default 256 KiB) per pull, so a larger
// batch needs those broker keys raised too.
func PullBatchSize(n int) client.ConsumerOption {
	return count("PullBatchSize", n, func(c *config) { c.pullBatchSize = n })
}

// ConsumeBatchSize caps the messages given to one handler call. Default 1.
func ConsumeBatchSize(n int) client.ConsumerOption {
	return count("ConsumeBatchSize", n, func(c *config) { c.consumeBatchSize = n })
}

// ConsumeGoroutines sets the size of the pool that runs concurrent handlers
// (shared by every queue). Default 20. Orderly consumers run one handler per
// queue at a time whatever this is.
func ConsumeGoroutines(n int) client.ConsumerOption {
	return count("ConsumeGoroutines", n, func(c *config) { c.goroutines = n })
}

// MaxCachedMessages pauses pulling a queue while this many of its messages are
// waiting or being consumed. Default 1000.
func MaxCachedMessages(n int) client.ConsumerOption {
	return count("MaxCachedMessages", n, func(c *config) { c.maxCachedMessages = n })
}

// MaxCachedBytes pauses pulling a queue while its cached message bodies take
// this many bytes. Default 100 MiB.
func MaxCachedBytes(n int64) client.ConsumerOption {
	return opt(func(c *config) {
		if n <= 0 {
			c.fail("MaxCachedBytes: %d must be positive", n)
		}
		c.maxCachedBytes = n
	})
}

// MaxReconsumeTimes sets how often a message is retried before it goes to the
// dead-letter queue. Default 16. For orderly consumers -1 means never.
func MaxReconsumeTimes(n int) client.ConsumerOption {
	return opt(func(c *config) {
		if n < -1 {
			c.fail("MaxReconsumeTimes: %d is below -1", n)
		}
		c.maxReconsumeTimes = n
	})
}

// LongPolling sets how long the broker may hold a pull without new messages
// (suspend) and the timeout of the pull call; timeout must exceed suspend.
// Defaults 20s and 30s.
func LongPolling(suspend, timeout time.Duration) client.ConsumerOption {
	return opt(func(c *config) {
		if suspend <= 0 || timeout <= suspend {
			c.fail("LongPolling: need 0 < suspend (%s) < timeout (%s)", suspend, timeout)
		}
		c.suspendTimeout, c.pullTimeout = suspend, timeout
	})
}

// OrderlySuspend sets how long an orderly queue waits before retrying a batch
// whose handler returned SuspendCurrentQueueAMoment. Default 1s.
func OrderlySuspend(d time.Duration) client.ConsumerOption {
	return positive("OrderlySuspend", d, func(c *config) { c.orderlySuspend = d })
}

// PullRetryDelay sets the wait after a failed pull, an unlocked orderly queue
// or a failed fallback send. Default 3s.
func PullRetryDelay(d time.Duration) client.ConsumerOption {
	return positive("PullRetryDelay", d, func(c *config) { c.pullRetryDelay = d })
}

// ConsumeTimeout bounds a push consumer's handler call (RocketMQ's
// consumeTimeout). Default 15 minutes. Calls are checked every
// ConsumeTimeout or every minute, whichever is shorter. When a Concurrently
// call runs longer, its context is cancelled and its messages are sent back
// for retry (delay level 3, as RocketMQ's cleanExpiredMsg) and removed from
// the queue, so its offset moves on and pulling resumes; whatever the
// handler returns afterwards is ignored. A message that cannot be sent back
// is tried again at the next check. An Orderly call that runs longer has its
// context cancelled and an error logged, but its queue waits for it: moving
// on would break the order.
func ConsumeTimeout(d time.Duration) client.ConsumerOption {
	return positive("ConsumeTimeout", d, func(c *config) { c.consumeTimeout = d })
}

// OffsetFile sets the file where a broadcasting consumer keeps its offsets.
// Default $HOME/.petrel_offsets/<clientId>/<group>/offsets.json. The file is
// replaced atomically (write, fsync, rename, fsync of the directory).
func OffsetFile(path string) client.ConsumerOption {
	return opt(func(c *config) {
		if path == "" {
			c.fail("OffsetFile: empty path")
		}
		c.offsetFile = path
	})
}

// AutoCommit (lite pull consumer only) commits the offsets of polled messages
// every CommitInterval without CommitSync/CommitAsync. Default true.
func AutoCommit(on bool) client.ConsumerOption {
	return opt(func(c *config) { c.autoCommit = on })
}

// withClock replaces the clock (tests).
func withClock(clk clock.Clock) client.ConsumerOption {
	return opt(func(c *config) { c.clk = clk })
}
