//go:build docker

package docker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil/poll"
	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/consumer"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// TestFailoverCompose runs deploy/failover.yml as an operator would: three
// name servers with controllers embedded and one broker set of three
// replicas in controller mode, on a Docker network. The master's container is
// killed (SIGKILL): another replica becomes master, sends resume, every
// acknowledged message is read back; the killed container is started again
// and rejoins the SyncStateSet.
func TestFailoverCompose(t *testing.T) {
	compose := requireDocker(t)
	img := buildImage(t)
	t0 := time.Now()
	dir := t.TempDir()
	copyDir(t, filepath.Join(repoRoot(t), "deploy"), dir)
	services := []string{"ns-0", "ns-1", "ns-2", "broker-a-1", "broker-a-2", "broker-a-3"}
	nsPorts := []int{freePort(t), freePort(t), freePort(t)}
	var nameServers []string
	for _, p := range nsPorts {
		nameServers = append(nameServers, fmt.Sprintf("127.0.0.1:%d", p))
	}
	p := &project{t: t, compose: compose, file: filepath.Join(dir, "failover.yml"), env: []string{
		fmt.Sprintf("COMPOSE_PROJECT_NAME=petrelfo%d", os.Getpid()),
		"PETREL_IMAGE=" + img,
		fmt.Sprintf("NAMESRV_0_PORT=%d", nsPorts[0]),
		fmt.Sprintf("NAMESRV_1_PORT=%d", nsPorts[1]),
		fmt.Sprintf("NAMESRV_2_PORT=%d", nsPorts[2]),
	}}
	t.Cleanup(func() {
		if t.Failed() {
			for _, s := range services {
				out, _ := p.run(30*time.Second, "logs", "--no-color", "--tail", "80", s)
				t.Logf("%s log (tail):\n%s", s, out)
			}
		}
		if out, err := p.run(3*time.Minute, "down", "-v", "--timeout", "30"); err != nil {
			t.Errorf("compose down: %v\n%s", err, out)
		}
		t.Logf("whole test %v", time.Since(t0).Round(time.Second))
	})
	p.mustRun(3*time.Minute, append([]string{"up", "-d"}, services...)...)
	p.waitHealthy(2*time.Minute, services...)

	ip := func(s string) string {
		for _, n := range inspect(t, p.id(s)).NetworkSettings.Networks {
			return n.IPAddress
		}
		return ""
	}
	var controllers []string
	for _, s := range services[:3] {
		controllers = append(controllers, ip(s)+":9878")
	}
	replicaService := map[int64]string{}
	for i := int64(1); i <= 3; i++ {
		replicaService[i] = "broker-a-" + strconv.FormatInt(i, 10)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	adm, err := admin.New(client.NameServers(nameServers...))
	require.NoError(t, err)
	t.Cleanup(func() { _ = adm.Close() })
	set := func() *body.ReplicaInfo {
		c, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		ri, err := adm.BrokerSetInfo(c, controllers, "DefaultCluster", "broker-a")
		if err != nil {
			return nil
		}
		return ri
	}
	var ri *body.ReplicaInfo
	poll.Until(t, 2*time.Minute, "a master and three replicas in the SyncStateSet", func() bool {
		ri = set()
		return ri != nil && ri.MasterBrokerID != body.NoMasterID && len(ri.SyncStateSet) == 3
	})
	t.Logf("master: replica %d (epoch %d) after %v", ri.MasterBrokerID, ri.MasterEpoch, time.Since(t0).Round(100*time.Millisecond))

	topic := fmt.Sprintf("FailoverCompose%d", time.Now().UnixNano())
	require.NoError(t, adm.CreateTopicInCluster(ctx, "DefaultCluster", admin.TopicSpec{Topic: topic, ReadQueues: 4, WriteQueues: 4}))
	prod, err := producer.New(client.NameServers(nameServers...), producer.Group("fo-compose"), producer.SendTimeout(3*time.Second))
	require.NoError(t, err)
	require.NoError(t, prod.Start(ctx))
	t.Cleanup(func() { _ = prod.Close() })
	var acked []string
	send := func(prefix string, n int) {
		for i := range n {
			b := prefix + strconv.Itoa(i)
			c, cancel := context.WithTimeout(ctx, 10*time.Second)
			res, err := prod.Send(c, producer.NewMessage(topic, []byte(b)))
			cancel()
			if err == nil && res.Status == producer.SendOK {
				acked = append(acked, b)
			}
		}
	}
	send("before-", 300)
	require.Len(t, acked, 300)

	old := replicaService[ri.MasterBrokerID]
	killed := time.Now()
	p.mustRun(time.Minute, "kill", "-s", "SIGKILL", old)
	var nri *body.ReplicaInfo
	poll.Until(t, time.Minute, "a new master", func() bool {
		nri = set()
		return nri != nil && nri.MasterEpoch > ri.MasterEpoch && nri.MasterBrokerID != body.NoMasterID
	})
	t.Logf("%s killed: replica %d elected (epoch %d) after %v", old, nri.MasterBrokerID, nri.MasterEpoch,
		time.Since(killed).Round(100*time.Millisecond))
	poll.Until(t, time.Minute, "a send acknowledged by the new master", func() bool {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		res, err := prod.Send(c, producer.NewMessage(topic, []byte("probe")))
		return err == nil && res.Status == producer.SendOK
	})
	t.Logf("first acknowledged send %v after the kill", time.Since(killed).Round(100*time.Millisecond))
	n := len(acked)
	send("after-", 300)
	require.Len(t, acked, n+300)

	// Every acknowledged message is read back.
	var mu sync.Mutex
	got := map[string]bool{}
	pc, err := consumer.NewPush(client.NameServers(nameServers...), consumer.Group("fo-compose-reader"),
		consumer.FromWhere(consumer.ConsumeFromFirstOffset))
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, consumer.Tag("*"),
		consumer.Concurrently(func(_ context.Context, msgs []*message.MessageExt) consumer.ConsumeResult {
			mu.Lock()
			for _, m := range msgs {
				got[string(m.Body)] = true
			}
			mu.Unlock()
			return consumer.ConsumeSuccess
		})))
	require.NoError(t, pc.Start(ctx))
	t.Cleanup(func() { _ = pc.Close() })
	poll.Until(t, 2*time.Minute, "every acknowledged message read back", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, b := range acked {
			if !got[b] {
				return false
			}
		}
		return true
	})

	// The killed replica comes back as a slave and rejoins.
	p.mustRun(time.Minute, "start", old)
	poll.Until(t, 2*time.Minute, "the old master back in the SyncStateSet", func() bool {
		r := set()
		return r != nil && r.MasterEpoch == nri.MasterEpoch && len(r.SyncStateSet) == 3
	})
}
