// Command petrel is Petrel's single binary: the name server, the broker, both in one
// process (standalone), the controller, and the operator tools.
//
// Each server subcommand loads its configuration (a RocketMQ-style properties file,
// then flags, which win), wires the components, and waits for SIGINT or SIGTERM.
// `petrel health` asks a running server whether it is ready (for container health
// checks); `petrel version` (or --version) prints the release details.
package main

import (
	"fmt"
	"os"
	_ "time/tzdata" // deleteWhen and log times work in images without zoneinfo (TZ=...)

	"github.com/spf13/cobra"
)

func main() {
	root, logs := newRoot()
	err := root.Execute()
	if err != nil {
		fmt.Fprintln(os.Stderr, "petrel:", err)
		logs.logFailure(err)
	}
	_ = logs.Close()
	if err != nil {
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root, _ := newRoot()
	return root
}

// newRoot builds the command tree and the log setup its commands share.
func newRoot() (*cobra.Command, *logSetup) {
	root := &cobra.Command{
		Use:   "petrel",
		Short: "Petrel: a RocketMQ-compatible messaging and streaming platform",
		Long: "Petrel speaks Apache RocketMQ 4.x's remoting protocol, so RocketMQ clients work\n" +
			"against it unchanged. One binary runs the name server, the broker, or both.",
		Version:       readBuildInfo().String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("{{.Version}}")
	logs := newLogSetup()
	logs.addFlags(root)
	root.AddCommand(
		newVersionCmd(),
		newHealthCmd(),
		newNamesrvCmd(logs),
		newStandaloneCmd(logs),
		newBrokerCmd(logs),
		newControllerCmd(logs),
		newConsoleCmd(logs),
		newBenchCmd(logs),
	)
	return root, logs
}
