package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// Consumer-group and connection commands.

func groupCommands(env *adminEnv) []*cobra.Command {
	return []*cobra.Command{
		updateSubGroupCmd(env), deleteSubGroupCmd(env), consumerProgressCmd(env), consumerConnectionCmd(env),
		producerConnectionCmd(env), getConsumerConfigCmd(env), cloneGroupOffsetCmd(env), resetOffsetByTimeCmd(env),
		skipAccumulatedCmd(env),
	}
}

// GroupConfigJSON is a subscription group's configuration in -o json
// answers, in RocketMQ's field names.
type GroupConfigJSON = body.SubscriptionGroupConfig

func groupConfigString(g body.SubscriptionGroupConfig) string {
	return fmt.Sprintf("SubscriptionGroupConfig [groupName=%s, consumeEnable=%t, consumeFromMinEnable=%t, consumeBroadcastEnable=%t, "+
		"retryQueueNums=%d, retryMaxTimes=%d, brokerId=%d, whichBrokerWhenConsumeSlowly=%d, notifyConsumerIdsChangedEnable=%t]",
		g.GroupName, g.ConsumeEnable, g.ConsumeFromMinEnable, g.ConsumeBroadcastEnable, g.RetryQueueNums, g.RetryMaxTimes,
		g.BrokerID, g.WhichBrokerWhenConsumeSlowly, g.NotifyConsumerIdsChangedEnable)
}

// GroupUpdate is updateSubGroup -o json.
type GroupUpdate struct {
	Brokers []string        `json:"brokers"`
	Config  GroupConfigJSON `json:"config"`
}

