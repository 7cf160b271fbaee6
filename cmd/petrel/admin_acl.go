package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/petrelmq/petrel/pkg/admin"
)

// ACL commands (RocketMQ 4.9's plain ACL): updateAclConfig, deleteAclConfig,
// updateGlobalWhiteAddr, clusterAclConfigVersion and getAclConfig (alias
// getAccessConfigSubCommand). They need an admin account's keys
// (--access-key/--secret-key or $PETREL_ACCESS_KEY/$PETREL_SECRET_KEY).

func aclCommands(env *adminEnv) []*cobra.Command {
	return []*cobra.Command{
		updateACLConfigCmd(env), deleteACLConfigCmd(env), updateGlobalWhiteAddrCmd(env),
		clusterACLConfigVersionCmd(env), getACLConfigCmd(env),
	}
}

// aclCommand describes one ACL command: it takes -b brokerAddr or -c
// clusterName and sends one request to each target broker, in order,
// stopping at the first failure. What succeeded before it is printed, and
// the command then fails with the error.
type aclCommand[T any] struct {
	use, short string
	aliases    []string
	// slaves: -c reaches the cluster's slaves too, not only its masters.
	// mqadmin does so for the commands that change the file: a slave checks
	// the reads it serves against its own copy of the file.
	slaves bool
	// flags adds the command's own flags; required names those it needs.
	flags    func(fs *pflag.FlagSet)
	required []string
	// do sends the request to the broker at addr and returns what -o json
	// shows for it.
	do func(ctx context.Context, a *admin.Admin, addr string) (T, error)
	// text prints the results in mqadmin's layout; byCluster is true with -c.
	text func(w io.Writer, rs []T, byCluster bool)
}

func (c aclCommand[T]) build(env *adminEnv) *cobra.Command {
	var addr, cluster string
	cmd := &cobra.Command{
		Use:     c.use,
		Aliases: c.aliases,
		Short:   c.short,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				addrs, err := aclTargets(ctx, a, addr, cluster, c.slaves)
				if err != nil {
					return err
				}
				rs := []T{}
				var failed error
				for _, ad := range addrs {
					r, err := c.do(ctx, a, ad)
					if err != nil {
						failed = err
						break
					}
					rs = append(rs, r)
				}
				if err := env.emit(cmd, rs, func(w io.Writer) { c.text(w, rs, cluster != "") }); err != nil {
					return err
				}
				return failed
			})
		},
	}
	which := "masters"
	if c.slaves {
		which = "masters and slaves"
	}
	cmd.Flags().StringVarP(&addr, "brokerAddr", "b", "", "the broker, host:port")
	cmd.Flags().StringVarP(&cluster, "clusterName", "c", "", "every broker of this cluster ("+which+")")
	cmd.MarkFlagsOneRequired("brokerAddr", "clusterName")
	cmd.MarkFlagsMutuallyExclusive("brokerAddr", "clusterName")
	if c.flags != nil {
		c.flags(cmd.Flags())
	}
	return requireFlags(cmd, c.required...)
}

// aclTargets returns -b's address, or the brokers of -c's cluster.
func aclTargets(ctx context.Context, a *admin.Admin, addr, cluster string, slaves bool) ([]string, error) {
	if addr != "" {
		return []string{addr}, nil
	}
	bs, err := clusterBrokers(ctx, a, cluster, slaves)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Addr
	}
	return out, nil
}

// commaList splits mqadmin's comma-separated lists (-t, -g), trimming each
// item and dropping empty ones.
func commaList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ACLChange is one broker of the -o json answer of updateAclConfig,
// deleteAclConfig and updateGlobalWhiteAddr.
type ACLChange struct {
	BrokerAddr       string   `json:"brokerAddr"`
	AccessKey        string   `json:"accessKey,omitempty"`
	GlobalWhiteAddrs []string `json:"globalWhiteAddrs,omitempty"`
}

