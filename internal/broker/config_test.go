package broker

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/petrelmq/petrel/internal/properties"
	"github.com/petrelmq/petrel/internal/store"
	"github.com/stretchr/testify/require"
)

func TestDefaultConfigValidates(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	require.NoError(t, c.Validate())
	require.Equal(t, "0.0.0.0:10911", c.listenAddr())
	require.Equal(t, 8, c.DefaultTopicQueueNums)
	require.Equal(t, 6, c.BrokerPermission)
}

func TestBindProperties(t *testing.T) {
	t.Parallel()
	conf := `
brokerClusterName=C1
brokerName=broker-b
brokerId=0
namesrvAddr=10.0.0.1:9876; 10.0.0.2:9876
listenPort=10921
fastListenPort=10919
brokerIP1=10.0.0.9
brokerIP2=10.1.0.9
brokerRole=SYNC_MASTER
flushDiskType=SYNC_FLUSH
deleteWhen=01;02
fileReservedTime=48
storeCheckpoint=/data/cp
storePathRootDir=/data/store
mapedFileSizeConsumeQueue=6000
diskSpaceWarningLevelRatio=0.90
diskSpaceCleanForciblyRatio=80
autoCreateTopicEnable=false
waitTimeMillsInSendQueue=400
messageDelayLevel=1s 2s
serverWorkerThreads=8
somethingUnknown=1
`
	f, err := properties.Parse("broker.conf", strings.NewReader(conf))
	require.NoError(t, err)
	c := DefaultConfig()
	b := properties.NewBinder()
	c.BindProperties(b)
	res, err := b.Apply(f)
	require.NoError(t, err)
	require.Equal(t, []string{"somethingUnknown"}, res.Unknown)
	require.EqualError(t, res.Err(), "broker.conf:23: unknown key somethingUnknown (neither a Petrel nor a RocketMQ key)")
	require.Contains(t, res.Ignored, "serverWorkerThreads")
	require.NoError(t, c.Validate())

	require.Equal(t, "C1", c.ClusterName)
	require.Equal(t, "broker-b", c.BrokerName)
	require.Equal(t, []string{"10.0.0.1:9876", "10.0.0.2:9876"}, c.NameServers)
	require.Equal(t, "10.0.0.9", c.BrokerIP1)
	require.Equal(t, "10.1.0.9", c.BrokerIP2)
	require.Equal(t, "0.0.0.0:10921", c.listenAddr())
	addr, explicit, on := c.fastListenAddr(10921)
	require.Equal(t, "0.0.0.0:10919", addr)
	require.True(t, explicit && on)
	require.Equal(t, RoleSyncMaster, c.BrokerRole)
	require.Equal(t, store.SyncFlush, c.Store.FlushDiskType)
	require.Equal(t, []int{1, 2}, c.Store.DeleteWhen)
	require.Equal(t, 48*time.Hour, c.Store.FileReservedTime)
	require.Equal(t, "/data/store", c.Store.RootDir)
	require.Equal(t, filepath.Join("/data/store", "commitlog"), c.Store.CommitLogDir)
	require.Equal(t, "/data/cp", c.Store.CheckpointPath, "an explicit path set before the root stays")
	require.Equal(t, 300, c.Store.ConsumeQueueEntriesPerFile)
	require.Equal(t, 90, c.Store.DiskFullRatio)
	require.Equal(t, 80, c.Store.DiskSpaceCleanForciblyRatio)
	require.False(t, c.AutoCreateTopicEnable)
	require.Equal(t, 400*time.Millisecond, c.WaitTimeInSendQueue)
	require.Equal(t, "1s 2s", c.Store.MessageDelayLevel)
}

