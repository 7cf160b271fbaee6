package main

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/petrelmq/petrel/internal/namesrv"
	"github.com/petrelmq/petrel/pkg/clock"
)

func newNamesrvCmd(logs *logSetup) *cobra.Command {
	var confFile, listen string
	cmd := &cobra.Command{
		Use:   "namesrv [-c namesrv.conf] [--listen HOST:PORT]",
		Short: "Run a name server",
		Long: "Run a RocketMQ-compatible name server: brokers register with it and clients\n" +
			"read topic routes from it. Listens on 0.0.0.0:9876 unless told otherwise.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logs.logger()
			if err != nil {
				return err
			}
			cfg, ld, err := loadNamesrvConfig(log, confFile, []flagOverride{{
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
			return runServers(log, startLogged(log, srv, "name server", ld.source, func() string { return srv.Addr().String() }))
		},
	}
	cmd.Flags().StringVarP(&confFile, "config", "c", "", "namesrv.conf properties file")
	cmd.Flags().StringVar(&listen, "listen", "0.0.0.0:9876", "address to listen on, HOST:PORT")
	return cmd
}

// namesrvAlwaysLogged are the name-server keys the INFO configuration line shows
// even at their defaults.
var namesrvAlwaysLogged = []string{"listenAddr", "kvConfigPath"}

// loadNamesrvConfig builds and validates the name-server config: defaults, then
// the file, then flags. An invalid value is reported with the file and line or
// flag it came from.
func loadNamesrvConfig(log *slog.Logger, file string, ovs []flagOverride) (namesrv.Config, *loaded, error) {
	cfg := namesrv.DefaultConfig()
	ld, err := loadConfig(log, file, ovs, cfg.BindProperties, nil)
	if err != nil {
		return cfg, nil, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, nil, ld.binder.Locate(err)
	}
	return cfg, ld, nil
}
