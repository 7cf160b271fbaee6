package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/testutil"
)

func TestRun(t *testing.T) {
	c := testutil.StartCluster(t, testutil.WithBrokerConfig(func(cfg *broker.Config) {
		// Check unknown transactions back within seconds, not a minute.
		cfg.TransactionTimeOut = time.Second
		cfg.TransactionCheckInterval = 500 * time.Millisecond
	}))
	require.NoError(t, run(t.Context(), c.NameServerAddr, true))
}
