package main

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"

	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/trace"
)

// Message trace: queryMsgTraceById.

func queryMsgTraceByIDCmd(env *adminEnv) *cobra.Command {
	var id, topic string
	cmd := &cobra.Command{
		Use:   "queryMsgTraceById",
		Short: "Query a message trace",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				recs, err := a.QueryTrace(ctx, topic, id)
				if err != nil {
					return err
				}
				return env.emit(cmd, recs, func(w io.Writer) { printTrace(w, recs) })
			})
		},
	}
	cmd.Flags().StringVarP(&id, "msgId", "i", "", "Message Id")
	cmd.Flags().StringVarP(&topic, "traceTopic", "t", trace.DefaultTopic, "The name value of message trace topic")
	return requireFlags(cmd, "msgId")
}

// printTrace writes records as mqadmin 4.9's queryMsgTraceById does: each
// Pub under its header, then per consumer group (sorted; Java prints them in
// hash order) a header and one Sub line per SubAfter record. The client
// host is, as there, where the trace message came from.
func printTrace(w io.Writer, recs []admin.TraceRecord) {
	const row = "%-10s %-20s %-20s %-20s %-10s %-10s\n"
	status := func(r admin.TraceRecord) string {
		if r.Success {
			return "success"
		}
		return "failed"
	}
	line := func(kind string, r admin.TraceRecord) {
		fmt.Fprintf(w, row, kind, r.Group, r.TraceHost, dateTime(r.Timestamp), fmt.Sprintf("%dms", r.CostMillis), status(r))
	}
	subs := map[string][]admin.TraceRecord{}
	for _, r := range recs {
		switch r.Type {
		case trace.Pub:
			fmt.Fprintf(w, row, "#Type", "#ProducerGroup", "#ClientHost", "#SendTime", "#CostTimes", "#Status")
			line("Pub", r)
			fmt.Fprintln(w)
		case trace.SubAfter:
			subs[r.Group] = append(subs[r.Group], r)
		}
	}
	groups := make([]string, 0, len(subs))
	for g := range subs {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	for _, g := range groups {
		fmt.Fprintf(w, row, "#Type", "#ConsumerGroup", "#ClientHost", "#ConsumerTime", "#CostTimes", "#Status")
		for _, r := range subs[g] {
			line("Sub", r)
		}
		fmt.Fprintln(w)
	}
}