// Every validation error about a setting names its broker.conf key (a
// *properties.KeyError), never the Go field.
func TestValidateNamesKey(t *testing.T) {
	t.Parallel()
	check := func(mut func(*Config), key, want string) error {
		t.Helper()
		c := DefaultConfig()
		mut(&c)
		err := c.Validate()
		require.Error(t, err)
		var ke *properties.KeyError
		require.ErrorAs(t, err, &ke)
		require.Equal(t, key, ke.Key)
		require.Contains(t, err.Error(), want)
		require.True(t, strings.HasPrefix(err.Error(), "broker: config: key "+key) ||
			strings.HasPrefix(err.Error(), "broker: config: "+key+"="), err.Error())
		return err
	}
	f := func(mut func(*Config), key, want string) {
		t.Helper()
		require.NotContains(t, check(mut, key, want).Error(), "Config.")
	}
	f(func(c *Config) { c.ClusterName = "" }, "brokerClusterName", "is empty")
	f(func(c *Config) { c.BrokerID = -1 }, "brokerId", "negative")
	f(func(c *Config) { c.BrokerIP1 = "0.0.0.0" }, "brokerIP1", "cannot be dialled")
	f(func(c *Config) { c.BrokerIP1 = "host" }, "brokerIP1", "not an IP address")
	f(func(c *Config) { c.BrokerIP2 = "::" }, "brokerIP2", "cannot be dialled")
	f(func(c *Config) { c.NameServers = []string{"nohost"} }, "namesrvAddr", `entry "nohost" is not host:port`)
	f(func(c *Config) { c.BrokerName = "a b" }, "brokerName", "a b")
	f(func(c *Config) { c.ListenPort = 0 }, "listenPort", "outside")
	f(func(c *Config) { c.DefaultTopicQueueNums = 0 }, "defaultTopicQueueNums", "0 is outside [1, 1024]")
	f(func(c *Config) { c.MaxHeldPulls = 0 }, "maxHeldPulls", "at least 1")
	f(func(c *Config) { c.PullWorkers = 0 }, "pullMessageThreadPoolNums", "at least 1")
	f(func(c *Config) { c.FastListenPort = -2 }, "fastListenPort", "outside")
	f(func(c *Config) { c.TimerPrecision = time.Microsecond }, "timerPrecisionMs", "below 1ms")
	f(func(c *Config) { c.TransactionTimeOut = -1 }, "transactionTimeOut", "negative")
	f(func(c *Config) { c.RegisterTimeout = 0 }, "registerBrokerTimeoutMills", "positive")
	f(func(c *Config) { c.TransactionCheckMax = -1 }, "transactionCheckMax", "negative")
	// Store settings, from the store's *ConfigError.
	f(func(c *Config) { c.Store.MessageDelayLevel = "1x" }, "messageDelayLevel", "1x")
	f(func(c *Config) { c.Store.DiskMaxUsedSpaceRatio = 99 }, "diskMaxUsedSpaceRatio", "99% outside [10, 95]")
	f(func(c *Config) { c.Store.DiskFullRatio = 5 }, "diskSpaceWarningLevelRatio", "5%")
	f(func(c *Config) { c.Store.CommitLogSegmentSize = 100 }, "mappedFileSizeCommitLog", "below 4096")
	f(func(c *Config) { c.Store.MaxMessageSize = 64 }, "maxMessageSize", "too small")
	f(func(c *Config) { c.Store.FileReservedTime = 0 }, "fileReservedTime", "positive")
	// Remoting settings, checked one by one against remoting's own rules (whose
	// text follows the key).
	check(func(c *Config) { c.Remoting.MaxFrameSize = 10 }, "maxFrameSize", "outside [1 KiB, 1 GiB]")
	check(func(c *Config) { c.Remoting.IdleTimeout = -time.Second }, "serverChannelMaxIdleTimeSeconds", "negative")
}

func TestCheckRole(t *testing.T) {
	t.Parallel()
	f := func(role string, id int64, key, want string) {
		t.Helper()
		c := DefaultConfig()
		c.BrokerRole, c.BrokerID = role, id
		err := c.Validate()
		if want == "" {
			require.NoError(t, err)
			return
		}
		require.EqualError(t, err, "broker: config: "+want)
		var ke *properties.KeyError
		require.ErrorAs(t, err, &ke)
		require.Equal(t, key, ke.Key)
	}
	f(RoleAsyncMaster, 0, "", "")
	f(RoleAsyncMaster, 1, "brokerId", "key brokerId: 1 with brokerRole=ASYNC_MASTER: a master has brokerId 0 (a slave needs brokerRole=SLAVE)")
	f(RoleSyncMaster, 2, "brokerId", "key brokerId: 2 with brokerRole=SYNC_MASTER: a master has brokerId 0 (a slave needs brokerRole=SLAVE)")
	f(RoleSlave, 0, "brokerId", "key brokerId: 0 with brokerRole=SLAVE: a slave has a brokerId above 0")
	f("MASTER", 0, "brokerRole", `key brokerRole: "MASTER": want ASYNC_MASTER, SYNC_MASTER or SLAVE`)
	f(RoleSyncMaster, 0, "", "")
	f(RoleSlave, 1, "", "")
}

// bind returns a default Config with conf applied, and the binder.
func bind(t *testing.T, conf string) (*Config, *properties.Binder, properties.Result, error) {
	t.Helper()
	f, err := properties.Parse("broker.conf", strings.NewReader(conf))
	require.NoError(t, err)
	c := DefaultConfig()
	b := properties.NewBinder()
	c.BindProperties(b)
	res, err := b.Apply(f)
	return &c, b, res, err
}

func TestNotImplementedRefused(t *testing.T) {
	t.Parallel()
	acl, _, _, err := bind(t, "brokerName=a\naclEnable=true\naclFilePath=/etc/acl.yml\naccessKey=brokerKey1\nsecretKey=brokerSecret1\n")
	require.NoError(t, err, "ACL is implemented")
	require.True(t, acl.ACLEnable)
	require.Equal(t, "/etc/acl.yml", acl.ACLPath())
	require.Equal(t, "brokerSecret1", acl.Credentials.SecretKey)
	_, _, _, err = bind(t, "enableDLegerCommitLog=TRUE\n")
	require.ErrorContains(t, err, "broker.conf:1: key enableDLegerCommitLog: DLedger replication is not implemented")
	_, _, _, err = bind(t, "aclEnable=yes\n")
	require.ErrorContains(t, err, `want true or false, got "yes"`)
	c, _, res, err := bind(t, "aclEnable=false\nenableDLegerCommitLog=false\n")
	require.NoError(t, err)
	require.NoError(t, res.Err())
	require.NoError(t, c.Validate())
}

