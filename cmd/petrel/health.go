package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// defaultHealthAddrs are what `petrel health` asks when given no --addr: a
// broker on its default port, else a name server on its own. The first address
// that accepts a connection decides.
var defaultHealthAddrs = []string{"127.0.0.1:10911", "127.0.0.1:9876"}

func newHealthCmd() *cobra.Command {
	var addrs []string
	var httpAddr string
	var timeout time.Duration
	var sec *clientSecurity
	cmd := &cobra.Command{
		Use:   "health [--addr HOST:PORT]... [--timeout 3s]",
		Short: "Ask a running name server or broker whether it is ready (exit 0) or not (exit 1)",
		Long: "Ask a running server whether it is ready, for container health checks and\n" +
			"scripts. A broker is ready when it answers GET_BROKER_RUNTIME_INFO (it listens\n" +
			"only once its store is recovered); a name server when it answers\n" +
			"GET_ALL_TOPIC_LIST_FROM_NAMESERVER. Addresses are tried in order and the first\n" +
			"that accepts a connection decides; by default a broker on 127.0.0.1:10911, then\n" +
			"a name server on 127.0.0.1:9876. With --http HOST:PORT it asks a broker's metrics\n" +
			"endpoint (metricsPromExporterPort) for /readyz instead: ready means the store is\n" +
			"recovered, a name server accepted the broker's registration and the store reports\n" +
			"no problem. Prints one line: \"ok: ...\" (exit 0) or the reason it is not ready\n" +
			"(exit 1). A broker with aclEnable=true that refuses the request (no or wrong\n" +
			"--access-key/--secret-key) is reported ready without figures: it answered, so it\n" +
			"is up. --tls connects over TLS.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return errors.New("--timeout must be positive")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if httpAddr != "" {
				msg, err := checkReadyz(ctx, httpAddr)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "ok: "+msg)
				return nil
			}
			cfg, err := sec.remotingConfig(remoting.DefaultClientConfig())
			if err != nil {
				return err
			}
			msg, err := checkHealth(ctx, cfg, addrs)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "ok: "+msg)
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&addrs, "addr", defaultHealthAddrs, "server address, HOST:PORT (repeat or comma-separate to try several in order)")
	cmd.Flags().StringVar(&httpAddr, "http", "", "ask the metrics endpoint's /readyz at HOST:PORT instead (e.g. 127.0.0.1:5557)")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	sec = addClientSecurityFlags(cmd.Flags())
	return cmd
}

// checkHealth asks the servers at addrs, in order, whether they are ready.
// An address that refuses the connection passes the question to the next; the
// first that accepts decides. It returns a one-line description of the ready
// server, or an error saying why none is ready.
func checkHealth(ctx context.Context, cfg remoting.ClientConfig, addrs []string) (string, error) {
	if len(addrs) == 0 {
		return "", errors.New("no address to check (--addr)")
	}
	if d, ok := ctx.Deadline(); ok {
		cfg.DialTimeout = time.Until(d)
	}
	cl := remoting.NewClient(cfg, slog.New(slog.DiscardHandler))
	defer cl.Close()
	var refused []string
	for _, addr := range addrs {
		msg, err := askServer(ctx, cl, addr)
		if errors.Is(err, syscall.ECONNREFUSED) {
			refused = append(refused, addr)
			continue
		}
		return msg, err
	}
	return "", fmt.Errorf("not ready: nothing listens on %s (connection refused)", strings.Join(refused, ", "))
}

// askServer asks addr for broker runtime info and, if it is a name server
// (which does not serve that code), for its topic list.
func askServer(ctx context.Context, cl *remoting.Client, addr string) (string, error) {
	resp, err := cl.Invoke(ctx, addr, protocol.NewRequest(protocol.GetBrokerRuntimeInfo, nil))
	if err != nil {
		return "", notReady(ctx, addr, err)
	}
	switch resp.ResponseCode() {
	case protocol.Success:
		var kv struct {
			Table map[string]string `json:"table"`
		}
		if err := json.Unmarshal(resp.Body, &kv); err != nil {
			return "", fmt.Errorf("not ready: broker at %s answered runtime info that does not decode: %v", addr, err)
		}
		up := ""
		if ms, err := strconv.ParseInt(kv.Table["bootTimestamp"], 10, 64); err == nil && ms > 0 {
			up = ", up " + time.Since(time.UnixMilli(ms)).Round(time.Second).String()
		}
		return fmt.Sprintf("broker at %s is ready (%s messages stored%s)", addr, orUnknown(kv.Table["msgPutTotalTodayNow"]), up), nil
	case protocol.NoPermission:
		return fmt.Sprintf("broker at %s is ready (ACL on; sign with --access-key/--secret-key for figures)", addr), nil
	case protocol.RequestCodeNotSupported:
	default:
		return "", fmt.Errorf("not ready: %s answered runtime info with %v", addr, protocol.ResponseError(resp))
	}
	resp, err = cl.Invoke(ctx, addr, protocol.NewRequest(protocol.GetAllTopicListFromNameServer, nil))
	if err != nil {
		return "", notReady(ctx, addr, err)
	}
	if resp.ResponseCode() != protocol.Success {
		return "", fmt.Errorf("not ready: %s answered the topic list with %v", addr, protocol.ResponseError(resp))
	}
	var tl struct {
		TopicList []string `json:"topicList"`
	}
	if err := json.Unmarshal(resp.Body, &tl); err != nil {
		return "", fmt.Errorf("not ready: name server at %s answered a topic list that does not decode: %v", addr, err)
	}
	return fmt.Sprintf("name server at %s is ready (%d topics)", addr, len(tl.TopicList)), nil
}

// notReady describes a failed call; a refused connection stays matchable
// (errors.Is ECONNREFUSED) so the caller tries the next address.
func notReady(ctx context.Context, addr string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("not ready: %s did not answer in time", addr)
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return err
	}
	return fmt.Errorf("not ready: %s: %w", addr, err)
}

func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

// checkReadyz asks the metrics endpoint at addr ("host:port") for /readyz.
func checkReadyz(ctx context.Context, addr string) (string, error) {
	url := "http://" + addr + "/readyz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("--http %q: %w", addr, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("not ready: %s did not answer in time", url)
		}
		return "", fmt.Errorf("not ready: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	text := strings.TrimSpace(string(b))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("not ready: %s answered %d: %s", url, resp.StatusCode, text)
	}
	return "broker at " + addr + " is " + text, nil
}
