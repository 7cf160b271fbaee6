package integration

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/apache/rocketmq-client-go/v2/rlog"
)

// offsetDirEnv is where rocketmq-client-go keeps broadcasting consumers' offsets.
// It reads the variable once, at package init, so TestMain re-runs the test
// binary with it pointing at a temporary directory instead of $HOME.
const offsetDirEnv = "rocketmq.client.localOffsetStoreDir"

func TestMain(m *testing.M) {
	if os.Getenv(offsetDirEnv) == "" {
		os.Exit(reexec())
	}
	rlog.SetLogLevel("error")
	os.Exit(m.Run())
}

func reexec() int {
	dir, err := os.MkdirTemp("", "petrel-integration-offsets-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), offsetDirEnv+"="+dir)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	return 0
}
