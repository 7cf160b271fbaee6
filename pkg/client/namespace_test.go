package client

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWrapName(t *testing.T) {
	t.Parallel()
	f := func(ns, in, wrapped string) {
		t.Helper()
		require.Equal(t, wrapped, WrapName(ns, in))
		require.Equal(t, wrapped, WrapName(ns, wrapped), "idempotent")
		if in != AutoCreateTopicKey {
			require.Equal(t, in, UnwrapName(ns, wrapped))
		}
	}
	f("", "T", "T")
	f("ns", "T", "ns%T")
	f("ns", "%RETRY%g", "%RETRY%ns%g")
	f("ns", "%DLQ%g", "%DLQ%ns%g")
	f("ns", AutoCreateTopicKey, AutoCreateTopicKey)
	require.Equal(t, "other%T", UnwrapName("ns", "other%T"))
}
