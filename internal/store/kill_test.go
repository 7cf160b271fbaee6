package store_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/internal/store/storetest"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/message"
)

// killChildEnv names the store directory a re-executed test binary writes to.
const killChildEnv = "STORE_KILL_CHILD_DIR"

func killConfig(root string) store.Config {
	cfg := testConfig(root, store.SyncFlush, 256<<10)
	cfg.ConsumeQueueEntriesPerFile = 64
	return cfg
}

// runKillChild puts messages with SYNC_FLUSH from four goroutines until it is
// killed, printing "i phys queueOffset" for each acknowledged one.
func runKillChild() int {
	s, err := store.Open(vfs.OS, killConfig(os.Getenv(killChildEnv)), nil, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := s.Start(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; ; i += 4 {
				res, err := storetest.PutErr(s, storetest.Msg("Kill", int32(i%3), i, 50+i%700))
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Fprintf(w, "%d %d %d\n", i, res.PhysOffset, res.QueueOffset)
				w.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return 0
}

// TestKill9 re-executes the test binary to put with SYNC_FLUSH, kills it with
// SIGKILL mid-stream, reopens the store and checks that every acknowledged
// message is present and dispatched to its queue offset.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess test")
	}
	t.Parallel()
	root := filepath.Join(t.TempDir(), "store")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+root)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	type ackLine struct {
		i    int
		phys message.PhysOffset
		qoff message.QueueOffset
	}
	parse := func(line string) (ackLine, bool) {
		f := strings.Fields(line)
		if len(f) != 3 {
			return ackLine{}, false
		}
		i, e1 := strconv.Atoi(f[0])
		p, e2 := strconv.ParseInt(f[1], 10, 64)
		q, e3 := strconv.ParseInt(f[2], 10, 64)
		return ackLine{i, message.PhysOffset(p), message.QueueOffset(q)}, e1 == nil && e2 == nil && e3 == nil
	}
	var acks []ackLine
	sc := bufio.NewScanner(out)
	deadline := time.Now().Add(30 * time.Second)
	for sc.Scan() && len(acks) < 400 && time.Now().Before(deadline) {
		a, ok := parse(sc.Text())
		require.True(t, ok, "bad line %q", sc.Text())
		acks = append(acks, a)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	for sc.Scan() { // acks printed before the kill landed count too
		if a, ok := parse(sc.Text()); ok {
			acks = append(acks, a)
		}
	}
	_ = cmd.Wait()
	require.GreaterOrEqual(t, len(acks), 50, "the child acknowledged too little")

	s, err := store.Open(vfs.OS, killConfig(root), nil, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	queues := map[int32][]*message.MessageExt{}
	for q := int32(0); q < 3; q++ {
		queues[q] = storetest.GetAll(t, s, "Kill", q, 0)
		for i, m := range queues[q] {
			require.Equal(t, message.QueueOffset(i), m.QueueOffset)
		}
	}
	for _, a := range acks {
		want := storetest.Msg("Kill", int32(a.i%3), a.i, 50+a.i%700)
		rec, err := s.LookMessageByOffset(a.phys, nil)
		require.NoError(t, err, "ack %d at %d", a.i, a.phys)
		m, _, err := message.DecodeMessage(rec)
		require.NoError(t, err)
		require.Equal(t, want.Body, m.Body)
		require.Equal(t, a.qoff, m.QueueOffset)
		q := queues[want.QueueID]
		require.Less(t, int(a.qoff), len(q), "ack %d dispatched", a.i)
		require.Equal(t, a.phys, q[a.qoff].PhysOffset)
	}
	t.Logf("%d acknowledged messages survived SIGKILL", len(acks))
}
