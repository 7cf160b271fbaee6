package controller

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/properties"
)

func TestParsePeers(t *testing.T) {
	t.Parallel()
	p, err := ParsePeers("n0-10.0.0.1:9877; n1-10.0.0.2:9877;;n2-[::1]:9877;")
	require.NoError(t, err)
	require.Equal(t, []Peer{{"n0", "10.0.0.1:9877"}, {"n1", "10.0.0.2:9877"}, {"n2", "[::1]:9877"}}, p)
	require.Equal(t, "n0-10.0.0.1:9877;n1-10.0.0.2:9877;n2-[::1]:9877", FormatPeers(p))
	for _, bad := range []string{"10.0.0.1:9877", "-10.0.0.1:9877", "n0-10.0.0.1", "n0-10.0.0.1:0",
		"n0-a:1;n0-b:1", "n0-a:1;n1-a:1"} {
		_, err := ParsePeers(bad)
		require.Error(t, err, bad)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	good := func() Config {
		c := DefaultConfig()
		c.Group, c.SelfID = "g", "n1"
		c.Peers = []Peer{{"n0", "10.0.0.1:9877"}, {"n1", "10.0.0.2:9878"}}
		return c
	}
	c := good()
	require.NoError(t, c.Validate())
	require.Equal(t, "0.0.0.0:9878", c.bindAddr())
	for key, edit := range map[string]func(*Config){
		keyGroup:            func(c *Config) { c.Group = "" },
		keyPeers:            func(c *Config) { c.Peers = nil },
		keySelfID:           func(c *Config) { c.SelfID = "n9" },
		keyStorePath:        func(c *Config) { c.StorePath = "" },
		keyScanInterval:     func(c *Config) { c.ScanInterval = 0 },
		keyHeartbeatTimeout: func(c *Config) { c.HeartbeatTimeout = -time.Second },
		keyWorkers:          func(c *Config) { c.Workers = 0 },
		keyListenAddr:       func(c *Config) { c.ListenAddr = "nohost" },
	} {
		c := good()
		edit(&c)
		var ke *properties.KeyError
		err := c.Validate()
		require.True(t, errors.As(err, &ke), "%s: %v", key, err)
		require.Equal(t, key, ke.Key)
	}
}

func TestBindProperties(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	b := properties.NewBinder()
	c.BindProperties(b)
	f, err := properties.Parse("controller.conf", strings.NewReader(strings.Join([]string{
		"controllerDLegerGroup=group1",
		"controllerDLegerPeers=n0-127.0.0.1:9877;n1-127.0.0.1:9878;n2-127.0.0.1:9879",
		"controllerDLegerSelfId=n0",
		"controllerStorePath=/data/controller",
		"enableElectUncleanMaster=true",
		"notifyBrokerRoleChanged=false",
		"scanNotActiveBrokerInterval=1000",
		"controllerHeartBeatTimeoutMills=3000",
		"controllerListenAddr=127.0.0.1:9877",
		"controllerRequestThreadPoolQueueCapacity=100",
		"scanInactiveMasterInterval=5000",
		"controllerType=DLedger",
		"serverWorkerThreads=8",
	}, "\n")))
	require.NoError(t, err)
	res, err := b.Apply(f)
	require.NoError(t, err)
	require.NoError(t, res.Err())
	require.Contains(t, res.Ignored, "scanInactiveMasterInterval")
	require.Contains(t, res.Ignored, "controllerType")
	require.Contains(t, res.Ignored, "serverWorkerThreads")
	require.NoError(t, c.Validate())
	require.Equal(t, "group1", c.Group)
	require.Len(t, c.Peers, 3)
	require.Equal(t, "/data/controller", c.StorePath)
	require.True(t, c.ElectUncleanMaster)
	require.False(t, c.NotifyBrokerRoleChanged)
	require.Equal(t, time.Second, c.ScanInterval)
	require.Equal(t, 3*time.Second, c.HeartbeatTimeout)
	require.Equal(t, "127.0.0.1:9877", c.bindAddr())
	require.Equal(t, 100, c.QueueSize)
	for _, k := range Keys() {
		require.True(t, b.Known(k), k)
	}
}
