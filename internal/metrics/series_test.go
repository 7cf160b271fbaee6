package metrics

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestTableClonesKeys: a series' key does not share memory with the strings
// it was looked up with (often cut from a request header, which it would keep
// alive for the broker's life).
func TestTableClonesKeys(t *testing.T) {
	t.Parallel()
	hdr := "TopicAGroupB"
	tb := newTable[outKey, count](10)
	require.NotNil(t, tb.get(outKey{hdr[:6], hdr[6:]}))
	n := 0
	tb.each(func(k outKey, _ *count) {
		n++
		require.Equal(t, outKey{"TopicA", "GroupB"}, k)
		require.NotSame(t, unsafe.StringData(hdr), unsafe.StringData(k.topic))
		require.NotSame(t, unsafe.StringData(hdr[6:]), unsafe.StringData(k.group))
	})
	require.Equal(t, 1, n)
}
