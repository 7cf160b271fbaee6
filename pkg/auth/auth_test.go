package auth

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/pkg/protocol"
)

// The expected signatures were computed independently (Python's hmac over
// the concatenation RocketMQ's AclUtils.combineRequestContent builds).
func TestSign(t *testing.T) {
	t.Parallel()
	c := Credentials{AccessKey: "RocketMQ", SecretKey: "12345678"}
	cmd := protocol.NewRequest(protocol.SendMessageV2, map[string]string{"a": "pg", "b": "topicB"})
	cmd.Body = []byte("hello")
	c.Sign(cmd)
	require.Equal(t, "RocketMQ", cmd.Ext(FieldAccessKey))
	require.Equal(t, "/gogfLrslUSG4zW9KmpJ/iOvbFs=", cmd.Ext(FieldSignature))
	c.Sign(cmd) // signing again ignores the old signature
	require.Equal(t, "/gogfLrslUSG4zW9KmpJ/iOvbFs=", cmd.Ext(FieldSignature))

	c.SecurityToken = "tok"
	cmd = protocol.NewRequest(protocol.SendMessageV2, map[string]string{"k": "v1"})
	cmd.Body = []byte("body")
	c.Sign(cmd)
	require.Equal(t, "PYVoFCashtw1hgc+CqSZVO1dVwY=", cmd.Ext(FieldSignature))

	empty := protocol.NewRequest(protocol.SendMessageV2, map[string]string{})
	Credentials{AccessKey: "x"}.Sign(empty)
	require.Empty(t, empty.ExtFields)
	require.NotContains(t, Credentials{AccessKey: "a", SecretKey: "topsecret"}.String(), "topsecret")
}

func TestContentOrder(t *testing.T) {
	t.Parallel()
	ext := map[string]string{"b": "2", "a": "1", "B": "0", "Signature": "x", "skip": "s"}
	require.Equal(t, "012body", string(Content(ext, []byte("body"), "skip")))
	// Java orders by UTF-16 unit: U+10000 (high surrogate 0xD800) sorts
	// before U+E000, although its UTF-8 bytes sort after.
	require.Negative(t, compareUTF16("\U00010000", "\uE000"))
	require.Positive(t, compareUTF16("ab", "a"))
	require.Zero(t, compareUTF16("ab", "ab"))
}

// Keys holding different invalid UTF-8 bytes still sort in one order, so the
// content does not depend on map iteration (found by FuzzCheck).
func TestContentInvalidUTF8Deterministic(t *testing.T) {
	t.Parallel()
	ext := map[string]string{"\xfa": "1", "\xc5": "2", "a": "3"}
	first := string(Content(ext, nil))
	for range 50 {
		require.Equal(t, first, string(Content(ext, nil)))
	}
	require.Equal(t, "321", first)
}

func TestSignEqualsSignatureOfContent(t *testing.T) {
	t.Parallel()
	ext := map[string]string{"b": "2", "a": "1", "AccessKey": "k", "Signature": "old", "x": "skip"}
	require.Equal(t, Signature(Content(ext, []byte("body"), "x"), "secret-1"), Sign(ext, []byte("body"), "secret-1", "x"))
}
