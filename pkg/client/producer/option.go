package producer

import (
	"errors"
	"fmt"
	"time"

	"github.com/petrelmq/petrel/pkg/client"
)

// Defaults of the producer options.
const (
	DefaultGroup            = "DEFAULT_PRODUCER"
	DefaultSendTimeout      = 3 * time.Second
	DefaultRetries          = 2
	DefaultCompressOver     = 4096 // bytes
	DefaultCompressLevel    = 5    // zlib level, as RocketMQ 4.x clients
	DefaultCompressType     = client.CompressionZLIB
	DefaultMaxMessageSize   = 4 << 20 // bytes; the broker's default maxMessageSize
	DefaultTopicQueueNums   = 4       // queues of an auto-created topic
	DefaultFailureAvoidance = 30 * time.Second
	DefaultMaxAsyncInflight = 1024
	// DefaultBusyBackoff and DefaultMaxBusyBackoff are BusyBackoff's defaults.
	DefaultBusyBackoff    = 10 * time.Millisecond
	DefaultMaxBusyBackoff = time.Second
)

// config is the producer-specific configuration.
type config struct {
	err error

	group            string
	sendTimeout      time.Duration
	retries          int
	compressOver     int
	compressLevel    int
	compressType     client.Compression
	maxMessageSize   int
	selector         QueueSelector
	createTopicKey   string
	topicQueueNums   int32
	autoCreate       bool
	faultTolerance   bool
	latencySteps     []LatencyStep
	failureAvoidance time.Duration
	longHeaders      bool
	maxAsyncInflight int
	busyBackoff      time.Duration
	maxBusyBackoff   time.Duration
	retryNotStoreOK  bool
	idempotent       bool
	attemptTimeout   time.Duration // 0: SendTimeout / (Retries+1) when idempotent
	tx               *txListener
}

func defaultConfig() config {
	return config{
		group:            DefaultGroup,
		sendTimeout:      DefaultSendTimeout,
		retries:          DefaultRetries,
		compressOver:     DefaultCompressOver,
		compressLevel:    DefaultCompressLevel,
		compressType:     DefaultCompressType,
		maxMessageSize:   DefaultMaxMessageSize,
		selector:         RoundRobin(),
		createTopicKey:   client.AutoCreateTopicKey,
		topicQueueNums:   DefaultTopicQueueNums,
		autoCreate:       true,
		faultTolerance:   true,
		latencySteps:     DefaultLatencySteps(),
		failureAvoidance: DefaultFailureAvoidance,
		maxAsyncInflight: DefaultMaxAsyncInflight,
		busyBackoff:      DefaultBusyBackoff,
		maxBusyBackoff:   DefaultMaxBusyBackoff,
	}
}

func (c *config) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("producer: "+format, args...)
	}
}

func (c *config) validate() error {
	if c.err != nil {
		return c.err
	}
	if c.group == "" {
		return errors.New("producer: Group is empty")
	}
	return nil
}

// option is a producer option: it satisfies client.ProducerOption through
// client.ProducerOptionBase and is recognised by New through applyProducer.
type option struct {
	client.ProducerOptionBase
	f func(*config)
}

func (o option) applyProducer(c *config) { o.f(c) }

type producerOption interface{ applyProducer(*config) }

func opt(f func(*config)) client.ProducerOption { return option{f: f} }

// Group sets the producer group. Default "DEFAULT_PRODUCER". Transactional
// producers need a group of their own: brokers send transaction checks to any
// live producer of the group.
func Group(name string) client.ProducerOption {
	return opt(func(c *config) {
		if name == "" {
			c.fail("Group: empty name")
		}
		c.group = name
	})
}

// SendTimeout bounds a whole send, retries included. Default 3s. A context
// deadline that comes earlier wins.
func SendTimeout(d time.Duration) client.ProducerOption {
	return opt(func(c *config) {
		if d <= 0 {
			c.fail("SendTimeout: %s must be positive", d)
		}
		c.sendTimeout = d
	})
}

// Retries sets how many more times a failed send is tried on another broker,
// within the send timeout. Default 2. Only transport errors and the codes
// SYSTEM_ERROR (1), SERVICE_NOT_AVAILABLE (14), NO_PERMISSION (16) and
// TOPIC_NOT_EXIST (17) are retried; sends with an ordering selector are never
// moved to another queue. A SYSTEM_BUSY (2) answer (the broker is overloaded
// and did not store the message) is retried too, with any selector, after a
// backoff (see BusyBackoff).
func Retries(n int) client.ProducerOption {
	return opt(func(c *config) {
		if n < 0 {
			c.fail("Retries: %d is negative", n)
		}
		c.retries = n
	})
}

