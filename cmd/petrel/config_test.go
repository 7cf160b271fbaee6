package main

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// These tests read NAMESRV_ADDR, so none runs in parallel: each sets it.

func writeConf(t *testing.T, name string, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	return p
}

// errLoaded is what runCmd returns when the configuration loaded.
var errLoaded = errors.New("test: configuration loaded; servers not started")

// runCmd runs petrel with args up to the point where it would start its
// servers, and returns its error: errLoaded if the configuration loaded.
func runCmd(t *testing.T, args ...string) error {
	t.Helper()
	runServers = func(*slog.Logger, ...component) error { return errLoaded }
	defer func() { runServers = runUntilSignal }()
	root := newRootCmd()
	root.SetArgs(append([]string{"--log-level", "error"}, args...))
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	return root.Execute()
}

func bufLogger() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

// A misspelt key stops every server command with the file, the line and the
// nearest key, instead of running with the default.
func TestUnknownKeyStopsStart(t *testing.T) {
	t.Setenv("NAMESRV_ADDR", "")
	conf := writeConf(t, "broker.conf",
		"# broker.conf",
		"brokerClusterName=DefaultCluster",
		"brokerName=broker-a",
		"brokerId=0",
		"deleteWhen=04",
		"brokerRole=ASYNC_MASTER",
		"flushDiskTyp=SYNC_FLUSH",
		"serverWorkerThreads=8")
	want := conf + ":7: unknown key flushDiskTyp (did you mean flushDiskType?)"
	require.EqualError(t, runCmd(t, "broker", "-c", conf), want)
	require.EqualError(t, runCmd(t, "standalone", "-c", conf, "--store", t.TempDir()), want)
	fixed := writeConf(t, "broker.conf", "brokerName=broker-a", "flushDiskType=SYNC_FLUSH", "serverWorkerThreads=8")
	require.ErrorIs(t, runCmd(t, "broker", "-c", fixed), errLoaded)
	require.ErrorIs(t, runCmd(t, "standalone", "-c", fixed, "--store", t.TempDir()), errLoaded)

	ns := writeConf(t, "namesrv.conf", "listenPort=9876", "kvConfigPth=/tmp/kv.json")
	require.EqualError(t, runCmd(t, "namesrv", "-c", ns), ns+":2: unknown key kvConfigPth (did you mean kvConfigPath?)")
	ns = writeConf(t, "namesrv.conf", "listenPort=9876", "kvConfigPath=/tmp/kv.json", "serverWorkerThreads=8")
	require.ErrorIs(t, runCmd(t, "namesrv", "-c", ns), errLoaded)

	// Every unknown key is reported, not only the first.
	conf = writeConf(t, "broker.conf", "brokerNmae=a", "flushDiskType=SYNC_FLUSH", "zzz=1")
	_, _, err := loadBrokerConfig(slog.New(slog.DiscardHandler), conf, nil)
	require.EqualError(t, err, conf+":1: unknown key brokerNmae (did you mean brokerName?)\n"+
		conf+":3: unknown key zzz (neither a Petrel nor a RocketMQ key)")
}

// RocketMQ keys Petrel does not implement load with a warning, so real
// RocketMQ files start; RocketMQ 5 controller-mode keys are implemented and
// load without one.
func TestRocketMQOnlyKeysWarn(t *testing.T) {
	t.Setenv("NAMESRV_ADDR", "")
	conf := writeConf(t, "broker.conf",
		"brokerClusterName=DefaultCluster",
		"brokerName=broker-a",
		"brokerId=0",
		"deleteWhen=04",
		"fileReservedTime=48",
		"brokerRole=ASYNC_MASTER",
		"flushDiskType=ASYNC_FLUSH",
		"serverWorkerThreads=8",
		"transientStorePoolEnable=false",
		"mappedFileSizeCommitLog=1073741824",
		"enableControllerMode=false",
		"controllerAddr=127.0.0.1:9878",
		"aclEnable=false")
	log, buf := bufLogger()
	cfg, ld, err := loadBrokerConfig(log, conf, nil)
	require.NoError(t, err)
	require.Equal(t, conf, ld.source)
	require.Equal(t, "broker-a", cfg.BrokerName)
	out := buf.String()
	for _, k := range []string{"serverWorkerThreads", "transientStorePoolEnable"} {
		require.Contains(t, out, `level=WARN msg="configuration key has no effect in Petrel" key=`+k, k)
	}
	for _, k := range []string{"mappedFileSizeCommitLog", "enableControllerMode", "controllerAddr"} {
		require.NotContains(t, out, "key="+k, "a key Petrel implements")
	}
}

