package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client/consumer"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// Topic commands that change configuration held outside the topic: updateOrderConf, allocateMQ.

// OrderConf is updateOrderConf -o json.
type OrderConf struct {
	Topic     string `json:"topic"`
	Method    string `json:"method"`
	OrderConf string `json:"orderConf"`
}

func updateOrderConfCmd(env *adminEnv) *cobra.Command {
	var topic, conf, method string
	cmd := &cobra.Command{
		Use:   "updateOrderConf",
		Short: "Put, get or delete a topic's order configuration (KV namespace ORDER_TOPIC_CONFIG)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				res := OrderConf{Topic: topic, Method: method}
				var line string
				switch method {
				case "get":
					v, err := a.KVConfig(ctx, body.NamespaceOrderTopicConfig, topic)
					if err != nil {
						return err
					}
					res.OrderConf = v
					line = fmt.Sprintf("get orderConf success. topic=[%s], orderConf=[%s] ", topic, v)
				case "put":
					if conf == "" {
						return errors.New("updateOrderConf -m put needs -v brokerName:num;...")
					}
					if err := a.PutKVConfig(ctx, body.NamespaceOrderTopicConfig, topic, conf); err != nil {
						return err
					}
					res.OrderConf = conf
					line = fmt.Sprintf("update orderConf success. topic=[%s], orderConf=[%s]", topic, conf)
				case "delete":
					if err := a.DeleteKVConfig(ctx, body.NamespaceOrderTopicConfig, topic); err != nil {
						return err
					}
					line = fmt.Sprintf("delete orderConf success. topic=[%s]", topic)
				default:
					return fmt.Errorf("-m %q: want put, get or delete", method)
				}
				return env.emit(cmd, res, func(w io.Writer) { fmt.Fprintln(w, line) })
			})
		},
	}
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "topic name")
	cmd.Flags().StringVarP(&conf, "orderConf", "v", "", "set order conf [eg. brokerName1:num;brokerName2:num]")
	cmd.Flags().StringVarP(&method, "method", "m", "", "option type [eg. put|get|delete]")
	return requireFlags(cmd, "topic", "method")
}

// Allocation is allocateMQ's answer (as mqadmin prints it, also with -o json).
type Allocation struct {
	Result map[string][]message.MessageQueue `json:"result"`
}

func allocateMQCmd(env *adminEnv) *cobra.Command {
	var topic, ips string
	cmd := &cobra.Command{
		Use:   "allocateMQ",
		Short: "Show how the average strategy shares a topic's queues among the given clients",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				r, err := a.TopicRoute(ctx, topic)
				if err != nil {
					return err
				}
				var members []string
				for _, ip := range strings.Split(ips, ",") {
					if ip = strings.TrimSpace(ip); ip != "" {
						members = append(members, ip)
					}
				}
				qs := make([]message.MessageQueue, 0, len(r.SubscribeQueues()))
				for _, q := range r.SubscribeQueues() {
					q.Topic = topic
					qs = append(qs, q)
				}
				res := Allocation{Result: map[string][]message.MessageQueue{}}
				for _, m := range members {
					got := consumer.Allocate(consumer.Averagely(), m, qs, members)
					if got == nil {
						got = []message.MessageQueue{}
					}
					res.Result[m] = got
				}
				return env.emit(cmd, res, func(w io.Writer) {
					// fastjson's compact form: keys sorted.
					var b strings.Builder
					b.WriteString(`{"result":{`)
					for i, m := range slices.Sorted(maps.Keys(res.Result)) {
						if i > 0 {
							b.WriteByte(',')
						}
						fmt.Fprintf(&b, "%q:[", m)
						for j, q := range res.Result[m] {
							if j > 0 {
								b.WriteByte(',')
							}
							fmt.Fprintf(&b, `{"brokerName":%q,"queueId":%d,"topic":%q}`, q.BrokerName, q.QueueID, q.Topic)
						}
						b.WriteByte(']')
					}
					b.WriteString("}}")
					fmt.Fprintln(w, b.String())
				})
			})
		},
	}
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "topic name")
	cmd.Flags().StringVarP(&ips, "ipList", "i", "", "client ids, comma-separated")
	return requireFlags(cmd, "topic", "ipList")
}
