package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/petrelmq/petrel/internal/acl"
	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/failover"
	"github.com/petrelmq/petrel/internal/properties"
	"github.com/petrelmq/petrel/pkg/clock"
)

func newBrokerCmd(logs *logSetup) *cobra.Command {
	var confFile, namesrvAddr string
	cmd := &cobra.Command{
		Use:   "broker -c broker.conf [--namesrv \"a:9876;b:9876\"]",
		Short: "Run a broker",
		Long: "Run a RocketMQ-compatible broker that registers with the name servers given by\n" +
			"--namesrv, the namesrvAddr key of broker.conf, or NAMESRV_ADDR, in that order.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logs.logger()
			if err != nil {
				return err
			}
			cfg, ld, err := loadBrokerConfig(log, confFile, []flagOverride{{
				flag: "namesrv", key: "namesrvAddr",
				value: func() string { return namesrvAddr },
				set:   func() bool { return cmd.Flags().Changed("namesrv") },
			}})
			if err != nil {
				return err
			}
			logEffective(log, "broker", ld, brokerAlwaysLogged...)
			if len(cfg.NameServers) == 0 {
				log.Warn("broker: no name server configured (namesrvAddr, --namesrv or NAMESRV_ADDR); clients will not find this broker")
			}
			if cfg.Failover.Enable {
				// Controller mode: the supervisor starts the broker as the
				// controllers decide, and restarts it on role changes.
				sup, err := failover.New(cfg, log, clock.Real{})
				if err != nil {
					return err
				}
				return runServers(log, startLogged(log, sup, "broker (controller mode)", ld.source, sup.Addr))
			}
			b, err := broker.New(cfg, log, clock.Real{})
			if err != nil {
				return err
			}
			return runServers(log, startLogged(log, b, "broker", ld.source, b.Addr))
		},
	}
	cmd.Flags().StringVarP(&confFile, "config", "c", "", "broker.conf properties file")
	cmd.Flags().StringVar(&namesrvAddr, "namesrv", "", "name servers, \"host:port;host:port\" (default $NAMESRV_ADDR)")
	return cmd
}

// brokerAlwaysLogged are the broker keys the INFO configuration line shows even
// at their defaults: what decides where data goes and what an acknowledgement
// means.
var brokerAlwaysLogged = []string{"brokerClusterName", "brokerName", "brokerId", "brokerRole",
	"flushDiskType", "storePathRootDir", "namesrvAddr", "listenPort", "brokerIP1", "enableControllerMode"}

// loadBrokerConfig builds and validates the broker config: defaults, then
// NAMESRV_ADDR, then the file, then flags, as RocketMQ does (the environment
// variable is only the default of namesrvAddr). An invalid value is reported
// with the file and line, flag or environment variable it came from.
func loadBrokerConfig(log *slog.Logger, file string, ovs []flagOverride) (broker.Config, *loaded, error) {
	return loadBrokerConfigFrom(log, broker.DefaultConfig(), file, ovs)
}

// loadBrokerConfigFrom is loadBrokerConfig from other defaults (standalone's).
func loadBrokerConfigFrom(log *slog.Logger, cfg broker.Config, file string, ovs []flagOverride) (broker.Config, *loaded, error) {
	ld, err := loadConfig(log, file, ovs, cfg.BindProperties, func(b *properties.Binder) error {
		if env := os.Getenv("NAMESRV_ADDR"); env != "" {
			return b.Set("environment NAMESRV_ADDR", "namesrvAddr", env)
		}
		return nil
	})
	if err != nil {
		return cfg, nil, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, nil, ld.binder.Locate(err)
	}
	if cfg.ACLEnable {
		if _, err := acl.LoadFile(cfg.ACLPath()); err != nil {
			return cfg, nil, fmt.Errorf("aclEnable=true: %w", err)
		}
	}
	return cfg, ld, nil
}

// brokerComponent builds the broker only when it starts, so standalone can point
// it at the name server's bound address.
type brokerComponent struct {
	build func() (*broker.Broker, error)
	b     *broker.Broker
}

func (c *brokerComponent) Start(ctx context.Context) error {
	b, err := c.build()
	if err != nil {
		return err
	}
	c.b = b
	return b.Start(ctx)
}

func (c *brokerComponent) Close() error {
	if c.b == nil {
		return nil
	}
	return c.b.Close()
}
