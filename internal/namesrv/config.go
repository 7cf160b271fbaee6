package namesrv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmq/petrel/internal/acl"
	"github.com/petrelmq/petrel/internal/properties"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// Config configures a name server. Build it with DefaultConfig and change fields;
// New validates it.
type Config struct {
	// ListenAddr is the TCP address to listen on. Default "0.0.0.0:9876". It
	// overrides Remoting.ListenAddr.
	ListenAddr string
	// KVConfigPath is the file holding the KV configuration, in the JSON shape the
	// Java name server uses. Default "$HOME/namesrv/kvConfig.json" (the RocketMQ
	// default); its directory is created on the first write.
	KVConfigPath string
	// OrderMessageEnable makes routes carry orderTopicConf from the KV namespace
	// ORDER_TOPIC_CONFIG. Default false. Changeable at runtime
	// (UPDATE_NAMESRV_CONFIG key orderMessageEnable).
	OrderMessageEnable bool
	// BrokerTimeout is how long a broker address may stay silent before the scan
	// drops it. Default 120 s. Changeable at runtime (key brokerTimeoutMillis).
	BrokerTimeout time.Duration
	// ScanInterval is the period of the liveness scan; the first scan runs after
	// ScanFirstDelay. Default 10 s.
	ScanInterval time.Duration
	// ScanFirstDelay is the delay of the first liveness scan after Start. Default
	// 5 s, as in RocketMQ.
	ScanFirstDelay time.Duration
	// Remoting configures the TCP server. Default remoting.DefaultServerConfig();
	// its ListenAddr is replaced by ListenAddr.
	Remoting remoting.ServerConfig
	// FS is the filesystem of the KV file. Default vfs.OS.
	FS vfs.FS
	// EnableControllerInNamesrv runs a controller in the name server's
	// process (enableControllerInNamesrv, RocketMQ 5.x's key), configured by
	// the controller keys of the same file. The name server does not use it:
	// the command that starts the name server starts the controller too.
	// Default false.
	EnableControllerInNamesrv bool
	// ACLEnable is aclEnable (Petrel: RocketMQ's name server has no ACL).
	// With it, the requests that change state (REGISTER_BROKER,
	// UNREGISTER_BROKER, WIPE/ADD_WRITE_PERM_OF_BROKER, PUT/DELETE_KV_CONFIG,
	// UPDATE_NAMESRV_CONFIG, DELETE_TOPIC_IN_NAMESRV) must be signed by an
	// admin account of the ACL file; route and config reads stay open.
	// Default false.
	ACLEnable bool
	// ACLFilePath is aclFilePath: the plain_acl.yml file. Default "":
	// plain_acl.yml next to KVConfigPath.
	ACLFilePath string
	// TLS is the tls.server.* keys of the name server's port (tls.enable
	// and the client keys have no use here). Default: TLS off.
	TLS remoting.TLSSettings
}

// ACLPath returns the plain_acl.yml the name server reads.
func (c *Config) ACLPath() string {
	if c.ACLFilePath != "" {
		return c.ACLFilePath
	}
	return acl.DefaultPath(filepath.Dir(c.KVConfigPath))
}

// DefaultConfig returns the RocketMQ defaults.
func DefaultConfig() Config {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		home = "."
	}
	return Config{
		ListenAddr:     "0.0.0.0:9876",
		KVConfigPath:   filepath.Join(home, "namesrv", "kvConfig.json"),
		BrokerTimeout:  120 * time.Second,
		ScanInterval:   10 * time.Second,
		ScanFirstDelay: 5 * time.Second,
		Remoting:       remoting.DefaultServerConfig(),
		FS:             vfs.OS,
	}
}

// Validate reports the first bad setting. An error about a setting a
// namesrv.conf key configures wraps a *properties.KeyError naming the key, so
// that the command that loaded the file can point at the file and line
// (properties.Binder.Locate).
func (c *Config) Validate() error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("namesrv: config: %w", err)
	}
	return nil
}

