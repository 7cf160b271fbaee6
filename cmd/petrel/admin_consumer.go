package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// Commands answered by the consumer clients through the brokers
// (consumerStatus, getConsumerStatus) and broker inspections
// (brokerConsumeStats, queryCq, clusterRT).

func consumerCommands(env *adminEnv) []*cobra.Command {
	return []*cobra.Command{consumerStatusCmd(env), getConsumerStatusCmd(env), brokerConsumeStatsCmd(env),
		queryCqCmd(env), clusterRTCmd(env)}
}

// RunningInfo is one client of consumerStatus -o json.
type RunningInfo struct {
	ClientID   string                        `json:"clientId"`
	Version    string                        `json:"version"`
	Properties map[string]string             `json:"properties"`
	Subs       []Subscription                `json:"subscriptions"`
	Queues     []RunningQueue                `json:"queues"`
	Status     map[string]body.ConsumeStatus `json:"statusTable"`
	Jstack     string                        `json:"jstack,omitempty"`
	File       string                        `json:"file,omitempty"` // where the text form was written (no -i)
}

// RunningQueue is one queue a client holds.
type RunningQueue struct {
	Topic      string `json:"topic"`
	BrokerName string `json:"brokerName"`
	QueueID    int32  `json:"queueId"`
	body.ProcessQueueInfo
}

// ConsumerStatusReport is consumerStatus -o json.
type ConsumerStatusReport struct {
	Group            string        `json:"group"`
	Clients          []RunningInfo `json:"clients"`
	SameSubscription bool          `json:"sameSubscription"`
	RebalanceOK      bool          `json:"rebalanceOk"` // every queue held by one client at most
}

func runningInfo(a *admin.Admin, id, version string, ri *body.ConsumerRunningInfo) RunningInfo {
	out := RunningInfo{ClientID: id, Version: version, Properties: ri.Properties, Subs: []Subscription{},
		Queues: []RunningQueue{}, Status: ri.StatusTable, Jstack: ri.Jstack}
	for _, s := range ri.SubscriptionSet {
		out.Subs = append(out.Subs, Subscription{Topic: a.Client().Unwrap(s.Topic), SubExpression: s.SubString})
	}
	slices.SortFunc(out.Subs, func(x, y Subscription) int { return strings.Compare(x.Topic, y.Topic) })
	qs := slices.Collect(maps.Keys(ri.MQTable))
	sortQueues(qs)
	for _, q := range qs {
		out.Queues = append(out.Queues, RunningQueue{Topic: a.Client().Unwrap(q.Topic), BrokerName: q.BrokerName, QueueID: q.QueueID,
			ProcessQueueInfo: ri.MQTable[q]})
	}
	return out
}