// A bad value is reported where it came from: file and line, flag or
// environment variable, with the key, never the Go field.
func TestErrorsPointAtTheSource(t *testing.T) {
	t.Setenv("NAMESRV_ADDR", "")
	conf := writeConf(t, "broker.conf", "brokerName=a", "", "diskMaxUsedSpaceRatio=99")
	require.EqualError(t, runCmd(t, "broker", "-c", conf), conf+":3: key diskMaxUsedSpaceRatio: 99% outside [10, 95]")

	conf = writeConf(t, "broker.conf", "brokerName=a", "listenPort=ten")
	require.EqualError(t, runCmd(t, "broker", "-c", conf), conf+`:2: key listenPort: want a TCP port 1-65534, got "ten"`)

	conf = writeConf(t, "broker.conf", "mapedFileSizeCommitLog=1048576", "maxMessageSize=4194304")
	require.EqualError(t, runCmd(t, "broker", "-c", conf), conf+":2: key maxMessageSize: 4194304 bytes does not fit a segment of 1048576 bytes")
	// The same check with maxMessageSize at its default points at the segment size.
	conf = writeConf(t, "broker.conf", "brokerName=a", "mappedFileSizeCommitLog=1048576")
	require.EqualError(t, runCmd(t, "broker", "-c", conf), conf+":2: key maxMessageSize: 4194304 bytes does not fit a segment of 1048576 bytes")

	store := t.TempDir()
	conf = writeConf(t, "broker.conf", "brokerName=a", "aclEnable=true", "storePathRootDir="+store)
	missing := "aclEnable=true: acl: file does not exist: " + filepath.Join(store, "config", "plain_acl.yml")
	require.EqualError(t, runCmd(t, "broker", "-c", conf), missing)
	require.EqualError(t, runCmd(t, "standalone", "-c", conf, "--store", store), missing)

	require.EqualError(t, runCmd(t, "broker", "--namesrv", "nohost"), `flag --namesrv: key namesrvAddr: entry "nohost" is not host:port`)
	require.EqualError(t, runCmd(t, "standalone", "--listen-port", "0", "--store", t.TempDir()), `flag --listen-port: key listenPort: want a TCP port 1-65534, got "0"`)
	require.EqualError(t, runCmd(t, "namesrv", "--listen", ""), "flag --listen: key listenAddr: is empty")

	ns := writeConf(t, "namesrv.conf", "kvConfigPath=/tmp/kv.json", "brokerTimeoutMillis=0")
	require.EqualError(t, runCmd(t, "namesrv", "-c", ns), ns+":2: key brokerTimeoutMillis: 0s must be positive")

	t.Setenv("NAMESRV_ADDR", "10.0.0.1")
	require.EqualError(t, runCmd(t, "broker"), `environment NAMESRV_ADDR: key namesrvAddr: entry "10.0.0.1" is not host:port`)
}