func TestMappedFileSizeSpellings(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"mapped", "maped"} {
		c, b, res, err := bind(t, prefix+"FileSizeCommitLog=2097152\n"+prefix+"FileSizeConsumeQueue=6000\n")
		require.NoError(t, err)
		require.NoError(t, res.Err())
		require.Empty(t, res.Ignored, prefix)
		require.Equal(t, int64(2097152), c.Store.CommitLogSegmentSize, prefix)
		require.Equal(t, 300, c.Store.ConsumeQueueEntriesPerFile, prefix)
		require.Equal(t, "broker.conf:1", b.Origin("mappedFileSizeCommitLog"))
	}
}

// A real RocketMQ 4.9 broker.conf loads: every key RocketMQ's broker reads is
// either bound or accepted with no effect, and the keys Petrel lists as
// ignored are real RocketMQ keys (not typos that would hide a real one).
func TestRocketMQBrokerKeysAccepted(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	b := properties.NewBinder()
	c.BindProperties(b)
	var conf strings.Builder
	for _, k := range properties.RocketMQKeys(properties.BrokerConfig, properties.MessageStoreConfig,
		properties.NettyServerConfig, properties.NettyClientConfig, properties.Controller) {
		if !b.Known(k) {
			conf.WriteString(k + "=1\n")
		}
	}
	f, err := properties.Parse("broker.conf", strings.NewReader(conf.String()))
	require.NoError(t, err)
	require.Greater(t, len(f.Entries), 100)
	res, err := b.Apply(f)
	require.NoError(t, err)
	require.NoError(t, res.Err())
	require.Len(t, res.Ignored, len(f.Entries))
	for _, k := range b.IgnoredKeys() {
		require.NotEmpty(t, properties.RocketMQClasses(k), "ignored key %s is not a RocketMQ key", k)
	}
}

func TestStoreFieldKeys(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	b := properties.NewBinder()
	c.BindProperties(b)
	st := reflect.TypeOf(store.Config{})
	for field, keys := range storeFieldKeys {
		_, ok := st.FieldByName(field)
		require.True(t, ok, "store.Config has no field %s", field)
		for _, k := range keys {
			require.True(t, b.Known(k), "key %s of %s is not bound", k, field)
		}
	}
	for _, k := range remotingKeys {
		require.True(t, b.Known(k.key), k.key)
	}
}

func TestSettingsShowDefaults(t *testing.T) {
	t.Parallel()
	c, b, _, err := bind(t, "storePathRootDir=/data/store\n")
	require.NoError(t, err)
	got := map[string]properties.Setting{}
	for _, s := range b.Settings() {
		got[s.Key] = s
	}
	want := map[string]string{
		"flushDiskType":              "ASYNC_FLUSH",
		"brokerRole":                 "ASYNC_MASTER",
		"deleteWhen":                 "04",
		"fileReservedTime":           "72",
		"diskSpaceWarningLevelRatio": "0.90",
		"mappedFileSizeCommitLog":    "1073741824",
		"mappedFileSizeConsumeQueue": "6000000",
		"storePathRootDir":           "/data/store",
		"storePathCommitLog":         filepath.Join("/data/store", "commitlog"),
		"storeCheckpoint":            filepath.Join("/data/store", "checkpoint"),
		"listenPort":                 "10911",
		"fastListenPort":             "0",
		"aclEnable":                  "false",
		"syncFlushTimeout":           "5000",
	}
	for k, v := range want {
		require.Equal(t, v, got[k].Value, k)
	}
	require.Equal(t, "broker.conf:1", got["storePathRootDir"].Origin)
	require.Empty(t, got["flushDiskType"].Origin)
	_, alias := got["mapedFileSizeCommitLog"]
	require.False(t, alias, "aliases are shown under their key")
	require.Equal(t, "/data/store", c.Store.RootDir)
}

func TestFastListenAddrDefaults(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	addr, explicit, on := c.fastListenAddr(10911)
	require.Equal(t, "0.0.0.0:10909", addr, "listenPort - 2, as RocketMQ")
	require.False(t, explicit)
	require.True(t, on)
	c.ListenAddr = "127.0.0.1:0"
	addr, _, _ = c.fastListenAddr(40000)
	require.Equal(t, "127.0.0.1:39998", addr, "from the bound port, on the same host")
	c.FastListenPort = -1
	_, _, on = c.fastListenAddr(10911)
	require.False(t, on)
}
