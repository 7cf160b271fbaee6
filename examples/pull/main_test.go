package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil"
)

func TestRun(t *testing.T) {
	c := testutil.StartCluster(t)
	require.NoError(t, run(t.Context(), c.NameServerAddr))
}