// NAMESRV_ADDR is the default of namesrvAddr, as in RocketMQ: the file
// overrides it and --namesrv overrides both.
func TestNamesrvAddrPrecedence(t *testing.T) {
	discard := slog.New(slog.DiscardHandler)
	nsFlag := func(v string) []flagOverride {
		return []flagOverride{{flag: "namesrv", key: "namesrvAddr",
			value: func() string { return v }, set: func() bool { return v != "" }}}
	}
	withFile := writeConf(t, "broker.conf", "namesrvAddr=10.0.0.2:9876;10.0.0.3:9876")
	without := writeConf(t, "broker.conf", "brokerName=a")
	f := func(env, file, flag string, want []string, from string) {
		t.Helper()
		t.Setenv("NAMESRV_ADDR", env)
		cfg, ld, err := loadBrokerConfig(discard, file, nsFlag(flag))
		require.NoError(t, err)
		require.Equal(t, want, cfg.NameServers)
		require.Equal(t, from, ld.binder.Origin("namesrvAddr"))
	}
	f("", without, "", nil, "")
	f("10.0.0.1:9876", without, "", []string{"10.0.0.1:9876"}, "environment NAMESRV_ADDR")
	f("10.0.0.1:9876", "", "", []string{"10.0.0.1:9876"}, "environment NAMESRV_ADDR")
	f("10.0.0.1:9876", withFile, "", []string{"10.0.0.2:9876", "10.0.0.3:9876"}, withFile+":1")
	f("10.0.0.1:9876", withFile, "10.0.0.4:9876", []string{"10.0.0.4:9876"}, "flag --namesrv")
	f("", "", "10.0.0.4:9876", []string{"10.0.0.4:9876"}, "flag --namesrv")
}

// Standalone registers with its embedded name server; a namesrvAddr from
// NAMESRV_ADDR or the file that points elsewhere is reported as not used.
func TestStandaloneNamesrvAddr(t *testing.T) {
	store := t.TempDir()
	ovs := []flagOverride{{flag: "store", key: "storePathRootDir",
		value: func() string { return store }, set: func() bool { return true }}}
	f := func(env, conf string, warned bool) {
		t.Helper()
		t.Setenv("NAMESRV_ADDR", env)
		log, buf := bufLogger()
		bcfg, nscfg, bld, nsld, err := loadStandaloneConfig(log, conf, ovs, nil)
		require.NoError(t, err)
		require.NotNil(t, bld)
		require.NotNil(t, nsld)
		require.Equal(t, store, bcfg.Store.RootDir)
		require.Equal(t, filepath.Join(store, "config", "kvConfig.json"), nscfg.KVConfigPath)
		if warned {
			require.Contains(t, buf.String(), "level=WARN msg=\"standalone: namesrvAddr is not used")
		} else {
			require.NotContains(t, buf.String(), "namesrvAddr is not used")
		}
	}
	f("", "", false)
	f("127.0.0.1:9876", "", false) // the embedded name server itself
	f("localhost:9876", "", false)
	f("10.0.0.1:9876", "", true)
	f("", writeConf(t, "broker.conf", "namesrvAddr=10.0.0.1:9876"), true)
}

func TestSameLocalAddr(t *testing.T) {
	f := func(addr, listen string, want bool) {
		t.Helper()
		require.Equal(t, want, sameLocalAddr(addr, listen), "%s vs %s", addr, listen)
	}
	f("127.0.0.1:9876", "0.0.0.0:9876", true)
	f("localhost:9876", "0.0.0.0:9876", true)
	f("[::1]:9876", "[::]:9876", true)
	f("127.0.0.1:9876", "127.0.0.1:9876", true)
	f("10.0.0.1:9876", "10.0.0.1:9876", true)
	f("127.0.0.1:9877", "0.0.0.0:9876", false)
	f("10.0.0.1:9876", "0.0.0.0:9876", false)
	f("127.0.0.1:9876", "10.0.0.1:9876", false)
	f("nohost", "0.0.0.0:9876", false)
}