func updateSubGroupCmd(env *adminEnv) *cobra.Command {
	var addr, cluster, group, consumeEnable, fromMin, broadcast, notify string
	var retryQ, retryMax int32
	var brokerID, slowly int64
	cmd := &cobra.Command{
		Use:   "updateSubGroup",
		Short: "Create or update a subscription group on a broker (-b) or on every master of a cluster (-c)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			g := body.DefaultSubscriptionGroupConfig(group)
			g.RetryQueueNums, g.RetryMaxTimes, g.BrokerID, g.WhichBrokerWhenConsumeSlowly = retryQ, retryMax, brokerID, slowly
			for _, b := range []struct {
				name, v string
				dst     *bool
			}{{"s", consumeEnable, &g.ConsumeEnable}, {"m", fromMin, &g.ConsumeFromMinEnable},
				{"d", broadcast, &g.ConsumeBroadcastEnable}, {"a", notify, &g.NotifyConsumerIdsChangedEnable}} {
				if b.v == "" {
					continue
				}
				v, err := parseBool(b.name, b.v)
				if err != nil {
					return err
				}
				*b.dst = v
			}
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				addrs, err := targetAddrs(ctx, a, addr, cluster)
				if err != nil {
					return err
				}
				for _, ad := range addrs {
					if err := a.CreateGroup(ctx, ad, g); err != nil {
						return err
					}
				}
				return env.emit(cmd, GroupUpdate{Brokers: addrs, Config: g}, func(w io.Writer) {
					for _, ad := range addrs {
						fmt.Fprintf(w, "create subscription group to %s success.\n", ad)
					}
					fmt.Fprintln(w, groupConfigString(g))
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&addr, "brokerAddr", "b", "", "create subscription group to which broker")
	f.StringVarP(&cluster, "clusterName", "c", "", "create subscription group to which cluster")
	f.StringVarP(&group, "groupName", "g", "", "consumer group name")
	f.StringVarP(&consumeEnable, "consumeEnable", "s", "", "consume enable (true|false)")
	f.StringVarP(&fromMin, "consumeFromMinEnable", "m", "", "from min offset (true|false)")
	f.StringVarP(&broadcast, "consumeBroadcastEnable", "d", "", "broadcast (true|false)")
	f.Int32VarP(&retryQ, "retryQueueNums", "q", 1, "retry queue nums")
	f.Int32VarP(&retryMax, "retryMaxTimes", "r", 16, "retry max times")
	f.Int64VarP(&brokerID, "brokerId", "i", 0, "consumer from which broker id")
	f.Int64VarP(&slowly, "whichBrokerWhenConsumeSlowly", "w", 1, "which broker id when consume slowly")
	f.StringVarP(&notify, "notifyConsumerIdsChanged", "a", "", "notify consumerId changed (true|false)")
	return requireFlags(cmd, "groupName")
}

// GroupDeleted is deleteSubGroup -o json.
type GroupDeleted struct {
	Group        string   `json:"group"`
	Brokers      []string `json:"brokers"`
	RemoveOffset bool     `json:"removeOffset"`
}

func deleteSubGroupCmd(env *adminEnv) *cobra.Command {
	var addr, cluster, group, removeOffset string
	cmd := &cobra.Command{
		Use:   "deleteSubGroup",
		Short: "Delete a subscription group from a broker (-b) or from every master of a cluster (-c)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			remove := false
			if removeOffset != "" {
				var err error
				if remove, err = parseBool("r", removeOffset); err != nil {
					return err
				}
			}
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				addrs, err := targetAddrs(ctx, a, addr, cluster)
				if err != nil {
					return err
				}
				for _, ad := range addrs {
					if err := a.DeleteGroup(ctx, ad, group, remove); err != nil {
						return err
					}
				}
				return env.emit(cmd, GroupDeleted{Group: group, Brokers: addrs, RemoveOffset: remove}, func(w io.Writer) {
					for _, ad := range addrs {
						if cluster != "" && addr == "" {
							fmt.Fprintf(w, "delete subscription group [%s] from broker [%s] in cluster [%s] success.\n", group, ad, cluster)
						} else {
							fmt.Fprintf(w, "delete subscription group [%s] from broker [%s] success.\n", group, ad)
						}
					}
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&addr, "brokerAddr", "b", "", "delete subscription group from which broker")
	f.StringVarP(&cluster, "clusterName", "c", "", "delete subscription group from which cluster")
	f.StringVarP(&group, "groupName", "g", "", "subscription group name")
	f.StringVarP(&removeOffset, "removeOffset", "r", "", "remove offset (true|false)")
	return requireFlags(cmd, "groupName")
}

// Progress is consumerProgress -g -o json.
type Progress struct {
	Group      string          `json:"group"`
	ConsumeTPS float64         `json:"consumeTps"`
	DiffTotal  int64           `json:"diffTotal"`
	Queues     []QueueProgress `json:"queues"`
}

// QueueProgress is one queue of consumerProgress -o json; lag is
// brokerOffset - max(consumerOffset, minOffset), never negative.
type QueueProgress struct {
	Topic          string `json:"topic"`
	BrokerName     string `json:"brokerName"`
	QueueID        int32  `json:"queueId"`
	BrokerOffset   int64  `json:"brokerOffset"`
	ConsumerOffset int64  `json:"consumerOffset"`
	MinOffset      int64  `json:"minOffset"`
	Lag            int64  `json:"lag"`
	ClientIP       string `json:"clientIp,omitempty"`
	LastTimestamp  int64  `json:"lastTimestamp"` // Unix ms of the last consumed message; 0: none
}

// GroupSummary is one line of consumerProgress (no -g) -o json.
type GroupSummary struct {
	Group        string `json:"group"`
	Count        int    `json:"count"`
	Version      string `json:"version"` // "OFFLINE" when no client is online
	ConsumeType  string `json:"consumeType"`
	MessageModel string `json:"messageModel"`
	ConsumeTPS   int64  `json:"consumeTps"`
	DiffTotal    int64  `json:"diffTotal"`
}

func consumerProgressCmd(env *adminEnv) *cobra.Command {
	var group, showIP string
	cmd := &cobra.Command{
		Use:   "consumerProgress",
		Short: "Print a group's progress and lag per queue (no -g: a line per group)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				if group == "" {
					return allGroupsProgress(ctx, cmd, env, a)
				}
				qs, tps, err := a.Progress(ctx, group, "")
				if err != nil {
					return err
				}
				showClient := strings.EqualFold(showIP, "true")
				owners := map[message.MessageQueue]string{}
				if showClient {
					owners = queueOwners(ctx, a, group)
				}
				res := Progress{Group: group, ConsumeTPS: tps, Queues: []QueueProgress{}}
				for _, q := range qs {
					res.DiffTotal += q.Lag
					res.Queues = append(res.Queues, QueueProgress{Topic: q.Queue.Topic, BrokerName: q.Queue.BrokerName,
						QueueID: q.Queue.QueueID, BrokerOffset: q.BrokerOffset, ConsumerOffset: q.ConsumerOffset,
						MinOffset: q.MinOffset, Lag: q.Lag, ClientIP: owners[q.Queue], LastTimestamp: q.LastTimestamp})
				}
				return env.emit(cmd, res, func(w io.Writer) {
					if showClient {
						fmt.Fprintf(w, "%-64s  %-32s  %-4s  %-20s  %-20s  %-20s %-20s  %s\n",
							"#Topic", "#Broker Name", "#QID", "#Broker Offset", "#Consumer Offset", "#Client IP", "#Diff", "#LastTime")
					} else {
						fmt.Fprintf(w, "%-64s  %-32s  %-4s  %-20s  %-20s  %-20s  %s\n",
							"#Topic", "#Broker Name", "#QID", "#Broker Offset", "#Consumer Offset", "#Diff", "#LastTime")
					}
					for _, q := range res.Queues {
						last := "N/A"
						if q.LastTimestamp > 0 {
							last = dateTime(q.LastTimestamp)
						}
						if showClient {
							ip := q.ClientIP
							if ip == "" {
								ip = "N/A"
							}
							fmt.Fprintf(w, "%-64s  %-32s  %-4d  %-20d  %-20d  %-20s %-20d  %s\n", front(q.Topic, 64),
								front(q.BrokerName, 32), q.QueueID, q.BrokerOffset, q.ConsumerOffset, ip, q.Lag, last)
						} else {
							fmt.Fprintf(w, "%-64s  %-32s  %-4d  %-20d  %-20d  %-20d  %s\n", front(q.Topic, 64),
								front(q.BrokerName, 32), q.QueueID, q.BrokerOffset, q.ConsumerOffset, q.Lag, last)
						}
					}
					fmt.Fprintln(w)
					fmt.Fprintf(w, "Consume TPS: %.2f\n", res.ConsumeTPS)
					fmt.Fprintf(w, "Diff Total: %d\n", res.DiffTotal)
				})
			})
		},
	}
	cmd.Flags().StringVarP(&group, "groupName", "g", "", "consumer group name")
	cmd.Flags().StringVarP(&showIP, "showClientIP", "s", "", "show the client owning each queue (true|false)")
	return cmd
}

