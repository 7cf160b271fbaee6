package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
)

// `petrel admin <command>`: RocketMQ mqadmin's commands, with its command
// names and flag letters, over pkg/admin. Every command prints mqadmin's
// column layout by default and a JSON document with -o json (--output json
// where the command's own -o means something else, as in updateTopic).
// The commands are spread over admin_*.go by subject.

// adminEnv is what every admin command shares: the name servers, the
// output format and the call timeout.
type adminEnv struct {
	namesrv string
	timeout time.Duration
	// out is the output format of the running command ("", "json", "wide").
	out string
	// sec is --access-key/--secret-key and the --tls flags (and their
	// environment variables), for clusters with ACL or TLS on.
	sec *clientSecurity
}

func newAdminCmd() *cobra.Command {
	env := &adminEnv{}
	cmd := &cobra.Command{
		Use:   "admin <command> [flags]",
		Short: "Administer a cluster: RocketMQ mqadmin's commands, names and flags",
		Long: "Administer a Petrel (or RocketMQ 4.x) cluster with mqadmin's command names and\n" +
			"flag letters: replace `mqadmin` with `petrel admin` in a script. The name servers\n" +
			"come from -n HOST:PORT[;HOST:PORT] or the NAMESRV_ADDR environment variable.\n" +
			"Output is mqadmin's column layout; -o json (or --output json) prints a JSON\n" +
			"document with the field names listed in docs/admin.md.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.PersistentFlags().StringVarP(&env.namesrv, "namesrvAddr", "n", "", "name server address list, eg: 192.168.0.1:9876;192.168.0.2:9876 (default $NAMESRV_ADDR)")
	cmd.PersistentFlags().DurationVar(&env.timeout, "timeout", 10*time.Second, "give up a command after this long")
	env.sec = addClientSecurityFlags(cmd.PersistentFlags())
	groups := [][]*cobra.Command{
		clusterCommands(env),
		topicCommands(env),
		groupCommands(env),
		consumerCommands(env),
		messageCommands(env),
		haCommands(env),
		aclCommands(env),
	}
	for _, g := range groups {
		for _, c := range g {
			addOutputFlag(c, env)
			cmd.AddCommand(c)
		}
	}
	return cmd
}

// addOutputFlag adds --output to a command, with the shorthand -o unless
// the command uses -o itself (mqadmin's updateTopic, consumeMessage, ...).
func addOutputFlag(c *cobra.Command, env *adminEnv) {
	usage := "output format: json (the fields are listed in docs/admin.md); default: mqadmin's columns"
	if c.Flags().ShorthandLookup("o") == nil {
		c.Flags().StringVarP(&env.out, "output", "o", "", usage)
	} else {
		c.Flags().StringVar(&env.out, "output", "", usage)
	}
}

// nameServers returns the -n list, else NAMESRV_ADDR's.
func (e *adminEnv) nameServers() ([]string, error) {
	s := e.namesrv
	if s == "" {
		s = os.Getenv("NAMESRV_ADDR")
	}
	var out []string
	for _, a := range strings.Split(s, ";") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no name server: give -n HOST:PORT or set NAMESRV_ADDR")
	}
	return out, nil
}

// run opens an admin client, runs f with a context bounded by --timeout and
// closes the client. The output format is checked first.
func (e *adminEnv) run(cmd *cobra.Command, f func(ctx context.Context, a *admin.Admin) error) error {
	return e.runAt(cmd, nil, f)
}

// runAt is run for commands that talk to the addresses in direct only (the
// controllers), as mqadmin's do: without -n or NAMESRV_ADDR the client is
// pointed at direct, which it then never asks for routes.
func (e *adminEnv) runAt(cmd *cobra.Command, direct []string, f func(ctx context.Context, a *admin.Admin) error) error {
	switch e.out {
	case "", "json", "wide":
	default:
		return fmt.Errorf("unknown output format %q (want json or wide)", e.out)
	}
	ns, err := e.nameServers()
	if err != nil && len(direct) > 0 {
		ns, err = direct, nil
	}
	if err != nil {
		return err
	}
	opts, err := e.sec.clientOptions()
	if err != nil {
		return err
	}
	a, err := admin.New(append([]client.Option{client.NameServers(ns...), client.WithLogger(slog.New(slog.DiscardHandler)),
		client.InstanceName("petrel-admin-" + strconv.Itoa(os.Getpid()))}, opts...)...)
	if err != nil {
		return err
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(cmd.Context(), e.timeout)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		return err
	}
	return f(ctx, a)
}

// emit prints v as JSON with -o json, else calls text with the command's
// output.
func (e *adminEnv) emit(cmd *cobra.Command, v any, text func(w io.Writer)) error {
	w := cmd.OutOrStdout()
	if e.out == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	}
	text(w)
	return nil
}

// fastjsonPretty renders v as RocketMQ's JSON.toJSONString(v, true) does:
// keys sorted, tab indents, no space after the colon.
func fastjsonPretty(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(err.Error())
	}
	var generic any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&generic); err != nil {
		return b
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "\t")
	if err := enc.Encode(generic); err != nil {
		return b
	}
	return bytes.ReplaceAll(bytes.TrimRight(out.Bytes(), "\n"), []byte(`": `), []byte(`":`))
}

// humanTime renders Unix ms as mqadmin does (UtilAll.timeMillisToHumanString2:
// local time, "2006-01-02 15:04:05,000").
func humanTime(ms int64) string {
	return time.UnixMilli(ms).Format("2006-01-02 15:04:05,000")
}

// dateTime renders Unix ms as "2006-01-02 15:04:05" (UtilAll.YYYY_MM_DD_HH_MM_SS).
func dateTime(ms int64) string {
	return time.UnixMilli(ms).Format("2006-01-02 15:04:05")
}

// parseTimestamp reads mqadmin's timestamp forms: Unix ms, "now", or
// yyyy-MM-dd#HH:mm:ss:SSS (local time).
func parseTimestamp(s string) (time.Time, error) {
	if s == "now" {
		return time.Now(), nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	// Go reads fractional seconds only after '.' or ',': mqadmin's
	// "...:ss:SSS" becomes "...:ss.SSS".
	v := s
	if n := len(v); n > 4 && v[n-4] == ':' {
		v = v[:n-4] + "." + v[n-3:]
	}
	t, err := time.ParseInLocation("2006-01-02#15:04:05.000", v, time.Local)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad timestamp %q: want now, Unix milliseconds or yyyy-MM-dd#HH:mm:ss:SSS", s)
	}
	return t, nil
}

// parseBool reads mqadmin's true/false flag values.
func parseBool(name, s string) (bool, error) {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return false, fmt.Errorf("-%s: %q is not true or false", name, s)
	}
	return b, nil
}

// front returns s cut to at most n bytes (UtilAll.frontStringAtLeast).
func front(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// requireFlags marks flags required.
func requireFlags(c *cobra.Command, names ...string) *cobra.Command {
	for _, n := range names {
		if err := c.MarkFlagRequired(n); err != nil {
			panic("admin: " + err.Error()) // a flag name typo: a programmer error
		}
	}
	return c
}
