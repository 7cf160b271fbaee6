package main

import (
	"context"
	"errors"
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
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// Topic commands.

func topicCommands(env *adminEnv) []*cobra.Command {
	return []*cobra.Command{
		topicListCmd(env), topicRouteCmd(env), topicStatusCmd(env), topicClusterListCmd(env), updateTopicCmd(env),
		updateTopicPermCmd(env), deleteTopicCmd(env), updateOrderConfCmd(env), allocateMQCmd(env), statsAllCmd(env),
	}
}

// TopicGroup is one line of topicList -c -o json.
type TopicGroup struct {
	ClusterName   string `json:"clusterName"`
	Topic         string `json:"topic"`
	ConsumerGroup string `json:"consumerGroup"`
}

func isGroupTopic(t string) bool {
	return strings.HasPrefix(t, client.RetryGroupTopicPrefix) || strings.HasPrefix(t, client.DLQGroupTopicPrefix)
}

func topicListCmd(env *adminEnv) *cobra.Command {
	var clusterModel bool
	cmd := &cobra.Command{
		Use:   "topicList",
		Short: "List every topic the name servers know (-c: with cluster and consumer groups)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				topics, err := a.Topics(ctx)
				if err != nil {
					return err
				}
				if !clusterModel {
					if topics == nil {
						topics = []string{}
					}
					return env.emit(cmd, topics, func(w io.Writer) {
						for _, t := range topics {
							fmt.Fprintln(w, t)
						}
					})
				}
				out := []TopicGroup{}
				for _, t := range topics {
					if isGroupTopic(t) {
						continue
					}
					cluster := topicCluster(ctx, a, t)
					groups, _ := a.GroupsOfTopic(ctx, t)
					if len(groups) == 0 {
						groups = []string{""}
					}
					for _, g := range groups {
						out = append(out, TopicGroup{ClusterName: cluster, Topic: t, ConsumerGroup: g})
					}
				}
				return env.emit(cmd, out, func(w io.Writer) {
					fmt.Fprintf(w, "%-20s  %-48s  %-48s\n", "#Cluster Name", "#Topic", "#Consumer Group")
					for _, r := range out {
						fmt.Fprintf(w, "%-20s  %-64s  %-64s\n", front(r.ClusterName, 20), front(r.Topic, 64), front(r.ConsumerGroup, 64))
					}
				})
			})
		},
	}
	cmd.Flags().BoolVarP(&clusterModel, "clusterModel", "c", false, "print the cluster and consumer groups of each topic")
	return cmd
}

// topicClusters returns the clusters of a topic's brokers, sorted.
func topicClusters(ctx context.Context, a *admin.Admin, topic string) ([]string, error) {
	r, err := a.TopicRoute(ctx, topic)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, bd := range r.Data().BrokerDatas {
		set[bd.Cluster] = true
	}
	return slices.Sorted(maps.Keys(set)), nil
}

func topicCluster(ctx context.Context, a *admin.Admin, topic string) string {
	cs, err := topicClusters(ctx, a, topic)
	if err != nil || len(cs) == 0 {
		return ""
	}
	return cs[0]
}

// RouteJSON is topicRoute -o json: the route in RocketMQ's field names.
type RouteJSON struct {
	OrderTopicConf string              `json:"orderTopicConf,omitempty"`
	QueueDatas     []RouteQueueData    `json:"queueDatas"`
	BrokerDatas    []RouteBrokerData   `json:"brokerDatas"`
	FilterServers  map[string][]string `json:"filterServerTable"`
}

// RouteQueueData is one broker's queues of a topic.
type RouteQueueData struct {
	BrokerName     string `json:"brokerName"`
	ReadQueueNums  int32  `json:"readQueueNums"`
	WriteQueueNums int32  `json:"writeQueueNums"`
	Perm           int32  `json:"perm"`
	TopicSysFlag   int32  `json:"topicSysFlag"`
}

// RouteBrokerData is one broker set of a route.
type RouteBrokerData struct {
	Cluster     string           `json:"cluster"`
	BrokerName  string           `json:"brokerName"`
	BrokerAddrs map[int64]string `json:"brokerAddrs"`
}

