package producer

import (
	"errors"
	"hash/fnv"
	"math/rand/v2"
	"sync/atomic"

	"github.com/petrelmq/petrel/pkg/message"
)

// ErrNoQueue is returned when a topic has no queue a producer may write to.
var ErrNoQueue = errors.New("producer: no writable queue")

// QueueSelector picks the queue a message is sent to.
//
// Select is given the writable queues of the topic (non-empty, ordered by broker
// name then queue id) and the broker name the previous attempt of this send
// failed on ("" on the first attempt), so it can try another broker. It returns
// one of the queues, or an error that fails the send. It must be safe for
// concurrent use.
type QueueSelector interface {
	Select(msg *message.Message, queues []message.MessageQueue, lastFailedBroker string) (message.MessageQueue, error)
}

// FaultTolerant is an optional QueueSelector capability. A selector whose
// AvoidsFaults returns true is given only the queues of brokers that latency
// fault tolerance allows, and a failed send is retried on another queue.
// Other selectors (ordering selectors such as HashByKey) always see every
// writable queue and their sends are not retried elsewhere, so a key keeps
// mapping to the same queue.
type FaultTolerant interface {
	AvoidsFaults() bool
}

// QueueSelectorFunc adapts a function to QueueSelector. It is not fault
// tolerant.
type QueueSelectorFunc func(msg *message.Message, queues []message.MessageQueue, lastFailedBroker string) (message.MessageQueue, error)

// Select calls f.
func (f QueueSelectorFunc) Select(msg *message.Message, queues []message.MessageQueue, last string) (message.MessageQueue, error) {
	return f(msg, queues, last)
}

type roundRobin struct{ n atomic.Uint32 }

// RoundRobin returns the default selector: it walks the queues in turn,
// skipping the broker that failed last when another broker has a queue. It is
// fault tolerant.
func RoundRobin() QueueSelector { return &roundRobin{} }

func (r *roundRobin) AvoidsFaults() bool { return true }

func (r *roundRobin) Select(_ *message.Message, queues []message.MessageQueue, last string) (message.MessageQueue, error) {
	if len(queues) == 0 {
		return message.MessageQueue{}, ErrNoQueue
	}
	start := int(r.n.Add(1) - 1)
	for i := range queues {
		q := queues[(start+i)%len(queues)]
		if last == "" || q.BrokerName != last {
			return q, nil
		}
	}
	return queues[start%len(queues)], nil
}

type random struct{}

// Random returns a selector that picks a random queue, avoiding the broker
// that failed last when it can. It is fault tolerant.
func Random() QueueSelector { return random{} }

func (random) AvoidsFaults() bool { return true }

func (random) Select(_ *message.Message, queues []message.MessageQueue, last string) (message.MessageQueue, error) {
	if len(queues) == 0 {
		return message.MessageQueue{}, ErrNoQueue
	}
	if last != "" {
		var others []message.MessageQueue
		for _, q := range queues {
			if q.BrokerName != last {
				others = append(others, q)
			}
		}
		if len(others) > 0 {
			queues = others
		}
	}
	return queues[rand.IntN(len(queues))], nil
}

type hashByKey struct{}

// HashByKey returns an ordering selector: messages with the same key go to the
// same queue while the topic's queues do not change. The key is the
// SHARDING_KEY property, else the first of KEYS; messages without either all
// go to the queue of the empty key. The hash is FNV-1a (32 bit) modulo the
// number of writable queues. It is not fault tolerant.
func HashByKey() QueueSelector { return hashByKey{} }

func (hashByKey) Select(msg *message.Message, queues []message.MessageQueue, _ string) (message.MessageQueue, error) {
	if len(queues) == 0 {
		return message.MessageQueue{}, ErrNoQueue
	}
	key := msg.Property(message.PropertyShardingKey)
	if key == "" {
		if ks := msg.Keys(); len(ks) > 0 {
			key = ks[0]
		}
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return queues[h.Sum32()%uint32(len(queues))], nil
}

// manual selects one queue given by the caller.
type manual struct{ q message.MessageQueue }

// Manual returns a selector that always picks q (matched by broker name and
// queue id; the topic is ignored). It fails the send with ErrNoQueue when q
// is not writable. It is not fault tolerant: sends are not moved elsewhere.
// Use it per call with WithSelector, or via ToQueue.
func Manual(q message.MessageQueue) QueueSelector { return manual{q} }

func (m manual) Select(_ *message.Message, queues []message.MessageQueue, _ string) (message.MessageQueue, error) {
	for _, q := range queues {
		if q.BrokerName == m.q.BrokerName && q.QueueID == m.q.QueueID {
			return q, nil
		}
	}
	return message.MessageQueue{}, ErrNoQueue
}

// SendOption changes one send call.
type SendOption func(*sendOptions)

type sendOptions struct {
	selector QueueSelector
}

// WithSelector uses s instead of the producer's selector for this send.
func WithSelector(s QueueSelector) SendOption {
	return func(o *sendOptions) {
		if s != nil {
			o.selector = s
		}
	}
}

// ToQueue sends to queue q (see Manual).
func ToQueue(q message.MessageQueue) SendOption { return WithSelector(Manual(q)) }