func (c *Config) validate() error {
	inv := properties.Invalid
	switch {
	case c.ListenAddr == "":
		e := inv(keyListenAddr, "is empty")
		e.Also = []string{"listenPort"}
		return e
	case c.KVConfigPath == "":
		return inv(keyKVConfigPath, "is empty")
	case c.BrokerTimeout <= 0:
		return inv(keyBrokerTimeout, "%v must be positive", c.BrokerTimeout)
	case c.ScanInterval <= 0:
		return inv(keyScanInterval, "%v must be positive", c.ScanInterval)
	case c.ScanFirstDelay < 0:
		return inv(keyScanFirstDelay, "%v must not be negative", c.ScanFirstDelay)
	case c.FS == nil:
		return errors.New("FS is nil")
	}
	// Check each remoting field a key sets alone on top of the defaults, so
	// that remoting's error is reported under the key without repeating its
	// rules.
	for _, k := range []struct {
		key  string
		copy func(dst *remoting.ServerConfig)
	}{
		{"maxFrameSize", func(d *remoting.ServerConfig) { d.MaxFrameSize = c.Remoting.MaxFrameSize }},
		{"serverMemoryBudgetBytes", func(d *remoting.ServerConfig) { d.MemoryBudget = c.Remoting.MemoryBudget }},
		{"serverMaxInflightPerConnection", func(d *remoting.ServerConfig) { d.MaxInflightPerConn = c.Remoting.MaxInflightPerConn }},
		{"serverChannelMaxIdleTimeSeconds", func(d *remoting.ServerConfig) { d.IdleTimeout = c.Remoting.IdleTimeout }},
		{"serverMaxConnectionsPerAddress", func(d *remoting.ServerConfig) { d.MaxConnsPerAddr = c.Remoting.MaxConnsPerAddr }},
		{"serverMaxRequestsPerSecondPerAddress", func(d *remoting.ServerConfig) {
			d.MaxRequestsPerSecondPerAddr = c.Remoting.MaxRequestsPerSecondPerAddr
		}},
	} {
		probe := remoting.DefaultServerConfig()
		probe.ListenAddr = "127.0.0.1:0"
		k.copy(&probe)
		if err := probe.Validate(); err != nil {
			return &properties.KeyError{Key: k.key, Err: fmt.Errorf("key %s: %w", k.key, err)}
		}
	}
	rc := c.Remoting
	rc.ListenAddr = c.ListenAddr
	if err := rc.Validate(); err != nil {
		return fmt.Errorf("Remoting: %w", err)
	}
	return nil
}

// Property keys of GET_NAMESRV_CONFIG / UPDATE_NAMESRV_CONFIG. Durations are whole
// milliseconds, as RocketMQ writes them.
const (
	keyListenAddr         = "listenAddr"
	keyKVConfigPath       = "kvConfigPath"
	keyOrderMessageEnable = "orderMessageEnable"
	keyBrokerTimeout      = "brokerTimeoutMillis"
	keyScanInterval       = "scanIntervalMillis"
	keyScanFirstDelay     = "scanFirstDelayMillis"
)

// runtimeConfig is the part of Config that UPDATE_NAMESRV_CONFIG may change.
type runtimeConfig struct {
	OrderMessageEnable bool
	BrokerTimeout      time.Duration
}

// configProperties renders the current config as properties text, one key=value
// per line, sorted by key.
func configProperties(c Config, rc runtimeConfig) []byte {
	kv := map[string]string{
		keyListenAddr:         c.ListenAddr,
		keyKVConfigPath:       c.KVConfigPath,
		keyOrderMessageEnable: strconv.FormatBool(rc.OrderMessageEnable),
		keyBrokerTimeout:      strconv.FormatInt(rc.BrokerTimeout.Milliseconds(), 10),
		keyScanInterval:       strconv.FormatInt(c.ScanInterval.Milliseconds(), 10),
		keyScanFirstDelay:     strconv.FormatInt(c.ScanFirstDelay.Milliseconds(), 10),
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, kv[k])
	}
	return b.Bytes()
}

// applyConfigUpdate parses properties text and returns rc with the updates
// applied. All or nothing: an unknown key, a key that cannot change at runtime, or
// a bad value fails the whole update and names the key.
func applyConfigUpdate(body []byte, cur runtimeConfig) (runtimeConfig, error) {
	rc := cur
	f, err := properties.Parse("UPDATE_NAMESRV_CONFIG", bytes.NewReader(body))
	if err != nil {
		return cur, err
	}
	if len(f.Entries) == 0 {
		return cur, errors.New("no config entries in body")
	}
	b := properties.NewBinder()
	b.Bool(keyOrderMessageEnable, &rc.OrderMessageEnable)
	b.Millis(keyBrokerTimeout, &rc.BrokerTimeout)
	var fixed []string
	for _, e := range f.Entries {
		switch e.Key {
		case keyListenAddr, keyKVConfigPath, keyScanInterval, keyScanFirstDelay:
			fixed = append(fixed, e.Key)
		}
	}
	if len(fixed) > 0 {
		return cur, fmt.Errorf("config keys cannot change at runtime: %s", strings.Join(fixed, ", "))
	}
	res, err := b.Apply(f)
	if err != nil {
		return cur, err
	}
	if len(res.Unknown) > 0 {
		return cur, fmt.Errorf("unknown config keys: %s", strings.Join(res.Unknown, ", "))
	}
	if rc.BrokerTimeout <= 0 {
		return cur, fmt.Errorf("%s must be positive", keyBrokerTimeout)
	}
	return rc, nil
}

