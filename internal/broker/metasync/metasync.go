package metasync

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/petrelmq/petrel/internal/broker/meta"
	"github.com/petrelmq/petrel/internal/lifecycle"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// Defaults of Config.
const (
	DefaultPeriod  = 10 * time.Second
	DefaultTimeout = 3 * time.Second
)

// Config configures the sync.
type Config struct {
	// Period between syncs (RocketMQ: 10 s).
	Period time.Duration
	// Timeout bounds each request (RocketMQ: 3 s).
	Timeout time.Duration
	// Self is this broker's own address: a master address equal to it is
	// skipped (RocketMQ's rule).
	Self string
	// Client configures the connection to the master beyond the timeout:
	// request signing and TLS.
	Client remoting.ClientConfig
}

// Deps are the tables the sync writes and where the master is.
type Deps struct {
	// Master returns the master's client address, "" while unknown.
	Master  func() string
	Topics  *meta.Topics
	Groups  *meta.Groups
	Offsets *meta.Offsets
	// DelayOffsets stores the master's delay-level progress.
	DelayOffsets func(data []byte) error
	Clock        clock.Clock
	Log          *slog.Logger
}

// Service is the sync loop. Lifecycle: New → Start → Close.
type Service struct {
	cfg    Config
	d      Deps
	client *remoting.Client
	grp    lifecycle.Group

	soon chan struct{} // cap 1: sync now (Soon)

	mu     sync.Mutex
	last   time.Time // last complete sync
	failed bool      // the last attempt failed (logged once per outage)
}

// Soon asks for a sync now rather than at the next period (a slave saw a
// message of a topic it has no config for). Calls coalesce.
func (s *Service) Soon() {
	select {
	case s.soon <- struct{}{}:
	default:
	}
}

// New builds the sync.
func New(cfg Config, d Deps) *Service {
	if cfg.Period <= 0 {
		cfg.Period = DefaultPeriod
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	return &Service{cfg: cfg, d: d, client: remoting.NewClient(clientConfig(cfg), d.Log),
		soon: make(chan struct{}, 1)}
}

// Start launches the loop; the first sync runs as soon as the master is known.
func (s *Service) Start(ctx context.Context) error {
	if err := s.grp.Start(ctx, "metasync"); err != nil {
		return err
	}
	s.grp.Go("loop", s.loop)
	return nil
}

// Close stops the loop and closes the client.
func (s *Service) Close() error {
	s.grp.Stop()
	return s.client.Close()
}

// LastSync returns when the last complete sync finished (zero if none).
func (s *Service) LastSync() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// retryInterval is how soon a sync is tried again while the master is
// unknown (the first registration has not answered yet) or the last attempt
// failed.
const retryInterval = time.Second

func (s *Service) loop(ctx context.Context) {
	for {
		wait := s.cfg.Period
		if !s.SyncOnce(ctx) {
			wait = min(retryInterval, wait)
		}
		t := s.d.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.soon:
			t.Stop()
		case <-t.C():
		}
	}
}

// SyncOnce runs one sync now and reports whether it completed. A failure is
// logged (once per outage) and retried soon.
func (s *Service) SyncOnce(ctx context.Context) bool {
	master := s.d.Master()
	if master == "" || master == s.cfg.Self {
		return false
	}
	err := s.sync(ctx, master)
	s.mu.Lock()
	wasFailed := s.failed
	s.failed = err != nil
	if err == nil {
		s.last = s.d.Clock.Now()
	}
	s.mu.Unlock()
	switch {
	case err != nil && !wasFailed && ctx.Err() == nil:
		s.d.Log.Warn("metasync: cannot sync metadata from the master", "master", master, "err", err)
	case err == nil && wasFailed:
		s.d.Log.Info("metasync: syncing metadata from the master again", "master", master)
	}
	return err == nil
}

func (s *Service) call(ctx context.Context, addr string, code protocol.RequestCode) ([]byte, error) {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	resp, err := s.client.Invoke(cctx, addr, protocol.NewRequest(code, nil))
	if err != nil {
		return nil, err
	}
	if err := protocol.ResponseError(resp); err != nil {
		return nil, fmt.Errorf("%v: %w", code, err)
	}
	return resp.Body, nil
}

func (s *Service) sync(ctx context.Context, master string) error {
	data, err := s.call(ctx, master, protocol.GetAllTopicConfig)
	if err != nil {
		return err
	}
	var tw body.TopicConfigWrapper
	if err := json.Unmarshal(meta.QuoteIntKeys(data), &tw); err != nil {
		return fmt.Errorf("topic config: %w", err)
	}
	if changed, err := s.d.Topics.Replace(tw); err != nil {
		return err
	} else if changed {
		s.d.Log.Info("metasync: topic config updated from the master", "topics", len(tw.TopicConfigTable))
	}

	if data, err = s.call(ctx, master, protocol.GetAllConsumerOffset); err != nil {
		return err
	}
	var ow struct {
		OffsetTable map[string]map[int32]int64 `json:"offsetTable"`
	}
	if err := json.Unmarshal(meta.QuoteIntKeys(data), &ow); err != nil {
		return fmt.Errorf("consumer offsets: %w", err)
	}
	for _, u := range s.d.Offsets.MergeMaster(ow.OffsetTable) {
		if err := s.push(ctx, master, u); err != nil {
			return err
		}
	}

	if data, err = s.call(ctx, master, protocol.GetAllDelayOffset); err != nil {
		return err
	}
	if err := s.d.DelayOffsets(data); err != nil {
		return err
	}

	if data, err = s.call(ctx, master, protocol.GetAllSubscriptionGroupConfig); err != nil {
		return err
	}
	var gw body.SubscriptionGroupWrapper
	if err := json.Unmarshal(meta.QuoteIntKeys(data), &gw); err != nil {
		return fmt.Errorf("subscription groups: %w", err)
	}
	if _, err := s.d.Groups.Replace(gw); err != nil {
		return err
	}
	return nil
}

// push hands one offset the slave took while the master was away back to the
// master.
func (s *Service) push(ctx context.Context, master string, u meta.OffsetUpdate) error {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	resp, err := s.client.Invoke(cctx, master, header.NewRequest(protocol.UpdateConsumerOffset, &header.UpdateConsumerOffset{
		ConsumerGroup: u.Group, Topic: u.Topic, QueueID: u.QueueID, CommitOffset: u.Offset,
	}))
	if err != nil {
		return err
	}
	if err := protocol.ResponseError(resp); err != nil {
		return err
	}
	s.d.Log.Info("metasync: gave the master an offset committed here while it was away",
		"group", u.Group, "topic", u.Topic, "queue", u.QueueID, "offset", u.Offset)
	return nil
}

// clientConfig is cfg.Client with cfg.Timeout as the dial timeout.
func clientConfig(cfg Config) remoting.ClientConfig {
	c := cfg.Client
	c.DialTimeout = cfg.Timeout
	return c
}
