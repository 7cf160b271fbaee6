// Command petrel is Petrel's single binary: the name server, the broker, both in one
// process (standalone), the controller, and the operator tools.
//
// Each subcommand loads its configuration (a RocketMQ-style properties file, then
// flags, which win), wires the components, and waits for SIGINT or SIGTERM.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is the release version; builds may set it with
// -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "petrel:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	var logLevel string
	root := &cobra.Command{
		Use:   "petrel",
		Short: "Petrel: a RocketMQ-compatible messaging and streaming platform",
		Long: "Petrel speaks Apache RocketMQ 4.x's remoting protocol, so RocketMQ clients work\n" +
			"against it unchanged. One binary runs the name server, the broker, or both.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	logs := &logSetup{level: &logLevel}
	root.AddCommand(
		newVersionCmd(),
		newNamesrvCmd(logs),
		newStandaloneCmd(logs),
		newBrokerCmd(logs),
		newControllerCmd(logs),
	)
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "petrel %s\n", version)
		},
	}
}
