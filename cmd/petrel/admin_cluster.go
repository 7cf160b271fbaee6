package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// Cluster, broker and name-server commands.

func clusterCommands(env *adminEnv) []*cobra.Command {
	return []*cobra.Command{
		clusterListCmd(env), brokerStatusCmd(env), getBrokerConfigCmd(env), updateBrokerConfigCmd(env),
		writePermCmd(env, true), writePermCmd(env, false), getNamesrvConfigCmd(env), updateNamesrvConfigCmd(env),
		updateKvConfigCmd(env), deleteKvConfigCmd(env),
	}
}

// brokerAddr is one broker address of a cluster's broker set.
type brokerAddr struct {
	Cluster, Name string
	ID            int64
	Addr          string
}

// clusterBrokers lists the brokers of cluster ("" for all), sorted by
// cluster, name and id; masters only unless slaves.
func clusterBrokers(ctx context.Context, a *admin.Admin, cluster string, slaves bool) ([]brokerAddr, error) {
	ci, err := a.ClusterInfo(ctx)
	if err != nil {
		return nil, err
	}
	var out []brokerAddr
	for _, c := range slices.Sorted(maps.Keys(ci.ClusterAddrTable)) {
		if cluster != "" && c != cluster {
			continue
		}
		names := slices.Sorted(slices.Values(ci.ClusterAddrTable[c]))
		for _, name := range names {
			bd := ci.BrokerAddrTable[name]
			if bd == nil {
				continue
			}
			for _, id := range slices.Sorted(maps.Keys(bd.Addrs)) {
				if id != body.MasterID && !slaves {
					continue
				}
				out = append(out, brokerAddr{Cluster: c, Name: name, ID: id, Addr: bd.Addrs[id]})
			}
		}
	}
	if cluster != "" && len(out) == 0 {
		return nil, fmt.Errorf("cluster %q has no broker", cluster)
	}
	return out, nil
}

// targetAddrs returns -b's address, or the masters of -c's cluster.
func targetAddrs(ctx context.Context, a *admin.Admin, addr, cluster string) ([]string, error) {
	if addr != "" {
		return []string{addr}, nil
	}
	if cluster == "" {
		return nil, errors.New("give -b brokerAddr or -c clusterName")
	}
	bs, err := clusterBrokers(ctx, a, cluster, false)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Addr
	}
	return out, nil
}

// ClusterBroker is one line of clusterList -o json.
type ClusterBroker struct {
	ClusterName         string  `json:"clusterName"`
	BrokerName          string  `json:"brokerName"`
	BrokerID            int64   `json:"brokerId"`
	Addr                string  `json:"addr"`
	Version             string  `json:"version"`
	InTPS               float64 `json:"inTps"`
	OutTPS              float64 `json:"outTps"`
	SendQueueSize       int64   `json:"sendQueueSize"`
	SendQueueHeadWaitMs int64   `json:"sendQueueHeadWaitMs"`
	PullQueueSize       int64   `json:"pullQueueSize"`
	PullQueueHeadWaitMs int64   `json:"pullQueueHeadWaitMs"`
	PageCacheLockTimeMs int64   `json:"pageCacheLockTimeMs"`
	StoredHours         float64 `json:"storedHours"`
	DiskRatio           float64 `json:"diskRatio"`
	Error               string  `json:"error,omitempty"`
}

