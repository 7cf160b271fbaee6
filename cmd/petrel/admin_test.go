package main

import (
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
)

func TestParseTimestamp(t *testing.T) {
	t.Parallel()
	got, err := parseTimestamp("1700000000123")
	require.NoError(t, err)
	require.Equal(t, int64(1700000000123), got.UnixMilli())
	got, err = parseTimestamp("2024-03-01#12:30:45:250")
	require.NoError(t, err)
	require.Equal(t, time.Date(2024, 3, 1, 12, 30, 45, 250e6, time.Local), got)
	_, err = parseTimestamp("yesterday")
	require.ErrorContains(t, err, "yyyy-MM-dd#HH:mm:ss:SSS")
	now, err := parseTimestamp("now")
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), now, time.Minute)
}

func TestMQAdminArgs(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"admin", "electMaster", "--bn", "broker-a", "-b", "1"},
		mqadminArgs([]string{"admin", "electMaster", "-bn", "broker-a", "-b", "1"}))
	require.Equal(t, []string{"broker", "-bn"}, mqadminArgs([]string{"broker", "-bn"}), "only admin commands are rewritten")
}

// TestAdminCommandsUnique: every mqadmin name is registered once, and a
// command that uses -o itself still gets --output.
func TestAdminCommandsUnique(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, c := range newAdminCmd().Commands() {
		require.False(t, seen[c.Name()], "%s registered twice", c.Name())
		seen[c.Name()] = true
		require.NotNil(t, c.Flags().Lookup("output"), "%s has no --output", c.Name())
	}
	require.True(t, seen["updateTopic"])
	require.Equal(t, "order", newAdminCmdFind(t, "updateTopic").Flags().ShorthandLookup("o").Name)
	require.Equal(t, "output", newAdminCmdFind(t, "clusterList").Flags().ShorthandLookup("o").Name)
}

func newAdminCmdFind(t *testing.T, name string) *cobra.Command {
	t.Helper()
	c, _, err := newAdminCmd().Find([]string{name})
	require.NoError(t, err)
	return c
}
