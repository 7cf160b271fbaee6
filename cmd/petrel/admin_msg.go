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

// matchTags reports whether a message's tag matches a tag expression
// ("*", "" or "A || B").
func matchTags(expr, tag string) bool {
	expr = strings.TrimSpace(expr)
	if expr == "" || expr == "*" {
		return true
	}
	for _, t := range strings.Split(expr, "||") {
		if strings.TrimSpace(t) == tag {
			return true
		}
	}
	return false
}

// readRange pulls mq from begin up to (not including) end, keeping the
// messages whose tag matches expr, at most limit (0: no limit).
func readRange(ctx context.Context, a *admin.Admin, mq message.MessageQueue, begin, end message.QueueOffset, expr string, limit int) ([]*message.MessageExt, error) {
	var out []*message.MessageExt
	for off := begin; off < end; {
		res, err := a.Pull(ctx, mq, off, 32)
		if err != nil {
			return out, err
		}
		if res.Status != client.PullFound {
			if res.NextBeginOffset > off && res.Status != client.PullNoNewMsg {
				off = res.NextBeginOffset
				continue
			}
			break
		}
		for _, m := range res.Messages {
			if m.QueueOffset >= end {
				return out, nil
			}
			if matchTags(expr, m.Tags()) {
				out = append(out, m)
				if limit > 0 && len(out) >= limit {
					return out, nil
				}
			}
		}
		off = res.NextBeginOffset
	}
	return out, nil
}

// queueRange returns the offsets of mq between the times begin and end
// (zero: the queue's start and end).
func queueRange(ctx context.Context, a *admin.Admin, mq message.MessageQueue, begin, end time.Time) (message.QueueOffset, message.QueueOffset, error) {
	lo, err := a.MinOffset(ctx, mq)
	if err != nil {
		return 0, 0, err
	}
	hi, err := a.MaxOffset(ctx, mq)
	if err != nil {
		return 0, 0, err
	}
	if !begin.IsZero() {
		if lo, err = a.SearchOffset(ctx, mq, begin); err != nil {
			return 0, 0, err
		}
	}
	if !end.IsZero() {
		if hi, err = a.SearchOffset(ctx, mq, end); err != nil {
			return 0, 0, err
		}
	}
	return lo, hi, nil
}

func optTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return parseTimestamp(s)
}

// messageLine renders a message as mqadmin printMsg does, one line.
func messageLine(m MessageJSON, printBody bool) string {
	b := "NOT PRINT BODY"
	if printBody {
		b = m.Body
	}
	return fmt.Sprintf("MSGID: %s MessageExt [brokerName=%s, queueId=%d, queueOffset=%d, bornTimestamp=%d, storeTimestamp=%d, "+
		"storeHost=%s, commitLogOffset=%d, reconsumeTimes=%d, topic=%s, properties=%s] BODY: %s",
		m.MsgID, m.BrokerName, m.QueueID, m.QueueOffset, m.BornTimestamp, m.StoreTimestamp, m.StoreHost,
		m.CommitLogOffset, m.ReconsumeTimes, m.Topic, javaProps(m.Properties), b)
}

