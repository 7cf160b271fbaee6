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

	"github.com/spf13/cobra"

	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// Replication and failover commands: haStatus (from the masters' runtime
// info), getSyncStateSet and electMaster (from the controllers).

func haCommands(env *adminEnv) []*cobra.Command {
	return []*cobra.Command{haStatusCmd(env), getSyncStateSetCmd(env), electMasterCmd(env)}
}

// HAStatus is one master of haStatus -o json.
type HAStatus struct {
	ClusterName  string    `json:"clusterName"`
	BrokerName   string    `json:"brokerName"`
	MasterAddr   string    `json:"masterAddr"`
	MaxOffset    int64     `json:"commitLogMaxOffset"`
	SlaveNum     int       `json:"slaveNum"`
	InSyncSlaves int       `json:"inSyncSlaveNum"`
	Slaves       []HASlave `json:"slaves"`
	Error        string    `json:"error,omitempty"`
}

// HASlave is one slave connection of a master: how far it has
// acknowledged and how far behind it is.
type HASlave struct {
	ID        string `json:"id"`
	Addr      string `json:"addr"`
	AckOffset int64  `json:"ackOffset"`
	LagBytes  int64  `json:"lagBytes"`
	LagMillis int64  `json:"lagMs"`
	InSync    bool   `json:"inSync"`
}

// parseHASlave reads the "addr=..,ackOffset=..,lagBytes=..,lagMillis=..,inSync=.."
// runtime-info value of a slave.
func parseHASlave(id, v string) HASlave {
	s := HASlave{ID: id}
	for _, part := range strings.Split(v, ",") {
		k, val, _ := strings.Cut(part, "=")
		n, _ := strconv.ParseInt(val, 10, 64)
		switch k {
		case "addr":
			s.Addr = val
		case "ackOffset":
			s.AckOffset = n
		case "lagBytes":
			s.LagBytes = n
		case "lagMillis":
			s.LagMillis = n
		case "inSync":
			s.InSync = val == "true"
		}
	}
	return s
}

func haStatusCmd(env *adminEnv) *cobra.Command {
	var addr, cluster string
	cmd := &cobra.Command{
		Use:   "haStatus",
		Short: "Print each master's slaves and how far behind they are (slave lag)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return env.run(cmd, func(ctx context.Context, a *admin.Admin) error {
				bs, err := clusterBrokers(ctx, a, cluster, false)
				if err != nil {
					return err
				}
				out := []HAStatus{}
				for _, b := range bs {
					if addr != "" && b.Addr != addr {
						continue
					}
					st := HAStatus{ClusterName: b.Cluster, BrokerName: b.Name, MasterAddr: b.Addr, Slaves: []HASlave{}}
					kv, err := a.BrokerRuntimeInfo(ctx, b.Addr)
					if err != nil {
						st.Error = err.Error()
						out = append(out, st)
						continue
					}
					st.MaxOffset, _ = strconv.ParseInt(kv["commitLogMaxOffset"], 10, 64)
					st.SlaveNum, _ = strconv.Atoi(kv["haSlaveNum"])
					st.InSyncSlaves, _ = strconv.Atoi(kv["haInSyncSlaveNum"])
					for _, k := range slices.Sorted(maps.Keys(kv)) {
						if id, ok := strings.CutPrefix(k, "haSlave"); ok && id != "Num" {
							st.Slaves = append(st.Slaves, parseHASlave(id, kv[k]))
						}
					}
					out = append(out, st)
				}
				if addr != "" && len(out) == 0 {
					return fmt.Errorf("%s is not a master the name servers know", addr)
				}
				return env.emit(cmd, out, func(w io.Writer) {
					for _, st := range out {
						fmt.Fprintf(w, "#MasterAddr\t%s\n#BrokerName\t%s\n#MasterCommitLogMaxOffset\t%d\n#SlaveNum\t%d\n#InSyncSlaveNum\t%d\n",
							st.MasterAddr, st.BrokerName, st.MaxOffset, st.SlaveNum, st.InSyncSlaves)
						if st.Error != "" {
							fmt.Fprintf(w, "#Error\t%s\n", st.Error)
						}
						fmt.Fprintf(w, "%-32s %-20s %-20s %-12s %s\n", "#SlaveAddr", "#SlaveAckOffset", "#Diff(bytes)", "#Lag(ms)", "#InSync")
						for _, s := range st.Slaves {
							fmt.Fprintf(w, "%-32s %-20d %-20d %-12d %t\n", s.Addr, s.AckOffset, s.LagBytes, s.LagMillis, s.InSync)
						}
						fmt.Fprintln(w)
					}
				})
			})
		},
	}
	cmd.Flags().StringVarP(&addr, "brokerAddr", "b", "", "only this master")
	cmd.Flags().StringVarP(&cluster, "clusterName", "c", "", "only this cluster")
	return cmd
}