func clusterListCmd(env *adminEnv) *cobra.Command {
	var cluster string
	cmd := &cobra.Command{
		Use:   "clusterList",
		Short: "List the brokers of every cluster with their load",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				bs, err := clusterBrokers(ctx, a, cluster, true)
				if err != nil {
					return err
				}
				out := make([]ClusterBroker, 0, len(bs))
				for _, b := range bs {
					out = append(out, clusterBroker(ctx, a, b))
				}
				return env.emit(cmd, out, func(w io.Writer) {
					fmt.Fprintf(w, "%-16s  %-22s  %-4s  %-22s %-16s %19s %19s %10s %5s %6s\n",
						"#Cluster Name", "#Broker Name", "#BID", "#Addr", "#Version", "#InTPS(LOAD)", "#OutTPS(LOAD)", "#PCWait(ms)", "#Hour", "#SPACE")
					for _, b := range out {
						fmt.Fprintf(w, "%-16s  %-22s  %-4d  %-22s %-16s %19s %19s %10d %5s %6s\n",
							b.ClusterName, b.BrokerName, b.BrokerID, b.Addr, b.Version,
							fmt.Sprintf("%9.2f(%d,%dms)", b.InTPS, b.SendQueueSize, b.SendQueueHeadWaitMs),
							fmt.Sprintf("%9.2f(%d,%dms)", b.OutTPS, b.PullQueueSize, b.PullQueueHeadWaitMs),
							b.PageCacheLockTimeMs, fmt.Sprintf("%2.2f", b.StoredHours), fmt.Sprintf("%.4f", b.DiskRatio))
					}
				})
			})
		},
	}
	cmd.Flags().StringVarP(&cluster, "clusterName", "c", "", "only this cluster (Petrel)")
	return cmd
}

func clusterBroker(ctx context.Context, a *admin.Admin, b brokerAddr) ClusterBroker {
	cb := ClusterBroker{ClusterName: b.Cluster, BrokerName: b.Name, BrokerID: b.ID, Addr: b.Addr}
	kv, err := a.BrokerRuntimeInfo(ctx, b.Addr)
	if err != nil {
		cb.Error = err.Error()
		return cb
	}
	num := func(k string) int64 { v, _ := strconv.ParseInt(kv[k], 10, 64); return v }
	first := func(k string) float64 {
		f, _ := strconv.ParseFloat(strings.Fields(kv[k] + " 0")[0], 64)
		return f
	}
	cb.Version = kv["brokerVersionDesc"]
	cb.InTPS, cb.OutTPS = first("putTps"), first("getTransferedTps")
	cb.SendQueueSize, cb.PullQueueSize = num("sendThreadPoolQueueSize"), num("pullThreadPoolQueueSize")
	cb.SendQueueHeadWaitMs = num("sendThreadPoolQueueHeadWaitTimeMills")
	cb.PullQueueHeadWaitMs = num("pullThreadPoolQueueHeadWaitTimeMills")
	cb.PageCacheLockTimeMs = num("pageCacheLockTimeMills")
	if e := num("earliestMessageTimeStamp"); e > 0 {
		cb.StoredHours = float64(time.Now().UnixMilli()-e) / 1000 / 3600
	}
	cb.DiskRatio, _ = strconv.ParseFloat(kv["commitLogDiskRatio"], 64)
	return cb
}

// BrokerKV is one broker's key-value table (brokerStatus, getBrokerConfig,
// getNamesrvConfig -o json).
type BrokerKV struct {
	Addr  string            `json:"addr"`
	Table map[string]string `json:"table"`
}

func brokerStatusCmd(env *adminEnv) *cobra.Command {
	var addr, cluster string
	cmd := &cobra.Command{
		Use:   "brokerStatus",
		Short: "Print a broker's runtime figures (GET_BROKER_RUNTIME_INFO)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				addrs := []string{addr}
				if addr == "" {
					if cluster == "" {
						return errors.New("give -b brokerAddr or -c clusterName")
					}
					bs, err := clusterBrokers(ctx, a, cluster, true)
					if err != nil {
						return err
					}
					addrs = addrs[:0]
					for _, b := range bs {
						addrs = append(addrs, b.Addr)
					}
				}
				var out []BrokerKV
				for _, ad := range addrs {
					kv, err := a.BrokerRuntimeInfo(ctx, ad)
					if err != nil {
						return err
					}
					out = append(out, BrokerKV{Addr: ad, Table: kv})
				}
				return env.emit(cmd, out, func(w io.Writer) {
					for _, b := range out {
						for _, k := range slices.Sorted(maps.Keys(b.Table)) {
							if addr != "" {
								fmt.Fprintf(w, "%-32s: %s\n", k, b.Table[k])
							} else {
								fmt.Fprintf(w, "%-24s %-32s: %s\n", b.Addr, k, b.Table[k])
							}
						}
					}
				})
			})
		},
	}
	cmd.Flags().StringVarP(&addr, "brokerAddr", "b", "", "broker address")
	cmd.Flags().StringVarP(&cluster, "clusterName", "c", "", "every broker of this cluster")
	return cmd
}