// queueOwners asks each online client of the group which queues it holds
// (GET_CONSUMER_RUNNING_INFO through the broker); clients that do not answer
// are left out.
func queueOwners(ctx context.Context, a *admin.Admin, group string) map[message.MessageQueue]string {
	out := map[message.MessageQueue]string{}
	cc, err := a.ConsumerConnection(ctx, group)
	if err != nil {
		return out
	}
	for _, c := range cc.ConnectionSet {
		info, err := a.ConsumerRunningInfo(ctx, group, c.ClientID, false)
		if err != nil {
			continue
		}
		ip, _, _ := strings.Cut(c.ClientID, "@")
		for mq := range info.MQTable {
			mq.Topic = a.Client().Unwrap(mq.Topic)
			out[mq] = ip
		}
	}
	return out
}

func allGroupsProgress(ctx context.Context, cmd *cobra.Command, env *adminEnv, a *admin.Admin) error {
	topics, err := a.Topics(ctx)
	if err != nil {
		return err
	}
	out := []GroupSummary{}
	for _, t := range topics {
		if !strings.HasPrefix(t, client.RetryGroupTopicPrefix) {
			continue
		}
		g := GroupSummary{Group: strings.TrimPrefix(t, client.RetryGroupTopicPrefix), Version: "OFFLINE"}
		if qs, tps, err := a.Progress(ctx, g.Group, ""); err == nil {
			g.ConsumeTPS = int64(tps)
			for _, q := range qs {
				g.DiffTotal += q.Lag
			}
		}
		if cc, err := a.ConsumerConnection(ctx, g.Group); err == nil && len(cc.ConnectionSet) > 0 {
			g.Count = len(cc.ConnectionSet)
			g.ConsumeType, g.MessageModel = consumeTypeDesc(cc.ConsumeType), messageModelDesc(cc.MessageModel)
			minV := cc.ConnectionSet[0].Version
			for _, c := range cc.ConnectionSet {
				minV = min(minV, c.Version)
			}
			g.Version = protocol.VersionName(minV)
		}
		out = append(out, g)
	}
	return env.emit(cmd, out, func(w io.Writer) {
		fmt.Fprintf(w, "%-64s  %-6s  %-24s %-5s  %-14s  %-7s  %s\n", "#Group", "#Count", "#Version", "#Type", "#Model", "#TPS", "#Diff Total")
		for _, g := range out {
			fmt.Fprintf(w, "%-64s  %-6d  %-24s %-5s  %-14s  %-7d  %d\n", front(g.Group, 64), g.Count, g.Version,
				g.ConsumeType, g.MessageModel, g.ConsumeTPS, g.DiffTotal)
		}
	})
}

