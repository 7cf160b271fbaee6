package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"github.com/petrelmq/petrel/pkg/auth"
	"github.com/petrelmq/petrel/pkg/clock"
)

// Option configures the shared SDK core. Every option of this package is a
// SharedOption: producers, consumers and the admin client all accept it.
// Producer- and consumer-specific options live in their packages and embed
// ProducerOptionBase or ConsumerOptionBase.
type Option interface {
	apply(*config)
}

// ProducerOption is an option producer.New accepts: a SharedOption or one of
// package producer's options.
type ProducerOption interface {
	Option
	producerOption()
}

// ConsumerOption is an option the consumer package accepts: a SharedOption or
// one of package consumer's options.
type ConsumerOption interface {
	Option
	consumerOption()
}

// SharedOption is accepted by every kind of SDK client.
type SharedOption interface {
	ProducerOption
	ConsumerOption
}

// ProducerOptionBase does not change the shared configuration. Package producer
// embeds it in its option types so they satisfy ProducerOption, and recognises
// them by type assertion.
type ProducerOptionBase struct{}

func (ProducerOptionBase) apply(*config)   {}
func (ProducerOptionBase) producerOption() {}

// ConsumerOptionBase does for consumer options what ProducerOptionBase does for
// producer options.
type ConsumerOptionBase struct{}

func (ConsumerOptionBase) apply(*config)   {}
func (ConsumerOptionBase) consumerOption() {}

type sharedOption func(*config)

func (f sharedOption) apply(c *config) { f(c) }
func (sharedOption) producerOption()   {}
func (sharedOption) consumerOption()   {}
func opt(f func(*config)) SharedOption { return sharedOption(f) }
func (c *config) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("client: "+format, args...)
	}
}

// Defaults of the shared options.
const (
	DefaultRouteRefreshInterval = 30 * time.Second
	DefaultHeartbeatInterval    = 30 * time.Second
	DefaultCallTimeout          = 3 * time.Second
	DefaultNameServerTimeout    = 3 * time.Second
	DefaultDialTimeout          = 3 * time.Second
	// DefaultStaleRouteRefreshInterval is the default of
	// StaleRouteRefreshInterval.
	DefaultStaleRouteRefreshInterval = 500 * time.Millisecond
)

// config is the shared configuration built from Options.
type config struct {
	err error // first invalid option

	nameServers          []string
	routeSource          RouteSource
	namespace            string
	instanceName         string
	clientIP             netip.Addr
	log                  *slog.Logger
	hooks                []Hook
	routeRefreshInterval time.Duration
	heartbeatInterval    time.Duration
	callTimeout          time.Duration
	nameServerTimeout    time.Duration
	dialTimeout          time.Duration
	staleRouteInterval   time.Duration
	credentials          auth.Credentials
	tls                  *tls.Config
	maxInflightPerConn   int
	traceTopic           string // "" when trace is off
	clk                  clock.Clock
	randIntN             func(n int) int // picks the first name server; math/rand/v2 unless a test sets it
}

func defaultConfig() config {
	return config{
		log:                  slog.New(slog.DiscardHandler),
		routeRefreshInterval: DefaultRouteRefreshInterval,
		heartbeatInterval:    DefaultHeartbeatInterval,
		callTimeout:          DefaultCallTimeout,
		nameServerTimeout:    DefaultNameServerTimeout,
		dialTimeout:          DefaultDialTimeout,
		staleRouteInterval:   DefaultStaleRouteRefreshInterval,
		clk:                  clock.Real{},
		randIntN:             rand.IntN,
	}
}

// validate reports the first bad option.
func (c *config) validate() error {
	if c.err != nil {
		return c.err
	}
	if len(c.nameServers) == 0 && c.routeSource == nil {
		return errors.New("client: no name servers: use client.NameServers (or client.WithRouteSource)")
	}
	return nil
}

// NameServers sets the name-server addresses ("host:port"). Each argument may
// itself hold several addresses separated by ';' or ',' (the NAMESRV_ADDR form).
// Required unless WithRouteSource is given. The library never reads NAMESRV_ADDR;
// programs pass it here.
func NameServers(addrs ...string) SharedOption {
	return opt(func(c *config) {
		for _, a := range addrs {
			for _, part := range strings.FieldsFunc(a, func(r rune) bool { return r == ';' || r == ',' || r == ' ' }) {
				if _, err := netip.ParseAddrPort(part); err != nil {
					if host, port, ok := strings.Cut(part, ":"); !ok || host == "" || port == "" {
						c.fail("NameServers: %q is not host:port", part)
						return
					}
				}
				c.nameServers = append(c.nameServers, part)
			}
		}
		if len(c.nameServers) == 0 {
			c.fail("NameServers: no address given")
		}
	})
}

// WithRouteSource replaces name-server route discovery with src (tests, static
// routing). Name servers, if also given, are still used by admin calls.
func WithRouteSource(src RouteSource) SharedOption {
	return opt(func(c *config) {
		if src == nil {
			c.fail("WithRouteSource: nil source")
		}
		c.routeSource = src
	})
}

// Namespace prefixes topics and groups with "<ns>%" on the wire (RocketMQ
// namespaces). Default: none.
func Namespace(ns string) SharedOption {
	return opt(func(c *config) {
		if strings.ContainsAny(ns, "% ") {
			c.fail("Namespace: %q must not contain '%%' or spaces", ns)
		}
		c.namespace = ns
	})
}

