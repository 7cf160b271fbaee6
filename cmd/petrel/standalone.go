package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/console"
	"github.com/petrelmq/petrel/internal/namesrv"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/remoting"
)

func newStandaloneCmd(logs *logSetup) *cobra.Command {
	var confFile, nsListen, store, consoleUsersFile string
	var listenPort, metricsPort, consolePort int
	cmd := &cobra.Command{
		Use:   "standalone [-c broker.conf] [--namesrv-listen HOST:PORT] [--listen-port N] [--store DIR]",
		Short: "Run a name server and a broker in one process",
		Long: "Run the name server and a broker in one process, with all data under one\n" +
			"directory (the store, default $HOME/store; the name server's KV config goes to\n" +
			"<store>/config/kvConfig.json): the one-command start for development.\n" +
			"The broker registers with the embedded name server; clients use the name\n" +
			"server address (default 127.0.0.1:9876). Metrics (/metrics), /healthz and /readyz\n" +
			"are served on http://127.0.0.1:5557 (--metrics-port; metricsExporterType=DISABLE\n" +
			"in broker.conf turns them off). The web console is served on\n" +
			"http://127.0.0.1:8080 (--console-port; -1 turns it off; --console-users FILE\n" +
			"turns its login on).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logs.logger()
			if err != nil {
				return err
			}
			bovs := []flagOverride{
				{flag: "listen-port", key: "listenPort",
					value: func() string { return strconv.Itoa(listenPort) },
					set:   func() bool { return cmd.Flags().Changed("listen-port") }},
				{flag: "store", key: "storePathRootDir",
					value: func() string { return store },
					set:   func() bool { return cmd.Flags().Changed("store") }},
				{flag: "metrics-port", key: "metricsPromExporterPort",
					value: func() string { return strconv.Itoa(metricsPort) },
					set:   func() bool { return cmd.Flags().Changed("metrics-port") }},
			}
			nsovs := []flagOverride{{
				flag: "namesrv-listen", key: "listenAddr",
				value: func() string { return nsListen },
				set:   func() bool { return cmd.Flags().Changed("namesrv-listen") },
			}}
			bcfg, nscfg, bld, nsld, err := loadStandaloneConfig(log, confFile, bovs, nsovs)
			if err != nil {
				return err
			}
			ns, err := namesrv.New(nscfg, log, clock.Real{})
			if err != nil {
				return err
			}
			bc := &brokerComponent{build: func() (*broker.Broker, error) {
				cfg := bcfg
				cfg.NameServers = []string{dialable(ns.Addr())}
				return broker.New(cfg, log, clock.Real{})
			}}
			comps := []component{
				startLogged(log, ns, "name server", nsld.source, func() string { return ns.Addr().String() }),
				startLogged(log, bc, "broker", bld.source, func() string { return bc.b.Addr() }),
			}
			if consolePort >= 0 {
				users, err := consoleUsers(log, consoleUsersFile)
				if err != nil {
					return err
				}
				cc := &consoleComponent{build: func() (*console.Server, error) {
					return console.New(console.Config{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(consolePort)),
						NameServers: []string{dialable(ns.Addr())}, Users: users}, log)
				}}
				var c component = startLogged(log, cc, "console", "flags", func() string { return "http://" + cc.s.Addr().String() })
				if !cmd.Flags().Changed("console-port") {
					// On its default port the console is a convenience: if the
					// port is taken, standalone runs without it.
					c = &optional{component: c, warn: func(err error) {
						log.Warn("standalone: running without the web console (set --console-port, or -1 to turn it off)", "err", err)
					}}
				}
				comps = append(comps, c)
			}
			return runServers(log, comps...)
		},
	}
	cmd.Flags().StringVarP(&confFile, "config", "c", "", "broker.conf properties file")
	cmd.Flags().StringVar(&nsListen, "namesrv-listen", "0.0.0.0:9876", "name server address, HOST:PORT")
	cmd.Flags().IntVar(&listenPort, "listen-port", 10911, "broker port (listenPort)")
	cmd.Flags().StringVar(&store, "store", "", "store directory (storePathRootDir; default $HOME/store)")
	cmd.Flags().IntVar(&consolePort, "console-port", 8080, "web console port on 127.0.0.1 (0: any free port, -1: off)")
	cmd.Flags().StringVar(&consoleUsersFile, "console-users", "", "turn the console's login on with the accounts of this file (name=password[,1] a line; ,1: admin)")
	cmd.Flags().IntVar(&metricsPort, "metrics-port", 5557, "metrics and health HTTP port on 127.0.0.1 (metricsPromExporterPort; 0: any free port)")
	return cmd
}

