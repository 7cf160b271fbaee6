package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/spf13/cobra"

	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
)

// Offset commands: cloneGroupOffset, resetOffsetByTime, skipAccumulatedMessage.

// OffsetTable is the -o json answer of resetOffsetByTime
// and skipAccumulatedMessage: the new offset of every queue.
type OffsetTable struct {
	Group   string        `json:"group"`
	Topic   string        `json:"topic"`
	Online  bool          `json:"online"` // the brokers told online consumers
	Offsets []QueueOffset `json:"offsets"`
}

// QueueOffset is one queue's new offset.
type QueueOffset struct {
	BrokerName string `json:"brokerName"`
	QueueID    int32  `json:"queueId"`
	Offset     int64  `json:"offset"`
}

func offsetTable(group, topic string, online bool, m map[message.MessageQueue]message.QueueOffset) OffsetTable {
	qs := slices.Collect(maps.Keys(m))
	sortQueues(qs)
	out := OffsetTable{Group: group, Topic: topic, Online: online, Offsets: []QueueOffset{}}
	for _, q := range qs {
		out.Offsets = append(out.Offsets, QueueOffset{BrokerName: q.BrokerName, QueueID: q.QueueID, Offset: int64(m[q])})
	}
	return out
}

func printOffsets(w io.Writer, t OffsetTable) {
	fmt.Fprintf(w, "%-40s  %-40s  %-40s\n", "#brokerName", "#queueId", "#offset")
	for _, o := range t.Offsets {
		fmt.Fprintf(w, "%-40s  %-40d  %-40d\n", front(o.BrokerName, 32), o.QueueID, o.Offset)
	}
}

// CloneResult is cloneGroupOffset -o json.
type CloneResult struct {
	SrcGroup  string `json:"srcGroup"`
	DestGroup string `json:"destGroup"`
	Topic     string `json:"topic"`
}

func cloneGroupOffsetCmd(env *adminEnv) *cobra.Command {
	var src, dest, topic, offline string
	cmd := &cobra.Command{
		Use:   "cloneGroupOffset",
		Short: "Copy one group's committed offsets on a topic to another group",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				isOffline := false
				if offline != "" {
					var err error
					if isOffline, err = parseBool("o", offline); err != nil {
						return err
					}
				}
				if err := a.CloneGroupOffset(ctx, src, dest, topic, isOffline); err != nil {
					return err
				}
				res := CloneResult{SrcGroup: src, DestGroup: dest, Topic: topic}
				return env.emit(cmd, res, func(w io.Writer) {
					fmt.Fprintf(w, "clone group offset success. srcGroup[%s], destGroup=[%s], topic[%s]\n", src, dest, topic)
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&src, "srcGroup", "s", "", "set source consumer group")
	f.StringVarP(&dest, "destGroup", "d", "", "set destination consumer group")
	f.StringVarP(&topic, "topic", "t", "", "set the topic")
	f.StringVarP(&offline, "offline", "o", "", "the group or the topic is offline (true|false): copy even topics an online source group no longer subscribes to")
	return requireFlags(cmd, "srcGroup", "destGroup", "topic")
}

func resetOffsetByTimeCmd(env *adminEnv) *cobra.Command {
	var group, topic, ts, force string
	var cplus bool
	cmd := &cobra.Command{
		Use:   "resetOffsetByTime",
		Short: "Move a group's offsets on a topic to the first message stored at or after a time",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			at, err := parseTimestamp(ts)
			if err != nil {
				return err
			}
			isForce := true
			if force != "" {
				if isForce, err = parseBool("f", force); err != nil {
					return err
				}
			}
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				online := true
				m, err := a.ResetOffsetByTime(ctx, group, topic, at, isForce)
				if errors.Is(err, protocol.ErrConsumerNotOnline) {
					online = false
					m, err = a.ResetOffsetOffline(ctx, group, topic, at, false, isForce)
				}
				if err != nil {
					return err
				}
				res := offsetTable(group, topic, online, m)
				return env.emit(cmd, res, func(w io.Writer) {
					fmt.Fprintf(w, "rollback consumer offset by specified group[%s], topic[%s], force[%t], timestamp(string)[%s], timestamp(long)[%d]\n",
						group, topic, isForce, ts, at.UnixMilli())
					printOffsets(w, res)
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&group, "group", "g", "", "set the consumer group")
	f.StringVarP(&topic, "topic", "t", "", "set the topic")
	f.StringVarP(&ts, "timestamp", "s", "", "set the timestamp [now|currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]")
	f.StringVarP(&force, "force", "f", "", "set the force rollback by timestamp switch [true|false] (default true)")
	f.BoolVarP(&cplus, "cplus", "c", false, "reset c++ client offset (accepted, no effect)")
	return requireFlags(cmd, "group", "topic", "timestamp")
}

func skipAccumulatedCmd(env *adminEnv) *cobra.Command {
	var group, topic, force string
	cmd := &cobra.Command{
		Use:   "skipAccumulatedMessage",
		Short: "Move a group's offsets on a topic to the end of every queue",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				m, err := a.SkipAccumulated(ctx, group, topic)
				if err != nil {
					return err
				}
				res := offsetTable(group, topic, true, m)
				return env.emit(cmd, res, func(w io.Writer) { printOffsets(w, res) })
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&group, "group", "g", "", "set the consumer group")
	f.StringVarP(&topic, "topic", "t", "", "set the topic")
	f.StringVarP(&force, "force", "f", "", "set the force rollback by timestamp switch [true|false] (accepted; the end is always taken)")
	return requireFlags(cmd, "group", "topic")
}
