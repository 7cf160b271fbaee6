package bench

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Scenario names.
const (
	ScenarioProducer    = "producer"
	ScenarioConsumer    = "consumer"
	ScenarioE2E         = "e2e"
	ScenarioTransaction = "transaction"
)

// Send modes of the producer scenario.
const (
	ModeSync   = "sync"
	ModeAsync  = "async"
	ModeOneway = "oneway"
	ModeBatch  = "batch"
)

// Config describes one run. Start from DefaultConfig.
type Config struct {
	// Scenario is ScenarioProducer, ScenarioConsumer, ScenarioE2E or
	// ScenarioTransaction.
	Scenario string
	// NameServers are the name servers' "host:port" addresses. Required.
	NameServers []string
	// Topic to send to and consume from. Default "BenchmarkTest" (as
	// RocketMQ's benchmark); it is created through the broker's auto-create
	// topic unless it exists.
	Topic string
	// Threads is the number of sending goroutines. Default 64 for the
	// producer (RocketMQ's benchmark producer default), 8 for e2e, 16 for
	// transaction.
	Threads int
	// Size is the body size in bytes. Default 128 (RocketMQ's benchmark).
	Size int
	// Tag, if set, is every message's tag.
	Tag string
	// Keys gives every message a unique key (indexed by the broker).
	Keys bool
	// Mode is the producer's send mode: ModeSync (default), ModeAsync,
	// ModeOneway or ModeBatch.
	Mode string
	// Batch is the number of messages per SendBatch in ModeBatch. Default 32.
	Batch int
	// Window bounds the asynchronous sends in flight (ModeAsync and the
	// consumer's prefill). Default 1024.
	Window int
	// Count ends the measured phase after this many messages (sent, or
	// consumed); 0 means run for Duration.
	Count int64
	// Duration is how long the measured phase lasts when Count is 0, and at
	// most otherwise. Default 10s when Count is 0; 0 with a Count means no
	// limit.
	Duration time.Duration
	// Warmup is run before the measured phase and not counted. Default 0
	// (the e2e scenario waits at least 3s so that its consumer is placed).
	Warmup time.Duration
	// Rate caps the messages sent per second, over all threads; 0 means no
	// cap. Default 0; e2e defaults to 1000.
	Rate int
	// Prefill is the number of messages the consumer scenario sends first
	// (not measured); 0 consumes what the topic holds. Its Count defaults to
	// Prefill.
	Prefill int64
	// PullBatch is the consumer's PullBatchSize. Default 32 (the brokers'
	// maxTransferCountOnMessageInMemory default).
	PullBatch int
	// Group is the producer or consumer group. Default "bench_<scenario>"
	// for producers; consumers use a fresh group per run.
	Group string
	// SendTimeout bounds each send, retries included. Default 3s.
	SendTimeout time.Duration
	// Interval is how often Progress is called. Default 1s.
	Interval time.Duration
	// Progress, if set, gets every interval's figures.
	Progress func(Progress)
	// Log gets the SDK's log lines. Default: discarded.
	Log *slog.Logger
}

// DefaultConfig returns the defaults described on Config, for the producer
// scenario.
func DefaultConfig() Config {
	return Config{Scenario: ScenarioProducer, Topic: "BenchmarkTest", Size: 128, Mode: ModeSync, Batch: 32,
		Window: 1024, PullBatch: 32, SendTimeout: 3 * time.Second, Interval: time.Second}
}

// withDefaults fills in what depends on the scenario.
func (c Config) withDefaults() Config {
	if c.Threads == 0 {
		switch c.Scenario {
		case ScenarioE2E:
			c.Threads = 8
		case ScenarioTransaction:
			c.Threads = 16
		default:
			c.Threads = 64
		}
	}
	if c.Scenario == ScenarioE2E && c.Rate == 0 {
		c.Rate = 1000
	}
	if c.Scenario == ScenarioConsumer && c.Count == 0 {
		c.Count = c.Prefill
	}
	if c.Count == 0 && c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Group == "" && c.Scenario != ScenarioConsumer && c.Scenario != ScenarioE2E {
		c.Group = "bench_" + c.Scenario
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first setting that is out of range.
func (c Config) Validate() error {
	switch {
	case c.Scenario != ScenarioProducer && c.Scenario != ScenarioConsumer && c.Scenario != ScenarioE2E && c.Scenario != ScenarioTransaction:
		return fmt.Errorf("bench: unknown scenario %q (producer, consumer, e2e, transaction)", c.Scenario)
	case len(c.NameServers) == 0:
		return errors.New("bench: no name server: give -n host:port or set NAMESRV_ADDR")
	case c.Topic == "":
		return errors.New("bench: empty topic")
	case c.Threads < 0 || c.Threads > 10000:
		return fmt.Errorf("bench: threads %d is outside [1, 10000]", c.Threads)
	case c.Size < 16 || c.Size > 4<<20:
		return fmt.Errorf("bench: size %d is outside [16, 4 MiB]", c.Size)
	case c.Mode != ModeSync && c.Mode != ModeAsync && c.Mode != ModeOneway && c.Mode != ModeBatch:
		return fmt.Errorf("bench: unknown mode %q (sync, async, oneway, batch)", c.Mode)
	case c.Batch < 1 || c.Batch > 10000:
		return fmt.Errorf("bench: batch %d is outside [1, 10000]", c.Batch)
	case c.Window < 1:
		return fmt.Errorf("bench: window %d must be positive", c.Window)
	case c.Count < 0 || c.Duration < 0 || c.Warmup < 0 || c.Rate < 0 || c.Prefill < 0:
		return errors.New("bench: count, duration, warm-up, rate and prefill must not be negative")
	case c.PullBatch < 1 || c.PullBatch > 1024:
		return fmt.Errorf("bench: pull batch %d is outside [1, 1024]", c.PullBatch)
	case c.SendTimeout <= 0 || c.Interval <= 0:
		return errors.New("bench: send timeout and interval must be positive")
	case c.Scenario == ScenarioConsumer && c.Count == 0 && c.Prefill == 0 && c.Duration == 0:
		return errors.New("bench: the consumer scenario needs a count, a prefill or a duration")
	}
	return nil
}
