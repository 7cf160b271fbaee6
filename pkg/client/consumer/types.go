package consumer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// Errors of the consumers.
var (
	// ErrClosed is returned by every call after Close.
	ErrClosed = client.ErrClosed
	// ErrNotStarted is returned by calls that need Start first.
	ErrNotStarted = client.ErrNotStarted
	// ErrAlreadyStarted is returned by a second Start, and by Subscribe after
	// Start.
	ErrAlreadyStarted = client.ErrAlreadyStarted
	// ErrBadSubscription is matched by errors about a topic, selector or
	// handler that Subscribe refuses.
	ErrBadSubscription = errors.New("consumer: bad subscription")
	// ErrNotAssigned is returned by lite pull calls on a queue the consumer
	// does not hold.
	ErrNotAssigned = errors.New("consumer: queue not assigned")
	// ErrDuplicateMember is returned by Start when a consumer of the same
	// group with the same client id (the same client.InstanceName) already
	// runs in this process.
	ErrDuplicateMember = errors.New("consumer: a consumer of this group with this client id already runs in this process")
)

// Selector filters the messages of a subscription on the broker: by tag
// (Tag, All) or by an SQL92 expression over properties (SQL92, which needs a
// broker with the property filter enabled).
type Selector struct {
	Type       string // body.ExpressionTag or body.ExpressionSQL92
	Expression string
}

// All selects every message of the topic (Tag("*")).
func All() Selector { return Selector{Type: body.ExpressionTag, Expression: "*"} }

// Tag selects messages whose tag is one of "a || b || c"; "*" or "" selects
// all.
func Tag(expr string) Selector {
	if strings.TrimSpace(expr) == "" {
		expr = "*"
	}
	return Selector{Type: body.ExpressionTag, Expression: expr}
}

// SQL92 selects messages whose properties satisfy expr ("a > 5 AND b = 'x'").
func SQL92(expr string) Selector { return Selector{Type: body.ExpressionSQL92, Expression: expr} }

// subscriptionData builds the heartbeat subscription of a wire topic.
func subscriptionData(topic string, s Selector, version int64) (body.SubscriptionData, error) {
	sd := body.SubscriptionData{Topic: topic, SubString: s.Expression, ExpressionType: s.Type, SubVersion: version, TagsSet: []string{}, CodeSet: []int32{}}
	switch s.Type {
	case body.ExpressionTag, "":
		sd.ExpressionType = body.ExpressionTag
		if strings.TrimSpace(s.Expression) == "" || strings.TrimSpace(s.Expression) == "*" {
			sd.SubString = "*"
			return sd, nil
		}
		for _, t := range strings.Split(s.Expression, "||") {
			if t = strings.TrimSpace(t); t != "" {
				sd.TagsSet = append(sd.TagsSet, t)
				sd.CodeSet = append(sd.CodeSet, int32(message.TagsHashCode(t)))
			}
		}
		if len(sd.TagsSet) == 0 {
			return sd, fmt.Errorf("%w: tag expression %q has no tag", ErrBadSubscription, s.Expression)
		}
	case body.ExpressionSQL92:
		if strings.TrimSpace(s.Expression) == "" {
			return sd, fmt.Errorf("%w: empty SQL92 expression", ErrBadSubscription)
		}
	default:
		return sd, fmt.Errorf("%w: unknown expression type %q", ErrBadSubscription, s.Type)
	}
	return sd, nil
}

// matchTags reports whether a message passes a tag subscription; the broker
// filters by tag hash code, so the client checks the tag itself, as RocketMQ
// clients do.
func matchTags(sd body.SubscriptionData, m *message.MessageExt) bool {
	if sd.ExpressionType != body.ExpressionTag || len(sd.TagsSet) == 0 {
		return true
	}
	return slices.Contains(sd.TagsSet, m.Tags())
}

// ConsumeResult is what a concurrent handler returns.
type ConsumeResult int

// Concurrent handler results.
const (
	// ConsumeSuccess acknowledges the messages.
	ConsumeSuccess ConsumeResult = iota
	// ConsumeRetryLater sends the messages back to the broker, which delivers
	// them again through %RETRY%<group> after a growing delay (clustering; in
	// broadcasting they are dropped, as RocketMQ does).
	ConsumeRetryLater
)

func (r ConsumeResult) String() string {
	if r == ConsumeRetryLater {
		return "RECONSUME_LATER"
	}
	return "CONSUME_SUCCESS"
}

// OrderlyResult is what an orderly handler returns.
type OrderlyResult int

// Orderly handler results.
const (
	// OrderlySuccess acknowledges the messages; the queue moves on.
	OrderlySuccess OrderlyResult = iota
	// SuspendCurrentQueueAMoment retries the same messages, in order, after
	// OrderlySuspend. Past MaxReconsumeTimes they go to the dead-letter queue.
	SuspendCurrentQueueAMoment
)

func (r OrderlyResult) String() string {
	if r == SuspendCurrentQueueAMoment {
		return "SUSPEND_CURRENT_QUEUE_A_MOMENT"
	}
	return "SUCCESS"
}

// Handler consumes messages of a push consumer: a Concurrently or an Orderly
// function. One consumer uses one kind for all its subscriptions.
type Handler interface{ orderly() bool }

// Concurrently is a concurrent handler: calls for one queue may overlap, up to
// ConsumeGoroutines calls run at once, and each gets at most ConsumeBatchSize
// messages. ctx ends when the consumer closes or gives the queue up. The
// messages belong to the handler.
type Concurrently func(ctx context.Context, msgs []*message.MessageExt) ConsumeResult

func (Concurrently) orderly() bool { return false }

// Orderly is an orderly handler: for each queue at most one call runs at a
// time, and messages come in queue order; in clustering the consumer holds the
// queue's broker lock while it runs. ctx ends when the consumer closes or
// gives the queue up.
type Orderly func(ctx context.Context, msgs []*message.MessageExt) OrderlyResult

func (Orderly) orderly() bool { return true }

// subscription is one subscribed topic.
type subscription struct {
	topic   string // wire name
	data    body.SubscriptionData
	handler Handler
	retry   bool // the group's %RETRY% topic
}
