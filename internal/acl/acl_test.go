package acl

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil/poll"
	"github.com/petrelmq/petrel/pkg/auth"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/protocol"
)

const testFile = `
globalWhiteRemoteAddresses:
  - 10.10.103.*
  - 192.168.0.*
accounts:
  - accessKey: RocketMQ
    secretKey: 12345678
    whiteRemoteAddress:
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - topicA=DENY
      - topicB=PUB|SUB
      - topicC=SUB
    groupPerms:
      - groupA=DENY
      - groupB=PUB|SUB
      - groupC=SUB
  - accessKey: rocketmq2
    secretKey: 12345678
    whiteRemoteAddress: 192.168.1.*
    admin: true
`

func writeACL(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "plain_acl.yml")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
	return p
}

func openTest(t *testing.T, text string) *Guard {
	t.Helper()
	g, err := Open(Config{Path: writeACL(t, text), AdminCodes: BrokerAdminCodes}, nil)
	require.NoError(t, err)
	return g
}

func signedReq(code protocol.RequestCode, ext map[string]string, body []byte, c auth.Credentials) Request {
	cmd := protocol.NewRequest(code, ext)
	cmd.Body = body
	c.Sign(cmd)
	return Request{Code: code, Ext: cmd.ExtFields, Body: body, Remote: "127.0.0.1:50000"}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	g := openTest(t, testFile)
	user := auth.Credentials{AccessKey: "RocketMQ", SecretKey: "12345678"}
	admin := auth.Credentials{AccessKey: "rocketmq2", SecretKey: "12345678"}
	deny := func(req Request, reason string) {
		t.Helper()
		err := g.Check(req)
		var d *DeniedError
		require.ErrorAs(t, err, &d)
		require.Equal(t, reason, d.Reason)
	}
	send := func(topic string) map[string]string { return map[string]string{"a": "pg", "b": topic, "c": "TBW102"} }

	require.NoError(t, g.Check(signedReq(protocol.SendMessageV2, send("topicB"), []byte("hi"), user)))
	deny(signedReq(protocol.SendMessageV2, send("topicA"), []byte("hi"), user), "No permission for topic=topicA (PUB needed, DENY granted)")
	deny(signedReq(protocol.SendMessageV2, send("topicC"), []byte("hi"), user), "No permission for topic=topicC (PUB needed, SUB granted)")
	deny(signedReq(protocol.SendMessageV2, send("other"), []byte("hi"), user), "No default permission for topic=other (PUB needed, default DENY)")
	// A send to a retry topic needs SUB on the group.
	require.NoError(t, g.Check(signedReq(protocol.SendMessageV2, send("%RETRY%groupC"), nil, user)))
	deny(signedReq(protocol.SendMessageV2, send("%RETRY%groupA"), nil, user), "No permission for group=groupA (SUB needed, DENY granted)")

	pull := map[string]string{"topic": "topicC", "consumerGroup": "groupX"}
	require.NoError(t, g.Check(signedReq(protocol.PullMessage, pull, nil, user)), "default group perm SUB")
	pull["consumerGroup"] = "groupA"
	deny(signedReq(protocol.PullMessage, pull, nil, user), "No permission for group=groupA (SUB needed, DENY granted)")

	// Signature failures.
	r := signedReq(protocol.SendMessageV2, send("topicB"), []byte("hi"), user)
	r.Body = []byte("ho")
	deny(r, "Check signature failed for accessKey=RocketMQ")
	r = signedReq(protocol.SendMessageV2, send("topicB"), []byte("hi"), auth.Credentials{AccessKey: "RocketMQ", SecretKey: "wrong-secret"})
	deny(r, "Check signature failed for accessKey=RocketMQ")
	r = signedReq(protocol.SendMessageV2, send("topicB"), []byte("hi"), user)
	delete(r.Ext, auth.FieldSignature)
	deny(r, "Check signature failed for accessKey=RocketMQ")
	deny(signedReq(protocol.SendMessageV2, send("topicB"), nil, auth.Credentials{AccessKey: "nobody12", SecretKey: "12345678"}), "No acl config for nobody12")
	deny(Request{Code: protocol.SendMessageV2, Ext: send("topicB"), Remote: "127.0.0.1:1"}, "No accessKey is configured")

	// Admin codes.
	deny(signedReq(protocol.UpdateAndCreateTopic, map[string]string{"topic": "x"}, nil, user),
		"Need admin permission for request code=17, but accessKey=RocketMQ is not admin")
	require.NoError(t, g.Check(signedReq(protocol.UpdateAndCreateTopic, map[string]string{"topic": "x"}, nil, admin)))
	require.NoError(t, g.Check(signedReq(protocol.SendMessageV2, send("anything"), nil, admin)), "admin without perms touches all")

	// White lists skip the signature.
	require.NoError(t, g.Check(Request{Code: protocol.UpdateAndCreateTopic, Remote: "10.10.103.7:1"}))
	require.NoError(t, g.Check(Request{Code: protocol.UpdateAndCreateTopic, Ext: map[string]string{"AccessKey": "rocketmq2"}, Remote: "192.168.1.9:1"}))
	deny(Request{Code: protocol.UpdateAndCreateTopic, Ext: map[string]string{"AccessKey": "rocketmq2"}, Remote: "192.168.2.9:1"},
		"Check signature failed for accessKey=rocketmq2")

	// Heartbeat: SUB on each consumer group and subscribed topic.
	hb := []byte(`{"clientID":"c","producerDataSet":[],"consumerDataSet":[{"groupName":"groupC","subscriptionDataSet":[{"topic":"topicC"}]}]}`)
	require.NoError(t, g.Check(signedReq(protocol.HeartBeat, map[string]string{}, hb, user)))
	hb = []byte(`{"clientID":"c","producerDataSet":[],"consumerDataSet":[{"groupName":"groupC","subscriptionDataSet":[{"topic":"topicA"}]}]}`)
	deny(signedReq(protocol.HeartBeat, map[string]string{}, hb, user), "No permission for topic=topicA (SUB needed, DENY granted)")
}