// InstanceName makes the client id "<ip>@<name>" instead of
// "<ip>@<pid>#<n>". Two clients of one process given the same name share a
// client id: consumers of one group then refuse to start (see package
// consumer), so give each its own name.
func InstanceName(name string) SharedOption {
	return opt(func(c *config) {
		if name == "" || strings.ContainsAny(name, "@ ") {
			c.fail("InstanceName: %q must be non-empty without '@' or spaces", name)
		}
		c.instanceName = name
	})
}

// ClientIP sets the address used in the client id and in message ids. Default:
// the first up, non-loopback IPv4 address of the host, else 127.0.0.1.
func ClientIP(ip string) SharedOption {
	return opt(func(c *config) {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			c.fail("ClientIP: %v", err)
		}
		c.clientIP = a
	})
}

// WithLogger sets the logger. Default: discard.
func WithLogger(l *slog.Logger) SharedOption {
	return opt(func(c *config) {
		if l != nil {
			c.log = l
		}
	})
}

// WithHooks adds hooks (see Hook). Hooks are called in the order given.
func WithHooks(hooks ...Hook) SharedOption {
	return opt(func(c *config) {
		for _, h := range hooks {
			if h == nil {
				c.fail("WithHooks: nil hook")
				return
			}
		}
		c.hooks = append(c.hooks, hooks...)
	})
}

func positive(name string, d time.Duration, set func(*config)) SharedOption {
	return opt(func(c *config) {
		if d <= 0 {
			c.fail("%s: %s must be positive", name, d)
			return
		}
		set(c)
	})
}

// RouteRefreshInterval sets how often cached routes are refreshed from the name
// servers. Default 30s.
func RouteRefreshInterval(d time.Duration) SharedOption {
	return positive("RouteRefreshInterval", d, func(c *config) { c.routeRefreshInterval = d })
}

// HeartbeatInterval sets how often the client sends HEART_BEAT to every broker it
// knows. Default 30s; brokers drop a client after 120s without one.
func HeartbeatInterval(d time.Duration) SharedOption {
	return positive("HeartbeatInterval", d, func(c *config) { c.heartbeatInterval = d })
}

// CallTimeout bounds a request whose context has no deadline (admin calls,
// heartbeats, offsets). Default 3s.
func CallTimeout(d time.Duration) SharedOption {
	return positive("CallTimeout", d, func(c *config) { c.callTimeout = d })
}

// NameServerTimeout bounds one request to one name server before the next is
// tried. Default 3s.
func NameServerTimeout(d time.Duration) SharedOption {
	return positive("NameServerTimeout", d, func(c *config) { c.nameServerTimeout = d })
}

// MaxInflightPerConn caps the requests waiting for answers on one
// connection (to a broker or a name server): sends, pulls held by long
// polling, and every other call. At the cap a call waits (within its timeout)
// for an answer before it is written, so the client never has more in flight
// than the broker admits. Default 4096 (remoting.DefaultMaxInflightPerConn),
// the default of the broker's serverMaxInflightPerConnection; set it to that
// key's value when a broker lowers it. Petrel's and RocketMQ's brokers answer
// a request beyond their own limits SYSTEM_BUSY, which producers retry (see
// producer.BusyBackoff).
func MaxInflightPerConn(n int) SharedOption {
	return opt(func(c *config) {
		if n <= 0 {
			c.fail("MaxInflightPerConn: %d must be positive", n)
		}
		c.maxInflightPerConn = n
	})
}

// DialTimeout bounds connecting to a broker or name server. Default 3s.
func DialTimeout(d time.Duration) SharedOption {
	return positive("DialTimeout", d, func(c *config) { c.dialTimeout = d })
}

// StaleRouteRefreshInterval sets the least time between two refreshes of one
// topic's route that failures trigger (see Client.RefreshStaleRoute): a call
// to a broker that fails for a connection reason, a timeout, or an answer
// meaning the broker is not (or no longer) a writable master refreshes the
// topic's route at once, but at most once per this interval per topic,
// whatever the number of failing calls. Default 500ms. It bounds how soon
// after a name server learns of a new master the client follows it, and how
// many route requests a failing broker costs the name servers.
func StaleRouteRefreshInterval(d time.Duration) SharedOption {
	return positive("StaleRouteRefreshInterval", d, func(c *config) { c.staleRouteInterval = d })
}

// WithCredentials makes the client sign every request it sends (to brokers
// and name servers) with the ACL account c, as RocketMQ's AclClientRPCHook
// and rocketmq-client-go's WithCredentials do: needed when a broker runs with
// aclEnable=true. Credentials without an access key or a secret key are an
// error. Default: requests are not signed. The library never reads keys from
// the environment; programs pass them here.
func WithCredentials(c auth.Credentials) SharedOption {
	return opt(func(cfg *config) {
		if c.Empty() {
			cfg.fail("WithCredentials needs both an access key and a secret key")
			return
		}
		cfg.credentials = c
	})
}

// WithTLS makes the client connect to brokers and name servers over TLS with
// cfg (RocketMQ's tls.enable=true); nil turns TLS off. A ServerName left
// empty is taken from each address dialled. Default: plain TCP.
func WithTLS(cfg *tls.Config) SharedOption {
	return opt(func(c *config) { c.tls = cfg })
}