func routeJSON(rd *body.TopicRouteData) RouteJSON {
	out := RouteJSON{OrderTopicConf: rd.OrderTopicConf, QueueDatas: []RouteQueueData{}, BrokerDatas: []RouteBrokerData{},
		FilterServers: rd.FilterServerTable}
	if out.FilterServers == nil {
		out.FilterServers = map[string][]string{}
	}
	for _, q := range rd.QueueDatas {
		out.QueueDatas = append(out.QueueDatas, RouteQueueData(q))
	}
	for _, b := range rd.BrokerDatas {
		out.BrokerDatas = append(out.BrokerDatas, RouteBrokerData{Cluster: b.Cluster, BrokerName: b.BrokerName, BrokerAddrs: b.Addrs})
	}
	slices.SortFunc(out.QueueDatas, func(x, y RouteQueueData) int { return strings.Compare(x.BrokerName, y.BrokerName) })
	slices.SortFunc(out.BrokerDatas, func(x, y RouteBrokerData) int { return strings.Compare(x.BrokerName, y.BrokerName) })
	return out
}

// javaMap renders a broker-address map as Java's HashMap.toString does.
func javaMap(m map[int64]string) string {
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d=%s", id, m[id]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func topicRouteCmd(env *adminEnv) *cobra.Command {
	var topic string
	var list bool
	cmd := &cobra.Command{
		Use:   "topicRoute",
		Short: "Print a topic's route (-l: as a table)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				r, err := a.TopicRoute(ctx, topic)
				if err != nil {
					return err
				}
				rj := routeJSON(r.Data())
				return env.emit(cmd, rj, func(w io.Writer) {
					if !list {
						fmt.Fprintf(w, "%s\n", fastjsonPretty(rj))
						return
					}
					const format = "%-45s %-32s %-50s %-10s %-11s %-5s\n"
					qd := map[string]RouteQueueData{}
					for _, q := range rj.QueueDatas {
						qd[q.BrokerName] = q
					}
					fmt.Fprintf(w, format, "#ClusterName", "#BrokerName", "#BrokerAddrs", "#ReadQueue", "#WriteQueue", "#Perm")
					var tr, tw int32
					for _, b := range rj.BrokerDatas {
						q := qd[b.BrokerName]
						tr += q.ReadQueueNums
						tw += q.WriteQueueNums
						fmt.Fprintf(w, format, b.Cluster, b.BrokerName, javaMap(b.BrokerAddrs),
							strconv.Itoa(int(q.ReadQueueNums)), strconv.Itoa(int(q.WriteQueueNums)), strconv.Itoa(int(q.Perm)))
					}
					fmt.Fprintln(w, strings.Repeat("-", 158))
					fmt.Fprintf(w, format, "Total:", strconv.Itoa(len(qd)), "", strconv.Itoa(int(tr)), strconv.Itoa(int(tw)), "")
				})
			})
		},
	}
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "topic name")
	cmd.Flags().BoolVarP(&list, "list", "l", false, "use list format to print data")
	return requireFlags(cmd, "topic")
}

// QueueStatus is one line of topicStatus -o json.
type QueueStatus struct {
	BrokerName      string `json:"brokerName"`
	QueueID         int32  `json:"queueId"`
	MinOffset       int64  `json:"minOffset"`
	MaxOffset       int64  `json:"maxOffset"`
	LastUpdatedMs   int64  `json:"lastUpdated"` // Unix ms of the newest message; 0: none
	MessagesInQueue int64  `json:"messages"`    // maxOffset - minOffset
}

func sortQueues(qs []message.MessageQueue) {
	slices.SortFunc(qs, func(x, y message.MessageQueue) int {
		if c := strings.Compare(x.Topic, y.Topic); c != 0 {
			return c
		}
		if c := strings.Compare(x.BrokerName, y.BrokerName); c != 0 {
			return c
		}
		return int(x.QueueID - y.QueueID)
	})
}

func topicStatusCmd(env *adminEnv) *cobra.Command {
	var topic string
	cmd := &cobra.Command{
		Use:   "topicStatus",
		Short: "Print every queue's offsets and last update time of a topic",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				st, err := a.TopicStats(ctx, topic)
				if err != nil {
					return err
				}
				qs := slices.Collect(maps.Keys(st))
				sortQueues(qs)
				out := make([]QueueStatus, 0, len(qs))
				for _, q := range qs {
					o := st[q]
					out = append(out, QueueStatus{BrokerName: q.BrokerName, QueueID: q.QueueID, MinOffset: o.MinOffset,
						MaxOffset: o.MaxOffset, LastUpdatedMs: o.LastUpdateTimestamp, MessagesInQueue: o.MaxOffset - o.MinOffset})
				}
				return env.emit(cmd, out, func(w io.Writer) {
					fmt.Fprintf(w, "%-32s  %-4s  %-20s  %-20s    %s\n", "#Broker Name", "#QID", "#Min Offset", "#Max Offset", "#Last Updated")
					for _, q := range out {
						last := ""
						if q.LastUpdatedMs > 0 {
							last = humanTime(q.LastUpdatedMs)
						}
						fmt.Fprintf(w, "%-32s  %-4d  %-20d  %-20d    %s\n", front(q.BrokerName, 32), q.QueueID, q.MinOffset, q.MaxOffset, last)
					}
				})
			})
		},
	}
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "topic name")
	return requireFlags(cmd, "topic")
}

