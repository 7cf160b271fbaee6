package namesrv

import (
	"strings"
	"testing"
	"time"

	"github.com/petrelmq/petrel/internal/properties"
	"github.com/stretchr/testify/require"
)

func TestBindProperties(t *testing.T) {
	cfg := DefaultConfig()
	b := properties.NewBinder()
	cfg.BindProperties(b)
	f, err := properties.Parse("namesrv.conf", strings.NewReader(
		"listenPort=9877\nkvConfigPath=/tmp/kv.json\norderMessageEnable=true\n"+
			"serverChannelMaxIdleTimeSeconds=60\nbrokerTimeoutMillis=30000\nserverWorkerThreads=8\n"))
	require.NoError(t, err)
	res, err := b.Apply(f)
	require.NoError(t, err)
	require.Empty(t, res.Unknown)
	require.Contains(t, res.Ignored, "serverWorkerThreads")
	require.Equal(t, "0.0.0.0:9877", cfg.ListenAddr)
	require.Equal(t, "/tmp/kv.json", cfg.KVConfigPath)
	require.True(t, cfg.OrderMessageEnable)
	require.Equal(t, 60*time.Second, cfg.Remoting.IdleTimeout)
	require.Equal(t, 30*time.Second, cfg.BrokerTimeout)
	require.NoError(t, cfg.Validate())

	f, _ = properties.Parse("namesrv.conf", strings.NewReader("listenPort=70000\n"))
	_, err = b.Apply(f)
	require.ErrorContains(t, err, "namesrv.conf:1: key listenPort")
}