// consumeTypeDesc and messageModelDesc follow RocketMQ's GroupConsumeInfo.
func consumeTypeDesc(t string) string {
	switch t {
	case "CONSUME_ACTIVELY":
		return "PULL"
	case "CONSUME_PASSIVELY":
		return "PUSH"
	}
	return ""
}

func messageModelDesc(m string) string {
	switch m {
	case "CLUSTERING":
		return "CLUSTERING"
	case "BROADCASTING":
		return "BROADCASTING"
	}
	return ""
}

// Connections is consumerConnection -o json.
type Connections struct {
	Connections      []body.Connection `json:"connections"`
	Subscriptions    []Subscription    `json:"subscriptions,omitempty"`
	ConsumeType      string            `json:"consumeType,omitempty"`
	MessageModel     string            `json:"messageModel,omitempty"`
	ConsumeFromWhere string            `json:"consumeFromWhere,omitempty"`
}

// Subscription is one topic a group subscribes to and its expression.
type Subscription struct {
	Topic         string `json:"topic"`
	SubExpression string `json:"subExpression"`
}

func consumerConnectionCmd(env *adminEnv) *cobra.Command {
	var group, addr string
	cmd := &cobra.Command{
		Use:   "consumerConnection",
		Short: "Print the online clients of a consumer group and its subscriptions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				cc, err := a.ConsumerConnection(ctx, group)
				if err != nil {
					return err
				}
				res := Connections{Connections: cc.ConnectionSet, ConsumeType: cc.ConsumeType, MessageModel: cc.MessageModel,
					ConsumeFromWhere: cc.ConsumeFromWhere}
				if res.Connections == nil {
					res.Connections = []body.Connection{}
				}
				for _, t := range slices.Sorted(maps.Keys(cc.SubscriptionTable)) {
					res.Subscriptions = append(res.Subscriptions, Subscription{Topic: a.Client().Unwrap(t), SubExpression: cc.SubscriptionTable[t].SubString})
				}
				return env.emit(cmd, res, func(w io.Writer) {
					fmt.Fprintf(w, "%-36s %-22s %-10s %s\n", "#ClientId", "#ClientAddr", "#Language", "#Version")
					for _, c := range res.Connections {
						fmt.Fprintf(w, "%-36s %-22s %-10s %s\n", c.ClientID, c.ClientAddr, c.Language, protocol.VersionName(c.Version))
					}
					fmt.Fprintf(w, "\nBelow is subscription:\n")
					fmt.Fprintf(w, "%-20s %s\n", "#Topic", "#SubExpression")
					for _, s := range res.Subscriptions {
						fmt.Fprintf(w, "%-20s %s\n", s.Topic, s.SubExpression)
					}
					fmt.Fprintln(w)
					fmt.Fprintf(w, "ConsumeType: %s\n", res.ConsumeType)
					fmt.Fprintf(w, "MessageModel: %s\n", res.MessageModel)
					fmt.Fprintf(w, "ConsumeFromWhere: %s\n", res.ConsumeFromWhere)
				})
			})
		},
	}
	cmd.Flags().StringVarP(&group, "consumerGroup", "g", "", "consumer group name")
	cmd.Flags().StringVarP(&addr, "brokerAddr", "b", "", "broker address (accepted; the group's brokers are found from its route)")
	return requireFlags(cmd, "consumerGroup")
}

