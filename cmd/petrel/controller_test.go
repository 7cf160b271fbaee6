package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/controller"
	"github.com/petrelmq/petrel/internal/testutil/poll"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// controller.conf takes RocketMQ 5.x's keys, with the same rules as the other
// servers' files: unknown keys stop the start, bad values point at the line.
func TestControllerConfig(t *testing.T) {
	dir := t.TempDir()
	good := []string{
		"controllerDLegerGroup=group1",
		"controllerDLegerPeers=n0-127.0.0.1:9877;n1-127.0.0.1:9878;n2-127.0.0.1:9879",
		"controllerDLegerSelfId=n1",
		"controllerStorePath=" + dir,
		"enableElectUncleanMaster=false",
		"notifyBrokerRoleChanged=true",
		"scanNotActiveBrokerInterval=2000",
		"controllerThreadPoolNums=4",
		"mappedFileSize=1073741824",
		"listenPort=19876",
	}
	conf := writeConf(t, "controller.conf", good...)
	log, buf := bufLogger()
	cfg, ld, err := loadControllerConfig(log, conf)
	require.NoError(t, err)
	require.Equal(t, conf, ld.source)
	require.Equal(t, "group1", cfg.Group)
	require.Equal(t, []controller.Peer{{ID: "n0", Addr: "127.0.0.1:9877"}, {ID: "n1", Addr: "127.0.0.1:9878"},
		{ID: "n2", Addr: "127.0.0.1:9879"}}, cfg.Peers)
	require.Equal(t, "n1", cfg.SelfID)
	require.Equal(t, dir, cfg.StorePath)
	require.Equal(t, 2*time.Second, cfg.ScanInterval)
	require.Equal(t, 4, cfg.Workers)
	require.True(t, cfg.NotifyBrokerRoleChanged)
	require.Contains(t, buf.String(), `msg="configuration key has no effect in Petrel" key=mappedFileSize`)
	require.Contains(t, buf.String(), `msg="configuration key has no effect in Petrel" key=listenPort`)
	require.ErrorIs(t, runCmd(t, "controller", "-c", conf), errLoaded)

	bad := writeConf(t, "controller.conf", append(good, "controllerDLegerPers=n0-127.0.0.1:1")...)
	require.EqualError(t, runCmd(t, "controller", "-c", bad),
		bad+":11: unknown key controllerDLegerPers (did you mean controllerDLegerPeers?)")
	bad = writeConf(t, "controller.conf", append(good, "controllerDLegerSelfId=n7")...)
	require.EqualError(t, runCmd(t, "controller", "-c", bad),
		bad+`:11: key controllerDLegerSelfId: "n7" is not one of the ids in controllerDLegerPeers (n0-127.0.0.1:9877;n1-127.0.0.1:9878;n2-127.0.0.1:9879)`)
	bad = writeConf(t, "controller.conf", append(good, "controllerDLegerPeers=n0-127.0.0.1:9877;n1-nohost")...)
	require.EqualError(t, runCmd(t, "controller", "-c", bad),
		bad+`:11: key controllerDLegerPeers: peer "n1-nohost": "nohost" is not host:port`)
	acl := writeConf(t, "controller.conf", append(good, "aclEnable=true", "aclFilePath="+filepath.Join(dir, "acl.yml"))...)
	require.ErrorContains(t, runCmd(t, "controller", "-c", acl), "key accessKey: is needed with aclEnable=true")
	acl = writeConf(t, "controller.conf", append(good, "aclEnable=true", "aclFilePath="+filepath.Join(dir, "acl.yml"),
		"accessKey=adminKey1", "secretKey=adminSecret1")...)
	require.ErrorContains(t, runCmd(t, "controller", "-c", acl), "aclEnable=true", "a missing ACL file stops the start")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "acl.yml"), []byte("accounts:\n  - accessKey: adminKey1\n    secretKey: adminSecret1\n    admin: true\n"), 0o600))
	cfg, _, err = loadControllerConfig(slog.New(slog.DiscardHandler), acl)
	require.NoError(t, err)
	require.True(t, cfg.ACLEnable)
	require.Equal(t, filepath.Join(dir, "acl.yml"), cfg.ACLPath())
	require.Equal(t, "adminKey1", cfg.Credentials.AccessKey)
	bad = writeConf(t, "controller.conf", "controllerDLegerPeers=n0-127.0.0.1:9877", "controllerDLegerSelfId=n0")
	require.EqualError(t, runCmd(t, "controller", "-c", bad),
		"controller: config: key controllerDLegerGroup: is empty: name the controllers' Raft group")
}