func getBrokerConfigCmd(env *adminEnv) *cobra.Command {
	var addr, cluster string
	cmd := &cobra.Command{
		Use:   "getBrokerConfig",
		Short: "Print a broker's effective configuration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				type entry struct {
					title string
					BrokerKV
				}
				var list []entry
				if addr != "" {
					kv, err := a.BrokerConfig(ctx, addr)
					if err != nil {
						return err
					}
					list = append(list, entry{fmt.Sprintf("============%s============", addr), BrokerKV{addr, kv}})
				} else {
					if cluster == "" {
						return errors.New("give -b brokerAddr or -c clusterName")
					}
					bs, err := clusterBrokers(ctx, a, cluster, true)
					if err != nil {
						return err
					}
					master := map[string]string{}
					for _, b := range bs {
						if b.ID == body.MasterID {
							master[b.Name] = b.Addr
						}
					}
					for _, b := range bs {
						kv, err := a.BrokerConfig(ctx, b.Addr)
						if err != nil {
							return err
						}
						title := fmt.Sprintf("============Master: %s============", b.Addr)
						if b.ID != body.MasterID {
							title = fmt.Sprintf("============My Master: %s=====Slave: %s============", master[b.Name], b.Addr)
						}
						list = append(list, entry{title, BrokerKV{b.Addr, kv}})
					}
				}
				out := make([]BrokerKV, len(list))
				for i, e := range list {
					out[i] = e.BrokerKV
				}
				return env.emit(cmd, out, func(w io.Writer) {
					for _, e := range list {
						fmt.Fprintln(w, e.title)
						printProps(w, e.Table)
						fmt.Fprintln(w)
					}
				})
			})
		},
	}
	cmd.Flags().StringVarP(&addr, "brokerAddr", "b", "", "get which broker")
	cmd.Flags().StringVarP(&cluster, "clusterName", "c", "", "get which cluster")
	return cmd
}

func printProps(w io.Writer, kv map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		fmt.Fprintf(w, "%-50s=  %s\n", k, kv[k])
	}
}

// Updated is the -o json answer of the update commands: what changed where.
type Updated struct {
	Targets []string          `json:"targets"`
	Config  map[string]string `json:"config,omitempty"`
}

func updateBrokerConfigCmd(env *adminEnv) *cobra.Command {
	var addr, cluster, key, value string
	cmd := &cobra.Command{
		Use:   "updateBrokerConfig",
		Short: "Change a run-time configuration key of a broker or of a cluster's masters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				addrs, err := targetAddrs(ctx, a, addr, cluster)
				if err != nil {
					return err
				}
				kv := map[string]string{key: value}
				for _, ad := range addrs {
					if err := a.UpdateBrokerConfig(ctx, ad, kv); err != nil {
						return err
					}
				}
				return env.emit(cmd, Updated{Targets: addrs, Config: kv}, func(w io.Writer) {
					for _, ad := range addrs {
						fmt.Fprintf(w, "update broker config success, %s\n", ad)
					}
				})
			})
		},
	}
	cmd.Flags().StringVarP(&addr, "brokerAddr", "b", "", "update which broker")
	cmd.Flags().StringVarP(&cluster, "clusterName", "c", "", "update which cluster")
	cmd.Flags().StringVarP(&key, "key", "k", "", "config key")
	cmd.Flags().StringVarP(&value, "value", "v", "", "config value")
	return requireFlags(cmd, "key", "value")
}

// WritePerm is the -o json answer of wipeWritePerm and addWritePerm.
type WritePerm struct {
	BrokerName string           `json:"brokerName"`
	TopicCount map[string]int32 `json:"topicCount"` // by name server
}