// aclChangeText prints format (one %s: the broker address) for each broker.
func aclChangeText(format string) func(w io.Writer, rs []ACLChange, _ bool) {
	return func(w io.Writer, rs []ACLChange, _ bool) {
		for _, r := range rs {
			fmt.Fprintf(w, format, r.BrokerAddr)
		}
	}
}

func updateACLConfigCmd(env *adminEnv) *cobra.Command {
	var acct admin.ACLAccount
	var topicPerms, groupPerms, adminFlag string
	return aclCommand[ACLChange]{
		use:    "updateAclConfig",
		short:  "Create or update an ACL account in the brokers' plain_acl.yml",
		slaves: true,
		flags: func(fs *pflag.FlagSet) {
			fs.StringVarP(&acct.AccessKey, "accessKey", "a", "", "the account's access key")
			fs.StringVarP(&acct.SecretKey, "secretKey", "s", "", "its secret key (required for a new account)")
			fs.StringVarP(&acct.WhiteRemoteAddress, "whiteRemoteAddress", "w", "", "addresses the account may use without a signature, eg: 192.168.0.*")
			fs.StringVarP(&acct.DefaultTopicPerm, "defaultTopicPerm", "i", "", "permission on topics not in -t: DENY, PUB, SUB or PUB|SUB")
			fs.StringVarP(&acct.DefaultGroupPerm, "defaultGroupPerm", "u", "", "permission on groups not in -g")
			fs.StringVarP(&topicPerms, "topicPerms", "t", "", "topic permissions, eg: topicA=DENY,topicD=SUB")
			fs.StringVarP(&groupPerms, "groupPerms", "g", "", "group permissions, eg: groupD=DENY,groupD=SUB")
			fs.StringVarP(&adminFlag, "admin", "m", "false", "whether the account is an admin (true or false; unset means false, as in mqadmin)")
		},
		required: []string{"accessKey"},
		do: func(ctx context.Context, a *admin.Admin, addr string) (ACLChange, error) {
			isAdmin, err := parseBool("m", adminFlag)
			if err != nil {
				return ACLChange{}, err
			}
			acct := acct
			acct.Admin, acct.TopicPerms, acct.GroupPerms = isAdmin, commaList(topicPerms), commaList(groupPerms)
			return ACLChange{BrokerAddr: addr, AccessKey: acct.AccessKey}, a.UpdateACLAccount(ctx, addr, acct)
		},
		text: aclChangeText("create or update plain access config to %s success.\n"),
	}.build(env)
}

func deleteACLConfigCmd(env *adminEnv) *cobra.Command {
	var accessKey string
	return aclCommand[ACLChange]{
		use:     "deleteAclConfig",
		aliases: []string{"deleteAccessConfig"},
		short:   "Delete an ACL account from the brokers' plain_acl.yml",
		slaves:  true,
		flags: func(fs *pflag.FlagSet) {
			fs.StringVarP(&accessKey, "accessKey", "a", "", "the access key of the account to delete")
		},
		required: []string{"accessKey"},
		do: func(ctx context.Context, a *admin.Admin, addr string) (ACLChange, error) {
			return ACLChange{BrokerAddr: addr, AccessKey: accessKey}, a.DeleteACLAccount(ctx, addr, accessKey)
		},
		text: func(w io.Writer, rs []ACLChange, _ bool) {
			for _, r := range rs {
				fmt.Fprintf(w, "delete plain access config account from %s success.\naccount's accesskey is:%s\n", r.BrokerAddr, r.AccessKey)
			}
		},
	}.build(env)
}

func updateGlobalWhiteAddrCmd(env *adminEnv) *cobra.Command {
	var addrs, file string
	return aclCommand[ACLChange]{
		use:    "updateGlobalWhiteAddr",
		short:  "Replace the addresses whose requests need no signature (globalWhiteRemoteAddresses)",
		slaves: true,
		flags: func(fs *pflag.FlagSet) {
			fs.StringVarP(&addrs, "globalWhiteRemoteAddresses", "g", "", "the address list, eg: 10.10.103.*,192.168.0.*")
			fs.StringVarP(&file, "aclFileFullPath", "p", "", "the ACL file to change (a Petrel broker has one: its plain_acl.yml)")
		},
		required: []string{"globalWhiteRemoteAddresses"},
		do: func(ctx context.Context, a *admin.Admin, addr string) (ACLChange, error) {
			list := commaList(addrs)
			return ACLChange{BrokerAddr: addr, GlobalWhiteAddrs: list}, a.SetACLGlobalWhiteAddrs(ctx, addr, file, list)
		},
		text: aclChangeText("update global white remote addresses to %s success.\n"),
	}.build(env)
}

