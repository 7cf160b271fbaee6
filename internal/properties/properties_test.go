package properties

import (
	"errors"
	"fmt"
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

func TestRocketMQKeys(t *testing.T) {
	t.Parallel()
	f := func(key string, want ...Class) {
		t.Helper()
		require.ElementsMatch(t, want, RocketMQClasses(key), key)
	}
	f("flushDiskType", MessageStoreConfig)
	f("mappedFileSizeCommitLog", MessageStoreConfig)
	f("brokerRole", MessageStoreConfig)
	f("brokerIP1", BrokerConfig)
	f("aclEnable", BrokerConfig)
	f("listenPort", NettyServerConfig)
	f("clientWorkerThreads", NettyClientConfig)
	f("kvConfigPath", NamesrvConfig)
	f("rocketmqHome", BrokerConfig, NamesrvConfig)
	f("enableControllerMode", Controller)
	f("enableControllerInNamesrv", Controller)
	f("flushDiskTyp")
	f("mapedFileSizeCommitLog") // the pre-4.5 spelling is not a 4.9 key

	perClass := map[Class]int{}
	for _, cls := range rocketMQKeys() {
		for _, c := range cls {
			perClass[c]++
		}
	}
	// As many as the 4.9.8 sources have setters, give or take the keys added
	// within 4.9.x.
	require.GreaterOrEqual(t, perClass[BrokerConfig], 76)
	require.GreaterOrEqual(t, perClass[MessageStoreConfig], 68)
	require.GreaterOrEqual(t, perClass[NettyServerConfig], 11)
	require.GreaterOrEqual(t, perClass[NettyClientConfig], 12)
	require.GreaterOrEqual(t, perClass[NamesrvConfig], 6)
	require.Equal(t, 16, perClass[Controller])

	_, err := parseKeyList("key\n")
	require.ErrorContains(t, err, "before any [Class]")
	_, err = parseKeyList("[A]\nk=v\n")
	require.ErrorContains(t, err, "not a key")
}

func TestUnknownKeys(t *testing.T) {
	t.Parallel()
	var typ, name string
	newBinder := func() *Binder {
		b := NewBinder()
		b.String("flushDiskType", &typ)
		b.String("brokerName", &name)
		b.Ignore("Petrel sizes its own pools", "serverWorkerThreads")
		b.AcceptRocketMQ(BrokerConfig, MessageStoreConfig)
		return b
	}
	f, err := Parse("broker.conf", strings.NewReader("# comment\n"+
		"brokerName=a\n"+
		"serverWorkerThreads=8\n"+ // ignored, with the given reason
		"haListenPort=10912\n"+ // RocketMQ key, not bound
		"kvConfigPath=/x\n"+ // RocketMQ name-server key in a broker file
		"enableControllerMode=true\n"+ // RocketMQ 5 controller key
		"flushDiskTyp=SYNC_FLUSH\n"+
		"zzzzzz=1\n"+
		"flushDiskTyp=SYNC_FLUSH\n"))
	require.NoError(t, err)
	res, err := newBinder().Apply(f)
	require.NoError(t, err)
	require.Equal(t, []string{"flushDiskTyp", "zzzzzz"}, res.Unknown)
	require.Equal(t, "broker.conf:7: unknown key flushDiskTyp (did you mean flushDiskType?)\n"+
		"broker.conf:8: unknown key zzzzzz (neither a Petrel nor a RocketMQ key)", res.Err().Error())
	var uk *UnknownKeyError
	require.ErrorAs(t, res.Err(), &uk)
	require.Equal(t, UnknownKeyError{Source: "broker.conf", Line: 7, Key: "flushDiskTyp", Suggestion: "flushDiskType"}, *uk)
	require.Equal(t, "Petrel sizes its own pools", res.Ignored["serverWorkerThreads"])
	require.Contains(t, res.Ignored["haListenPort"], "MessageStoreConfig key that Petrel does not implement")
	require.Contains(t, res.Ignored["kvConfigPath"], "which this server does not read")
	require.Contains(t, res.Ignored["enableControllerMode"], "controller")
	require.Empty(t, typ, "a misspelt key sets nothing")

	// Without AcceptRocketMQ, RocketMQ keys are unknown too.
	b := NewBinder()
	b.String("brokerName", &name)
	res, err = b.Apply(f)
	require.NoError(t, err)
	require.Contains(t, res.Unknown, "haListenPort")

	f, err = Parse("broker.conf", strings.NewReader("brokerName=a\nserverWorkerThreads=1\n"))
	require.NoError(t, err)
	res, err = newBinder().Apply(f)
	require.NoError(t, err)
	require.NoError(t, res.Err())
}

func TestNearest(t *testing.T) {
	t.Parallel()
	bound := func(k string) bool { return k == "brokerName" || k == "abcd" }
	cands := []string{"flushDiskType", "brokerName", "brokerIP1", "abcd", "abce", "abcf"}
	f := func(key, want string) {
		t.Helper()
		require.Equal(t, want, nearest(key, bound, cands), key)
	}
	f("flushDiskTyp", "flushDiskType")  // deletion
	f("flushdisktype", "flushDiskType") // case
	f("brokerNmae", "brokerName")       // transposition
	f("brokerip1", "brokerIP1")
	f("abcx", "abcd") // ties go to a bound key
	f("abxx", "abcd")
	f("zzzzzzzzz", "")
	f("flushDisk", "") // 4 edits away from a 13-letter key: too far for a 9-letter one

	require.Equal(t, 0, editDistance("", ""))
	require.Equal(t, 3, editDistance("", "abc"))
	require.Equal(t, 1, editDistance("ab", "ba"))
	require.Equal(t, 3, editDistance("kitten", "sitting"))
}

func TestLocate(t *testing.T) {
	t.Parallel()
	var a, b, c int
	bd := NewBinder()
	bd.Int("keyA", &a)
	bd.Int("keyB", &b)
	bd.Int("keyC", &c)
	bd.Alias("oldC", "keyC")
	f, err := Parse("x.conf", strings.NewReader("keyA=1\n\nkeyB=2\noldC=3\n"))
	require.NoError(t, err)
	_, err = bd.Apply(f)
	require.NoError(t, err)
	require.Equal(t, 3, c, "set through the alias")
	require.NoError(t, bd.Set("flag --b", "keyB", "5"))
	require.Equal(t, "x.conf:1", bd.Origin("keyA"))
	require.Equal(t, "flag --b", bd.Origin("keyB"), "the flag came last")
	require.Equal(t, "x.conf:4", bd.Origin("keyC"))
	require.Equal(t, "x.conf:4", bd.Origin("oldC"))

	wrapped := fmt.Errorf("broker: config: %w", Invalid("keyA", "%d is too small", 1))
	require.Equal(t, "broker: config: key keyA: 1 is too small", wrapped.Error())
	require.Equal(t, "x.conf:1: key keyA: 1 is too small", bd.Locate(wrapped).Error())
	require.Equal(t, "flag --b: key keyB: bad", bd.Locate(Invalid("keyB", "bad")).Error())

	// A key that kept its default points at a related key that was set.
	unset := NewBinder()
	var d int
	unset.Int("keyD", &d)
	unset.Int("keyA", &a)
	require.NoError(t, unset.Set("environment A", "keyA", "1"))
	e := Invalid("keyD", "does not fit keyA")
	e.Also = []string{"keyA"}
	require.Equal(t, "environment A: key keyD: does not fit keyA", unset.Locate(e).Error())
	// Nothing set at all: unchanged.
	e = Invalid("keyD", "bad")
	require.Same(t, e, unset.Locate(e))
	plain := errors.New("not about a key")
	require.Same(t, plain, bd.Locate(plain))

	// Bad values say where they came from.
	f, err = Parse("x.conf", strings.NewReader("keyA=1\nkeyB=two\n"))
	require.NoError(t, err)
	_, err = bd.Apply(f)
	var ke *KeyError
	require.ErrorAs(t, err, &ke)
	require.Equal(t, KeyError{Key: "keyB", Origin: "x.conf:2", Err: ke.Err}, *ke)
	require.Equal(t, `x.conf:2: key keyB: want an integer, got "two"`, err.Error())
	require.Equal(t, `environment NAMESRV_ADDR: key keyA: want an integer, got "x"`,
		bd.Set("environment NAMESRV_ADDR", "keyA", "x").Error())
}

func TestSettings(t *testing.T) {
	t.Parallel()
	var (
		name  string
		port  int
		on    bool
		wait  time.Duration
		idle  time.Duration
		role  = "ASYNC_MASTER"
		addrs = []string{"a:1"}
	)
	b := NewBinder()
	b.String("brokerName", &name)
	b.Int("listenPort", &port)
	b.Bool("traceOn", &on)
	b.Millis("syncFlushTimeout", &wait)
	b.Seconds("idle", &idle)
	b.Enum("brokerRole", &role, "ASYNC_MASTER", "SYNC_MASTER")
	b.Func("namesrvAddr", func(v string) error { addrs = strings.Split(v, ";"); return nil })
	b.Getter("namesrvAddr", func() string { return strings.Join(addrs, ";") })
	b.Func("raw", func(string) error { return nil })
	f, err := Parse("b.conf", strings.NewReader("brokerName=x\nsyncFlushTimeout=1500\nidle=7\nraw=as written\n"))
	require.NoError(t, err)
	_, err = b.Apply(f)
	require.NoError(t, err)
	require.NoError(t, b.Set("flag --namesrv", "namesrvAddr", "b:2;c:3"))
	require.Equal(t, []Setting{
		{Key: "brokerName", Value: "x", Origin: "b.conf:1"},
		{Key: "brokerRole", Value: "ASYNC_MASTER"},
		{Key: "idle", Value: "7", Origin: "b.conf:3"},
		{Key: "listenPort", Value: "0"},
		{Key: "namesrvAddr", Value: "b:2;c:3", Origin: "flag --namesrv"},
		{Key: "raw", Value: "as written", Origin: "b.conf:4"},
		{Key: "syncFlushTimeout", Value: "1500", Origin: "b.conf:2"},
		{Key: "traceOn", Value: "false"},
	}, b.Settings())
	require.Panics(t, func() { b.Getter("unbound", func() string { return "" }) })
	require.Panics(t, func() { b.Alias("x", "unbound") })
}