// RetryAnotherBrokerWhenNotStoreOK (RocketMQ's retryAnotherBrokerWhenNotStoreOK)
// sends a message again, to another broker, when the broker answered that it
// stored the message but the flush or the replication did not confirm in
// time (SendResult.Status SendFlushDiskTimeout, SendFlushSlaveTimeout or
// SendSlaveNotAvailable). Default off: such an answer is a result, not an
// error, and the send ends there. When on, the message may be stored twice
// (it is stored on the first broker too); attempts count against Retries and
// SendTimeout, and if none is SendOK the last such result is returned, not an
// error. It applies to Send, SendBatch, SendAsync and transactional half
// messages, with the fault-tolerant selectors (an ordering selector never
// moves a send to another queue).
func RetryAnotherBrokerWhenNotStoreOK(on bool) client.ProducerOption {
	return opt(func(c *config) { c.retryNotStoreOK = on })
}

// Idempotent makes sends safe to retry after a lost answer, for brokers
// with a de-duplication window (duplicateWindowSeconds, see
// docs/design/dedup.md): every attempt of a send carries the same key (the
// message's UNIQ_KEY, or the PETREL_DEDUP_KEY property the application sets
// for its own stable key), retries stay on the broker the first attempt
// chose (the window is per broker), and each attempt waits at most
// AttemptTimeout, after which it is retried (without Idempotent an attempt
// that gets no answer uses up SendTimeout and the send fails, as the message
// may be stored). The broker answers a retry of a stored message with the
// first copy's result, so the message is stored once. Applies to Send,
// SendBatch and SendAsync; not to SendOneway. Against a broker without a
// window, a retry after a lost answer may store the message twice.
func Idempotent() client.ProducerOption {
	return opt(func(c *config) { c.idempotent = true })
}

// AttemptTimeout bounds each attempt of an Idempotent send. Default
// SendTimeout / (Retries + 1).
func AttemptTimeout(d time.Duration) client.ProducerOption {
	return opt(func(c *config) {
		if d <= 0 {
			c.fail("AttemptTimeout: %s must be positive", d)
		}
		c.attemptTimeout = d
	})
}

// CompressBodyOver compresses bodies of at least n bytes with the CompressType
// algorithm (default zlib) and sets the COMPRESSED sysFlag bit (plus the type
// bits for LZ4 and ZSTD). A body that does not shrink is sent as it is.
// Default 4096; 0 turns compression off. Batches are never compressed.
func CompressBodyOver(n int) client.ProducerOption {
	return opt(func(c *config) {
		if n < 0 {
			c.fail("CompressBodyOver: %d is negative", n)
		}
		c.compressOver = n
	})
}

// CompressLevel sets the compression level (1..9). Default 5. It is the zlib
// level for ZLIB and the zstd level for ZSTD (mapped onto the encoder's speed
// classes); LZ4 ignores it.
func CompressLevel(level int) client.ProducerOption {
	return opt(func(c *config) {
		if level < 1 || level > 9 {
			c.fail("CompressLevel: %d is outside 1..9", level)
		}
		c.compressLevel = level
	})
}

// CompressType chooses the algorithm for bodies over CompressBodyOver: client.
// CompressionZLIB (the default; every RocketMQ 4.x and 5.x client and broker
// reads it), client.CompressionLZ4 or client.CompressionZSTD. LZ4 and ZSTD are
// marked in the sysFlag compression type bits as RocketMQ 5.x does; only 5.x
// consumers and this SDK decompress them, so RocketMQ 4.x consumers (Java 4.x,
// rocketmq-client-go v2) would see the compressed bytes.
func CompressType(alg client.Compression) client.ProducerOption {
	return opt(func(c *config) {
		if !alg.Valid() {
			c.fail("CompressType: unknown algorithm %s", alg)
		}
		c.compressType = alg
	})
}

// MaxMessageSize refuses bodies (and whole batch bodies) larger than n bytes
// before sending. Default 4 MiB, the broker's default.
func MaxMessageSize(n int) client.ProducerOption {
	return opt(func(c *config) {
		if n <= 0 || n > 16<<20 {
			c.fail("MaxMessageSize: %d is outside (0, 16 MiB]", n)
		}
		c.maxMessageSize = n
	})
}

