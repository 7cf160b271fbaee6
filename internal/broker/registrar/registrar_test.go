package registrar_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/broker/registrar"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// listed reports whether the name server lists addr as id of broker-h.
func listed(t *testing.T, a *admin.Admin, id int64, addr string) bool {
	t.Helper()
	ci, err := a.ClusterInfo(context.Background())
	require.NoError(t, err)
	bd := ci.BrokerAddrTable["broker-h"]
	return bd != nil && bd.Addrs[id] == addr
}

// TestHeldRoundsRegisterNothingAndRetry: while the body function answers
// ErrHold the name server hears nothing (not even at Start), and once it
// answers a body the registrar registers within HoldRetry without being
// triggered.
func TestHeldRoundsRegisterNothingAndRetry(t *testing.T) {
	_, ns := testutil.StartNameServer(t)
	a, err := admin.New(client.NameServers(ns))
	require.NoError(t, err)
	require.NoError(t, a.Start(context.Background()))
	t.Cleanup(func() { _ = a.Close() })

	var hold atomic.Bool
	hold.Store(true)
	var calls atomic.Int32
	r := registrar.New(registrar.Config{
		ClusterName: "c", BrokerName: "broker-h", BrokerID: 0, BrokerAddr: "127.0.0.1:1",
		NameServers: []string{ns}, Period: time.Minute, Timeout: 3 * time.Second,
	}, nil, clock.Real{}, func() ([]byte, error) {
		calls.Add(1)
		if hold.Load() {
			return nil, fmt.Errorf("%w: test", registrar.ErrHold)
		}
		return body.EncodeRegisterBody(&body.RegisterBody{}, false)
	})
	require.NoError(t, r.Start(context.Background()))
	t.Cleanup(func() { _ = r.Close() })

	testutil.WaitFor(t, 10*time.Second, func() bool { return calls.Load() >= 2 }) // asked again while held
	require.False(t, listed(t, a, 0, "127.0.0.1:1"), "a held registrar registered")
	require.True(t, r.LastRegistered().IsZero())

	hold.Store(false)
	testutil.WaitFor(t, 10*time.Second, func() bool { return listed(t, a, 0, "127.0.0.1:1") })
}