func writePermCmd(env *adminEnv, wipe bool) *cobra.Command {
	var name string
	use, short, verb := "addWritePerm", "Give a broker's topics their write permission back on every name server", "add"
	if wipe {
		use, short, verb = "wipeWritePerm", "Remove the write permission of a broker's topics on every name server", "wipe"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				var counts map[string]int32
				var err error
				if wipe {
					counts, err = a.WipeWritePerm(ctx, name)
				} else {
					counts, err = a.AddWritePerm(ctx, name)
				}
				if err != nil {
					return err
				}
				return env.emit(cmd, WritePerm{BrokerName: name, TopicCount: counts}, func(w io.Writer) {
					for _, ns := range slices.Sorted(maps.Keys(counts)) {
						fmt.Fprintf(w, "%s write perm of broker[%s] in name server[%s] OK, %d\n", verb, name, ns, counts[ns])
					}
				})
			})
		},
	}
	cmd.Flags().StringVarP(&name, "brokerName", "b", "", "broker name")
	return requireFlags(cmd, "brokerName")
}

func getNamesrvConfigCmd(env *adminEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "getNamesrvConfig",
		Short: "Print every name server's configuration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				cfgs, err := a.NamesrvConfig(ctx)
				if err != nil {
					return err
				}
				var out []BrokerKV
				for _, ns := range slices.Sorted(maps.Keys(cfgs)) {
					out = append(out, BrokerKV{Addr: ns, Table: cfgs[ns]})
				}
				return env.emit(cmd, out, func(w io.Writer) {
					for _, e := range out {
						fmt.Fprintf(w, "============%s============\n", e.Addr)
						printProps(w, e.Table)
					}
				})
			})
		},
	}
}

func updateNamesrvConfigCmd(env *adminEnv) *cobra.Command {
	var key, value string
	cmd := &cobra.Command{
		Use:   "updateNamesrvConfig",
		Short: "Change a run-time configuration key of every name server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				kv := map[string]string{key: value}
				if err := a.UpdateNamesrvConfig(ctx, kv); err != nil {
					return err
				}
				ns := a.Client().NameServers()
				return env.emit(cmd, Updated{Targets: ns, Config: kv}, func(w io.Writer) {
					fmt.Fprintf(w, "update name server config success!%s\n%s : %s\n", "["+strings.Join(ns, ", ")+"]", key, value)
				})
			})
		},
	}
	cmd.Flags().StringVarP(&key, "key", "k", "", "config key")
	cmd.Flags().StringVarP(&value, "value", "v", "", "config value")
	return requireFlags(cmd, "key", "value")
}

// KVChange is the -o json answer of updateKvConfig and deleteKvConfig.
type KVChange struct {
	Namespace string `json:"namespace"`
	Key       string `json:"key"`
	Value     string `json:"value,omitempty"`
	Deleted   bool   `json:"deleted,omitempty"`
}

func updateKvConfigCmd(env *adminEnv) *cobra.Command {
	var ns, key, value string
	cmd := &cobra.Command{
		Use:   "updateKvConfig",
		Short: "Create or update a KV config entry on every name server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				if err := a.PutKVConfig(ctx, ns, key, value); err != nil {
					return err
				}
				return env.emit(cmd, KVChange{Namespace: ns, Key: key, Value: value}, func(w io.Writer) {
					fmt.Fprintln(w, "create or update kv config to namespace success.")
				})
			})
		},
	}
	cmd.Flags().StringVarP(&ns, "namespace", "s", "", "set the namespace")
	cmd.Flags().StringVarP(&key, "key", "k", "", "set the key name")
	cmd.Flags().StringVarP(&value, "value", "v", "", "set the key value")
	return requireFlags(cmd, "namespace", "key", "value")
}

func deleteKvConfigCmd(env *adminEnv) *cobra.Command {
	var ns, key string
	cmd := &cobra.Command{
		Use:   "deleteKvConfig",
		Short: "Delete a KV config entry on every name server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				if err := a.DeleteKVConfig(ctx, ns, key); err != nil {
					return err
				}
				return env.emit(cmd, KVChange{Namespace: ns, Key: key, Deleted: true}, func(w io.Writer) {
					fmt.Fprintln(w, "delete kv config from namespace success.")
				})
			})
		},
	}
	cmd.Flags().StringVarP(&ns, "namespace", "s", "", "set the namespace")
	cmd.Flags().StringVarP(&key, "key", "k", "", "set the key name")
	return requireFlags(cmd, "namespace", "key")
}