func TestNameServerOnlyAdmin(t *testing.T) {
	t.Parallel()
	g, err := Open(Config{Path: writeACL(t, testFile), AdminCodes: NameServerAdminCodes, OnlyAdminCodes: true}, nil)
	require.NoError(t, err)
	require.NoError(t, g.Check(Request{Code: protocol.GetRouteInfoByTopic, Remote: "127.0.0.1:1"}), "route reads are open")
	require.Error(t, g.Check(Request{Code: protocol.RegisterBroker, Remote: "127.0.0.1:1"}))
	user := auth.Credentials{AccessKey: "RocketMQ", SecretKey: "12345678"}
	require.Error(t, g.Check(signedReq(protocol.RegisterBroker, map[string]string{"brokerName": "a"}, []byte("{}"), user)))
	admin := auth.Credentials{AccessKey: "rocketmq2", SecretKey: "12345678"}
	require.NoError(t, g.Check(signedReq(protocol.RegisterBroker, map[string]string{"brokerName": "a"}, []byte("{}"), admin)))
}

func TestBadFiles(t *testing.T) {
	t.Parallel()
	f := func(text, msg string) {
		t.Helper()
		_, err := ParseFile([]byte(text))
		require.ErrorContains(t, err, msg)
	}
	f("accounts:\n  - accessKey: short\n    secretKey: 12345678\n", "accessKey must be longer than 6 characters")
	f("accounts:\n  - accessKey: longenough\n    secretKey: 123\n", "secretKey must be longer than 6 characters")
	f("accounts:\n  - accessKey: longenough\n    secretKey: 12345678\n    defaultTopicPerm: pub\n", `defaultTopicPerm: permission "pub" is not DENY`)
	f("accounts:\n  - accessKey: longenough\n    secretKey: 12345678\n    topicPerms: [a]\n", `topicPerms: "a" is not name=PERM`)
	f("globalWhiteRemoteAddresses: [1.2.3]\n", "globalWhiteRemoteAddresses")
	f("accounts: [{accessKey: longenough, secretKey: 12345678}, {accessKey: longenough, secretKey: 12345678}]", "listed twice")
	f("accounts: {", "acl:")
	_, err := Open(Config{Path: filepath.Join(t.TempDir(), "none.yml")}, nil)
	require.ErrorContains(t, err, "does not exist")
}

func TestAddrPatterns(t *testing.T) {
	t.Parallel()
	f := func(pattern, ip string, want bool) {
		t.Helper()
		m, err := parseAddrPattern(pattern)
		require.NoError(t, err)
		require.Equal(t, want, m.match(remoteIP(ip)), "%s vs %s", pattern, ip)
	}
	f("", "1.2.3.4:5", false)
	f("*", "1.2.3.4:5", true)
	f("*.*.*.*", "[::1]:5", true)
	f("192.168.0.1", "192.168.0.1:9", true)
	f("192.168.0.1", "192.168.0.2:9", false)
	f("192.168.0.1,10.0.0.2", "10.0.0.2:9", true)
	f("192.168.0.{1,2,30}", "192.168.0.30:9", true)
	f("192.168.0.{1,2,30}", "192.168.0.3:9", false)
	f("192.168.*.*", "192.168.200.3:9", true)
	f("192.168.1.10-20", "192.168.1.15:9", true)
	f("192.168.1.10-20", "192.168.1.21:9", false)
	f("::1", "[::1]:9", true)
	f("127.0.0.1", "[::ffff:127.0.0.1]:9", true)
	for _, bad := range []string{"1.2.3", "1.2.3.300", "1.2.3.9-2", "1.2.3.{a}", "x"} {
		_, err := parseAddrPattern(bad)
		require.Error(t, err, bad)
	}
}