// formatRunningInfo renders a client's running info as RocketMQ's
// ConsumerRunningInfo.formatString does (properties, subscriptions,
// offsets, queue details, rates).
func formatRunningInfo(ri RunningInfo) string {
	var b strings.Builder
	b.WriteString("#Consumer Properties#\n")
	for _, k := range slices.Sorted(maps.Keys(ri.Properties)) {
		fmt.Fprintf(&b, "%-40s: %s\n", k, ri.Properties[k])
	}
	b.WriteString("\n\n#Consumer Subscription#\n")
	for i, s := range ri.Subs {
		fmt.Fprintf(&b, "%03d Topic: %-40s ClassFilter: %-8t SubExpression: %s\n", i+1, s.Topic, false, s.SubExpression)
	}
	b.WriteString("\n\n#Consumer Offset#\n")
	fmt.Fprintf(&b, "%-64s  %-32s  %-4s  %-20s\n", "#Topic", "#Broker Name", "#QID", "#Consumer Offset")
	for _, q := range ri.Queues {
		fmt.Fprintf(&b, "%-32s  %-32s  %-4d  %-20d\n", q.Topic, q.BrokerName, q.QueueID, q.CommitOffset)
	}
	b.WriteString("\n\n#Consumer MQ Detail#\n")
	fmt.Fprintf(&b, "%-64s  %-32s  %-4s  %-20s\n", "#Topic", "#Broker Name", "#QID", "#ProcessQueueInfo")
	for _, q := range ri.Queues {
		p := q.ProcessQueueInfo
		fmt.Fprintf(&b, "%-64s  %-32s  %-4d  ProcessQueueInfo [commitOffset=%d, cachedMsgMinOffset=%d, cachedMsgMaxOffset=%d, "+
			"cachedMsgCount=%d, cachedMsgSizeInMiB=%d, transactionMsgMinOffset=%d, transactionMsgMaxOffset=%d, transactionMsgCount=%d, "+
			"locked=%t, tryUnlockTimes=%d, lastLockTimestamp=%s, droped=%t, lastPullTimestamp=%s, lastConsumeTimestamp=%s]\n",
			q.Topic, q.BrokerName, q.QueueID, p.CommitOffset, p.CachedMsgMinOffset, p.CachedMsgMaxOffset, p.CachedMsgCount,
			p.CachedMsgSizeInMiB, p.TransactionMsgMinOffset, p.TransactionMsgMaxOffset, p.TransactionMsgCount, p.Locked,
			p.TryUnlockTimes, compactTime(p.LastLockTimestamp), p.Droped, compactTime(p.LastPullTimestamp), compactTime(p.LastConsumeTimestamp))
	}
	b.WriteString("\n\n#Consumer RT&TPS#\n")
	fmt.Fprintf(&b, "%-64s  %14s %14s %14s %14s %18s %25s\n", "#Topic", "#Pull RT", "#Pull TPS", "#Consume RT",
		"#ConsumeOK TPS", "#ConsumeFailed TPS", "#ConsumeFailedMsgsInHour")
	for _, t := range slices.Sorted(maps.Keys(ri.Status)) {
		s := ri.Status[t]
		fmt.Fprintf(&b, "%-32s  %14.2f %14.2f %14.2f %14.2f %18.2f %25d\n", t, s.PullRT, s.PullTPS, s.ConsumeRT,
			s.ConsumeOKTPS, s.ConsumeFailedTPS, s.ConsumeFailedMsgs)
	}
	if ri.Jstack != "" {
		b.WriteString("\n\n#Consumer jstack#\n" + ri.Jstack + "\n")
	}
	return b.String()
}

// compactTime renders Unix ms as RocketMQ's UtilAll.timeMillisToHumanString
// (yyyyMMddHHmmssSSS, local time; the epoch for 0).
func compactTime(ms int64) string {
	t := time.UnixMilli(ms)
	return t.Format("20060102150405") + fmt.Sprintf("%03d", t.Nanosecond()/1e6)
}

