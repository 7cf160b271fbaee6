package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
)

// Message commands that send: sendMessage, checkMsgSendRT, resendMsgById
// and resendDlqMsg.

// adminProducerGroup is the producer group of the admin's sends (RocketMQ's
// tools use their own group too).
const adminProducerGroup = "PETREL_ADMIN_PRODUCER"

// withProducer starts a producer on the same name servers as a and runs f.
func withProducer(ctx context.Context, a *admin.Admin, f func(p *producer.Producer) error) error {
	p, err := producer.New(client.NameServers(a.Client().NameServers()...), producer.Group(adminProducerGroup),
		client.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.Start(ctx); err != nil {
		return err
	}
	return f(p)
}

// Sent is one send in -o json answers.
type Sent struct {
	BrokerName  string `json:"brokerName"`
	QueueID     int32  `json:"queueId"`
	QueueOffset int64  `json:"queueOffset"`
	SendStatus  string `json:"sendStatus"`
	MsgID       string `json:"msgId"`
	OffsetMsgID string `json:"offsetMsgId"`
	RTMillis    int64  `json:"rtMs,omitempty"` // checkMsgSendRT: the round trip
	Error       string `json:"error,omitempty"`
}

func sent(r *producer.SendResult) Sent {
	return Sent{BrokerName: r.Queue.BrokerName, QueueID: r.Queue.QueueID, QueueOffset: int64(r.QueueOffset),
		SendStatus: r.Status.String(), MsgID: r.MsgID, OffsetMsgID: r.OffsetMsgID}
}

func sendMessageCmd(env *adminEnv) *cobra.Command {
	var topic, bodyS, keys, tags, brokerName, trace string
	var qid int32
	cmd := &cobra.Command{
		Use:   "sendMessage",
		Short: "Send one message (to a chosen broker and queue with -b and -i)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("qid") && brokerName == "" {
				return errors.New("-i needs -b brokerName")
			}
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				return withProducer(ctx, a, func(p *producer.Producer) error {
					var opts []producer.MessageOption
					if tags != "" {
						opts = append(opts, producer.Tags(tags))
					}
					if keys != "" {
						opts = append(opts, producer.Keys(strings.Fields(keys)...))
					}
					var sopts []producer.SendOption
					if brokerName != "" {
						if !cmd.Flags().Changed("qid") {
							return errors.New("-b needs -i queueId")
						}
						sopts = append(sopts, producer.ToQueue(message.MessageQueue{Topic: topic, BrokerName: brokerName, QueueID: qid}))
					}
					r, err := p.Send(ctx, producer.NewMessage(topic, []byte(bodyS), opts...), sopts...)
					if err != nil {
						return err
					}
					s := sent(r)
					return env.emit(cmd, s, func(w io.Writer) {
						fmt.Fprintf(w, "%-32s  %-4s  %-20s    %s\n", "#Broker Name", "#QID", "#Send Result", "#MsgId")
						fmt.Fprintf(w, "%-32s  %-4d  %-20s    %s\n", s.BrokerName, s.QueueID, s.SendStatus, s.MsgID)
					})
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&topic, "topic", "t", "", "topic name")
	f.StringVarP(&bodyS, "body", "p", "", "UTF-8 string format of the message body")
	f.StringVarP(&keys, "key", "k", "", "message keys (space-separated)")
	f.StringVarP(&tags, "tags", "c", "", "message tags")
	f.StringVarP(&brokerName, "broker", "b", "", "send message to target broker")
	f.Int32VarP(&qid, "qid", "i", 0, "send message to target queue")
	f.StringVarP(&trace, "msgTraceEnable", "m", "false", "message trace (accepted, no effect)")
	return requireFlags(cmd, "topic", "body")
}

// SendRT is checkMsgSendRT -o json.
type SendRT struct {
	Sends   []Sent  `json:"sends"`
	AvgRTMs float64 `json:"avgRtMs"`
}

func checkMsgSendRTCmd(env *adminEnv) *cobra.Command {
	var topic string
	var amount, size int
	cmd := &cobra.Command{
		Use:   "checkMsgSendRT",
		Short: "Send messages to a topic and print each round trip",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if amount <= 0 || size <= 0 {
				return errors.New("-a and -s must be positive")
			}
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				return withProducer(ctx, a, func(p *producer.Producer) error {
					res := SendRT{Sends: []Sent{}}
					payload := []byte(strings.Repeat("a", size))
					var total time.Duration
					for range amount {
						start := time.Now()
						r, err := p.Send(ctx, producer.NewMessage(topic, payload))
						rt := time.Since(start)
						s := Sent{SendStatus: "false", RTMillis: rt.Milliseconds()}
						if err != nil {
							s.Error = err.Error()
						} else {
							s = sent(r)
							s.SendStatus, s.RTMillis = "true", rt.Milliseconds()
						}
						total += rt
						res.Sends = append(res.Sends, s)
					}
					res.AvgRTMs = float64(total.Microseconds()) / 1000 / float64(amount)
					return env.emit(cmd, res, func(w io.Writer) {
						fmt.Fprintf(w, "%-32s  %-4s  %-20s    %s\n", "#Broker Name", "#QID", "#Send Result", "#RT")
						for _, s := range res.Sends {
							fmt.Fprintf(w, "%-32s  %-4d  %-20s    %d\n", s.BrokerName, s.QueueID, s.SendStatus, s.RTMillis)
						}
						fmt.Fprintf(w, "Avg RT: %.2f\n", res.AvgRTMs)
					})
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&topic, "topic", "t", "", "topic name")
	f.IntVarP(&amount, "amount", "a", 100, "message amount")
	f.IntVarP(&size, "size", "s", 128, "message size, bytes")
	return requireFlags(cmd, "topic")
}

// resendable builds a new message from a stored one: same body, flag and
// user properties, a new UNIQ_KEY (the producer sets one).
func resendable(m *message.MessageExt, topic string) *message.Message {
	out := &message.Message{Topic: topic, Body: m.Body, Flag: m.Flag, Properties: map[string]string{}}
	for k, v := range m.Properties {
		switch k {
		case message.PropertyUniqKey, "MIN_OFFSET", "MAX_OFFSET", "CLUSTER", "DELAY", "REAL_TOPIC", "REAL_QID",
			"TRAN_MSG", "PGROUP", "__transactionId__":
			continue
		}
		out.Properties[k] = v
	}
	return out
}

func resendMsgByIDCmd(env *adminEnv) *cobra.Command {
	var id, topic string
	cmd := &cobra.Command{
		Use:   "resendMsgById",
		Short: "Send a stored message (by offset message id) again, to its topic or to -t",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				m, err := a.ViewMessage(ctx, id)
				if err != nil {
					return err
				}
				to := topic
				if to == "" {
					to = a.Client().Unwrap(m.Topic)
				}
				return withProducer(ctx, a, func(p *producer.Producer) error {
					r, err := p.Send(ctx, resendable(m, to))
					if err != nil {
						return err
					}
					s := sent(r)
					return env.emit(cmd, s, func(w io.Writer) {
						fmt.Fprintf(w, "prepare resend msg. originalMsgId=%s\n", id)
						fmt.Fprintf(w, "SendResult [sendStatus=%s, msgId=%s, offsetMsgId=%s, messageQueue=%s, queueOffset=%d]\n",
							s.SendStatus, s.MsgID, s.OffsetMsgID, mqString(r.Queue), s.QueueOffset)
					})
				})
			})
		},
	}
	cmd.Flags().StringVarP(&id, "msgId", "i", "", "offset message id")
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "send to this topic instead of the message's own")
	return requireFlags(cmd, "msgId")
}