// The effective configuration is logged: explicit keys and the keys that
// decide durability at INFO, every key with its origin at DEBUG.
func TestEffectiveConfigLogged(t *testing.T) {
	t.Setenv("NAMESRV_ADDR", "10.0.0.1:9876")
	conf := writeConf(t, "broker.conf", "brokerName=broker-b", "flushDiskType=SYNC_FLUSH")
	log, buf := bufLogger()
	_, ld, err := loadBrokerConfig(log, conf, nil)
	require.NoError(t, err)
	logEffective(log, "broker", ld, brokerAlwaysLogged...)
	var info string
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, `level=INFO msg="broker configuration"`) {
			info = l
		}
	}
	require.NotEmpty(t, info, buf.String())
	for _, kv := range []string{"source=" + conf, "brokerName=broker-b", "flushDiskType=SYNC_FLUSH",
		"namesrvAddr=10.0.0.1:9876", "brokerRole=ASYNC_MASTER", "brokerClusterName=DefaultCluster"} {
		require.Contains(t, info, kv)
	}
	require.NotContains(t, info, "maxHeldPulls", "defaults stay out of the INFO line")
	require.Contains(t, buf.String(), `level=DEBUG msg="broker configuration key" key=flushDiskType value=SYNC_FLUSH from=`+conf+":2")
	require.Contains(t, buf.String(), `level=DEBUG msg="broker configuration key" key=namesrvAddr value=10.0.0.1:9876 from="environment NAMESRV_ADDR"`)
	require.Contains(t, buf.String(), `level=DEBUG msg="broker configuration key" key=maxHeldPulls value=100000 from=default`)
}

// The broker's secret key never reaches the logs; the ACL and TLS keys load.
func TestSecretKeyNotLogged(t *testing.T) {
	t.Setenv("NAMESRV_ADDR", "")
	conf := writeConf(t, "broker.conf", "brokerName=a", "accessKey=brokerKey1", "secretKey=TopSecret-42",
		"tls.server.mode=permissive", "tls.server.certPath=/c.pem", "tls.server.keyPath=/k.pem", "tls.enable=true",
		"tls.server.need.client.auth=optional")
	log, buf := bufLogger()
	cfg, ld, err := loadBrokerConfig(log, conf, nil)
	require.NoError(t, err)
	logEffective(log, "broker", ld, brokerAlwaysLogged...)
	require.Equal(t, "TopSecret-42", cfg.Credentials.SecretKey)
	require.Equal(t, "permissive", cfg.TLS.ServerMode)
	require.True(t, cfg.TLS.ClientEnable)
	require.Contains(t, buf.String(), "brokerKey1")
	require.NotContains(t, buf.String(), "TopSecret-42")

	bad := writeConf(t, "broker.conf", "tls.server.mode=on")
	require.ErrorContains(t, runCmd(t, "broker", "-c", bad), "tls.server.mode")
}

// standalone protects its embedded name server as the broker's port: with
// aclEnable it needs the broker's keys, with enforcing TLS tls.enable.
func TestStandaloneSecurityNeedsBrokerSide(t *testing.T) {
	t.Setenv("NAMESRV_ADDR", "")
	store := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(store, "config"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(store, "config", "plain_acl.yml"),
		[]byte("accounts:\n  - accessKey: adminKey01\n    secretKey: adminSecret1\n    admin: true\n"), 0o600))
	conf := writeConf(t, "broker.conf", "aclEnable=true")
	require.ErrorContains(t, runCmd(t, "standalone", "-c", conf, "--store", store), "set accessKey and secretKey to an admin account")
	conf = writeConf(t, "broker.conf", "aclEnable=true", "accessKey=adminKey01", "secretKey=adminSecret1")
	require.EqualError(t, runCmd(t, "standalone", "-c", conf, "--store", store), errLoaded.Error())

	conf = writeConf(t, "broker.conf", "tls.server.mode=enforcing", "tls.server.certPath=/c", "tls.server.keyPath=/k")
	require.ErrorContains(t, runCmd(t, "standalone", "-c", conf, "--store", store), "set tls.enable=true")
}
