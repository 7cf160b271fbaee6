package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/message"
)

// Message commands that read queues: printMsg, printMsgByQueue, consumeMessage.

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