func printMsgCmd(env *adminEnv) *cobra.Command {
	var topic, charset, expr, beginS, endS, printBody string
	cmd := &cobra.Command{
		Use:   "printMsg",
		Short: "Print every message of a topic, optionally between two times",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			begin, err := optTime(beginS)
			if err != nil {
				return err
			}
			end, err := optTime(endS)
			if err != nil {
				return err
			}
			body := printBody == "" || strings.EqualFold(printBody, "true")
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				r, err := a.TopicRoute(ctx, topic)
				if err != nil {
					return err
				}
				out := []MessageJSON{}
				var lines []string
				for _, mq := range r.SubscribeQueues() {
					mq.Topic = topic
					lo, hi, err := queueRange(ctx, a, mq, begin, end)
					if err != nil {
						return err
					}
					lines = append(lines, fmt.Sprintf("minOffset=%d, maxOffset=%d, %s", lo, hi, mqString(mq)))
					msgs, err := readRange(ctx, a, mq, lo, hi, expr, 0)
					if err != nil {
						return err
					}
					for _, m := range msgs {
						mj := messageJSON(a, m, mq.BrokerName)
						out = append(out, mj)
						lines = append(lines, messageLine(mj, body))
					}
					lines = append(lines, "--------------------------------------------------------")
				}
				return env.emit(cmd, out, func(w io.Writer) {
					for _, l := range lines {
						fmt.Fprintln(w, l)
					}
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&topic, "topic", "t", "", "topic name")
	f.StringVarP(&charset, "charsetName", "c", "UTF-8", "charset (bodies are printed as UTF-8)")
	f.StringVarP(&expr, "subExpression", "s", "*", "tag expression, eg: TagA || TagB")
	f.StringVarP(&beginS, "beginTimestamp", "b", "", "begin timestamp [currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]")
	f.StringVarP(&endS, "endTimestamp", "e", "", "end timestamp [currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]")
	f.StringVarP(&printBody, "printBody", "d", "true", "print body (true|false)")
	return requireFlags(cmd, "topic")
}

// mqString renders a queue as Java's MessageQueue.toString.
func mqString(mq message.MessageQueue) string {
	return fmt.Sprintf("MessageQueue [topic=%s, brokerName=%s, queueId=%d]", mq.Topic, mq.BrokerName, mq.QueueID)
}

// TagCount is one line of printMsgByQueue -f true -o json... and of its
// text layout: messages per tag.
type TagCount struct {
	Tag   string `json:"tag"`
	Count int    `json:"count"`
}

// QueueMessages is printMsgByQueue -o json.
type QueueMessages struct {
	Messages []MessageJSON `json:"messages"`
	Tags     []TagCount    `json:"tags,omitempty"`
}

func printMsgByQueueCmd(env *adminEnv) *cobra.Command {
	var topic, brokerName, charset, expr, beginS, endS, printMsg, printBody, calc string
	var queueID int32
	cmd := &cobra.Command{
		Use:   "printMsgByQueue",
		Short: "Print the messages of one queue, optionally between two times, or count them by tag",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			begin, err := optTime(beginS)
			if err != nil {
				return err
			}
			end, err := optTime(endS)
			if err != nil {
				return err
			}
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				mq := message.MessageQueue{Topic: topic, BrokerName: brokerName, QueueID: queueID}
				lo, hi, err := queueRange(ctx, a, mq, begin, end)
				if err != nil {
					return err
				}
				msgs, err := readRange(ctx, a, mq, lo, hi, expr, 0)
				if err != nil {
					return err
				}
				res := QueueMessages{Messages: []MessageJSON{}}
				counts := map[string]int{}
				for _, m := range msgs {
					res.Messages = append(res.Messages, messageJSON(a, m, brokerName))
					if strings.TrimSpace(m.Tags()) != "" {
						counts[m.Tags()]++
					}
				}
				if strings.EqualFold(calc, "true") {
					for _, t := range slices.Sorted(maps.Keys(counts)) {
						res.Tags = append(res.Tags, TagCount{Tag: t, Count: counts[t]})
					}
					slices.SortStableFunc(res.Tags, func(x, y TagCount) int { return y.Count - x.Count })
				}
				return env.emit(cmd, res, func(w io.Writer) {
					if strings.EqualFold(printMsg, "true") {
						for _, m := range res.Messages {
							fmt.Fprintln(w, messageLine(m, strings.EqualFold(printBody, "true")))
						}
					}
					for _, t := range res.Tags {
						fmt.Fprintf(w, "Tag: %-30s Count: %s\n", t.Tag, fmt.Sprint(t.Count))
					}
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&topic, "topic", "t", "", "topic name")
	f.StringVarP(&brokerName, "brokerName", "a", "", "broker name")
	f.Int32VarP(&queueID, "queueId", "i", 0, "queue id")
	f.StringVarP(&charset, "charsetName", "c", "UTF-8", "charset (bodies are printed as UTF-8)")
	f.StringVarP(&expr, "subExpression", "s", "*", "tag expression, eg: TagA || TagB")
	f.StringVarP(&beginS, "beginTimestamp", "b", "", "begin timestamp [currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]")
	f.StringVarP(&endS, "endTimestamp", "e", "", "end timestamp [currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]")
	f.StringVarP(&printMsg, "printMsg", "p", "false", "print messages (true|false)")
	f.StringVarP(&printBody, "printBody", "d", "false", "print bodies (true|false)")
	f.StringVarP(&calc, "calculate", "f", "false", "count by tag (true|false)")
	return requireFlags(cmd, "topic", "brokerName", "queueId")
}

func consumeMessageCmd(env *adminEnv) *cobra.Command {
	var topic, brokerName, group, beginS, endS string
	var queueID int32
	var offset int64
	var count int
	cmd := &cobra.Command{
		Use:   "consumeMessage",
		Short: "Read messages of a topic or of one queue without committing anything",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			begin, err := optTime(beginS)
			if err != nil {
				return err
			}
			end, err := optTime(endS)
			if err != nil {
				return err
			}
			if count <= 0 {
				return errors.New("-c must be positive")
			}
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				var queues []message.MessageQueue
				if brokerName != "" {
					queues = []message.MessageQueue{{Topic: topic, BrokerName: brokerName, QueueID: queueID}}
				} else {
					r, err := a.TopicRoute(ctx, topic)
					if err != nil {
						return err
					}
					for _, q := range r.SubscribeQueues() {
						q.Topic = topic
						queues = append(queues, q)
					}
				}
				out := []MessageJSON{}
				for _, mq := range queues {
					lo, hi, err := queueRange(ctx, a, mq, begin, end)
					if err != nil {
						return err
					}
					if cmd.Flags().Changed("offset") {
						lo = message.QueueOffset(offset)
					}
					msgs, err := readRange(ctx, a, mq, lo, hi, "*", count-len(out))
					if err != nil {
						return err
					}
					for _, m := range msgs {
						out = append(out, messageJSON(a, m, mq.BrokerName))
					}
					if len(out) >= count {
						break
					}
				}
				return env.emit(cmd, out, func(w io.Writer) {
					for _, m := range out {
						fmt.Fprintln(w, messageLine(m, true))
					}
					fmt.Fprintf(w, "Consume ok, %d messages\n", len(out))
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&topic, "topic", "t", "", "topic name")
	f.StringVarP(&brokerName, "brokerName", "b", "", "broker name (with -i: one queue)")
	f.Int32VarP(&queueID, "queueId", "i", 0, "queue id")
	f.Int64VarP(&offset, "offset", "o", 0, "queue offset to start from")
	f.StringVarP(&group, "consumerGroup", "g", "", "consumer group name (accepted; nothing is committed)")
	f.StringVarP(&beginS, "beginTimestamp", "s", "", "begin timestamp [currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]")
	f.StringVarP(&endS, "endTimestamp", "e", "", "end timestamp [currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]")
	f.IntVarP(&count, "MessageNumber", "c", 128, "number of messages to read")
	return requireFlags(cmd, "topic")
}