func topicClusterListCmd(env *adminEnv) *cobra.Command {
	var topic string
	cmd := &cobra.Command{
		Use:   "topicClusterList",
		Short: "Print the clusters a topic is in",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				cs, err := topicClusters(ctx, a, topic)
				if err != nil {
					return err
				}
				return env.emit(cmd, cs, func(w io.Writer) {
					for _, c := range cs {
						fmt.Fprintln(w, c)
					}
				})
			})
		},
	}
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "topic name")
	return requireFlags(cmd, "topic")
}

// permString renders a topic permission as RocketMQ's PermName.perm2String.
func permString(p int32) string {
	s := []byte("---")
	if p&body.PermRead != 0 {
		s[0] = 'R'
	}
	if p&body.PermWrite != 0 {
		s[1] = 'W'
	}
	if p&body.PermInherit != 0 {
		s[2] = 'X'
	}
	return string(s)
}

// TopicConfigJSON is a topic's configuration in -o json answers.
type TopicConfigJSON struct {
	TopicName       string `json:"topicName"`
	ReadQueueNums   int32  `json:"readQueueNums"`
	WriteQueueNums  int32  `json:"writeQueueNums"`
	Perm            int32  `json:"perm"`
	TopicFilterType string `json:"topicFilterType"`
	TopicSysFlag    int32  `json:"topicSysFlag"`
	Order           bool   `json:"order"`
}

func (t TopicConfigJSON) String() string {
	return fmt.Sprintf("TopicConfig [topicName=%s, readQueueNums=%d, writeQueueNums=%d, perm=%s, topicFilterType=%s, topicSysFlag=%d, order=%t]",
		t.TopicName, t.ReadQueueNums, t.WriteQueueNums, permString(t.Perm), t.TopicFilterType, t.TopicSysFlag, t.Order)
}

// TopicUpdate is the -o json answer of updateTopic and updateTopicPerm.
type TopicUpdate struct {
	Brokers []string         `json:"brokers"`
	Config  TopicConfigJSON  `json:"config"`
	OldPerm map[string]int32 `json:"oldPerm,omitempty"` // updateTopicPerm: by broker address
}

