package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/consumer"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
)

// freshGroup names a consumer group no earlier run used.
func freshGroup(cfg Config, kind string) string {
	if cfg.Group != "" {
		return cfg.Group
	}
	return "bench_" + kind + "_" + strconv.FormatInt(time.Now().UnixNano(), 36)
}

func startConsumer(ctx context.Context, cfg Config, group string, from consumer.ConsumeFrom, sel consumer.Selector,
	h func(msgs []*message.MessageExt)) (*consumer.PushConsumer, error) {
	c, err := consumer.NewPush(client.NameServers(cfg.NameServers...), client.WithLogger(cfg.Log),
		consumer.Group(group), consumer.FromWhere(from), consumer.PullBatchSize(cfg.PullBatch),
		consumer.ConsumeBatchSize(cfg.PullBatch), consumer.RebalanceInterval(time.Second))
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	err = c.Subscribe(cfg.Topic, sel, consumer.Concurrently(
		func(_ context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
			h(msgs)
			return consumer.ConsumeSuccess
		}))
	if err == nil {
		err = c.Start(ctx)
	}
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("bench: start consumer: %w", err)
	}
	return c, nil
}

// prefill sends n messages asynchronously (not measured).
func prefill(ctx context.Context, cfg Config, n int64) error {
	pcfg := cfg
	pcfg.Scenario, pcfg.Group = ScenarioProducer, prefillGroup
	p, _, err := newProducer(ctx, pcfg)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := warmRoute(ctx, p, pcfg); err != nil {
		return err
	}
	b := body(cfg.Size, rand.New(rand.NewPCG(1, 2)))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i := int64(1); i < n && ctx.Err() == nil; i++ { // warmRoute sent one
		wg.Add(1)
		p.SendAsync(ctx, messageOf(pcfg, b, 0, i), func(_ *producer.SendResult, err error) {
			if err != nil {
				mu.Lock()
				first = cmp(first, err)
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	if first != nil {
		return fmt.Errorf("bench: prefill: %w", first)
	}
	return ctx.Err()
}

func cmp(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// runConsumer consumes the topic from its first offset with a fresh group;
// the measured phase begins with the first message received.
func runConsumer(ctx context.Context, cfg Config) (Summary, error) {
	if cfg.Prefill > 0 {
		if err := prefill(ctx, cfg, cfg.Prefill); err != nil {
			return Summary{}, err
		}
	}
	ph := newPhases(cfg)
	ph.start(ctx, true)
	c, err := startConsumer(ctx, cfg, freshGroup(cfg, "consumer"), consumer.ConsumeFromFirstOffset, consumer.All(),
		func(msgs []*message.MessageExt) {
			ph.begin()
			ph.rec.done(len(msgs), 0, nil, true)
			ph.counted(len(msgs))
		})
	if err != nil {
		ph.wait()
		return Summary{}, err
	}
	select {
	case <-ph.stop:
	case <-ctx.Done():
	}
	s := ph.rec.summary(time.Now(), cfg.Size)
	s.Latency = Latency{} // no latency for a backlog
	_ = c.Close()
	ph.wait()
	return s, nil
}

// runE2E sends at cfg.Rate with the send time in the body and consumes at the
// same time; the latency is from the send call to the handler. A fresh group
// may start from offset 0 (brokers start a new group at the first offset
// while the queue is in memory), so the run's messages carry a tag of their
// own (unless Tag is set) and a run id in the body, and others are skipped.
func runE2E(ctx context.Context, cfg Config) (Summary, error) {
	cfg.Warmup = max(cfg.Warmup, 3*time.Second) // the consumer is placed and pulling
	runID := uint64(time.Now().UnixNano())
	if cfg.Tag == "" {
		cfg.Tag = "bench" + strconv.FormatUint(runID, 36)
	}
	ph := newPhases(cfg)
	c, err := startConsumer(ctx, cfg, freshGroup(cfg, "e2e"), consumer.ConsumeFromLastOffset, consumer.Tag(cfg.Tag),
		func(msgs []*message.MessageExt) {
			now := time.Now()
			measuring := ph.rec.measuring.Load()
			start := ph.rec.start.Load()
			for _, m := range msgs {
				if len(m.Body) < 16 || binary.BigEndian.Uint64(m.Body[8:]) != runID {
					continue
				}
				sent := int64(binary.BigEndian.Uint64(m.Body))
				if measuring && sent < start {
					continue // sent while warming up
				}
				ph.rec.done(1, now.Sub(time.Unix(0, sent)), nil, measuring)
				ph.counted(1)
			}
		})
	if err != nil {
		return Summary{}, err
	}
	defer c.Close()
	pcfg := cfg
	pcfg.Group = "bench_e2e"
	p, _, err := newProducer(ctx, pcfg)
	if err != nil {
		return Summary{}, err
	}
	defer p.Close()
	if err := warmRoute(ctx, p, cfg); err != nil {
		return Summary{}, err
	}
	ph.start(ctx, false)
	var wg sync.WaitGroup
	for i := range cfg.Threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pace := newPacer(cfg.Rate, cfg.Threads)
			for seq := int64(0); ctx.Err() == nil; seq++ {
				select {
				case <-ph.stop:
					return
				default:
				}
				b := make([]byte, cfg.Size)
				binary.BigEndian.PutUint64(b[8:], runID)
				binary.BigEndian.PutUint64(b, uint64(time.Now().UnixNano()))
				if _, err := p.Send(ctx, messageOf(cfg, b, i, seq)); err != nil {
					ph.rec.done(1, 0, err, ph.rec.measuring.Load())
				}
				pace.wait(ph.stop)
			}
		}()
	}
	// Count (received) or Duration ends the run.
	select {
	case <-ph.stop:
	case <-ctx.Done():
	}
	s := ph.rec.summary(time.Now(), cfg.Size)
	wg.Wait()
	ph.wait()
	return s, nil
}
