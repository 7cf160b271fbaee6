package clients

import (
	"fmt"
	"time"
)

// Config configures a Manager. Start from DefaultConfig.
type Config struct {
	// ChannelExpiredTimeout drops a producer or consumer channel that sent no
	// heartbeat for this long. Default 120s (RocketMQ's channelExpiredTimeout);
	// clients heartbeat every 30s.
	ChannelExpiredTimeout time.Duration
	// ScanInterval is the period of the expiry scan. Default 10s.
	ScanInterval time.Duration
	// LockExpiry is how long a queue lock of an orderly consumer lives without
	// renewal. Default 60s (rocketmq.broker.rebalance.lockMaxLiveTime); clients
	// renew every 20s.
	LockExpiry time.Duration
	// NotifyConsumerIDsChanged sends NOTIFY_CONSUMER_IDS_CHANGED to a consumer
	// group's channels when its membership or subscribed topics change. Default
	// true (notifyConsumerIdsChangedEnable).
	NotifyConsumerIDsChanged bool
}

// DefaultConfig returns the defaults described on Config.
func DefaultConfig() Config {
	return Config{
		ChannelExpiredTimeout:    120 * time.Second,
		ScanInterval:             10 * time.Second,
		LockExpiry:               60 * time.Second,
		NotifyConsumerIDsChanged: true,
	}
}

// Validate reports the first field that is out of range.
func (c Config) Validate() error {
	switch {
	case c.ChannelExpiredTimeout <= 0:
		return fmt.Errorf("clients: Config.ChannelExpiredTimeout %s must be positive", c.ChannelExpiredTimeout)
	case c.ScanInterval <= 0:
		return fmt.Errorf("clients: Config.ScanInterval %s must be positive", c.ScanInterval)
	case c.LockExpiry <= 0:
		return fmt.Errorf("clients: Config.LockExpiry %s must be positive", c.LockExpiry)
	}
	return nil
}
