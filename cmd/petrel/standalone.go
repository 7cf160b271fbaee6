package main

import (
	"net"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/namesrv"
	"github.com/petrelmq/petrel/pkg/clock"
)

func newStandaloneCmd(logs *logSetup) *cobra.Command {
	var confFile, nsListen, store string
	var listenPort int
	cmd := &cobra.Command{
		Use:   "standalone [-c broker.conf] [--namesrv-listen HOST:PORT] [--listen-port N] [--store DIR]",
		Short: "Run a name server and a broker in one process",
		Long: "Run the name server and a broker in one process, with all data under one\n" +
			"directory (the store, default $HOME/store; the name server's KV config goes to\n" +
			"<store>/config/kvConfig.json): the one-command start for development.\n" +
			"The broker registers with the embedded name server; clients use the name\n" +
			"server address (default 127.0.0.1:9876).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logs.logger()
			if err != nil {
				return err
			}
			ovs := []flagOverride{
				{flag: "listen-port", key: "listenPort",
					value: func() string { return strconv.Itoa(listenPort) },
					set:   func() bool { return cmd.Flags().Changed("listen-port") }},
				{flag: "store", key: "storePathRootDir",
					value: func() string { return store },
					set:   func() bool { return cmd.Flags().Changed("store") }},
			}
			bcfg, bsource, err := loadBrokerConfig(log, confFile, ovs)
			if err != nil {
				return err
			}
			nscfg, nssource, err := loadNamesrvConfig(log, "", []flagOverride{{
				flag: "namesrv-listen", key: "listenAddr",
				value: func() string { return nsListen },
				set:   func() bool { return cmd.Flags().Changed("namesrv-listen") },
			}})
			if err != nil {
				return err
			}
			nscfg.KVConfigPath = filepath.Join(bcfg.Store.RootDir, "config", "kvConfig.json")
			ns, err := namesrv.New(nscfg, log, clock.Real{})
			if err != nil {
				return err
			}
			bc := &brokerComponent{build: func() (*broker.Broker, error) {
				cfg := bcfg
				cfg.NameServers = []string{dialable(ns.Addr())}
				return broker.New(cfg, log, clock.Real{})
			}}
			return runUntilSignal(log,
				startLogged(log, ns, "name server", nssource, func() string { return ns.Addr().String() }),
				startLogged(log, bc, "broker", bsource, func() string { return bc.b.Addr() }),
			)
		},
	}
	cmd.Flags().StringVarP(&confFile, "config", "c", "", "broker.conf properties file")
	cmd.Flags().StringVar(&nsListen, "namesrv-listen", "0.0.0.0:9876", "name server address, HOST:PORT")
	cmd.Flags().IntVar(&listenPort, "listen-port", 10911, "broker port (listenPort)")
	cmd.Flags().StringVar(&store, "store", "", "store directory (storePathRootDir; default $HOME/store)")
	return cmd
}

// dialable turns a listening address into one this process can dial: an
// unspecified host (0.0.0.0 or ::) becomes loopback.
func dialable(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
}