func producerConnectionCmd(env *adminEnv) *cobra.Command {
	var group, topic string
	cmd := &cobra.Command{
		Use:   "producerConnection",
		Short: "Print the online clients of a producer group",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				pc, err := a.ProducerConnection(ctx, group, topic)
				if err != nil {
					return err
				}
				res := Connections{Connections: pc.ConnectionSet}
				if res.Connections == nil {
					res.Connections = []body.Connection{}
				}
				return env.emit(cmd, res, func(w io.Writer) {
					for i, c := range res.Connections {
						fmt.Fprintf(w, "%04d  %-32s %-22s %-8s %s\n", i+1, c.ClientID, c.ClientAddr, c.Language, protocol.VersionName(c.Version))
					}
				})
			})
		},
	}
	cmd.Flags().StringVarP(&group, "producerGroup", "g", "", "producer group name")
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "topic name")
	return requireFlags(cmd, "producerGroup", "topic")
}

// GroupConfigOnBroker is one entry of getConsumerConfig -o json.
type GroupConfigOnBroker struct {
	ClusterName string          `json:"clusterName"`
	BrokerName  string          `json:"brokerName"`
	Config      GroupConfigJSON `json:"config"`
}

func getConsumerConfigCmd(env *adminEnv) *cobra.Command {
	var group string
	cmd := &cobra.Command{
		Use:   "getConsumerConfig",
		Short: "Print a subscription group's configuration on every broker that has it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				bs, err := clusterBrokers(ctx, a, "", false)
				if err != nil {
					return err
				}
				out := []GroupConfigOnBroker{}
				for _, b := range bs {
					gs, err := a.ConsumerGroups(ctx, b.Addr)
					if err != nil {
						return err
					}
					if g, ok := gs[a.Client().Wrap(group)]; ok {
						out = append(out, GroupConfigOnBroker{ClusterName: b.Cluster, BrokerName: b.Name, Config: g})
					}
				}
				if len(out) == 0 {
					return fmt.Errorf("no broker has subscription group %q", group)
				}
				return env.emit(cmd, out, func(w io.Writer) {
					for _, e := range out {
						fmt.Fprintf(w, "=============================%s:%s=============================\n", e.ClusterName, e.BrokerName)
						g := e.Config
						for _, kv := range [][2]string{{"groupName", g.GroupName}, {"consumeEnable", strconv.FormatBool(g.ConsumeEnable)},
							{"consumeFromMinEnable", strconv.FormatBool(g.ConsumeFromMinEnable)},
							{"consumeBroadcastEnable", strconv.FormatBool(g.ConsumeBroadcastEnable)},
							{"retryQueueNums", strconv.Itoa(int(g.RetryQueueNums))}, {"retryMaxTimes", strconv.Itoa(int(g.RetryMaxTimes))},
							{"brokerId", strconv.FormatInt(g.BrokerID, 10)},
							{"whichBrokerWhenConsumeSlowly", strconv.FormatInt(g.WhichBrokerWhenConsumeSlowly, 10)},
							{"notifyConsumerIdsChangedEnable", strconv.FormatBool(g.NotifyConsumerIdsChangedEnable)}} {
							fmt.Fprintf(w, "%-40s=  %s\n", kv[0], kv[1])
						}
					}
				})
			})
		},
	}
	cmd.Flags().StringVarP(&group, "groupName", "g", "", "subscription group name")
	return requireFlags(cmd, "groupName")
}
