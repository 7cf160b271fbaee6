package subscription

import (
	"testing"

	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/stretchr/testify/require"
)

func TestBuildTags(t *testing.T) {
	f, err := Build("TagA || TagB ", "TAG")
	require.NoError(t, err)
	require.True(t, f.MatchTagsCode(message.TagsHashCode("TagA")))
	require.True(t, f.MatchTagsCode(message.TagsHashCode("TagB")))
	require.False(t, f.MatchTagsCode(message.TagsHashCode("TagC")))
	require.True(t, f.MatchRecord(nil), "TAG filters accept every record")

	for _, all := range []string{"", "*", " * "} {
		f, err := Build(all, "")
		require.NoError(t, err)
		require.Same(t, MatchAll, f)
	}
	_, err = Build("||", "TAG")
	require.ErrorIs(t, err, ErrNoTag)
	_, err = Build("a > 1", "SQL92")
	require.ErrorIs(t, err, ErrSQL92Disabled)
	_, err = Build("x", "BOGUS")
	require.Error(t, err)
}

func TestCompilerSQL(t *testing.T) {
	c := NewCompiler(true)
	f, err := c.Filter("g", "T", 1, "a > 5", ExprSQL92)
	require.NoError(t, err)
	require.True(t, f.MatchTagsCode(123), "SQL92 passes every tags code")
	rec := func(a string) []byte {
		r, err := message.AppendRecord(nil, &message.MessageExt{Message: message.Message{Topic: "T",
			Properties: map[string]string{"a": a}, Body: []byte("x")}})
		require.NoError(t, err)
		return r
	}
	require.True(t, f.MatchRecord(rec("6")))
	require.False(t, f.MatchRecord(rec("5")))
	require.False(t, f.MatchRecord([]byte("garbage")), "an unparsable record does not match")

	again, err := c.Filter("g", "T", 1, "a > 5", ExprSQL92)
	require.NoError(t, err)
	require.Same(t, f.sql, again.sql, "cached per (group, topic, subVersion)")
	other, err := c.Filter("g", "T", 1, "a > 6", ExprSQL92)
	require.NoError(t, err)
	require.NotSame(t, f.sql, other.sql, "a new text under the same key compiles afresh")

	err = c.CheckHeartbeat("g", []body.SubscriptionData{{Topic: "T", SubString: "a >", ExpressionType: ExprSQL92}})
	var pe *protocol.Error
	require.ErrorAs(t, err, &pe)
	require.Equal(t, protocol.SubscriptionParseFailed, pe.Code)
	require.NoError(t, c.CheckHeartbeat("g", []body.SubscriptionData{{Topic: "T", SubString: "TagA", ExpressionType: ExprTag}}))

	off := NewCompiler(false)
	_, err = off.Filter("g", "T", 1, "a > 5", ExprSQL92)
	require.ErrorIs(t, err, ErrSQL92Disabled)
	err = off.CheckHeartbeat("g", []body.SubscriptionData{{Topic: "T", SubString: "a > 1", ExpressionType: ExprSQL92}})
	require.ErrorAs(t, err, &pe)
	require.Equal(t, protocol.SystemError, pe.Code)
}

// TestTagsCodeIsJavaHashCode checks the tags codes against Java's
// String.hashCode computed here independently.
func TestTagsCodeIsJavaHashCode(t *testing.T) {
	hashOf := func(tag string) int64 {
		var h int32
		for _, c := range tag {
			h = 31*h + c
		}
		return int64(h)
	}
	f, err := Build(" TagA || TagB ||", "TAG")
	require.NoError(t, err)
	require.True(t, f.MatchTagsCode(hashOf("TagA")))
	require.True(t, f.MatchTagsCode(hashOf("TagB")))
	require.False(t, f.MatchTagsCode(hashOf("TagC")))
}
