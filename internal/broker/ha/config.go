package ha

import (
	"context"
	"fmt"
	"net"
	"time"
)

// Defaults (RocketMQ 4.9's MessageStoreConfig where it has the key).
const (
	// DefaultListenPort is haListenPort's default; a broker uses listenPort+1
	// (RocketMQ 4.9 forces that whatever the config says).
	DefaultListenPort = 10912
	// DefaultHeartbeatInterval is haSendHeartbeatInterval: the slave reports
	// and the idle master sends a heartbeat frame at least this often.
	DefaultHeartbeatInterval = 5 * time.Second
	// DefaultHousekeepingInterval is haHousekeepingInterval: a connection with
	// nothing received for this long is closed (on both sides).
	DefaultHousekeepingInterval = 20 * time.Second
	// DefaultTransferBatchSize is haTransferBatchSize: the most log bytes per
	// frame.
	DefaultTransferBatchSize = 32 << 10
	// DefaultMaxSlaves bounds a master's HA connections.
	DefaultMaxSlaves = 16
	// DefaultMaxFrameSize bounds the body of a frame a slave accepts; it must
	// be at least the master's haTransferBatchSize.
	DefaultMaxFrameSize = 16 << 20
	// DefaultRetryInterval is the longest a slave waits before reconnecting
	// (RocketMQ retries every 5 s).
	DefaultRetryInterval = 5 * time.Second
	// DefaultDialTimeout bounds a slave's connect.
	DefaultDialTimeout = 3 * time.Second
)

// ServerConfig configures a master's HA Server. Zero fields take the defaults.
type ServerConfig struct {
	// ListenAddr is the HA address to bind: ":<haListenPort>", by default
	// ":10912" (the broker's listenPort+1). Ignored when Listener is set.
	ListenAddr string
	// Listener, if set, is served instead of binding ListenAddr.
	Listener net.Listener
	// HeartbeatInterval is haSendHeartbeatInterval; default 5 s.
	HeartbeatInterval time.Duration
	// HousekeepingInterval is haHousekeepingInterval: a slave that sends no
	// report for this long is dropped; default 20 s.
	HousekeepingInterval time.Duration
	// TransferBatchSize is haTransferBatchSize, bytes per frame; default 32 KiB.
	TransferBatchSize int
	// SlaveFallbehindMax is haSlaveFallbehindMax, bytes; default 256 MiB.
	SlaveFallbehindMax int64
	// SlaveTimeout is slaveTimeout, how long a SYNC_MASTER put waits for a
	// slave (RocketMQ 4.9.0-4.9.2 used syncFlushTimeout); default 3 s.
	SlaveTimeout time.Duration
	// MaxSlaves bounds the HA connections; more are refused. Default 16.
	MaxSlaves int
	// Controller, if set, is controller mode: slaves must identify
	// themselves, puts wait for the SyncStateSet (SetSyncStateSet) instead
	// of any one slave, and the lease fences answers.
	Controller *ControllerMode
}

func (c ServerConfig) withDefaults() ServerConfig {
	if c.ListenAddr == "" {
		c.ListenAddr = fmt.Sprintf(":%d", DefaultListenPort)
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.HousekeepingInterval == 0 {
		c.HousekeepingInterval = DefaultHousekeepingInterval
	}
	if c.TransferBatchSize == 0 {
		c.TransferBatchSize = DefaultTransferBatchSize
	}
	if c.SlaveFallbehindMax == 0 {
		c.SlaveFallbehindMax = DefaultSlaveFallbehindMax
	}
	if c.SlaveTimeout == 0 {
		c.SlaveTimeout = DefaultSlaveTimeout
	}
	if c.MaxSlaves == 0 {
		c.MaxSlaves = DefaultMaxSlaves
	}
	return c
}

// Validate reports the first bad field (after defaults).
func (c ServerConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.HeartbeatInterval < 0 || c.HousekeepingInterval < 0 || c.SlaveTimeout < 0:
		return fmt.Errorf("ha: ServerConfig: negative interval")
	case c.HousekeepingInterval <= c.HeartbeatInterval:
		return fmt.Errorf("ha: ServerConfig.HousekeepingInterval %v must exceed HeartbeatInterval %v", c.HousekeepingInterval, c.HeartbeatInterval)
	case c.TransferBatchSize < 1 || c.TransferBatchSize > 1<<30:
		return fmt.Errorf("ha: ServerConfig.TransferBatchSize %d out of range", c.TransferBatchSize)
	case c.SlaveFallbehindMax < 0:
		return fmt.Errorf("ha: ServerConfig.SlaveFallbehindMax %d is negative", c.SlaveFallbehindMax)
	case c.MaxSlaves < 0:
		return fmt.Errorf("ha: ServerConfig.MaxSlaves %d is negative", c.MaxSlaves)
	case c.Controller != nil && c.Controller.Epoch <= 0:
		return fmt.Errorf("ha: ServerConfig.Controller.Epoch %d must be positive", c.Controller.Epoch)
	}
	return nil
}

