package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/message"
)

// Message commands: lookups and reads. Sends are in admin_send.go.

func messageCommands(env *adminEnv) []*cobra.Command {
	return []*cobra.Command{
		queryMsgByIDCmd(env), queryMsgByKeyCmd(env), queryMsgByUniqueKeyCmd(env), queryMsgByOffsetCmd(env),
		printMsgCmd(env), printMsgByQueueCmd(env), consumeMessageCmd(env),
		sendMessageCmd(env), checkMsgSendRTCmd(env), resendMsgByIDCmd(env), resendDlqCmd(env),
		queryMsgTraceByIDCmd(env),
	}
}

// MessageJSON is a message in -o json answers.
type MessageJSON struct {
	MsgID           string            `json:"msgId"`       // the producer's id (UNIQ_KEY)
	OffsetMsgID     string            `json:"offsetMsgId"` // store host and commit-log offset
	Topic           string            `json:"topic"`
	Tags            string            `json:"tags"`
	Keys            string            `json:"keys"`
	BrokerName      string            `json:"brokerName,omitempty"`
	QueueID         int32             `json:"queueId"`
	QueueOffset     int64             `json:"queueOffset"`
	CommitLogOffset int64             `json:"commitLogOffset"`
	ReconsumeTimes  int32             `json:"reconsumeTimes"`
	BornTimestamp   int64             `json:"bornTimestamp"`
	StoreTimestamp  int64             `json:"storeTimestamp"`
	BornHost        string            `json:"bornHost"`
	StoreHost       string            `json:"storeHost"`
	SysFlag         int32             `json:"sysFlag"`
	Properties      map[string]string `json:"properties"`
	Body            string            `json:"body"`
}

func messageJSON(a *admin.Admin, m *message.MessageExt, brokerName string) MessageJSON {
	props := m.Properties
	if props == nil {
		props = map[string]string{}
	}
	return MessageJSON{MsgID: m.MsgID(), OffsetMsgID: m.OffsetMsgID(), Topic: a.Client().Unwrap(m.Topic), Tags: m.Tags(),
		Keys: m.Property(message.PropertyKeys), BrokerName: brokerName, QueueID: m.QueueID, QueueOffset: int64(m.QueueOffset),
		CommitLogOffset: int64(m.PhysOffset), ReconsumeTimes: m.ReconsumeTimes, BornTimestamp: m.BornTimestamp,
		StoreTimestamp: m.StoreTimestamp, BornHost: m.BornHost.String(), StoreHost: m.StoreHost.String(),
		SysFlag: int32(m.SysFlag), Properties: props, Body: string(m.Body)}
}

