package console_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/console"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/auth"
	"github.com/petrelmq/petrel/pkg/client"
)

// Against a broker with aclEnable, the console reads with the account its
// ClientOptions sign with (petrel console --access-key/--secret-key).
func TestConsoleWithACL(t *testing.T) {
	creds := auth.Credentials{AccessKey: "consoleAdmin", SecretKey: "consoleSecret"}
	dir := t.TempDir()
	aclPath := filepath.Join(dir, "plain_acl.yml")
	require.NoError(t, os.WriteFile(aclPath, []byte("accounts:\n  - accessKey: consoleAdmin\n    secretKey: consoleSecret\n    admin: true\n"), 0o600))
	c := testutil.StartCluster(t, testutil.WithBrokerConfig(func(cfg *broker.Config) {
		cfg.ACLEnable, cfg.ACLFilePath = true, aclPath
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	adm, err := admin.New(client.NameServers(c.NameServerAddr), client.WithCredentials(creds))
	require.NoError(t, err)
	require.NoError(t, adm.Start(ctx))
	t.Cleanup(func() { _ = adm.Close() })
	require.NoError(t, adm.CreateTopic(ctx, c.BrokerAddr, admin.TopicSpec{Topic: "AclConsoleT", ReadQueues: 3, WriteQueues: 3}))

	get := func(opts ...client.Option) (int, string) {
		con, err := console.New(console.Config{Addr: "127.0.0.1:0", NameServers: []string{c.NameServerAddr},
			CacheTTL: time.Millisecond, ClientOptions: opts}, nil)
		require.NoError(t, err)
		require.NoError(t, con.Start(ctx))
		defer func() { require.NoError(t, con.Close()) }()
		resp, err := http.Get("http://" + con.Addr().String() + "/api/topic?name=AclConsoleT")
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	code, body := get(client.WithCredentials(creds))
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, 3, strings.Count(body, `"id":`), body)
	code, body = get()
	require.True(t, code != http.StatusOK || strings.Contains(body, "No accessKey is configured"), "%d %s", code, body)
}
