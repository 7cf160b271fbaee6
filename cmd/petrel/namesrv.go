package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/petrelmq/petrel/internal/acl"
	"github.com/petrelmq/petrel/internal/controller"
	"github.com/petrelmq/petrel/internal/namesrv"
	"github.com/petrelmq/petrel/internal/properties"
	"github.com/petrelmq/petrel/pkg/clock"
)

func newNamesrvCmd(logs *logSetup) *cobra.Command {
	var confFile, listen string
	cmd := &cobra.Command{
		Use:   "namesrv [-c namesrv.conf] [--listen HOST:PORT]",
		Short: "Run a name server",
		Long: "Run a RocketMQ-compatible name server: brokers register with it and clients\n" +
			"read topic routes from it. Listens on 0.0.0.0:9876 unless told otherwise. With\n" +
			"enableControllerInNamesrv=true in namesrv.conf it also runs a controller, configured\n" +
			"by the same file's controller keys (see petrel controller --help).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logs.logger()
			if err != nil {
				return err
			}
			cfg, ctlCfg, ld, err := loadNamesrvConfig(log, confFile, []flagOverride{{
				flag: "listen", key: "listenAddr",
				value: func() string { return listen },
				set:   func() bool { return cmd.Flags().Changed("listen") },
			}})
			if err != nil {
				return err
			}
			logEffective(log, "name server", ld, namesrvAlwaysLogged...)
			srv, err := namesrv.New(cfg, log, clock.Real{})
			if err != nil {
				return err
			}
			comps := []component{startLogged(log, srv, "name server", ld.source, func() string { return srv.Addr().String() })}
			if cfg.EnableControllerInNamesrv {
				ctl, err := controller.New(ctlCfg, log, clock.Real{})
				if err != nil {
					return err
				}
				comps = append(comps, startLogged(log, ctl, "controller", ld.source, func() string { return ctl.Addr().String() }))
			}
			return runServers(log, comps...)
		},
	}
	cmd.Flags().StringVarP(&confFile, "config", "c", "", "namesrv.conf properties file")
	cmd.Flags().StringVar(&listen, "listen", "0.0.0.0:9876", "address to listen on, HOST:PORT")
	return cmd
}

// namesrvAlwaysLogged are the name-server keys the INFO configuration line shows
// even at their defaults.
var namesrvAlwaysLogged = []string{"listenAddr", "kvConfigPath", "enableControllerInNamesrv"}

// loadNamesrvConfig builds and validates the name-server config and the
// embedded controller's (RocketMQ 5.x: one namesrv.conf holds both): defaults,
// then the file, then flags. The controller's is validated only with
// enableControllerInNamesrv=true; without it, controller keys set in the file
// are reported as having no effect. An invalid value is reported with the file
// and line or flag it came from.
func loadNamesrvConfig(log *slog.Logger, file string, ovs []flagOverride) (namesrv.Config, controller.Config, *loaded, error) {
	cfg := namesrv.DefaultConfig()
	ctl := controller.DefaultConfig()
	ld, err := loadConfig(log, file, ovs, func(b *properties.Binder) {
		cfg.BindProperties(b)
		ctl.BindKeys(b)
	}, nil)
	if err != nil {
		return cfg, ctl, nil, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, ctl, nil, ld.binder.Locate(err)
	}
	if cfg.ACLEnable {
		if _, err := acl.LoadFile(cfg.ACLPath()); err != nil {
			return cfg, ctl, nil, fmt.Errorf("aclEnable=true: %w", err)
		}
	}
	if !cfg.EnableControllerInNamesrv {
		warnUnusedControllerKeys(log, ld.binder)
		return cfg, ctl, ld, nil
	}
	// The embedded controller is protected by the name server's ACL file.
	ctl.ACLEnable, ctl.ACLFilePath = cfg.ACLEnable, cfg.ACLPath()
	if err := ctl.Validate(); err != nil {
		return cfg, ctl, nil, ld.binder.Locate(err)
	}
	return cfg, ctl, ld, nil
}