// javaProps renders properties as Java's HashMap.toString (sorted here).
func javaProps(p map[string]string) string {
	parts := make([]string, 0, len(p))
	for _, k := range slices.Sorted(maps.Keys(p)) {
		parts = append(parts, k+"="+p[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// printMessage writes a message as mqadmin queryMsgById does; the body goes
// to a file, as there (<tmp>/rocketmq/msgbodys/<msgId>).
func printMessage(w io.Writer, m MessageJSON) {
	line := func(k string, v any) { fmt.Fprintf(w, "%-20s %v\n", k, v) }
	line("OffsetID:", m.OffsetMsgID)
	line("Topic:", m.Topic)
	line("Tags:", "["+m.Tags+"]")
	line("Keys:", "["+m.Keys+"]")
	line("Queue ID:", m.QueueID)
	line("Queue Offset:", m.QueueOffset)
	line("CommitLog Offset:", m.CommitLogOffset)
	line("Reconsume Times:", m.ReconsumeTimes)
	line("Born Timestamp:", humanTime(m.BornTimestamp))
	line("Store Timestamp:", humanTime(m.StoreTimestamp))
	line("Born Host:", m.BornHost)
	line("Store Host:", m.StoreHost)
	line("System Flag:", m.SysFlag)
	line("Properties:", javaProps(m.Properties))
	dir := filepath.Join(os.TempDir(), "rocketmq", "msgbodys")
	path := filepath.Join(dir, m.MsgID)
	if err := os.MkdirAll(dir, 0o755); err == nil {
		if err := os.WriteFile(path, []byte(m.Body), 0o644); err != nil {
			path = "(not written: " + err.Error() + ")"
		}
	}
	line("Message Body Path:", path)
}

func queryMsgByIDCmd(env *adminEnv) *cobra.Command {
	var ids, group, clientID, resend, unit string
	cmd := &cobra.Command{
		Use:   "queryMsgById",
		Short: "Print messages by offset message id (comma-separate several)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				out := []MessageJSON{}
				for _, id := range strings.Split(ids, ",") {
					if id = strings.TrimSpace(id); id == "" {
						continue
					}
					m, err := a.ViewMessage(ctx, id)
					if err != nil {
						return err
					}
					out = append(out, messageJSON(a, m, ""))
				}
				if group != "" && clientID != "" {
					var lines []string
					for _, m := range out {
						r, err := a.ConsumeMessageDirectly(ctx, group, clientID, m.OffsetMsgID)
						if err != nil {
							return err
						}
						lines = append(lines, r.String())
					}
					return env.emit(cmd, lines, func(w io.Writer) {
						for _, l := range lines {
							fmt.Fprintln(w, l)
						}
					})
				}
				return env.emit(cmd, out, func(w io.Writer) {
					for _, m := range out {
						printMessage(w, m)
						fmt.Fprintln(w)
					}
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&ids, "msgId", "i", "", "message id (offset message id)")
	f.StringVarP(&group, "consumerGroup", "g", "", "with -d: have this consumer consume the message (CONSUME_MESSAGE_DIRECTLY)")
	f.StringVarP(&clientID, "clientId", "d", "", "the consumer's client id")
	f.StringVarP(&resend, "sendMessage", "s", "", "accepted; use resendMsgById to send a message again")
	f.StringVarP(&unit, "unitName", "u", "", "unit name (accepted, no effect)")
	return requireFlags(cmd, "msgId")
}

// KeyHit is one line of queryMsgByKey -o json.
type KeyHit struct {
	MsgID       string `json:"msgId"`
	OffsetMsgID string `json:"offsetMsgId"`
	QueueID     int32  `json:"queueId"`
	QueueOffset int64  `json:"queueOffset"`
}

func queryMsgByKeyCmd(env *adminEnv) *cobra.Command {
	var topic, key string
	cmd := &cobra.Command{
		Use:   "queryMsgByKey",
		Short: "List the messages of a topic with a key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				msgs, err := a.QueryByKey(ctx, topic, key, false, 64, time.Unix(0, 0), time.Now().Add(time.Hour))
				if err != nil {
					return err
				}
				out := []KeyHit{}
				slices.Reverse(msgs) // newest first, as mqadmin prints the brokers' answer
				for _, m := range msgs {
					out = append(out, KeyHit{MsgID: m.MsgID(), OffsetMsgID: m.OffsetMsgID(), QueueID: m.QueueID, QueueOffset: int64(m.QueueOffset)})
				}
				return env.emit(cmd, out, func(w io.Writer) {
					fmt.Fprintf(w, "%-50s %4s %40s\n", "#Message ID", "#QID", "#Offset")
					for _, h := range out {
						fmt.Fprintf(w, "%-50s %4d %40d\n", h.MsgID, h.QueueID, h.QueueOffset)
					}
				})
			})
		},
	}
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "topic name")
	cmd.Flags().StringVarP(&key, "msgKey", "k", "", "message key")
	return requireFlags(cmd, "topic", "msgKey")
}

func queryMsgByUniqueKeyCmd(env *adminEnv) *cobra.Command {
	var topic, id, group, clientID string
	var all bool
	cmd := &cobra.Command{
		Use:   "queryMsgByUniqueKey",
		Short: "Print a message by its producer message id (UNIQ_KEY)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				msgs, err := a.QueryByKey(ctx, topic, id, true, 32, time.Unix(0, 0), time.Now().Add(time.Hour))
				if err != nil {
					return err
				}
				if len(msgs) == 0 {
					return fmt.Errorf("no message of topic %s has id %s", topic, id)
				}
				if !all {
					msgs = msgs[:1]
				}
				out := []MessageJSON{}
				for _, m := range msgs {
					out = append(out, messageJSON(a, m, ""))
				}
				if group != "" && clientID != "" {
					r, err := a.ConsumeMessageDirectly(ctx, group, clientID, out[0].OffsetMsgID)
					if err != nil {
						return err
					}
					return env.emit(cmd, r, func(w io.Writer) { fmt.Fprintln(w, r.String()) })
				}
				return env.emit(cmd, out, func(w io.Writer) {
					for _, m := range out {
						printMessage(w, m)
						fmt.Fprintln(w)
					}
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&id, "msgId", "i", "", "message id (UNIQ_KEY)")
	f.StringVarP(&topic, "topic", "t", "", "the topic of the message")
	f.StringVarP(&group, "consumerGroup", "g", "", "with -d: have this consumer consume the message")
	f.StringVarP(&clientID, "clientId", "d", "", "the consumer's client id")
	f.BoolVarP(&all, "showAll", "a", false, "print every message with the id (at most 32)")
	return requireFlags(cmd, "msgId", "topic")
}

func queryMsgByOffsetCmd(env *adminEnv) *cobra.Command {
	var topic, brokerName string
	var queueID int32
	var offset int64
	cmd := &cobra.Command{
		Use:   "queryMsgByOffset",
		Short: "Print the message at an offset of a queue",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				mq := message.MessageQueue{Topic: topic, BrokerName: brokerName, QueueID: queueID}
				res, err := a.Pull(ctx, mq, message.QueueOffset(offset), 1)
				if err != nil {
					return err
				}
				if res.Status != client.PullFound || len(res.Messages) == 0 {
					return fmt.Errorf("no message at offset %d of %s (%v)", offset, mq, res.Status)
				}
				m := messageJSON(a, res.Messages[0], brokerName)
				return env.emit(cmd, m, func(w io.Writer) { printMessage(w, m) })
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&topic, "topic", "t", "", "topic name")
	f.StringVarP(&brokerName, "brokerName", "b", "", "broker name")
	f.Int32VarP(&queueID, "queueId", "i", 0, "queue id")
	f.Int64VarP(&offset, "offset", "o", 0, "queue offset")
	return requireFlags(cmd, "topic", "brokerName", "queueId", "offset")
}