// loadStandaloneConfig loads the broker config (file, NAMESRV_ADDR, flags) and
// the name server's (flags only), puts the name server's KV config under the
// store, and logs both. The broker registers with the embedded name server only,
// so a namesrvAddr from the file or NAMESRV_ADDR is reported as not used.
func loadStandaloneConfig(log *slog.Logger, confFile string, bovs, nsovs []flagOverride) (broker.Config, namesrv.Config, *loaded, *loaded, error) {
	bcfg, bld, err := loadBrokerConfigFrom(log, standaloneDefaults(), confFile, bovs)
	if err != nil {
		return bcfg, namesrv.Config{}, nil, nil, err
	}
	nscfg, _, nsld, err := loadNamesrvConfig(log, "", nsovs)
	if err != nil {
		return bcfg, nscfg, nil, nil, err
	}
	nscfg.KVConfigPath = filepath.Join(bcfg.Store.RootDir, "config", "kvConfig.json")
	if t := bcfg.TLS; t.ServerMode != "" && t.ServerMode != "disabled" {
		// The embedded name server's port speaks TLS as the broker's does.
		nscfg.TLS = remoting.TLSSettings{ServerMode: t.ServerMode, ServerCertPath: t.ServerCertPath,
			ServerKeyPath: t.ServerKeyPath, ServerTrustCertPath: t.ServerTrustCertPath, ServerNeedClientAuth: t.ServerNeedClientAuth}
		if t.ServerMode == "enforcing" && !t.ClientEnable {
			return bcfg, nscfg, nil, nil, errors.New("tls.server.mode=enforcing: set tls.enable=true (and tls.client.trustCertPath): " +
				"the broker registers with the embedded name server, whose port then requires TLS")
		}
	}
	if bcfg.ACLEnable {
		// The embedded name server is protected with the broker's ACL file,
		// so the broker must sign its registrations with an admin account.
		nscfg.ACLEnable, nscfg.ACLFilePath = true, bcfg.ACLPath()
		if bcfg.Credentials.Empty() {
			return bcfg, nscfg, nil, nil, errors.New("aclEnable=true: set accessKey and secretKey to an admin account of " +
				bcfg.ACLPath() + ": the broker signs its registrations with the embedded name server")
		}
	}
	if from := bld.binder.Origin("namesrvAddr"); from != "" {
		for _, a := range bcfg.NameServers {
			if !sameLocalAddr(a, nscfg.ListenAddr) {
				log.Warn("standalone: namesrvAddr is not used; the broker registers with the embedded name server only",
					"namesrvAddr", strings.Join(bcfg.NameServers, ";"), "from", from, "embedded", nscfg.ListenAddr)
				break
			}
		}
	}
	logEffective(log, "name server", nsld, namesrvAlwaysLogged...)
	logEffective(log, "broker", bld, brokerAlwaysLogged...)
	return bcfg, nscfg, bld, nsld, nil
}

// standaloneDefaults are the broker defaults of standalone: the Prometheus
// endpoint (/metrics, /healthz, /readyz) is on, bound to 127.0.0.1:5557 (the
// broker's default host) unless broker.conf or --metrics-port say otherwise
// (metricsExporterType=DISABLE turns it off).
func standaloneDefaults() broker.Config {
	cfg := broker.DefaultConfig()
	cfg.Metrics.ExporterType = broker.MetricsProm
	return cfg
}

// sameLocalAddr reports whether dialling addr reaches a server listening on
// listen in this process, as far as the addresses alone tell: the same port, and
// the same host, or addr on loopback while listen is loopback or all interfaces.
func sameLocalAddr(addr, listen string) bool {
	ah, ap, err1 := net.SplitHostPort(addr)
	lh, lp, err2 := net.SplitHostPort(listen)
	if err1 != nil || err2 != nil || ap != lp {
		return false
	}
	if ah == lh {
		return true
	}
	loopback := func(h string) bool {
		ip := net.ParseIP(h)
		return h == "localhost" || ip != nil && ip.IsLoopback()
	}
	lip := net.ParseIP(lh)
	return loopback(ah) && (lh == "" || loopback(lh) || lip != nil && lip.IsUnspecified())
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

// consoleComponent builds the console only when it starts, once the name
// server's address is known.
type consoleComponent struct {
	build func() (*console.Server, error)
	s     *console.Server
}

func (c *consoleComponent) Start(ctx context.Context) error {
	s, err := c.build()
	if err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	c.s = s
	return nil
}

func (c *consoleComponent) Close() error {
	if c.s == nil {
		return nil
	}
	return c.s.Close()
}
