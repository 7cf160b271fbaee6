package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/petrelmq/petrel/internal/bench"
)

// newBenchCmd builds `petrel bench <scenario>`: load against any name server
// (Petrel or Apache RocketMQ) through Petrel's SDK.
func newBenchCmd(logs *logSetup) *cobra.Command {
	cfg := bench.DefaultConfig()
	var namesrv, output string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a cluster: producer, consumer, end-to-end latency, transactions",
		Long: "Drive any RocketMQ 4.x cluster (Petrel or Apache RocketMQ) through Petrel's SDK and\n" +
			"measure it. Every second a progress line (messages/s, p50/p99/p99.9 latency, failures)\n" +
			"goes to standard error; a summary of the measured phase (after --warmup) goes to\n" +
			"standard output, as text or, with -o json, one JSON object.\n\n" +
			"The run ends after --count messages or --duration (default 10s). Durability is the\n" +
			"broker's: compare flushDiskType (ASYNC_FLUSH, SYNC_FLUSH) on the servers.",
		Example: "  petrel bench producer -n 127.0.0.1:9876 -w 64 -s 1024 -d 30s --warmup 5s\n" +
			"  petrel bench producer -m async --window 1024 -c 1000000 -o json\n" +
			"  petrel bench consumer --prefill 200000 --pull-batch 32\n" +
			"  petrel bench e2e --rate 5000 -d 30s\n" +
			"  petrel bench transaction -w 16 -d 20s",
	}
	fs := cmd.PersistentFlags()
	fs.StringVarP(&namesrv, "namesrv", "n", "", "name servers, \"host:port;host:port\" (default $NAMESRV_ADDR)")
	fs.StringVarP(&cfg.Topic, "topic", "t", cfg.Topic, "topic (auto-created by the broker if missing)")
	fs.IntVarP(&cfg.Threads, "threads", "w", 0, "sending goroutines (default 64; e2e 8; transaction 16)")
	fs.IntVarP(&cfg.Size, "size", "s", cfg.Size, "message body size, bytes")
	fs.StringVar(&cfg.Tag, "tag", "", "tag of every message")
	fs.BoolVarP(&cfg.Keys, "keys", "k", false, "give every message a unique key")
	fs.Int64VarP(&cfg.Count, "count", "c", 0, "measured messages (0: run for --duration)")
	fs.DurationVarP(&cfg.Duration, "duration", "d", 0, "length of the measured phase (default 10s without --count)")
	fs.DurationVar(&cfg.Warmup, "warmup", 0, "unmeasured warm-up before the measured phase")
	fs.IntVar(&cfg.Rate, "rate", 0, "cap on messages sent per second, all threads together (e2e default 1000)")
	fs.IntVar(&cfg.Window, "window", cfg.Window, "asynchronous sends in flight (async mode, consumer prefill)")
	fs.StringVar(&cfg.Group, "group", "", "producer or consumer group (default bench_<scenario>; consumers: a fresh one)")
	fs.DurationVar(&cfg.SendTimeout, "send-timeout", cfg.SendTimeout, "timeout of one send, retries included")
	fs.DurationVarP(&cfg.Interval, "interval", "i", cfg.Interval, "progress line interval")
	fs.StringVarP(&output, "output", "o", "text", "summary format: text or json")
	fs.BoolVarP(&quiet, "quiet", "q", false, "no progress lines")

	run := func(scenario string) func(*cobra.Command, []string) error {
		return func(c *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("-o: %q is not one of text, json", output)
			}
			cfg.Scenario = scenario
			if namesrv == "" {
				namesrv = os.Getenv("NAMESRV_ADDR")
			}
			cfg.NameServers = benchAddrs(namesrv)
			log, err := logs.logger()
			if err != nil {
				return err
			}
			cfg.Log = log
			errw := c.ErrOrStderr()
			withLatency := scenario != bench.ScenarioConsumer
			if !quiet {
				cfg.Progress = func(p bench.Progress) { fmt.Fprintln(errw, p.Line(withLatency)) }
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			s, err := bench.Run(ctx, cfg)
			if err != nil && !(ctx.Err() != nil && s.Scenario != "") {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(c.OutOrStdout())
				return enc.Encode(s)
			}
			fmt.Fprint(c.OutOrStdout(), s.Text())
			return nil
		}
	}
	producerCmd := &cobra.Command{
		Use:   "producer",
		Short: "Send as fast as the cluster takes (or at --rate): sync, async, oneway or batch",
		Args:  cobra.NoArgs,
		RunE:  run(bench.ScenarioProducer),
	}
	producerCmd.Flags().StringVarP(&cfg.Mode, "mode", "m", cfg.Mode, "send mode: sync, async, oneway or batch")
	producerCmd.Flags().IntVar(&cfg.Batch, "batch", cfg.Batch, "messages per batch (batch mode)")
	consumerCmd := &cobra.Command{
		Use:   "consumer",
		Short: "Consume a backlog from the first offset with a fresh group (optionally sent first)",
		Args:  cobra.NoArgs,
		RunE:  run(bench.ScenarioConsumer),
	}
	consumerCmd.Flags().Int64Var(&cfg.Prefill, "prefill", 0, "send this many messages first (not measured); --count defaults to it")
	consumerCmd.Flags().IntVar(&cfg.PullBatch, "pull-batch", cfg.PullBatch, "messages asked for per pull (the broker caps it with maxTransferCountOnMessageInMemory)")
	e2eCmd := &cobra.Command{
		Use:   "e2e",
		Short: "End-to-end latency: send at --rate and consume at once; latency is send to handler",
		Args:  cobra.NoArgs,
		RunE:  run(bench.ScenarioE2E),
	}
	e2eCmd.Flags().IntVar(&cfg.PullBatch, "pull-batch", cfg.PullBatch, "messages asked for per pull")
	txCmd := &cobra.Command{
		Use:   "transaction",
		Short: "Transactional sends (half message, local transaction commits, END_TRANSACTION)",
		Args:  cobra.NoArgs,
		RunE:  run(bench.ScenarioTransaction),
	}
	cmd.AddCommand(producerCmd, consumerCmd, e2eCmd, txCmd)
	return cmd
}

// benchAddrs splits "a:1;b:2" (or commas) into addresses.
func benchAddrs(s string) []string {
	var out []string
	for _, a := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' }) {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}
