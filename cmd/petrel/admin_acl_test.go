package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/acl"
	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/testutil"
	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/auth"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/protocol"
)

// runAdmin runs `petrel admin` with args and returns standard output and
// the error (with standard error in its message).
func runAdmin(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errw bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errw)
	root.SetArgs(append([]string{"admin"}, args...))
	err := root.Execute()
	if err != nil {
		return out.String(), &cmdError{err: err, stderr: errw.String()}
	}
	return out.String(), nil
}

type cmdError struct {
	err    error
	stderr string
}

func (e *cmdError) Error() string { return e.err.Error() + "\n" + e.stderr }
func (e *cmdError) Unwrap() error { return e.err }

// The ACL commands against a broker with aclEnable=true: an account created
// with updateAclConfig sends with the SDK, deleteAclConfig takes that away,
// clusterAclConfigVersion and getAclConfig print the file's state,
// updateGlobalWhiteAddr rewrites it; unsigned or non-admin calls are refused.
func TestAdminACLCommands(t *testing.T) {
	adminKeys := auth.Credentials{AccessKey: "adminKey01", SecretKey: "adminSecret01"}
	userKeys := auth.Credentials{AccessKey: "userKey001", SecretKey: "userSecret01"}
	var path string
	c := testutil.StartCluster(t, testutil.WithBrokerConfig(func(cfg *broker.Config) {
		cfg.ACLEnable = true
		cfg.Credentials = adminKeys
		path = cfg.ACLPath()
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte("accounts:\n  - accessKey: adminKey01\n    secretKey: adminSecret01\n    admin: true\n"), 0o600))
	}))
	signed := []string{"-n", c.NameServerAddr, "--access-key", adminKeys.AccessKey, "--secret-key", adminKeys.SecretKey}
	run := func(args ...string) string {
		t.Helper()
		out, err := runAdmin(t, append(args, signed...)...)
		require.NoError(t, err)
		return out
	}

	out := run("updateAclConfig", "-b", c.BrokerAddr, "-a", userKeys.AccessKey, "-s", userKeys.SecretKey,
		"-t", "AclCmdTopic=PUB, AclOther=SUB", "-i", "DENY", "-u", "SUB")
	require.Equal(t, "create or update plain access config to "+c.BrokerAddr+" success.\n", out)
	run("updateTopic", "-b", c.BrokerAddr, "-t", "AclCmdTopic")
	run("updateTopic", "-b", c.BrokerAddr, "-t", "AclOther")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := producer.New(client.NameServers(c.NameServerAddr), client.WithCredentials(userKeys))
	require.NoError(t, err)
	require.NoError(t, p.Start(ctx))
	t.Cleanup(func() { _ = p.Close() })
	_, err = p.Send(ctx, producer.NewMessage("AclCmdTopic", []byte("allowed")))
	require.NoError(t, err, "the account updateAclConfig created may publish to AclCmdTopic")
	_, err = p.Send(ctx, producer.NewMessage("AclOther", []byte("refused")))
	require.ErrorIs(t, err, protocol.ErrNoPermission, "AclOther=SUB")

	// The -c form reaches the cluster's brokers; the version counts the
	// change made above.
	out = run("clusterAclConfigVersion", "-c", "DefaultCluster")
	require.Regexp(t, `^#Cluster Name\s+#Broker Name\s+#Broker Addr\s+#AclFilePath\s+#AclConfigVersionNum\s+#AclLastUpdateTime\s*\n`+
		`DefaultCluster\s+broker-a\s+`+regexp.QuoteMeta(c.BrokerAddr)+`\s+`+regexp.QuoteMeta(path)+`\s+1\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s*\n`+
		`get cluster's plain access config version success.\n$`, out)
	var versions []admin.ACLVersion
	require.NoError(t, json.Unmarshal([]byte(run("clusterAclConfigVersion", "-b", c.BrokerAddr, "-o", "json")), &versions))
	require.Len(t, versions, 1)
	require.Equal(t, int64(1), versions[0].Version.Counter)
	require.Equal(t, "broker-a", versions[0].BrokerName)

	out = run("getAccessConfigSubCommand", "-b", c.BrokerAddr)
	require.Contains(t, out, "\nglobalWhiteRemoteAddresses: []\n\naccounts:\n  accessKey         : adminKey01\n")
	require.Contains(t, out, "  accessKey         : userKey001\n  secretKey         : ******\n  whiteRemoteAddress: \n  admin             : false\n"+
		"  defaultTopicPerm  : DENY\n  defaultGroupPerm  : SUB\n  topicPerms        : [AclCmdTopic=PUB, AclOther=SUB]\n  groupPerms        : \n\n")
	require.NotContains(t, out, userKeys.SecretKey)

	out = run("updateGlobalWhiteAddr", "-c", "DefaultCluster", "-g", "10.9.*.*,192.168.7.*")
	require.Equal(t, "update global white remote addresses to "+c.BrokerAddr+" success.\n", out)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	f, err := acl.ParseFile(data)
	require.NoError(t, err)
	require.Equal(t, []string{"10.9.*.*", "192.168.7.*"}, f.GlobalWhiteRemoteAddresses)
	require.Equal(t, int64(2), f.DataVersion[0].Counter)
	_, err = runAdmin(t, append([]string{"updateGlobalWhiteAddr", "-b", c.BrokerAddr, "-g", "10.8.*.*", "-p", "/etc/other_acl.yml"}, signed...)...)
	require.ErrorContains(t, err, "is not this broker's ACL file")

	out = run("deleteAclConfig", "-c", "DefaultCluster", "-a", userKeys.AccessKey)
	require.Equal(t, "delete plain access config account from "+c.BrokerAddr+" success.\naccount's accesskey is:userKey001\n", out)
	_, err = p.Send(ctx, producer.NewMessage("AclCmdTopic", []byte("deleted")))
	require.ErrorIs(t, err, protocol.ErrNoPermission, "the account is gone")
	require.ErrorContains(t, err, "No acl config for userKey001")

	// Unsigned, and signed by a non-admin account: refused by the broker.
	_, err = runAdmin(t, "deleteAclConfig", "-n", c.NameServerAddr, "-b", c.BrokerAddr, "-a", adminKeys.AccessKey)
	require.ErrorIs(t, err, protocol.ErrNoPermission)
	run("updateAclConfig", "-b", c.BrokerAddr, "-a", userKeys.AccessKey, "-s", userKeys.SecretKey)
	_, err = runAdmin(t, "getAclConfig", "-n", c.NameServerAddr, "-b", c.BrokerAddr,
		"--access-key", userKeys.AccessKey, "--secret-key", userKeys.SecretKey)
	require.ErrorIs(t, err, protocol.ErrNoPermission)

	// -b or -c, not both, not neither (as mqadmin's option group).
	_, err = runAdmin(t, append([]string{"getAclConfig", "-b", c.BrokerAddr, "-c", "DefaultCluster"}, signed...)...)
	require.ErrorContains(t, err, "none of the others can be")
	_, err = runAdmin(t, append([]string{"clusterAclConfigVersion"}, signed...)...)
	require.ErrorContains(t, err, "at least one of the flags in the group [brokerAddr clusterName] is required")
	_, err = runAdmin(t, append([]string{"updateAclConfig", "-b", c.BrokerAddr, "-a", "someKey01", "-m", "yes"}, signed...)...)
	require.ErrorContains(t, err, `-m: "yes" is not true or false`)
}
