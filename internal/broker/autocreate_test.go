package broker_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/stretchr/testify/require"
)

// TestRawConcurrentAutoCreate: many first sends to the same unknown topic
// race to auto-create it. Every send succeeds, the topic exists once with the
// template's queue count, and the DataVersion advanced by exactly one.
func TestRawConcurrentAutoCreate(t *testing.T) {
	t.Parallel()
	r := startRaw(t)
	topicTable := func() body.TopicConfigWrapper {
		t.Helper()
		resp := r.call(protocol.GetAllTopicConfig, nil, nil)
		require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
		var w body.TopicConfigWrapper
		require.NoError(t, json.Unmarshal(resp.Body, &w))
		return w
	}
	before := topicTable()
	const n = 32
	codes := make([]protocol.ResponseCode, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := protocol.NewRequest(protocol.SendMessage, sendV1("AutoRace", -1, nil))
			req.Body = []byte("x")
			resp, err := r.cl.Invoke(context.Background(), r.addr, req)
			if err != nil {
				codes[i] = -1
				return
			}
			codes[i] = resp.ResponseCode()
		}()
	}
	wg.Wait()
	for i, c := range codes {
		require.Equal(t, protocol.Success, c, "send %d", i)
	}
	after := topicTable()
	tc, ok := after.TopicConfigTable["AutoRace"]
	require.True(t, ok)
	require.Equal(t, int32(4), tc.WriteQueueNums)
	require.Equal(t, before.DataVersion.Counter+1, after.DataVersion.Counter)
}