// ClientConfig configures a slave's HA Client. Zero fields take the defaults.
type ClientConfig struct {
	// MasterAddress returns the master's HA address: haMasterAddress when
	// configured, else the haServerAddr of the last REGISTER_BROKER answer;
	// "" while unknown (the client waits and asks again). Required.
	MasterAddress func() string
	// HeartbeatInterval is haSendHeartbeatInterval: the slave reports at
	// least this often; default 5 s.
	HeartbeatInterval time.Duration
	// HousekeepingInterval is haHousekeepingInterval: with nothing from the
	// master (not even a heartbeat) for this long the slave reconnects;
	// default 20 s.
	HousekeepingInterval time.Duration
	// MaxFrameSize bounds a frame's body; default 16 MiB. Must be at least
	// the master's haTransferBatchSize.
	MaxFrameSize int
	// RetryInterval is the longest wait before reconnecting after a failed
	// session (it starts at 1/50 of it and doubles); default 5 s.
	RetryInterval time.Duration
	// DialTimeout bounds a connect; default 3 s.
	DialTimeout time.Duration
	// MaxTruncateBytes, if positive, bounds how many bytes the slave drops on
	// its own to follow its master (a tail the master lacks, a diverged
	// history, or a whole log behind the master's min). A larger cut is
	// refused (ErrTruncateRefused; the slave keeps its data and retries)
	// until an operator acts: a master that comes back with a wiped or much
	// older store would otherwise take the slave's copy with it. Default 0:
	// no limit (the slave always follows its master).
	MaxTruncateBytes int64
	// Dial connects to the master; default net.Dialer.DialContext.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Identity, if set, is controller mode: the slave says who it is and
	// which master epoch it expects before streaming (hello), checks the
	// master's answer, and takes the master's confirm frames as its
	// dispatch limit.
	Identity *ClientIdentity
}

// ClientIdentity is a controller-mode slave's side of the handshake.
type ClientIdentity struct {
	// BrokerID is the slave's id in its broker set.
	BrokerID int64
	// Epoch returns the epoch of the master to follow; 0 while unknown (the
	// client waits, as for an unknown address).
	Epoch func() int32
	// OnWelcome, if set, gets the master's welcome before streaming starts
	// (the broker writes the master's epoch entries to its epoch file); an
	// error ends the session.
	OnWelcome func(Welcome) error
}

func (c ClientConfig) withDefaults() ClientConfig {
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.HousekeepingInterval == 0 {
		c.HousekeepingInterval = DefaultHousekeepingInterval
	}
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = DefaultMaxFrameSize
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = DefaultRetryInterval
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.Dial == nil {
		var d net.Dialer
		c.Dial = d.DialContext
	}
	return c
}

// Validate reports the first bad field (after defaults).
func (c ClientConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.MasterAddress == nil:
		return fmt.Errorf("ha: ClientConfig.MasterAddress is nil")
	case c.Identity != nil && c.Identity.Epoch == nil:
		return fmt.Errorf("ha: ClientConfig.Identity.Epoch is nil")
	case c.HeartbeatInterval < 0 || c.HousekeepingInterval < 0 || c.RetryInterval < 0 || c.DialTimeout < 0:
		return fmt.Errorf("ha: ClientConfig: negative interval")
	case c.HousekeepingInterval <= c.HeartbeatInterval:
		return fmt.Errorf("ha: ClientConfig.HousekeepingInterval %v must exceed HeartbeatInterval %v", c.HousekeepingInterval, c.HeartbeatInterval)
	case c.MaxFrameSize < 1 || c.MaxFrameSize > 1<<30:
		return fmt.Errorf("ha: ClientConfig.MaxFrameSize %d out of range", c.MaxFrameSize)
	}
	return nil
}
