package commitlog

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/message"
)

// childEnv names the directory a re-executed test binary appends to.
const childEnv = "COMMITLOG_KILL_CHILD_DIR"

func killConfig(dir string) Config {
	return Config{Dir: dir, SegmentSize: 64 << 10, MaxMessageSize: 8 << 10, FlushMode: FlushSync}
}

// runChild appends records with SYNC_FLUSH forever, printing "i off ts" for each
// acknowledged one, until it is killed.
func runChild() int {
	dir := os.Getenv(childEnv)
	l, err := Open(vfs.OS, killConfig(dir), RecoverOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := l.Start(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		rec, err := recordBytes(i, 100+i%900)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		res, err := l.Append(context.Background(), rec, nil)
		if err == nil {
			err = l.Sync(context.Background(), res.End)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Fprintf(w, "%d %d %d\n", i, res.Offset, res.StoreTimestamp)
		w.Flush()
	}
}

// TestKill9 re-executes the test binary to append with SYNC_FLUSH, kills it with
// SIGKILL mid-stream, reopens the log and checks every acknowledged record.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess test")
	}
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "commitlog")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	type ack struct {
		i   int
		off message.PhysOffset
		ts  int64
	}
	var acks []ack
	sc := bufio.NewScanner(out)
	deadline := time.Now().Add(30 * time.Second)
	for sc.Scan() && len(acks) < 300 && time.Now().Before(deadline) {
		f := strings.Fields(sc.Text())
		require.Len(t, f, 3)
		i, _ := strconv.Atoi(f[0])
		off, _ := strconv.ParseInt(f[1], 10, 64)
		ts, _ := strconv.ParseInt(f[2], 10, 64)
		acks = append(acks, ack{i, message.PhysOffset(off), ts})
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	// Acks printed before the kill landed still count.
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			break // a line cut by the kill
		}
		i, _ := strconv.Atoi(f[0])
		off, _ := strconv.ParseInt(f[1], 10, 64)
		ts, _ := strconv.ParseInt(f[2], 10, 64)
		acks = append(acks, ack{i, message.PhysOffset(off), ts})
	}
	_ = cmd.Wait()
	require.GreaterOrEqual(t, len(acks), 50, "the child acknowledged too little")

	l, err := Open(vfs.OS, killConfig(dir), RecoverOptions{})
	require.NoError(t, err)
	defer l.Close()
	for _, a := range acks {
		rec, err := recordBytes(a.i, 100+a.i%900)
		require.NoError(t, err)
		got, err := l.ReadRecord(nil, a.off)
		require.NoError(t, err, "ack %d at %d", a.i, a.off)
		require.Equal(t, expected(rec, a.off, a.ts, 0), got)
	}
	t.Logf("%d acknowledged records survived SIGKILL; log ends at %d", len(acks), l.MaxOffset())
}