// BindProperties binds the keys of a namesrv.conf file to c: RocketMQ's
// listenPort, kvConfigPath, orderMessageEnable and serverChannelMaxIdleTimeSeconds,
// Petrel's listenAddr, brokerTimeoutMillis, scanIntervalMillis,
// scanFirstDelayMillis, maxFrameSize, serverMemoryBudgetBytes,
// serverMaxInflightPerConnection, serverMaxConnectionsPerAddress,
// serverMaxRequestsPerSecondPerAddress, aclEnable, aclFilePath and the
// tls.server.* keys, and RocketMQ 5.x's enableControllerInNamesrv. Every other RocketMQ 4.9 key
// (properties.AcceptRocketMQ) is accepted with no effect; any other key is
// unknown.
func (c *Config) BindProperties(b *properties.Binder) {
	b.AcceptRocketMQ(properties.NamesrvConfig, properties.NettyServerConfig)
	b.String(keyListenAddr, &c.ListenAddr)
	b.Func("listenPort", func(v string) error {
		port, err := strconv.ParseUint(v, 10, 16)
		if err != nil || port == 0 {
			return fmt.Errorf("want a TCP port 1-65535, got %q", v)
		}
		c.ListenAddr = "0.0.0.0:" + v
		return nil
	})
	b.Getter("listenPort", func() string {
		if i := strings.LastIndexByte(c.ListenAddr, ':'); i >= 0 {
			return c.ListenAddr[i+1:]
		}
		return ""
	})
	b.String(keyKVConfigPath, &c.KVConfigPath)
	b.Bool(keyOrderMessageEnable, &c.OrderMessageEnable)
	b.Millis(keyBrokerTimeout, &c.BrokerTimeout)
	b.Millis(keyScanInterval, &c.ScanInterval)
	b.Millis(keyScanFirstDelay, &c.ScanFirstDelay)
	b.Seconds("serverChannelMaxIdleTimeSeconds", &c.Remoting.IdleTimeout)
	b.Int("maxFrameSize", &c.Remoting.MaxFrameSize)
	b.Int64("serverMemoryBudgetBytes", &c.Remoting.MemoryBudget)
	b.Int("serverMaxInflightPerConnection", &c.Remoting.MaxInflightPerConn)
	b.Int("serverMaxConnectionsPerAddress", &c.Remoting.MaxConnsPerAddr)
	b.Int("serverMaxRequestsPerSecondPerAddress", &c.Remoting.MaxRequestsPerSecondPerAddr)
	b.Bool("enableControllerInNamesrv", &c.EnableControllerInNamesrv)
	b.Enum("tls.server.mode", &c.TLS.ServerMode, "disabled", "permissive", "enforcing")
	b.String("tls.server.certPath", &c.TLS.ServerCertPath)
	b.String("tls.server.keyPath", &c.TLS.ServerKeyPath)
	b.String("tls.server.trustCertPath", &c.TLS.ServerTrustCertPath)
	b.Enum("tls.server.need.client.auth", &c.TLS.ServerNeedClientAuth, "none", "optional", "require")
	b.Bool("aclEnable", &c.ACLEnable)
	b.String("aclFilePath", &c.ACLFilePath)
	b.Ignore("JVM-only setting", "rocketmqHome", "configStorePath", "productEnvName", "clusterTest")
	b.Ignore("Netty tuning; Petrel sizes its own pools and buffers",
		"serverWorkerThreads", "serverCallbackExecutorThreads", "serverSelectorThreads",
		"serverOnewaySemaphoreValue", "serverAsyncSemaphoreValue", "serverSocketSndBufSize",
		"serverSocketRcvBufSize", "serverPooledByteBufAllocatorEnable", "useEpollNativeSelector",
		"serverSocketBacklog")
}
