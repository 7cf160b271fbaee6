package trace_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/pkg/trace"
)

// FuzzDecode: Decode never panics, and what it accepts encodes to a body
// that decodes to the same records.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(rec("Pub", "1700000000000", "DefaultRegion", "pg", "T", "ID1", "tagA", "k1 k2", "h:1", "5", "3", "0", "OFF1", "true", "10.0.0.1")))
	f.Add([]byte(rec("Pub", "1", "r", "g", "T", "ID1", "", "", "h", "5", "3", "1", "true")))
	f.Add([]byte(rec("SubBefore", "2", "r", "cg", "REQ", "ID1", "1", "null") + rec("SubAfter", "REQ", "ID1", "7", "false", "null", "4", "3", "cg")))
	f.Add([]byte(rec("SubAfter", "REQ", "ID1", "7", "true", "k")))
	f.Add([]byte(rec("EndTransaction", "4", "r", "pg", "T", "ID1", "t", "k", "h", "2", "TX", "COMMIT_MESSAGE", "true")))
	f.Add([]byte("Pub\x01\x02\x02\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		recs := trace.Decode(body)
		again := trace.Decode(trace.Encode(recs))
		if len(recs) == 0 {
			require.Empty(t, again)
			return
		}
		require.Equal(t, recs, again)
	})
}