func TestAdminEditsAndReload(t *testing.T) {
	t.Parallel()
	g := openTest(t, testFile)
	// A file without dataVersion dates from its modification time.
	mtime := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	require.NoError(t, os.Chtimes(g.Path(), mtime, mtime))
	_, v, err := g.File()
	require.NoError(t, err)
	require.Equal(t, DataVersion{Timestamp: mtime.UnixMilli()}, v)

	newbie := auth.Credentials{AccessKey: "newbie01", SecretKey: "secret-01"}
	req := signedReq(protocol.SendMessageV2, map[string]string{"b": "topicN"}, nil, newbie)
	require.Error(t, g.Check(req))
	require.NoError(t, g.UpdateAccount(Account{AccessKey: "newbie01", SecretKey: "secret-01", TopicPerms: []string{"topicN=PUB"}}))
	require.NoError(t, g.Check(req))
	// An update keeps the fields it does not name.
	require.NoError(t, g.UpdateAccount(Account{AccessKey: "newbie01", DefaultGroupPerm: "SUB"}))
	require.NoError(t, g.Check(req))
	f, v, err := g.File()
	require.NoError(t, err)
	require.Equal(t, int64(2), v.Counter)
	require.NotEqual(t, mtime.UnixMilli(), v.Timestamp, "the admin codes write dataVersion")
	require.Len(t, f.Accounts, 3)
	require.Error(t, g.UpdateAccount(Account{AccessKey: "bad", SecretKey: "12345678"}), "validated before writing")
	require.NoError(t, g.DeleteAccount("newbie01"))
	require.Error(t, g.Check(req))
	require.Error(t, g.DeleteAccount("newbie01"))
	require.NoError(t, g.SetGlobalWhiteAddrs([]string{"127.0.0.1"}))
	require.NoError(t, g.Check(req))

	// A hand edit is picked up by Reload; a broken one keeps the old rules.
	require.NoError(t, os.WriteFile(g.Path(), []byte("accounts: {"), 0o600))
	_, err = g.Reload()
	require.Error(t, err)
	require.NoError(t, g.Check(req))
	require.NoError(t, os.WriteFile(g.Path(), []byte(testFile), 0o600))
	changed, err := g.Reload()
	require.NoError(t, err)
	require.True(t, changed)
	require.Error(t, g.Check(req))
}

func TestRefusalLogIsRateLimited(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	r := refusalLog{log: slog.New(slog.NewTextHandler(&buf, nil))}
	now := time.Now()
	d := &DeniedError{Code: protocol.SendMessage, AccessKey: "RocketMQ", Remote: "10.0.0.1:5", Reason: "No acl config for RocketMQ"}
	for range 5 {
		r.refused(d, now)
	}
	require.Equal(t, 1, strings.Count(buf.String(), "acl: request refused"))
	r.refused(&DeniedError{AccessKey: "other", Remote: "10.0.0.1:6"}, now)
	require.Equal(t, 2, strings.Count(buf.String(), "acl: request refused"), "another account is logged")
	r.refused(d, now.Add(refusalEvery))
	require.Contains(t, buf.String(), "suppressed=4")
	require.NotContains(t, buf.String(), "12345678")
}

// The reload loop applies an edit on its next tick, and keeps the rules in
// force when the file breaks.
func TestReloadLoop(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(time.Unix(1_700_000_000, 0))
	path := writeACL(t, testFile)
	g, err := Open(Config{Path: path, AdminCodes: BrokerAdminCodes, Clock: clk, ReloadInterval: time.Second}, nil)
	require.NoError(t, err)
	require.NoError(t, g.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, g.Close()) })
	user := auth.Credentials{AccessKey: "RocketMQ", SecretKey: "12345678"}
	req := signedReq(protocol.SendMessageV2, map[string]string{"b": "topicA"}, nil, user)
	require.Error(t, g.Check(req))
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(testFile, "topicA=DENY", "topicA=PUB", 1)), 0o600))
	poll.WaitFor(t, 10*time.Second, func() bool {
		clk.Advance(time.Second)
		return g.Check(req) == nil
	})
	require.NoError(t, os.WriteFile(path, []byte("accounts: {"), 0o600))
	for range 3 {
		clk.Advance(time.Second)
	}
	require.NoError(t, g.Check(req), "a broken file keeps the rules in force")
}

func TestEmptyFileRefused(t *testing.T) {
	t.Parallel()
	_, err := ParseFile([]byte(" \n"))
	require.ErrorContains(t, err, "the file is empty")
	f, err := ParseFile([]byte("accounts: []\n"))
	require.NoError(t, err)
	require.Empty(t, f.Accounts)
}