func consumerStatusCmd(env *adminEnv) *cobra.Command {
	var group, clientID, addr string
	var jstack bool
	cmd := &cobra.Command{
		Use:   "consumerStatus",
		Short: "Ask a group's consumer clients for their running state (GET_CONSUMER_RUNNING_INFO)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				cc, err := a.ConsumerConnection(ctx, group)
				if err != nil {
					return err
				}
				rep := ConsumerStatusReport{Group: group, Clients: []RunningInfo{}, SameSubscription: true, RebalanceOK: true}
				dir := filepath.Join(os.TempDir(), "rocketmq", "consumerStatus", strconv.FormatInt(time.Now().UnixMilli(), 10))
				holder := map[message.MessageQueue]string{}
				for _, c := range cc.ConnectionSet {
					if clientID != "" && c.ClientID != clientID {
						continue
					}
					info, err := a.ConsumerRunningInfo(ctx, group, c.ClientID, jstack)
					if err != nil {
						return err
					}
					ri := runningInfo(a, c.ClientID, protocol.VersionName(c.Version), info)
					for mq := range info.MQTable {
						if _, dup := holder[mq]; dup {
							rep.RebalanceOK = false
						}
						holder[mq] = c.ClientID
					}
					if len(rep.Clients) > 0 && !slices.Equal(rep.Clients[0].Subs, ri.Subs) {
						rep.SameSubscription = false
					}
					if clientID == "" {
						if err := os.MkdirAll(dir, 0o755); err == nil {
							ri.File = filepath.Join(dir, c.ClientID)
							if err := os.WriteFile(ri.File, []byte(formatRunningInfo(ri)), 0o644); err != nil {
								ri.File = ""
							}
						}
					}
					rep.Clients = append(rep.Clients, ri)
				}
				if clientID != "" && len(rep.Clients) == 0 {
					return fmt.Errorf("client %s of group %s is not online", clientID, group)
				}
				return env.emit(cmd, rep, func(w io.Writer) {
					if clientID != "" {
						fmt.Fprint(w, formatRunningInfo(rep.Clients[0]))
						return
					}
					fmt.Fprintf(w, "%-10s %-40s %-20s %s\n", "#Index", "#ClientId", "#Version", "#ConsumerRunningInfoFile")
					for i, c := range rep.Clients {
						fmt.Fprintf(w, "%-10d %-40s %-20s %s\n", i+1, c.ClientID, c.Version, c.File)
					}
					if rep.SameSubscription {
						fmt.Fprintf(w, "\n\nSame subscription in the same group of consumer")
						ok := "OK"
						if !rep.RebalanceOK {
							ok = "Failed"
						}
						fmt.Fprintf(w, "\n\nRebalance %s\n", ok)
					} else {
						fmt.Fprintf(w, "\n\nWARN: Different subscription in the same group of consumer!!!\n")
					}
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&group, "consumerGroup", "g", "", "consumer group name")
	f.StringVarP(&clientID, "clientId", "i", "", "the consumer's client id")
	f.StringVarP(&addr, "brokerAddr", "b", "", "broker address (accepted; the group's brokers are found from its route)")
	f.BoolVarP(&jstack, "jstack", "s", false, "ask Java clients for a thread dump")
	return requireFlags(cmd, "consumerGroup")
}

// ClientOffset is one line of getConsumerStatus -o json.
type ClientOffset struct {
	ClientID   string `json:"clientId"`
	BrokerName string `json:"brokerName"`
	QueueID    int32  `json:"queueId"`
	Offset     int64  `json:"offset"`
}

func getConsumerStatusCmd(env *adminEnv) *cobra.Command {
	var group, topic, clientID string
	cmd := &cobra.Command{
		Use:   "getConsumerStatus",
		Short: "Print the offsets a group's consumer clients hold for a topic (INVOKE_BROKER_TO_GET_CONSUMER_STATUS)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				t, err := a.ConsumerStatus(ctx, group, topic, clientID)
				if err != nil {
					return err
				}
				out := []ClientOffset{}
				for _, id := range slices.Sorted(maps.Keys(t)) {
					qs := slices.Collect(maps.Keys(t[id]))
					sortQueues(qs)
					for _, q := range qs {
						out = append(out, ClientOffset{ClientID: id, BrokerName: q.BrokerName, QueueID: q.QueueID, Offset: t[id][q]})
					}
				}
				return env.emit(cmd, out, func(w io.Writer) {
					fmt.Fprintf(w, "get consumer status from client. group=%s, topic=%s, originClientId=%s\n", group, topic, clientID)
					fmt.Fprintf(w, "%-50s  %-15s  %-15s  %-20s\n", "#clientId", "#brokerName", "#queueId", "#offset")
					for _, o := range out {
						fmt.Fprintf(w, "%-50s  %-15s  %-15d  %-20d\n", front(o.ClientID, 50), o.BrokerName, o.QueueID, o.Offset)
					}
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&group, "group", "g", "", "set the consumer group")
	f.StringVarP(&topic, "topic", "t", "", "set the topic")
	f.StringVarP(&clientID, "originClientId", "i", "", "set the consumer clientId")
	return requireFlags(cmd, "group", "topic")
}

// BrokerGroupLag is one line of brokerConsumeStats -o json.
type BrokerGroupLag struct {
	Topic          string `json:"topic"`
	Group          string `json:"group"`
	BrokerName     string `json:"brokerName"`
	QueueID        int32  `json:"queueId"`
	BrokerOffset   int64  `json:"brokerOffset"`
	ConsumerOffset int64  `json:"consumerOffset"`
	Diff           int64  `json:"diff"`
	LastTimestamp  int64  `json:"lastTimestamp"`
}

// BrokerConsumeReport is brokerConsumeStats -o json.
type BrokerConsumeReport struct {
	BrokerAddr string           `json:"brokerAddr"`
	TotalDiff  int64            `json:"totalDiff"`
	Queues     []BrokerGroupLag `json:"queues"`
}

func brokerConsumeStatsCmd(env *adminEnv) *cobra.Command {
	var addr, order string
	var level int64
	var timeoutMs int64
	cmd := &cobra.Command{
		Use:   "brokerConsumeStats",
		Short: "Print every group's lag per queue on one broker (GET_BROKER_CONSUME_STATS)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			onlyOrder := strings.EqualFold(order, "true")
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				l, err := a.BrokerConsumeStats(ctx, addr, onlyOrder)
				if err != nil {
					return err
				}
				rep := BrokerConsumeReport{BrokerAddr: l.BrokerAddr, TotalDiff: l.TotalDiff, Queues: []BrokerGroupLag{}}
				for _, g := range l.Groups {
					for _, cs := range g.Stats {
						qs := slices.Collect(maps.Keys(cs.OffsetTable))
						sortQueues(qs)
						for _, q := range qs {
							o := cs.OffsetTable[q]
							diff := admin.QueueLag(o.BrokerOffset, o.ConsumerOffset, 0)
							if diff < level {
								continue
							}
							rep.Queues = append(rep.Queues, BrokerGroupLag{Topic: q.Topic, Group: g.Group, BrokerName: q.BrokerName,
								QueueID: q.QueueID, BrokerOffset: o.BrokerOffset, ConsumerOffset: o.ConsumerOffset, Diff: diff,
								LastTimestamp: o.LastTimestamp})
						}
					}
				}
				return env.emit(cmd, rep, func(w io.Writer) {
					fmt.Fprintf(w, "%-64s  %-64s  %-32s  %-4s  %-20s  %-20s  %-20s  %s\n",
						"#Topic", "#Group", "#Broker Name", "#QID", "#Broker Offset", "#Consumer Offset", "#Diff", "#LastTime")
					for _, q := range rep.Queues {
						if q.LastTimestamp <= 0 {
							continue // as mqadmin: queues the group never consumed are not printed
						}
						last := dateTime(q.LastTimestamp)
						fmt.Fprintf(w, "%-64s  %-64s  %-32s  %-4d  %-20d  %-20d  %-20d  %s\n", front(q.Topic, 64), q.Group,
							front(q.BrokerName, 32), q.QueueID, q.BrokerOffset, q.ConsumerOffset, q.Diff, last)
					}
					fmt.Fprintf(w, "\nDiff Total: %d\n", rep.TotalDiff)
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&addr, "brokerAddr", "b", "", "broker address")
	f.Int64VarP(&timeoutMs, "timeoutMillis", "t", 50000, "request timeout, ms (see --timeout)")
	f.Int64VarP(&level, "level", "l", 0, "print only queues whose diff is at least this")
	f.StringVarP(&order, "order", "o", "false", "ordered topics only (true|false)")
	return requireFlags(cmd, "brokerAddr")
}

func queueEntryString(e body.QueueEntry) string {
	null := func(s string) string {
		if s == "" {
			return "null"
		}
		return s
	}
	return fmt.Sprintf("ConsumeQueueData{physicOffset=%d, physicSize=%d, tagsCode=%d, extendDataJson='%s', bitMap='%s', eval=%t, msg='%s'}",
		e.PhysicOffset, e.PhysicSize, e.TagsCode, null(e.ExtendDataJSON), null(e.BitMap), e.Eval, null(e.Msg))
}

func queryCqCmd(env *adminEnv) *cobra.Command {
	var topic, addr, group string
	var queueID, count int32
	var index int64
	cmd := &cobra.Command{
		Use:   "queryCq",
		Short: "Print consume-queue entries of a queue (QUERY_CONSUME_QUEUE)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				b := addr
				if b == "" {
					r, err := a.TopicRoute(ctx, topic)
					if err != nil {
						return err
					}
					names := r.BrokerNames()
					if len(names) == 0 {
						return errors.New("no topic route data")
					}
					var ok bool
					if b, ok = r.MasterAddr(names[0]); !ok {
						return fmt.Errorf("broker %s of topic %s has no master", names[0], topic)
					}
				}
				res, err := a.QueryConsumeQueue(ctx, b, topic, queueID, index, count, group)
				if err != nil {
					return err
				}
				return env.emit(cmd, res, func(w io.Writer) {
					if res.SubscriptionData != nil {
						fmt.Fprintf(w, "Subscription data: \n%s\n======================================\n", fastjsonPretty(res.SubscriptionData))
					}
					if res.FilterData != "" {
						fmt.Fprintf(w, "Filter data: \n%s\n======================================\n", res.FilterData)
					}
					fmt.Fprintf(w, "Queue data: \nmax: %d, min: %d\n======================================\n", res.MaxQueueIndex, res.MinQueueIndex)
					for i, e := range res.QueueData {
						fmt.Fprintf(w, "idx: %d\n%s\n======================================\n", index+int64(i), queueEntryString(e))
					}
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&topic, "topic", "t", "", "topic name")
	f.Int32VarP(&queueID, "queue", "q", 0, "queue id")
	f.Int64VarP(&index, "index", "i", 0, "start queue index")
	f.Int32VarP(&count, "count", "c", 10, "how many entries")
	f.StringVarP(&addr, "broker", "b", "", "broker address (default: the topic's first master)")
	f.StringVarP(&group, "consumer", "g", "", "consumer group: also print its subscription")
	return requireFlags(cmd, "topic", "queue", "index")
}

// ClusterRT is one line of clusterRT -o json.
type ClusterRT struct {
	ClusterName  string  `json:"clusterName"`
	BrokerName   string  `json:"brokerName"`
	RTMs         float64 `json:"rtMs"`
	SuccessCount int     `json:"successCount"`
	FailCount    int     `json:"failCount"`
}

func clusterRTCmd(env *adminEnv) *cobra.Command {
	var cluster, printLog, room string
	var amount, size, interval, rounds int
	cmd := &cobra.Command{
		Use:   "clusterRT",
		Short: "Send messages to every broker's own topic and print the average round trip",
		Long: "Send -a messages of -s bytes to the topic named after each broker (brokerTopicEnable)\n" +
			"and print the average round trip. mqadmin repeats every -i seconds until stopped;\n" +
			"petrel admin runs --rounds rounds (default 1; 0 repeats until stopped, without --timeout).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if amount < 2 || size <= 0 {
				return errors.New("-a must be at least 2 and -s positive")
			}
			if rounds == 0 {
				env.timeout = 1<<63 - 1
			}
			tlog := strings.EqualFold(printLog, "true")
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				bs, err := clusterBrokers(ctx, a, cluster, false)
				if err != nil {
					return err
				}
				return withProducer(ctx, a, func(p *producer.Producer) error {
					var all []ClusterRT
					w := cmd.OutOrStdout()
					if !tlog && env.out != "json" {
						fmt.Fprintf(w, "%-24s  %-24s  %-4s  %-8s  %-8s\n", "#Cluster Name", "#Broker Name", "#RT", "#successCount", "#failCount")
					}
					payload := []byte(strings.Repeat("a", size))
					for round := 0; rounds == 0 || round < rounds; round++ {
						if round > 0 {
							select {
							case <-ctx.Done():
								return ctx.Err()
							case <-time.After(time.Duration(interval) * time.Second):
							}
						}
						for _, b := range bs {
							r := ClusterRT{ClusterName: b.Cluster, BrokerName: b.Name}
							var elapsed time.Duration
							for i := range amount {
								start := time.Now()
								if _, err := p.Send(ctx, producer.NewMessage(b.Name, payload)); err != nil {
									r.FailCount++
								} else {
									r.SuccessCount++
								}
								if i != 0 {
									elapsed += time.Since(start)
								}
							}
							r.RTMs = float64(elapsed.Microseconds()) / 1000 / float64(amount-1)
							all = append(all, r)
							switch {
							case env.out == "json":
							case tlog:
								fmt.Fprintf(w, "%s|%s|%s|%s|%.0f\n", time.Now().Format("2006-01-02 15:04:05"), room, r.ClusterName, r.BrokerName, r.RTMs)
							default:
								fmt.Fprintf(w, "%-24s  %-24s  %-8s  %-16d  %-16d\n", r.ClusterName, r.BrokerName,
									fmt.Sprintf("%.2f", r.RTMs), r.SuccessCount, r.FailCount)
							}
						}
					}
					if env.out == "json" {
						return env.emit(cmd, all, nil)
					}
					return nil
				})
			})
		},
	}
	f := cmd.Flags()
	f.IntVarP(&amount, "amount", "a", 100, "message amount per broker")
	f.IntVarP(&size, "size", "s", 128, "message size, bytes")
	f.StringVarP(&cluster, "cluster", "c", "", "cluster name (default: every cluster)")
	f.StringVarP(&printLog, "printLog", "p", "false", "print as tlog (true|false)")
	f.StringVarP(&room, "machineRoom", "m", "noname", "machine room name (tlog)")
	f.IntVarP(&interval, "interval", "i", 10, "seconds between rounds")
	f.IntVar(&rounds, "rounds", 1, "rounds to run (Petrel; 0: until stopped)")
	return cmd
}