func clusterACLConfigVersionCmd(env *adminEnv) *cobra.Command {
	const row = "%-16s  %-22s  %-22s  %-20s  %-22s  %-22s\n"
	return aclCommand[*admin.ACLVersion]{
		use:   "clusterAclConfigVersion",
		short: "Print the data version of the brokers' ACL file",
		do: func(ctx context.Context, a *admin.Admin, addr string) (*admin.ACLVersion, error) {
			return a.ACLVersion(ctx, addr)
		},
		text: func(w io.Writer, rs []*admin.ACLVersion, byCluster bool) {
			// mqadmin prints the header with -c only.
			if byCluster {
				fmt.Fprintf(w, row, "#Cluster Name", "#Broker Name", "#Broker Addr", "#AclFilePath", "#AclConfigVersionNum", "#AclLastUpdateTime")
			}
			for _, v := range rs {
				for _, path := range slices.Sorted(maps.Keys(v.Files)) {
					dv := v.Files[path]
					fmt.Fprintf(w, row, v.ClusterName, v.BrokerName, v.BrokerAddr, path, fmt.Sprint(dv.Counter), dateTime(dv.Timestamp))
				}
			}
			if byCluster {
				fmt.Fprintln(w, "get cluster's plain access config version success.")
			} else {
				fmt.Fprintln(w, "get broker's plain access config version success.")
			}
		},
	}.build(env)
}

// ACLBrokerConfig is one broker of getAclConfig -o json: its global white
// addresses and accounts, secret keys masked by the broker.
type ACLBrokerConfig struct {
	BrokerAddr string `json:"brokerAddr"`
	*admin.ACLConfig
}

func getACLConfigCmd(env *adminEnv) *cobra.Command {
	return aclCommand[ACLBrokerConfig]{
		use:     "getAclConfig",
		aliases: []string{"getAccessConfigSubCommand"},
		short:   "Print the brokers' ACL file: global white addresses and accounts (secret keys masked)",
		do: func(ctx context.Context, a *admin.Admin, addr string) (ACLBrokerConfig, error) {
			c, err := a.ACLConfig(ctx, addr)
			return ACLBrokerConfig{BrokerAddr: addr, ACLConfig: c}, err
		},
		text: func(w io.Writer, rs []ACLBrokerConfig, _ bool) {
			for _, r := range rs {
				fmt.Fprintf(w, "\n%-20s: %s\n\naccounts:\n", "globalWhiteRemoteAddresses", javaList(r.GlobalWhiteAddrs))
				for _, ac := range r.Accounts {
					for _, f := range [][2]string{
						{"accessKey", ac.AccessKey}, {"secretKey", ac.SecretKey}, {"whiteRemoteAddress", ac.WhiteRemoteAddress},
						{"admin", fmt.Sprint(ac.Admin)}, {"defaultTopicPerm", ac.DefaultTopicPerm}, {"defaultGroupPerm", ac.DefaultGroupPerm},
						{"topicPerms", javaList(ac.TopicPerms)}, {"groupPerms", javaList(ac.GroupPerms)},
					} {
						fmt.Fprintf(w, "  %-18s: %s\n", f[0], f[1])
					}
					fmt.Fprintln(w)
				}
			}
		},
	}.build(env)
}

// javaList renders a list as Java's List.toString does ("[a, b]"), and a
// missing one (nil) as mqadmin prints a null field: "".
func javaList(l []string) string {
	if l == nil {
		return ""
	}
	return "[" + strings.Join(l, ", ") + "]"
}
