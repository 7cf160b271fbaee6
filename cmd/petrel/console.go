package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/petrelmq/petrel/internal/console"
)

func newConsoleCmd(logs *logSetup) *cobra.Command {
	var namesrv, listen, usersFile string
	var sec *clientSecurity
	cmd := &cobra.Command{
		Use:   "console [--namesrv \"a:9876;b:9876\"] [--listen 127.0.0.1:8080]",
		Short: "Run the web console",
		Long: "Run the web console: cluster, topics, consumer groups with their lag, and\n" +
			"messages by key or id, served as plain HTML from the binary. It talks to the\n" +
			"name servers (--namesrv, else NAMESRV_ADDR, else 127.0.0.1:9876) and their\n" +
			"brokers as an admin tool does. It listens on 127.0.0.1:8080 by default. With\n" +
			"--users-file (lines \"name=password\", \",1\" after the password for an admin) every\n" +
			"page needs a login; without, it has none: bind it to a public address only with\n" +
			"a users file, or behind something that authenticates.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logs.logger()
			if err != nil {
				return err
			}
			if namesrv == "" {
				namesrv = envOr("NAMESRV_ADDR", "127.0.0.1:9876")
			}
			var addrs []string
			for _, a := range strings.Split(namesrv, ";") {
				if a = strings.TrimSpace(a); a != "" {
					addrs = append(addrs, a)
				}
			}
			opts, err := sec.clientOptions()
			if err != nil {
				return err
			}
			users, err := consoleUsers(log, usersFile)
			if err != nil {
				return err
			}
			c, err := console.New(console.Config{Addr: listen, NameServers: addrs, ClientOptions: opts, Users: users}, log)
			if err != nil {
				return err
			}
			return runServers(log, startLogged(log, c, "console", "flags", func() string { return "http://" + c.Addr().String() }))
		},
	}
	cmd.Flags().StringVar(&namesrv, "namesrv", "", "name servers, \"host:port;host:port\" (default $NAMESRV_ADDR, else 127.0.0.1:9876)")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address to serve the console on")
	cmd.Flags().StringVar(&usersFile, "users-file", "", "turn the login on with the accounts of this file (name=password[,1] a line; ,1: admin)")
	sec = addClientSecurityFlags(cmd.Flags())
	return cmd
}

// consoleUsers reads the console's users file ("": no login). The
// passwords are never logged.
func consoleUsers(log *slog.Logger, path string) ([]console.User, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("console users file: %w", err)
	}
	defer f.Close()
	users, err := console.ParseUsers(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if st, err := f.Stat(); err == nil && st.Mode().Perm()&0o077 != 0 {
		log.Warn("console: the users file holds passwords and is readable by others (chmod 600)", "file", path, "mode", st.Mode().Perm().String())
	}
	log.Info("console: login on", "file", path, "users", len(users))
	return users, nil
}

// optional runs a component whose failure to start is only a warning (the
// console embedded in standalone, on its default port).
type optional struct {
	component
	warn    func(error)
	started bool
}

func (o *optional) Start(ctx context.Context) error {
	if err := o.component.Start(ctx); err != nil {
		o.warn(err)
		return nil
	}
	o.started = true
	return nil
}

func (o *optional) Close() error {
	if !o.started {
		return nil
	}
	return o.component.Close()
}

// envOr returns the environment variable name, or def when it is empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
