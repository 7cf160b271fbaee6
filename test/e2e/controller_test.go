//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/controller/client"
	"github.com/petrelmq/petrel/internal/testutil/poll"
	"github.com/petrelmq/petrel/pkg/admin"
	pclient "github.com/petrelmq/petrel/pkg/client"
)

var controllerListenRe = regexp.MustCompile(`msg="petrel controller listening" addr=(\S+)`)

// TestControllerBinaries runs a controller group as an operator would: two
// `petrel controller` processes and a `petrel namesrv` with the controller
// embedded (enableControllerInNamesrv=true), one Raft group. A broker
// registers and becomes master; the controller leader is stopped with
// SIGTERM and another takes over with the state; a controller is killed
// with SIGKILL and restarted from its store; every process exits 0 on
// SIGTERM.
func TestControllerBinaries(t *testing.T) {
	ports := []int{freePort(t), freePort(t), freePort(t)}
	var peers, addrs []string
	for i, p := range ports {
		addr := fmt.Sprintf("127.0.0.1:%d", p)
		addrs = append(addrs, addr)
		peers = append(peers, fmt.Sprintf("n%d-%s", i, addr))
	}
	confs := make([]string, 3)
	stores := make([]string, 3)
	for i := range 3 {
		stores[i] = filepath.Join(t.TempDir(), "controller")
		lines := []string{
			"controllerDLegerGroup=e2e",
			"controllerDLegerPeers=" + strings.Join(peers, ";"),
			fmt.Sprintf("controllerDLegerSelfId=n%d", i),
			"controllerStorePath=" + stores[i],
			"controllerListenAddr=" + addrs[i],
			"scanNotActiveBrokerInterval=200",
		}
		if i == 2 {
			lines = append(lines, "enableControllerInNamesrv=true", "kvConfigPath="+filepath.Join(t.TempDir(), "kv.json"))
		}
		confs[i] = writeFile(t, fmt.Sprintf("c%d.conf", i), strings.Join(lines, "\n")+"\n")
	}
	startNode := func(i int) *proc {
		if i == 2 {
			p := start(t, nil, "namesrv", "-c", confs[i], "--listen", "127.0.0.1:0")
			require.Equal(t, addrs[i], p.waitLog(controllerListenRe, 20*time.Second))
			return p
		}
		p := start(t, nil, "controller", "-c", confs[i])
		require.Equal(t, addrs[i], p.waitLog(controllerListenRe, 20*time.Second))
		return p
	}
	procs := make([]*proc, 3)
	for i := range 3 {
		procs[i] = startNode(i)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm, err := admin.New(pclient.NameServers("127.0.0.1:1"))
	require.NoError(t, err)
	defer adm.Close()
	leader := func() int {
		idx := -1
		poll.Until(t, 30*time.Second, "a controller leader", func() bool {
			for i, a := range addrs {
				if procs[i] == nil {
					continue
				}
				md, err := adm.ControllerMetadata(ctx, a)
				if err == nil && md.IsLeader {
					idx = i
					return true
				}
			}
			return false
		})
		return idx
	}
	leader()

	bc, err := client.New(client.Config{Addrs: addrs, Cluster: "DefaultCluster", BrokerName: "broker-a",
		BrokerID: 0, BrokerAddr: "127.0.0.1:10911", HAAddr: "127.0.0.1:10912", HeartbeatTimeout: 3 * time.Second}, nil)
	require.NoError(t, err)
	defer bc.Close()
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		_ = bc.Run(runCtx, 200*time.Millisecond, func() client.Progress { return client.Progress{MaxOffset: 42} })
	}()
	defer func() { stopRun(); <-runDone }()
	poll.Until(t, 30*time.Second, "the broker is master", func() bool {
		v, ok := bc.Latest()
		return ok && v.IsMaster(0) && v.MasterEpoch == 1
	})

	// SIGTERM to the leader: it exits 0, another leads with the state.
	l := leader()
	require.NoError(t, procs[l].stop(syscall.SIGTERM, 30*time.Second))
	require.Contains(t, procs[l].output(), "msg=stopped")
	procs[l] = nil
	leader()
	sets, err := adm.SyncStateData(ctx, addrs, "DefaultCluster", "broker-a")
	require.NoError(t, err)
	require.Len(t, sets, 1)
	require.Equal(t, int64(0), sets[0].MasterBrokerID)
	require.Equal(t, int32(1), sets[0].MasterEpoch)

	// The stopped one comes back; another is killed and restarted from its
	// store.
	procs[l] = startNode(l)
	k := (l + 1) % 3
	require.NoError(t, procs[k].cmd.Process.Kill())
	_ = procs[k].wait(30 * time.Second)
	procs[k] = startNode(k)
	leader()
	ri, err := adm.BrokerSetInfo(ctx, addrs, "", "broker-a")
	require.NoError(t, err)
	require.Equal(t, int64(0), ri.MasterBrokerID)
	require.Equal(t, "127.0.0.1:10912", ri.MasterHAAddress)

	for i, p := range procs {
		require.NoError(t, p.stop(syscall.SIGTERM, 30*time.Second), "controller %d", i)
		require.Contains(t, p.output(), "msg=stopped")
	}
}
