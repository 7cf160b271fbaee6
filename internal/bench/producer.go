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
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
)

func producerOptions(cfg Config, group string) []client.ProducerOption {
	opts := []client.ProducerOption{
		client.NameServers(cfg.NameServers...), client.WithLogger(cfg.Log),
		producer.Group(group), producer.SendTimeout(cfg.SendTimeout),
		producer.MaxAsyncInflight(cfg.Window),
	}
	if group == prefillGroup {
		// Setup, not measurement: an overloaded broker's SYSTEM_BUSY is
		// retried for longer rather than failing the run.
		opts = append(opts, producer.Retries(16), producer.SendTimeout(max(cfg.SendTimeout, 30*time.Second)))
	}
	return opts
}

// prefillGroup is the producer group of the consumer scenario's prefill.
const prefillGroup = "bench_prefill"

// newProducer builds and starts a producer (a transactional one for the
// transaction scenario, whose local transactions commit at once).
func newProducer(ctx context.Context, cfg Config) (*producer.Producer, *producer.TransactionalProducer, error) {
	opts := producerOptions(cfg, cfg.Group)
	var p *producer.Producer
	var tp *producer.TransactionalProducer
	var err error
	if cfg.Scenario == ScenarioTransaction {
		commit := func(context.Context, *message.Message) producer.TransactionState { return producer.TransactionCommit }
		check := func(context.Context, *message.MessageExt) producer.TransactionState {
			return producer.TransactionCommit
		}
		tp, err = producer.NewTransactional(append(opts, producer.TransactionListener(commit, check))...)
		if err == nil {
			p = tp.Producer
		}
	} else {
		p, err = producer.New(opts...)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("bench: %w", err)
	}
	if err := p.Start(ctx); err != nil {
		_ = p.Close()
		return nil, nil, fmt.Errorf("bench: start producer: %w", err)
	}
	return p, tp, nil
}

// body returns a random body of size bytes (random, so that compression, if
// a client applies it, gains nothing).
func body(size int, r *rand.Rand) []byte {
	b := make([]byte, size)
	for i := 0; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b
}

// messageOf builds one message of cfg's shape.
func messageOf(cfg Config, b []byte, thread int, seq int64) *message.Message {
	var opts []producer.MessageOption
	if cfg.Tag != "" {
		opts = append(opts, producer.Tags(cfg.Tag))
	}
	if cfg.Keys {
		opts = append(opts, producer.Keys("bench-"+strconv.Itoa(thread)+"-"+strconv.FormatInt(seq, 10)))
	}
	return producer.NewMessage(cfg.Topic, b, opts...)
}

// warmRoute sends one message so that the topic exists (auto-created) and
// its route is cached before the clock starts.
func warmRoute(ctx context.Context, p *producer.Producer, cfg Config) error {
	m := messageOf(cfg, make([]byte, cfg.Size), 0, 0)
	var err error
	for range 3 {
		if _, err = p.Send(ctx, m); err == nil {
			return nil
		}
	}
	return fmt.Errorf("bench: first send to %q: %w", cfg.Topic, err)
}

// runProducer runs the producer and transaction scenarios.
func runProducer(ctx context.Context, cfg Config) (Summary, error) {
	p, tp, err := newProducer(ctx, cfg)
	if err != nil {
		return Summary{}, err
	}
	defer p.Close()
	if err := warmRoute(ctx, p, cfg); err != nil {
		return Summary{}, err
	}
	ph := newPhases(cfg)
	ph.start(ctx, false)
	var async sync.WaitGroup // outstanding SendAsync callbacks
	var workers sync.WaitGroup
	for i := range cfg.Threads {
		workers.Add(1)
		go func() {
			defer workers.Done()
			produce(ctx, cfg, ph, p, tp, i, &async)
		}()
	}
	workers.Wait()
	async.Wait()
	end := time.Now()
	ph.wait()
	return ph.rec.summary(end, cfg.Size), nil
}

// produce is one sending thread.
func produce(ctx context.Context, cfg Config, ph *phases, p *producer.Producer, tp *producer.TransactionalProducer,
	thread int, async *sync.WaitGroup) {
	r := rand.New(rand.NewPCG(uint64(thread), uint64(time.Now().UnixNano())))
	b := body(cfg.Size, r)
	pace := newPacer(cfg.Rate, cfg.Threads)
	n := 1
	if cfg.Mode == ModeBatch && cfg.Scenario == ScenarioProducer {
		n = cfg.Batch
	}
	batch := make([]*message.Message, n)
	sendCtx := context.WithoutCancel(ctx) // an interrupted run lets sends in flight finish
	for seq := int64(0); ; seq++ {
		ok, measured := ph.claim(n)
		if !ok || ctx.Err() != nil {
			return
		}
		start := time.Now()
		switch {
		case tp != nil:
			_, err := tp.SendInTransaction(sendCtx, messageOf(cfg, b, thread, seq))
			ph.rec.done(1, time.Since(start), err, measured)
		case cfg.Mode == ModeSync:
			_, err := p.Send(sendCtx, messageOf(cfg, b, thread, seq))
			ph.rec.done(1, time.Since(start), err, measured)
		case cfg.Mode == ModeAsync:
			async.Add(1)
			p.SendAsync(sendCtx, messageOf(cfg, b, thread, seq), func(_ *producer.SendResult, err error) {
				ph.rec.done(1, time.Since(start), err, measured)
				async.Done()
			})
		case cfg.Mode == ModeOneway:
			err := p.SendOneway(sendCtx, messageOf(cfg, b, thread, seq))
			ph.rec.done(1, time.Since(start), err, measured)
		case cfg.Mode == ModeBatch:
			for i := range batch {
				batch[i] = messageOf(cfg, b, thread, seq*int64(n)+int64(i))
			}
			_, err := p.SendBatch(sendCtx, batch...)
			ph.rec.done(n, time.Since(start), err, measured)
		}
		pace.wait(ph.stop)
	}
}
