package broker

import (
	"path/filepath"
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
	require.Contains(t, res.Ignored, "serverWorkerThreads")
	require.NoError(t, c.Validate())

	require.Equal(t, "C1", c.ClusterName)
	require.Equal(t, "broker-b", c.BrokerName)
	require.Equal(t, []string{"10.0.0.1:9876", "10.0.0.2:9876"}, c.NameServers)
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

func TestValidateNamesField(t *testing.T) {
	t.Parallel()
	f := func(mut func(*Config), want string) {
		t.Helper()
		c := DefaultConfig()
		mut(&c)
		err := c.Validate()
		require.Error(t, err)
		require.Contains(t, err.Error(), want)
	}
	f(func(c *Config) { c.BrokerRole = RoleSlave }, "not supported yet")
	f(func(c *Config) { c.BrokerID = 1 }, "brokerId")
	f(func(c *Config) { c.BrokerIP1 = "0.0.0.0" }, "brokerIP1")
	f(func(c *Config) { c.BrokerIP1 = "host" }, "brokerIP1")
	f(func(c *Config) { c.NameServers = []string{"nohost"} }, "namesrvAddr")
	f(func(c *Config) { c.BrokerName = "a b" }, "brokerName")
	f(func(c *Config) { c.DefaultTopicQueueNums = 0 }, "defaultTopicQueueNums")
	f(func(c *Config) { c.Store.MessageDelayLevel = "1x" }, "MessageDelayLevel")
	f(func(c *Config) { c.MaxHeldPulls = 0 }, "maxHeldPulls")
	f(func(c *Config) { c.FastListenPort = -2 }, "fastListenPort")
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

func TestTopicNameRules(t *testing.T) {
	t.Parallel()
	require.NoError(t, validateTopicName("%RETRY%a_b-C|1"))
	require.Error(t, validateTopicName(""))
	require.Error(t, validateTopicName("a.b"))
	require.Error(t, validateTopicName(strings.Repeat("a", 128)))
	require.NoError(t, validateTopicName(strings.Repeat("a", 127)))
}

func TestBuildFilter(t *testing.T) {
	t.Parallel()
	f, err := buildFilter("*", "")
	require.NoError(t, err)
	require.True(t, f.MatchTagsCode(12345))
	f, err = buildFilter(" TagA || TagB ||", "TAG")
	require.NoError(t, err)
	require.True(t, f.MatchTagsCode(hashOf("TagA")))
	require.True(t, f.MatchTagsCode(hashOf("TagB")))
	require.False(t, f.MatchTagsCode(hashOf("TagC")))
	_, err = buildFilter("||", "TAG")
	require.Error(t, err)
	_, err = buildFilter("a > 1", "SQL92")
	require.ErrorIs(t, err, errSQL92)
}

func hashOf(tag string) int64 {
	var h int32
	for _, c := range tag {
		h = 31*h + c
	}
	return int64(h)
}
