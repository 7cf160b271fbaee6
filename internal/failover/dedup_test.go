package failover_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
)

// TestFailoverKeepsDedupWindow: a message acknowledged by the master (so on
// every in-sync replica) and sent again after the master died is answered by
// the newly elected master with the first copy's result: the new master
// rebuilt the de-duplication window from its own commit log when it started
// as master.
func TestFailoverKeepsDedupWindow(t *testing.T) {
	s := newSet(t, 3, func(c *broker.Config) { c.DuplicateWindow = 5 * time.Minute })
	m, epoch := s.master(0)
	s.waitFollowers(m, epoch)
	testutil.WaitFor(t, 30*time.Second, func() bool { return len(s.confirmedSSS()) == 3 })

	p := newProducer(t, s.ns)
	send := func() (*producer.SendResult, error) {
		msg := producer.NewMessage("FailoverDedup", []byte("order-7"))
		msg.SetProperty(message.PropertyDedupKey, "order-7")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return p.Send(ctx, msg)
	}
	first, err := send()
	require.NoError(t, err)
	require.Equal(t, producer.SendOK, first.Status)

	s.stop(m)
	m2, _ := s.master(epoch)
	require.NotEqual(t, m, m2)
	var again *producer.SendResult
	testutil.WaitFor(t, 30*time.Second, func() bool { // until the route shows the new master
		again, err = send()
		return err == nil && again.Status == producer.SendOK
	})
	require.Equal(t, first.OffsetMsgID, again.OffsetMsgID, "answered from the first copy, not stored again")
	require.Equal(t, first.Queue.QueueID, again.Queue.QueueID)
	require.Equal(t, first.QueueOffset, again.QueueOffset)
}
