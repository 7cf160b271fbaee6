package acl

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/pkg/auth"
	"github.com/petrelmq/petrel/pkg/protocol"
)

// FuzzCheck feeds arbitrary extension fields, bodies, codes and addresses
// to the check: it must never panic, and a request signed with the right
// secret must still pass the signature step whatever its fields hold.
func FuzzCheck(f *testing.F) {
	f.Add(int16(310), "b", "topicB", "AccessKey", "RocketMQ", []byte("hi"), "127.0.0.1:1")
	f.Add(int16(34), "x", "", "Signature", "", []byte(`{"consumerDataSet":[{"groupName":"g"}]}`), "[::1]:2")
	f.Add(int16(34), "", "", "", "", []byte(`{`), "garbage")
	f.Add(int16(11), "topic", "%RETRY%", "consumerGroup", "\xff", []byte{}, "")
	rules, err := compile(mustParse(f, testFile))
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, code int16, k1, v1, k2, v2 string, body []byte, remote string) {
		ext := map[string]string{k1: v1, k2: v2}
		req := Request{Code: protocol.RequestCode(code), Ext: ext, Body: body, Remote: remote}
		_ = rules.check(req, BrokerAdminCodes)
		// Sign with a known account, then the signature must verify.
		cmd := protocol.NewRequest(protocol.RequestCode(code), map[string]string{k1: v1, k2: v2})
		cmd.Body = body
		auth.Credentials{AccessKey: "RocketMQ", SecretKey: "12345678"}.Sign(cmd)
		if !signed(Request{Ext: cmd.ExtFields, Body: body}, "12345678") {
			t.Fatalf("own signature rejected: ext %q", cmd.ExtFields)
		}
	})
}

// FuzzParseFile: any bytes parse or fail cleanly, and an accepted file
// renders and parses back to the same accounts.
func FuzzParseFile(f *testing.F) {
	f.Add([]byte(testFile))
	f.Add([]byte("globalWhiteRemoteAddresses: ['1.2.3.{1,2}', '*']\naccounts: []\n"))
	f.Add([]byte("accounts: [{accessKey: abcdefg, secretKey: abcdefg, whiteRemoteAddress: '1.2.3.1-9'}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := ParseFile(data)
		if err != nil {
			return
		}
		out, err := file.Marshal()
		require.NoError(t, err)
		again, err := ParseFile(out)
		require.NoError(t, err)
		require.Equal(t, len(file.Accounts), len(again.Accounts))
	})
}

func mustParse(tb testing.TB, text string) *File {
	tb.Helper()
	f, err := ParseFile([]byte(text))
	require.NoError(tb, err)
	return f
}
