package meta

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMergeMasterKeepsNewerSlaveOffsets: offsets a consumer committed to a
// slave while the master was down survive the master's older table, are
// handed back for the master, and give way once the master has them.
func TestMergeMasterKeepsNewerSlaveOffsets(t *testing.T) {
	o := NewOffsets()
	o.TrackLocal()
	o.MergeMaster(map[string]map[int32]int64{"T@g": {0: 250, 1: 250}})
	require.Equal(t, int64(250), o.Query("g", "T", 0))

	// The master goes down; the consumer commits to the slave.
	o.Commit("g", "T", 0, 500)
	o.Commit("g2", "U", 3, 7)

	// The master returns with its old table: the slave keeps 500 and asks
	// for both local offsets to be pushed.
	push := o.MergeMaster(map[string]map[int32]int64{"T@g": {0: 250, 1: 260}})
	require.Equal(t, int64(500), o.Query("g", "T", 0), "not rewound")
	require.Equal(t, int64(260), o.Query("g", "T", 1), "master's news taken")
	require.ElementsMatch(t, []OffsetUpdate{{"T", "g", 0, 500}, {"U", "g2", 3, 7}}, push)

	// The master got them: its values win again and nothing is pushed.
	push = o.MergeMaster(map[string]map[int32]int64{"T@g": {0: 500, 1: 260}, "U@g2": {3: 7}})
	require.Empty(t, push)
	push = o.MergeMaster(map[string]map[int32]int64{"T@g": {0: 600, 1: 260}, "U@g2": {3: 9}})
	require.Empty(t, push)
	require.Equal(t, int64(600), o.Query("g", "T", 0))
	require.Equal(t, int64(9), o.Query("g2", "U", 3))
}

// TestMergeMasterOnAMaster: without TrackLocal the master's table simply
// wins (RocketMQ's behaviour).
func TestMergeMasterWithoutLocal(t *testing.T) {
	o := NewOffsets()
	o.Commit("g", "T", 0, 500)
	require.Empty(t, o.MergeMaster(map[string]map[int32]int64{"T@g": {0: 250}}))
	require.Equal(t, int64(250), o.Query("g", "T", 0))
}
