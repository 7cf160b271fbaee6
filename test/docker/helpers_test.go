//go:build docker

package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/testutil/poll"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// requireDocker skips t unless the docker daemon answers, and returns the
// compose command: `docker compose` (v2) or `docker-compose` (v1).
func requireDocker(t *testing.T) []string {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker is not installed")
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Skipf("docker info fails, so there is no Docker daemon to test with: %v: %s", err, bytes.TrimSpace(out))
	}
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if exec.Command("docker-compose", "version").Run() == nil {
		return []string{"docker-compose"}
	}
	t.Skip("neither `docker compose` nor `docker-compose` is installed")
	return nil
}

// run runs name with args (env added to this process's environment) and
// returns its combined output, and an error naming the command on a non-zero
// exit or when it runs longer than timeout.
func run(t *testing.T, timeout time.Duration, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return string(out), fmt.Errorf("%s %s: did not finish within %v", name, strings.Join(args, " "), timeout)
	}
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

func mustRun(t *testing.T, timeout time.Duration, env []string, name string, args ...string) string {
	t.Helper()
	out, err := run(t, timeout, env, name, args...)
	require.NoError(t, err)
	return out
}

// repoRoot is the repository's top directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	return root
}

// imageConfig is the part of `docker image inspect` the tests check.
type imageConfig struct {
	Size   int64
	Config struct {
		User         string
		Entrypoint   []string
		Cmd          []string
		StopSignal   string
		WorkingDir   string
		Env          []string
		Volumes      map[string]struct{}
		ExposedPorts map[string]struct{}
		Healthcheck  struct{ Test []string }
	}
}

func inspectImage(t *testing.T, image string) imageConfig {
	t.Helper()
	out := mustRun(t, 30*time.Second, nil, "docker", "image", "inspect", image)
	var cfgs []imageConfig
	require.NoError(t, json.Unmarshal([]byte(out), &cfgs))
	require.Len(t, cfgs, 1)
	return cfgs[0]
}

// freePort returns a port that was free a moment ago on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

// copyDir copies the regular files under src to dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	}))
}

// project is a compose project brought up from a copy of deploy/.
type project struct {
	t       *testing.T
	compose []string // the compose command
	file    string   // the compose file
	env     []string // COMPOSE_PROJECT_NAME, PETREL_IMAGE, ports
}

func (p *project) run(timeout time.Duration, args ...string) (string, error) {
	p.t.Helper()
	all := append(append(append([]string{}, p.compose[1:]...), "-f", p.file), args...)
	return run(p.t, timeout, p.env, p.compose[0], all...)
}

func (p *project) mustRun(timeout time.Duration, args ...string) string {
	p.t.Helper()
	out, err := p.run(timeout, args...)
	require.NoError(p.t, err)
	return out
}

// id returns the container id of service.
func (p *project) id(service string) string {
	p.t.Helper()
	id := strings.TrimSpace(p.mustRun(30*time.Second, "ps", "-q", service))
	require.NotEmpty(p.t, id, "no container for %s", service)
	return id
}

// containerState is the part of `docker inspect` the tests read.
type containerState struct {
	State struct {
		Status   string
		Running  bool
		ExitCode int
		Health   *struct{ Status string }
	}
	NetworkSettings struct {
		Networks map[string]struct{ IPAddress string }
	}
	HostConfig struct {
		Memory int64
	}
}

func inspect(t *testing.T, id string) containerState {
	t.Helper()
	out := mustRun(t, 30*time.Second, nil, "docker", "inspect", id)
	var cs []containerState
	require.NoError(t, json.Unmarshal([]byte(out), &cs))
	require.Len(t, cs, 1)
	return cs[0]
}

// waitHealthy waits until every service's container reports healthy.
func (p *project) waitHealthy(timeout time.Duration, services ...string) {
	p.t.Helper()
	for _, s := range services {
		id := p.id(s)
		poll.Until(p.t, timeout, s+" healthy", func() bool {
			st := inspect(p.t, id).State
			if !st.Running {
				p.t.Fatalf("%s is not running (%s, exit code %d):\n%s", s, st.Status, st.ExitCode, p.logs(s))
			}
			return st.Health != nil && st.Health.Status == "healthy"
		})
	}
}

// logs returns a service's container log (stdout and stderr).
func (p *project) logs(service string) string {
	p.t.Helper()
	out, _ := run(p.t, 30*time.Second, nil, "docker", "logs", p.id(service))
	return out
}

// fileExists reports whether path exists in a (possibly stopped) container.
func fileExists(t *testing.T, id, path string) bool {
	t.Helper()
	out, err := run(t, 30*time.Second, nil, "docker", "cp", id+":"+path, "-")
	if err == nil {
		return true
	}
	require.Contains(t, strings.ToLower(out), "could not find the file", "docker cp %s: %v", path, err)
	return false
}

// brokerRuntime asks a broker for GET_BROKER_RUNTIME_INFO.
func brokerRuntime(ctx context.Context, cl *remoting.Client, addr string) (map[string]string, error) {
	resp, err := cl.Invoke(ctx, addr, protocol.NewRequest(protocol.GetBrokerRuntimeInfo, nil))
	if err != nil {
		return nil, err
	}
	if err := protocol.ResponseError(resp); err != nil {
		return nil, err
	}
	var kv struct {
		Table map[string]string `json:"table"`
	}
	if err := json.Unmarshal(resp.Body, &kv); err != nil {
		return nil, err
	}
	return kv.Table, nil
}