// DLQResend is resendDlqMsg -o json.
type DLQResend struct {
	Group      string `json:"group"`
	RetryTopic string `json:"retryTopic"`
	Resent     []Sent `json:"resent"`
}

func resendDlqCmd(env *adminEnv) *cobra.Command {
	var group string
	var max int
	cmd := &cobra.Command{
		Use:   "resendDlqMsg",
		Short: "Move a group's dead letters (%DLQ%group) back to its retry topic, for its consumers to consume again",
		Long: "Move the messages of %DLQ%<group> back to %RETRY%<group>: each is sent again with\n" +
			"its properties (its original topic in RETRY_TOPIC), so the group's consumers get it as\n" +
			"a retry. The group's offset on the dead-letter topic records how far it has been\n" +
			"moved, so running the command again moves only newer dead letters.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if max <= 0 {
				return errors.New("-c must be positive")
			}
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				dlq, retry := client.DLQGroupTopicPrefix+group, client.RetryGroupTopicPrefix+group
				r, err := a.TopicRoute(ctx, dlq)
				if err != nil {
					return fmt.Errorf("group %s has no dead letters: %w", group, err)
				}
				res := DLQResend{Group: group, RetryTopic: retry, Resent: []Sent{}}
				err = withProducer(ctx, a, func(p *producer.Producer) error {
					for _, mq := range r.SubscribeQueues() {
						mq.Topic = dlq
						from, err := a.ConsumerOffset(ctx, group, mq)
						if err != nil {
							from = 0
						}
						if lo, err := a.MinOffset(ctx, mq); err == nil && lo > from {
							from = lo
						}
						hi, err := a.MaxOffset(ctx, mq)
						if err != nil {
							return err
						}
						msgs, err := readRange(ctx, a, mq, from, hi, "*", max-len(res.Resent))
						if err != nil {
							return err
						}
						for _, m := range msgs {
							sr, err := p.Send(ctx, resendable(m, retry))
							if err != nil {
								return err
							}
							res.Resent = append(res.Resent, sent(sr))
							if err := a.UpdateConsumerOffset(ctx, group, mq, m.QueueOffset+1); err != nil {
								return err
							}
						}
						if len(res.Resent) >= max {
							break
						}
					}
					return nil
				})
				if err != nil {
					return err
				}
				return env.emit(cmd, res, func(w io.Writer) {
					fmt.Fprintf(w, "%-32s  %-4s  %-20s    %s\n", "#Broker Name", "#QID", "#Send Result", "#MsgId")
					for _, s := range res.Resent {
						fmt.Fprintf(w, "%-32s  %-4d  %-20s    %s\n", s.BrokerName, s.QueueID, s.SendStatus, s.MsgID)
					}
					fmt.Fprintf(w, "moved %d messages from %s to %s\n", len(res.Resent), dlq, retry)
				})
			})
		},
	}
	cmd.Flags().StringVarP(&group, "consumerGroup", "g", "", "consumer group whose dead letters to move")
	cmd.Flags().IntVarP(&max, "count", "c", 1000, "move at most this many messages")
	return requireFlags(cmd, "consumerGroup")
}
