package meta

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTopicNameRules(t *testing.T) {
	t.Parallel()
	require.NoError(t, ValidateTopicName("%RETRY%a_b-C|1"))
	require.Error(t, ValidateTopicName(""))
	require.Error(t, ValidateTopicName("a.b"))
	require.Error(t, ValidateTopicName(strings.Repeat("a", 128)))
	require.NoError(t, ValidateTopicName(strings.Repeat("a", 127)))
}