func updateTopicCmd(env *adminEnv) *cobra.Command {
	var addr, cluster, topic, order, unit, hasUnitSub string
	var readQ, writeQ, perm int32
	cmd := &cobra.Command{
		Use:   "updateTopic",
		Short: "Create or update a topic on a broker (-b) or on every master of a cluster (-c)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			isOrder, err := parseBool("o", order)
			if err != nil {
				return err
			}
			spec := admin.TopicSpec{Topic: topic, ReadQueues: readQ, WriteQueues: writeQ, Perm: perm, Order: isOrder}
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				addrs, err := targetAddrs(ctx, a, addr, cluster)
				if err != nil {
					return err
				}
				for _, ad := range addrs {
					if err := a.CreateTopic(ctx, ad, spec); err != nil {
						return err
					}
				}
				tc := TopicConfigJSON{TopicName: topic, ReadQueueNums: readQ, WriteQueueNums: writeQ, Perm: perm,
					TopicFilterType: "SINGLE_TAG", Order: isOrder}
				return env.emit(cmd, TopicUpdate{Brokers: addrs, Config: tc}, func(w io.Writer) {
					for _, ad := range addrs {
						fmt.Fprintf(w, "create topic to %s success.\n", ad)
					}
					fmt.Fprintf(w, "%s\n", tc)
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&addr, "brokerAddr", "b", "", "create topic to which broker")
	f.StringVarP(&cluster, "clusterName", "c", "", "create topic to which cluster")
	f.StringVarP(&topic, "topic", "t", "", "topic name")
	f.Int32VarP(&readQ, "readQueueNums", "r", 8, "set read queue nums")
	f.Int32VarP(&writeQ, "writeQueueNums", "w", 8, "set write queue nums")
	f.Int32VarP(&perm, "perm", "p", 6, "set topic's permission (2|4|6), intro[2:W 4:R; 6:RW]")
	f.StringVarP(&order, "order", "o", "false", "set topic's order (true|false)")
	f.StringVarP(&unit, "unit", "u", "false", "is unit topic (true|false; accepted, no effect)")
	f.StringVarP(&hasUnitSub, "hasUnitSub", "s", "false", "has unit sub (true|false; accepted, no effect)")
	return requireFlags(cmd, "topic")
}

func updateTopicPermCmd(env *adminEnv) *cobra.Command {
	var addr, cluster, topic string
	var perm int32
	cmd := &cobra.Command{
		Use:   "updateTopicPerm",
		Short: "Change a topic's permission on a broker (-b) or on every master of a cluster (-c)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if perm != 2 && perm != 4 && perm != 6 {
				return fmt.Errorf("-p %d: want 2 (W), 4 (R) or 6 (RW)", perm)
			}
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				r, err := a.TopicRoute(ctx, topic)
				if err != nil {
					return err
				}
				want := map[string]bool{}
				if addr == "" {
					if cluster == "" {
						return errors.New("give -b brokerAddr or -c clusterName")
					}
					addrs, err := targetAddrs(ctx, a, "", cluster)
					if err != nil {
						return err
					}
					for _, ad := range addrs {
						want[ad] = true
					}
				} else {
					want[addr] = true
				}
				res := TopicUpdate{OldPerm: map[string]int32{}}
				var lines []string
				for _, q := range r.Data().QueueDatas {
					ad, ok := r.MasterAddr(q.BrokerName)
					if !ok || !want[ad] {
						continue
					}
					spec := admin.TopicSpec{Topic: topic, ReadQueues: q.ReadQueueNums, WriteQueues: q.WriteQueueNums,
						Perm: perm, SysFlag: q.TopicSysFlag}
					if err := a.CreateTopic(ctx, ad, spec); err != nil {
						return err
					}
					res.Brokers = append(res.Brokers, ad)
					res.OldPerm[ad] = q.Perm
					res.Config = TopicConfigJSON{TopicName: topic, ReadQueueNums: q.ReadQueueNums, WriteQueueNums: q.WriteQueueNums,
						Perm: perm, TopicFilterType: "SINGLE_TAG", TopicSysFlag: q.TopicSysFlag}
					lines = append(lines, fmt.Sprintf("update topic perm from %d to %d in %s success.", q.Perm, perm, ad))
				}
				if len(res.Brokers) == 0 {
					return fmt.Errorf("topic %s has no queues on the given master(s)", topic)
				}
				return env.emit(cmd, res, func(w io.Writer) {
					for _, l := range lines {
						fmt.Fprintln(w, l)
					}
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&addr, "brokerAddr", "b", "", "update the topic on which broker")
	f.StringVarP(&cluster, "clusterName", "c", "", "update the topic on which cluster")
	f.StringVarP(&topic, "topic", "t", "", "topic name")
	f.Int32VarP(&perm, "perm", "p", 0, "set topic's permission (2|4|6), intro[2:W; 4:R; 6:RW]")
	return requireFlags(cmd, "topic", "perm")
}

// TopicDeleted is deleteTopic -o json.
type TopicDeleted struct {
	Topic       string `json:"topic"`
	ClusterName string `json:"clusterName"`
}

func deleteTopicCmd(env *adminEnv) *cobra.Command {
	var topic, cluster string
	cmd := &cobra.Command{
		Use:   "deleteTopic",
		Short: "Delete a topic from a cluster's masters and from the name servers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				if err := a.DeleteTopic(ctx, topic, cluster); err != nil {
					return err
				}
				return env.emit(cmd, TopicDeleted{Topic: topic, ClusterName: cluster}, func(w io.Writer) {
					fmt.Fprintf(w, "delete topic [%s] from cluster [%s] success.\n", topic, cluster)
					fmt.Fprintf(w, "delete topic [%s] from NameServer success.\n", topic)
				})
			})
		},
	}
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "topic name")
	cmd.Flags().StringVarP(&cluster, "clusterName", "c", "", "delete topic from which cluster")
	return requireFlags(cmd, "topic", "clusterName")
}