func controllerList(s string) ([]string, error) {
	var out []string
	for _, a := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' }) {
		out = append(out, strings.TrimSpace(a))
	}
	if len(out) == 0 {
		return nil, errors.New("give -a controllerAddress (host:port;host:port)")
	}
	return out, nil
}

func printReplicaInfo(w io.Writer, ri body.ReplicaInfo) {
	fmt.Fprintf(w, "\n#brokerName\t%s\n#MasterBrokerId\t%d\n#MasterAddr\t%s\n#MasterEpoch\t%d\n#SyncStateSetEpoch\t%d\n#SyncStateSetNums\t%d\n",
		ri.BrokerName, ri.MasterBrokerID, ri.MasterAddress, ri.MasterEpoch, ri.SyncStateSetEpoch, len(ri.SyncStateSet))
	for _, m := range ri.Replicas {
		kind := "NotInSyncReplica"
		if m.InSyncStateSet {
			kind = "InSyncReplica"
		}
		fmt.Fprintf(w, "\n%s:\tReplica{brokerId=%d, brokerAddress=%s}\n", kind, m.BrokerID, m.BrokerAddress)
	}
}

func getSyncStateSetCmd(env *adminEnv) *cobra.Command {
	var ctrl, cluster, brokerName string
	cmd := &cobra.Command{
		Use:   "getSyncStateSet",
		Short: "Print each broker set's master, epoch and SyncStateSet from the controllers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctrls, err := controllerList(ctrl)
			if err != nil {
				return err
			}
			return env.runAt(cmd, ctrls, func(ctx context.Context, a *admin.Admin) error {
				sets, err := a.SyncStateData(ctx, ctrls, cluster, brokerName)
				if err != nil {
					return err
				}
				if sets == nil {
					sets = []body.ReplicaInfo{}
				}
				return env.emit(cmd, sets, func(w io.Writer) {
					for _, ri := range sets {
						printReplicaInfo(w, ri)
					}
				})
			})
		},
	}
	cmd.Flags().StringVarP(&ctrl, "controllerAddress", "a", "", "the controllers' addresses (host:port;host:port)")
	cmd.Flags().StringVarP(&cluster, "clusterName", "c", "", "which cluster")
	cmd.Flags().StringVarP(&brokerName, "brokerName", "b", "", "which broker set")
	return requireFlags(cmd, "controllerAddress")
}

func electMasterCmd(env *adminEnv) *cobra.Command {
	var ctrl, cluster, brokerName string
	var brokerID int64
	cmd := &cobra.Command{
		Use:   "electMaster",
		Short: "Make a replica of a broker set its master (controller mode)",
		Long: "Make broker -b (id) of broker set --bn (name) the master, through the controllers.\n" +
			"mqadmin's -bn is accepted as written.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctrls, err := controllerList(ctrl)
			if err != nil {
				return err
			}
			return env.runAt(cmd, ctrls, func(ctx context.Context, a *admin.Admin) error {
				ri, err := a.ElectMaster(ctx, ctrls, cluster, brokerName, brokerID)
				if err != nil {
					return err
				}
				return env.emit(cmd, ri, func(w io.Writer) {
					fmt.Fprintf(w, "\n#ClusterName\t%s\n#BrokerName\t%s\n#BrokerMasterAddr\t%s\n#MasterEpoch\t%d\n#SyncStateSetEpoch\t%d\n",
						cluster, ri.BrokerName, ri.MasterAddress, ri.MasterEpoch, ri.SyncStateSetEpoch)
					for _, m := range ri.Replicas {
						fmt.Fprintf(w, "\t#Broker\t%d\t%s\n", m.BrokerID, m.BrokerAddress)
					}
				})
			})
		},
	}
	cmd.Flags().StringVarP(&ctrl, "controllerAddress", "a", "", "the controllers' addresses (host:port;host:port)")
	cmd.Flags().Int64VarP(&brokerID, "brokerId", "b", -1, "the id of the broker to become master")
	cmd.Flags().StringVar(&brokerName, "bn", "", "the broker name of the set (mqadmin -bn)")
	cmd.Flags().StringVarP(&cluster, "clusterName", "c", "", "the cluster of the set")
	return requireFlags(cmd, "controllerAddress", "brokerId", "bn")
}