// The name server runs a controller with enableControllerInNamesrv=true,
// configured by the same file; without it, controller keys warn.
func TestNamesrvEmbedsController(t *testing.T) {
	ctl := []string{
		"controllerDLegerGroup=group1",
		"controllerDLegerPeers=n0-127.0.0.1:9877",
		"controllerDLegerSelfId=n0",
		"controllerStorePath=" + t.TempDir(),
	}
	conf := writeConf(t, "namesrv.conf", append([]string{"kvConfigPath=" + filepath.Join(t.TempDir(), "kv.json")}, ctl...)...)
	log, buf := bufLogger()
	ns, cc, _, err := loadNamesrvConfig(log, conf, nil)
	require.NoError(t, err)
	require.False(t, ns.EnableControllerInNamesrv)
	require.Equal(t, "group1", cc.Group)
	require.Contains(t, buf.String(), `msg="configuration key has no effect without enableControllerInNamesrv=true" key=controllerDLegerGroup`)

	on := writeConf(t, "namesrv.conf", append([]string{"enableControllerInNamesrv=true"}, ctl...)...)
	ns, cc, _, err = loadNamesrvConfig(slog.New(slog.DiscardHandler), on, nil)
	require.NoError(t, err)
	require.True(t, ns.EnableControllerInNamesrv)
	require.Equal(t, "n0", cc.SelfID)
	require.False(t, cc.ACLEnable)
	require.Equal(t, ns.ACLPath(), cc.ACLPath(), "the embedded controller reads the name server's ACL file")

	bad := writeConf(t, "namesrv.conf", "enableControllerInNamesrv=true", "controllerDLegerGroup=g")
	require.EqualError(t, runCmd(t, "namesrv", "-c", bad),
		"controller: config: key controllerDLegerPeers: is empty: list every controller as id-host:port;...")
}

// `petrel namesrv` with the embedded controller starts both: the name server,
// then a one-node controller group that elects itself; both stop cleanly.
func TestNamesrvEmbeddedControllerRuns(t *testing.T) {
	ctlAddr := freeAddr(t)
	conf := writeConf(t, "namesrv.conf",
		"kvConfigPath="+filepath.Join(t.TempDir(), "kv.json"),
		"enableControllerInNamesrv=true",
		"controllerDLegerGroup=group1",
		"controllerDLegerPeers=n0-"+ctlAddr,
		"controllerDLegerSelfId=n0",
		"controllerListenAddr="+ctlAddr,
		"controllerStorePath="+t.TempDir())
	var started []string
	runServers = func(_ *slog.Logger, comps ...component) error {
		defer func() {
			for i := len(comps) - 1; i >= 0; i-- {
				require.NoError(t, comps[i].Close())
			}
		}()
		for _, c := range comps {
			if err := c.Start(context.Background()); err != nil {
				return err
			}
			started = append(started, fmt.Sprintf("%T", c.(*loggedStart).component))
		}
		s := comps[1].(*loggedStart).component.(*controller.Server)
		poll.Until(t, 30*time.Second, "the embedded controller leads its one-node group", s.IsLeader)
		return nil
	}
	defer func() { runServers = runUntilSignal }()
	root := newRootCmd()
	root.SetArgs([]string{"--log-level", "error", "namesrv", "-c", conf, "--listen", "127.0.0.1:0"})
	require.NoError(t, root.Execute())
	require.Equal(t, []string{"*namesrv.Server", "*controller.Server"}, started)
}
