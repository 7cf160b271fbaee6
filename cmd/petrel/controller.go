package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/petrelmq/petrel/internal/acl"
	"github.com/petrelmq/petrel/internal/controller"
	"github.com/petrelmq/petrel/internal/properties"
	"github.com/petrelmq/petrel/pkg/clock"
)

func newControllerCmd(logs *logSetup) *cobra.Command {
	var confFile string
	cmd := &cobra.Command{
		Use:   "controller -c controller.conf",
		Short: "Run a controller: the Raft group that elects broker masters",
		Long: "Run one controller of a Raft group of three or five (RocketMQ 5.x's controller):\n" +
			"brokers in controller mode register with it and heartbeat; it keeps each broker set's\n" +
			"master, epoch and SyncStateSet and elects a new master when the old one stops\n" +
			"heartbeating. controller.conf takes RocketMQ's keys: controllerDLegerGroup,\n" +
			"controllerDLegerPeers, controllerDLegerSelfId, controllerStorePath, ...",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logs.logger()
			if err != nil {
				return err
			}
			cfg, ld, err := loadControllerConfig(log, confFile)
			if err != nil {
				return err
			}
			logEffective(log, "controller", ld, controllerAlwaysLogged...)
			s, err := controller.New(cfg, log, clock.Real{})
			if err != nil {
				return err
			}
			return runServers(log, startLogged(log, s, "controller", ld.source, func() string { return s.Addr().String() }))
		},
	}
	cmd.Flags().StringVarP(&confFile, "config", "c", "", "controller.conf properties file")
	return cmd
}

// controllerAlwaysLogged are the controller keys the INFO configuration line
// shows even at their defaults.
var controllerAlwaysLogged = []string{"controllerDLegerGroup", "controllerDLegerPeers", "controllerDLegerSelfId",
	"controllerStorePath", "enableElectUncleanMaster"}

// loadControllerConfig builds and validates the controller config: defaults,
// then the file. An invalid value is reported with the file and line.
func loadControllerConfig(log *slog.Logger, file string) (controller.Config, *loaded, error) {
	cfg := controller.DefaultConfig()
	ld, err := loadConfig(log, file, nil, cfg.BindProperties, nil)
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

// warnUnusedControllerKeys warns about controller keys set in a name
// server's file that does not enable the embedded controller.
func warnUnusedControllerKeys(log *slog.Logger, b *properties.Binder) {
	for _, k := range controller.Keys() {
		if o := b.Origin(k); o != "" {
			log.Warn("configuration key has no effect without enableControllerInNamesrv=true", "key", k, "from", o)
		}
	}
}