// WithQueueSelector sets the default queue selector. Default RoundRobin().
func WithQueueSelector(s QueueSelector) client.ProducerOption {
	return opt(func(c *config) {
		if s == nil {
			c.fail("WithQueueSelector: nil selector")
		}
		c.selector = s
	})
}

// AutoCreateTopic sets the auto-create topic whose route is borrowed for a topic
// without a route, and the number of queues asked for (RocketMQ's TBW102 and
// defaultTopicQueueNums). Default "TBW102", 4.
func AutoCreateTopic(key string, queues int) client.ProducerOption {
	return opt(func(c *config) {
		if key == "" || queues <= 0 || queues > 1024 {
			c.fail("AutoCreateTopic: key %q, queues %d", key, queues)
		}
		c.createTopicKey, c.topicQueueNums, c.autoCreate = key, int32(queues), true
	})
}

// DisableAutoCreate makes sends to a topic without a route fail with
// protocol.ErrTopicNotExist instead of borrowing the auto-create topic's route.
func DisableAutoCreate() client.ProducerOption {
	return opt(func(c *config) { c.autoCreate = false })
}

// LatencyFaultTolerance turns broker avoidance on or off. Default on: a broker
// whose send failed is avoided for FailureAvoidance, and a slow one for the time
// its latency maps to in the latency steps. Avoidance is tied to the master
// address the send went to: once the route names another master for the
// broker (a failover), the broker is used again at once.
func LatencyFaultTolerance(on bool) client.ProducerOption {
	return opt(func(c *config) { c.faultTolerance = on })
}

// LatencySteps replaces the latency-to-avoidance table (see
// DefaultLatencySteps). Steps must be sorted by Latency.
func LatencySteps(steps ...LatencyStep) client.ProducerOption {
	return opt(func(c *config) {
		for i := range steps {
			if steps[i].Latency < 0 || steps[i].Avoid < 0 || (i > 0 && steps[i].Latency < steps[i-1].Latency) {
				c.fail("LatencySteps: steps must be non-negative and sorted by latency")
				return
			}
		}
		c.latencySteps = append([]LatencyStep(nil), steps...)
	})
}

// FailureAvoidance sets how long a broker whose send failed is avoided.
// Default 30s.
func FailureAvoidance(d time.Duration) client.ProducerOption {
	return opt(func(c *config) {
		if d < 0 {
			c.fail("FailureAvoidance: %s is negative", d)
		}
		c.failureAvoidance = d
	})
}

// LongHeaders sends single messages as SEND_MESSAGE (10) with long header names,
// as rocketmq-client-go does, instead of SEND_MESSAGE_V2 (310) with one-letter
// names, as the Java client does (the default). Batches always use 320.
func LongHeaders() client.ProducerOption {
	return opt(func(c *config) { c.longHeaders = true })
}

// MaxAsyncInflight bounds the SendAsync calls whose answers are outstanding;
// at the bound SendAsync blocks until one completes or its ctx ends. Default
// 1024. Whatever it is, the requests in flight on one broker connection never
// exceed the connection's cap (client.MaxInflightPerConn, default 4096, the
// broker's default serverMaxInflightPerConnection): beyond it a send waits
// for an answer before it is written.
func MaxAsyncInflight(n int) client.ProducerOption {
	return opt(func(c *config) {
		if n <= 0 {
			c.fail("MaxAsyncInflight: %d must be positive", n)
		}
		c.maxAsyncInflight = n
	})
}

// BusyBackoff sets the wait before a send answered SYSTEM_BUSY (2) is tried
// again, as RocketMQ 5 clients back off from a throttled send: first waits
// about first, doubling with each busy answer of the same send up to max,
// each drawn at random between half and all of that (so that the senders a
// busy broker refused do not all come back at once). The attempts count
// against Retries and the wait against SendTimeout: a send whose timeout
// comes before the next attempt fails with the busy error. Defaults 10ms and
// 1s.
func BusyBackoff(first, max time.Duration) client.ProducerOption {
	return opt(func(c *config) {
		if first <= 0 || max < first {
			c.fail("BusyBackoff: first %s must be positive and max %s at least first", first, max)
		}
		c.busyBackoff, c.maxBusyBackoff = first, max
	})
}
