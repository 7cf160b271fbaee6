package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// TopicGroupStats is one line of statsAll -o json: a topic's rates and
// 24-hour counts, per consumer group.
type TopicGroupStats struct {
	Topic         string  `json:"topic"`
	ConsumerGroup string  `json:"consumerGroup"` // "" when no group consumes the topic
	Accumulation  int64   `json:"accumulation"`
	InTPS         float64 `json:"inTps"`
	OutTPS        float64 `json:"outTps"`
	InMsg24Hour   int64   `json:"inMsg24Hour"`
	OutMsg24Hour  int64   `json:"outMsg24Hour"`
}

// sum24h is RocketMQ's compute24HourSum: the day's sum, else the hour's,
// else the minute's.
func sum24h(d *body.BrokerStatsData) int64 {
	switch {
	case d.StatsDay.Sum != 0:
		return d.StatsDay.Sum
	case d.StatsHour.Sum != 0:
		return d.StatsHour.Sum
	}
	return d.StatsMinute.Sum
}

func statsAllCmd(env *adminEnv) *cobra.Command {
	var active bool
	var only string
	cmd := &cobra.Command{
		Use:   "statsAll",
		Short: "Print every topic's in and out rates and 24-hour counts, per consumer group",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				topics, err := a.Topics(ctx)
				if err != nil {
					return err
				}
				out := []TopicGroupStats{}
				for _, t := range topics {
					if isGroupTopic(t) || (only != "" && t != only) {
						continue
					}
					rows, err := topicStats(ctx, a, t)
					if err != nil {
						continue // a topic without a live master: nothing to show
					}
					for _, r := range rows {
						if !active || r.InMsg24Hour > 0 || r.OutMsg24Hour > 0 {
							out = append(out, r)
						}
					}
				}
				return env.emit(cmd, out, func(w io.Writer) {
					fmt.Fprintf(w, "%-64s  %-64s %12s %11s %11s %14s %14s\n",
						"#Topic", "#Consumer Group", "#Accumulation", "#InTPS", "#OutTPS", "#InMsg24Hour", "#OutMsg24Hour")
					for _, r := range out {
						if r.ConsumerGroup == "" {
							fmt.Fprintf(w, "%-64s  %-64s %12d %11.2f %11s %14d %14s\n", front(r.Topic, 64), "", 0, r.InTPS, "", r.InMsg24Hour, "NO_CONSUMER")
							continue
						}
						fmt.Fprintf(w, "%-64s  %-64s %12d %11.2f %11.2f %14d %14d\n", front(r.Topic, 64), front(r.ConsumerGroup, 64),
							r.Accumulation, r.InTPS, r.OutTPS, r.InMsg24Hour, r.OutMsg24Hour)
					}
				})
			})
		},
	}
	cmd.Flags().BoolVarP(&active, "activeTopic", "a", false, "print active topics only")
	cmd.Flags().StringVarP(&only, "topic", "t", "", "print this topic only")
	return cmd
}

// topicStats gathers statsAll's lines of one topic from its masters.
func topicStats(ctx context.Context, a *admin.Admin, topic string) ([]TopicGroupStats, error) {
	r, err := a.TopicRoute(ctx, topic)
	if err != nil {
		return nil, err
	}
	var masters []string
	for _, name := range r.BrokerNames() {
		if addr, ok := r.MasterAddr(name); ok {
			masters = append(masters, addr)
		}
	}
	var inTPS float64
	var in24 int64
	for _, m := range masters {
		if d, err := a.BrokerStatsData(ctx, m, body.StatsTopicPutNums, topic); err == nil {
			inTPS += d.StatsMinute.TPS
			in24 += sum24h(d)
		}
	}
	groups, _ := a.GroupsOfTopic(ctx, topic)
	if len(groups) == 0 {
		return []TopicGroupStats{{Topic: topic, InTPS: inTPS, InMsg24Hour: in24}}, nil
	}
	var out []TopicGroupStats
	for _, g := range groups {
		row := TopicGroupStats{Topic: topic, ConsumerGroup: g, InTPS: inTPS, InMsg24Hour: in24}
		for _, m := range masters {
			if d, err := a.BrokerStatsData(ctx, m, body.StatsGroupGetNums, topic+"@"+g); err == nil {
				row.OutTPS += d.StatsMinute.TPS
				row.OutMsg24Hour += sum24h(d)
			}
		}
		if qs, _, err := a.Progress(ctx, g, topic); err == nil {
			for _, q := range qs {
				row.Accumulation += q.Lag
			}
		}
		out = append(out, row)
	}
	return out, nil
}
