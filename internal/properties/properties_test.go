package properties

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	src := "# a RocketMQ broker.conf\n" +
		"brokerClusterName = DefaultCluster\n" +
		"  brokerName=broker-a\n" +
		"! bang comment\n" +
		"brokerId:0\n" +
		"deleteWhen 04\n" +
		"brokerRole=SYNC_MASTER   \n" +
		"namesrvAddr=a:9876;\\\n" +
		"   b:9876\n" +
		"weird\\=key=v\\u0041\\tx\n" +
		"empty=\n" +
		"brokerId=1\n"
	f, err := Parse("broker.conf", strings.NewReader(src))
	require.NoError(t, err)
	get := func(k string) string {
		v, ok := f.Get(k)
		require.True(t, ok, k)
		return v
	}
	require.Equal(t, "DefaultCluster", get("brokerClusterName"))
	require.Equal(t, "broker-a", get("brokerName"))
	require.Equal(t, "1", get("brokerId"), "later entries win")
	require.Equal(t, "04", get("deleteWhen"))
	require.Equal(t, "SYNC_MASTER", get("brokerRole"), "trailing spaces trimmed")
	require.Equal(t, "a:9876;b:9876", get("namesrvAddr"), "continuation")
	require.Equal(t, "vA\tx", get("weird=key"))
	require.Equal(t, "", get("empty"))
	require.Equal(t, 3, f.Entries[1].Line)
	require.Equal(t, 5, f.Entries[2].Line)
}

func TestParseErrors(t *testing.T) {
	_, err := Parse("x.conf", strings.NewReader("a=1\nb=\\u00zz\n"))
	require.ErrorContains(t, err, "x.conf:2")
	_, err = Parse("x.conf", strings.NewReader("a=\xff\n"))
	require.ErrorContains(t, err, "UTF-8")
}

func TestBinder(t *testing.T) {
	var (
		name    string
		port    int
		auto    bool
		role    string
		timeout time.Duration
		idle    time.Duration
	)
	b := NewBinder()
	b.String("brokerName", &name)
	b.Int("listenPort", &port)
	b.Bool("autoCreateTopicEnable", &auto)
	b.Enum("brokerRole", &role, "ASYNC_MASTER", "SYNC_MASTER", "SLAVE")
	b.Millis("syncFlushTimeout", &timeout)
	b.Seconds("serverChannelMaxIdleTimeSeconds", &idle)
	b.Ignore("Petrel sizes its own pools", "serverWorkerThreads")

	f, err := Parse("broker.conf", strings.NewReader(
		"brokerName=b\nlistenPort=10911\nautoCreateTopicEnable=TRUE\nbrokerRole=SLAVE\n"+
			"syncFlushTimeout=5000\nserverChannelMaxIdleTimeSeconds=120\nserverWorkerThreads=8\nbogus=1\nbogus=2\n"))
	require.NoError(t, err)
	res, err := b.Apply(f)
	require.NoError(t, err)
	require.Equal(t, []string{"bogus"}, res.Unknown)
	require.Contains(t, res.Ignored, "serverWorkerThreads")
	require.Equal(t, "b", name)
	require.Equal(t, 10911, port)
	require.True(t, auto)
	require.Equal(t, "SLAVE", role)
	require.Equal(t, 5*time.Second, timeout)
	require.Equal(t, 120*time.Second, idle)

	for _, bad := range []string{"listenPort=ten", "autoCreateTopicEnable=yes", "brokerRole=MASTER", "syncFlushTimeout=-1"} {
		f, err := Parse("broker.conf", strings.NewReader("brokerName=x\n"+bad+"\n"))
		require.NoError(t, err)
		_, err = b.Apply(f)
		key := bad[:strings.IndexByte(bad, '=')]
		require.ErrorContains(t, err, "broker.conf:2: key "+key, bad)
	}
	require.ErrorContains(t, b.Set("--listen-port", "listenPort", "x"), "--listen-port")
}

func TestLoad(t *testing.T) {
	p := filepath.Join(t.TempDir(), "namesrv.conf")
	require.NoError(t, os.WriteFile(p, []byte("listenPort=9877\n"), 0o644))
	f, err := Load(p)
	require.NoError(t, err)
	v, _ := f.Get("listenPort")
	require.Equal(t, "9877", v)
	_, err = Load(p + ".missing")
	require.Error(t, err)
}

func FuzzParse(f *testing.F) {
	f.Add("a=b\n#c\nd:e\\\n f\n")
	f.Add("\\u12")
	f.Add("k\\")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = Parse("fuzz", strings.NewReader(s))
	})
}
