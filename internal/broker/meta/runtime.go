package meta

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/petrelmq/petrel/internal/properties"
)

// Keys of the runtime-changeable settings (UPDATE_BROKER_CONFIG).
const (
	KeyAutoCreateTopicEnable       = "autoCreateTopicEnable"
	KeyAutoCreateSubscriptionGroup = "autoCreateSubscriptionGroup"
	KeyBrokerPermission            = "brokerPermission"
	KeyWaitTimeInSendQueue         = "waitTimeMillsInSendQueue"
	KeyLongPollingEnable           = "longPollingEnable"
	KeyShortPollingTime            = "shortPollingTimeMills"
)

// Runtime is the part of the broker's configuration that UPDATE_BROKER_CONFIG
// may change while it runs. A value is never modified once published: Live
// replaces it whole.
type Runtime struct {
	AutoCreateTopicEnable       bool
	AutoCreateSubscriptionGroup bool
	BrokerPermission            int // body.PermRead|PermWrite bits
	WaitTimeInSendQueue         time.Duration
	LongPollingEnable           bool
	ShortPollingTime            time.Duration
}

// Bind binds the runtime keys to r.
func (r *Runtime) Bind(b *properties.Binder) {
	b.Bool(KeyAutoCreateTopicEnable, &r.AutoCreateTopicEnable)
	b.Bool(KeyAutoCreateSubscriptionGroup, &r.AutoCreateSubscriptionGroup)
	b.Int(KeyBrokerPermission, &r.BrokerPermission)
	b.Millis(KeyWaitTimeInSendQueue, &r.WaitTimeInSendQueue)
	b.Bool(KeyLongPollingEnable, &r.LongPollingEnable)
	b.Millis(KeyShortPollingTime, &r.ShortPollingTime)
}

// Validate names the first bad key.
func (r *Runtime) Validate() error {
	switch {
	case r.BrokerPermission < 0 || r.BrokerPermission > 7:
		return fmt.Errorf("%s %d is outside [0, 7]", KeyBrokerPermission, r.BrokerPermission)
	case r.WaitTimeInSendQueue <= 0:
		return fmt.Errorf("%s must be positive", KeyWaitTimeInSendQueue)
	case r.ShortPollingTime <= 0:
		return fmt.Errorf("%s must be positive", KeyShortPollingTime)
	}
	return nil
}

// Live holds the current Runtime: readers on every request, one writer
// (UPDATE_BROKER_CONFIG). Safe for concurrent use.
type Live struct{ p atomic.Pointer[Runtime] }

// NewLive returns a Live holding a copy of r.
func NewLive(r Runtime) *Live {
	l := &Live{}
	l.Set(r)
	return l
}

// Get returns the current settings; the caller must not modify them.
func (l *Live) Get() *Runtime { return l.p.Load() }

// Set publishes a copy of r.
func (l *Live) Set(r Runtime) { l.p.Store(&r) }
