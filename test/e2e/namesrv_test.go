//go:build e2e

package e2e

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/rlog"
	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/remoting"
)

var listenRe = regexp.MustCompile(`msg="petrel name server listening" addr=(\S+)`)

func call(t *testing.T, cl *remoting.Client, addr string, req *protocol.Command) *protocol.Command {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cl.Invoke(ctx, addr, req)
	require.NoError(t, err)
	return resp
}

// TestNamesrvBinary runs `petrel namesrv` as an operator would: a config file, a
// listen flag, a broker registering, the official Go client reading the route, KV
// config surviving a restart, and a clean stop on SIGTERM.
func TestNamesrvBinary(t *testing.T) {
	rlog.SetLogLevel("error")
	dir := t.TempDir()
	conf := writeFile(t, "namesrv.conf", "# test config\nkvConfigPath="+filepath.Join(dir, "kvConfig.json")+"\nserverWorkerThreads=8\n")

	p := start(t, nil, "namesrv", "-c", conf, "--listen", "127.0.0.1:0")
	addr := p.waitLog(listenRe, 10*time.Second)
	require.Contains(t, p.output(), "version=")
	require.Contains(t, p.output(), "config="+conf+"+flags")

	cl := remoting.NewClient(remoting.DefaultClientConfig(), slog.New(slog.DiscardHandler))
	defer cl.Close()

	// A broker registers topic T with 4 queues.
	rb, err := body.EncodeRegisterBody(&body.RegisterBody{Topics: body.TopicConfigWrapper{
		DataVersion: body.DataVersion{Counter: 1, Timestamp: time.Now().UnixMilli()},
		TopicConfigTable: map[string]body.TopicConfig{
			"T": {TopicName: "T", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6, TopicFilterType: "SINGLE_TAG"},
		},
	}}, false)
	require.NoError(t, err)
	reg := protocol.NewRequest(protocol.RegisterBroker, map[string]string{
		"brokerName": "broker-a", "brokerAddr": "127.0.0.1:10911", "clusterName": "DefaultCluster",
		"haServerAddr": "127.0.0.1:10912", "brokerId": "0", "compressed": "false", "bodyCrc32": "0",
	})
	reg.Body = rb
	require.Equal(t, protocol.Success, call(t, cl, addr, reg).ResponseCode())

	// The official client's admin sees the route.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	adm, err := admin.NewAdmin(admin.WithResolver(primitive.NewPassthroughResolver([]string{addr})))
	require.NoError(t, err)
	defer adm.Close()
	mqs, err := adm.FetchPublishMessageQueues(ctx, "T")
	require.NoError(t, err)
	var got []string
	for _, mq := range mqs {
		got = append(got, mq.BrokerName)
	}
	sort.Strings(got)
	require.Equal(t, []string{"broker-a", "broker-a", "broker-a", "broker-a"}, got)

	// KV config is written to the configured file.
	put := protocol.NewRequest(protocol.PutKVConfig, map[string]string{"namespace": "ORDER_TOPIC_CONFIG", "key": "T", "value": "broker-a:4"})
	require.Equal(t, protocol.Success, call(t, cl, addr, put).ResponseCode())

	require.NoError(t, p.stop(syscall.SIGTERM, 10*time.Second), "exit status after SIGTERM")
	require.Contains(t, p.output(), "msg=stopped")

	// Restarted on the same config, the KV entry is still there.
	p2 := start(t, nil, "namesrv", "-c", conf, "--listen", "127.0.0.1:0")
	addr2 := p2.waitLog(listenRe, 10*time.Second)
	cl.CloseConn(addr)
	get := protocol.NewRequest(protocol.GetKVConfig, map[string]string{"namespace": "ORDER_TOPIC_CONFIG", "key": "T"})
	resp := call(t, cl, addr2, get)
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
	require.Equal(t, "broker-a:4", resp.Ext("value"))
	require.NoError(t, p2.stop(syscall.SIGINT, 10*time.Second))
}

func TestBadConfigFailsClearly(t *testing.T) {
	conf := writeFile(t, "bad.conf", "kvConfigPath=/tmp/x.json\nlistenPort=ninety\n")
	out, code := run(t, 20*time.Second, "namesrv", "-c", conf)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, conf+":2: key listenPort")

	out, code = run(t, 20*time.Second, "namesrv", "-c", filepath.Join(t.TempDir(), "missing.conf"))
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "missing.conf")

	out, code = run(t, 20*time.Second, "--log-level", "loud", "namesrv")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "--log-level")
}

func TestPortInUseFailsClearly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	conf := writeFile(t, "namesrv.conf", "kvConfigPath="+filepath.Join(t.TempDir(), "kv.json")+"\n")
	out, code := run(t, 20*time.Second, "namesrv", "-c", conf, "--listen", ln.Addr().String())
	require.Equal(t, 1, code, out)
	require.True(t, strings.Contains(out, "address already in use"), out)
}

// `petrel version` and `petrel --version` print the same release details.
func TestVersion(t *testing.T) {
	out, code := run(t, 10*time.Second, "version")
	require.Equal(t, 0, code)
	require.Regexp(t, `^petrel \S+\ncommit: \S+.*\nbuilt:  \S+\ngo:     go\S+ \S+/\S+\n$`, out)
	flag, code := run(t, 10*time.Second, "--version")
	require.Equal(t, 0, code)
	require.Equal(t, out, flag)
}
