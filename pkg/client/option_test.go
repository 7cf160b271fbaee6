package client

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOptionValidation(t *testing.T) {
	t.Parallel()
	bad := map[string][]Option{
		"no name server":   nil,
		"empty list":       {NameServers("")},
		"no port":          {NameServers("localhost")},
		"bad namespace":    {NameServers("a:1"), Namespace("a%b")},
		"bad instance":     {NameServers("a:1"), InstanceName("a@b")},
		"bad ip":           {NameServers("a:1"), ClientIP("nope")},
		"zero interval":    {NameServers("a:1"), HeartbeatInterval(0)},
		"negative timeout": {NameServers("a:1"), CallTimeout(-time.Second)},
		"nil hook":         {NameServers("a:1"), WithHooks(nil)},
		"nil source":       {WithRouteSource(nil)},
		"nil option":       {nil},
	}
	for name, opts := range bad {
		c, err := New(opts...)
		require.Error(t, err, name)
		require.Nil(t, c)
	}
	c, err := New(NameServers("127.0.0.1:9876;10.0.0.1:9876", "h:1"), InstanceName("x"), ClientIP("10.1.2.3"))
	require.NoError(t, err)
	require.Equal(t, []string{"127.0.0.1:9876", "10.0.0.1:9876", "h:1"}, c.NameServers())
	require.Equal(t, "10.1.2.3@x", c.ID())
	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "idempotent")
	require.ErrorIs(t, c.Start(t.Context()), ErrClosed)
}

func TestClientIDDefaultsToPid(t *testing.T) {
	t.Parallel()
	c, err := New(NameServers("a:1"))
	require.NoError(t, err)
	defer c.Close()
	require.Regexp(t, `^[0-9.]+@`+strconv.Itoa(os.Getpid())+`#[0-9]+$`, c.ID())
}
