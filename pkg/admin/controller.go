package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
)

// The controller's admin calls (RocketMQ 5.x's controller codes, as mqadmin
// getControllerMetaData, getSyncStateSet and electMaster use them). They
// take the controllers' addresses (a broker's controllerAddr), not the name
// servers': the calls that need the leader try each address and follow the
// CONTROLLER_NOT_LEADER answers that name it.

// ErrNoController is returned when no controller address is given.
var ErrNoController = errors.New("admin: no controller address")

// ControllerMetadata asks one controller for its view of the Raft group: its
// state, the leader, the term and the members (CONTROLLER_GET_METADATA_INFO).
func (a *Admin) ControllerMetadata(ctx context.Context, controller string) (*body.ControllerMetadata, error) {
	resp, err := a.core.Call(ctx, controller, protocol.NewRequest(protocol.ControllerGetMetadataInfo, nil))
	if err != nil {
		return nil, fmt.Errorf("admin: controller metadata from %s: %w", controller, err)
	}
	var md body.ControllerMetadata
	if err := body.DecodeJSON("ControllerMetadata", resp.Body, &md); err != nil {
		return nil, err
	}
	return &md, nil
}

// SyncStateData lists the broker sets the controller leader knows, with
// each set's master, epoch, SyncStateSet and replicas
// (CONTROLLER_GET_SYNC_STATE_DATA). An empty cluster or broker name matches
// every one.
func (a *Admin) SyncStateData(ctx context.Context, controllers []string, cluster, brokerName string) ([]body.ReplicaInfo, error) {
	resp, err := a.controllerCall(ctx, controllers, func() *protocol.Command {
		return header.NewRequest(protocol.ControllerGetSyncStateData, &header.ControllerGetSyncStateData{
			ClusterName: cluster, BrokerName: brokerName,
		})
	})
	if err != nil {
		return nil, fmt.Errorf("admin: sync state data: %w", err)
	}
	var data body.SyncStateData
	if err := body.DecodeJSON("SyncStateData", resp.Body, &data); err != nil {
		return nil, err
	}
	return data.BrokerSets, nil
}

// BrokerSetInfo reads one broker set from the controller leader
// (CONTROLLER_GET_REPLICA_INFO). cluster may be empty when the broker name
// is in one cluster only.
func (a *Admin) BrokerSetInfo(ctx context.Context, controllers []string, cluster, brokerName string) (*body.ReplicaInfo, error) {
	resp, err := a.controllerCall(ctx, controllers, func() *protocol.Command {
		return header.NewRequest(protocol.ControllerGetReplicaInfo, &header.ControllerGetReplicaInfo{
			ClusterName: cluster, BrokerName: brokerName,
		})
	})
	if err != nil {
		return nil, fmt.Errorf("admin: broker set %s: %w", brokerName, err)
	}
	return decodeReplicaInfo(resp)
}

// ElectMaster makes brokerID the master of the set (mqadmin electMaster):
// refused with protocol.ErrControllerElectMasterFailed when it is not in the
// SyncStateSet and the controllers do not allow unclean elections, and with
// protocol.ErrControllerBrokerNotAlive when it is not heartbeating. A
// negative brokerID re-runs the automatic election instead, which changes
// nothing while the master is alive. It returns the set after the election.
func (a *Admin) ElectMaster(ctx context.Context, controllers []string, cluster, brokerName string, brokerID int64) (*body.ReplicaInfo, error) {
	resp, err := a.controllerCall(ctx, controllers, func() *protocol.Command {
		h := &header.ControllerElectMaster{ClusterName: cluster, BrokerName: brokerName, DesignateElect: brokerID >= 0}
		if brokerID >= 0 {
			h.BrokerID = header.Some(brokerID)
		}
		return header.NewRequest(protocol.ControllerElectMaster, h)
	})
	if err != nil {
		return nil, fmt.Errorf("admin: elect master of %s: %w", brokerName, err)
	}
	return decodeReplicaInfo(resp)
}

// CleanBrokerData makes the controllers forget replicas of a set (a
// decommissioned broker): never its master, and a replica that still
// heartbeats only with cleanLiving (CLEAN_BROKER_DATA).
func (a *Admin) CleanBrokerData(ctx context.Context, controllers []string, cluster, brokerName string, ids []int64, cleanLiving bool) (*body.ReplicaInfo, error) {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	resp, err := a.controllerCall(ctx, controllers, func() *protocol.Command {
		return header.NewRequest(protocol.CleanBrokerData, &header.CleanBrokerData{
			ClusterName: cluster, BrokerName: brokerName, BrokerIDsToClean: strings.Join(parts, ";"), CleanLivingBroker: cleanLiving,
		})
	})
	if err != nil {
		return nil, fmt.Errorf("admin: clean broker data of %s: %w", brokerName, err)
	}
	return decodeReplicaInfo(resp)
}

func decodeReplicaInfo(resp *protocol.Command) (*body.ReplicaInfo, error) {
	var ri body.ReplicaInfo
	if err := body.DecodeJSON("ReplicaInfo", resp.Body, &ri); err != nil {
		return nil, err
	}
	return &ri, nil
}

// controllerCall sends a request to the controller leader: it tries each
// address, goes to the leader a CONTROLLER_NOT_LEADER answer names, and
// goes round again (with a pause) while an election is under way, until an
// answer or ctx's end. A non-success answer is a *protocol.Error.
func (a *Admin) controllerCall(ctx context.Context, controllers []string, build func() *protocol.Command) (*protocol.Command, error) {
	if len(controllers) == 0 {
		return nil, ErrNoController
	}
	var lastErr error
	pause := 50 * time.Millisecond
	for {
		addrs := slices.Clone(controllers)
		hops := 0
		for i := 0; i < len(addrs); i++ {
			resp, err := a.core.Invoke(ctx, addrs[i], build())
			if err != nil {
				lastErr = fmt.Errorf("%s: %w", addrs[i], err)
				if ctx.Err() != nil {
					return nil, lastErr
				}
				continue
			}
			if resp.ResponseCode() != protocol.ControllerNotLeader {
				return resp, protocol.ResponseError(resp)
			}
			lastErr = fmt.Errorf("%s: %w", addrs[i], protocol.ResponseError(resp))
			var md header.ControllerMetadata
			if md.Decode(resp) == nil && md.ControllerLeaderAddress != "" && md.ControllerLeaderAddress != addrs[i] &&
				hops < len(controllers) {
				hops++
				addrs = slices.Insert(addrs, i+1, md.ControllerLeaderAddress)
			}
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (last error: %v)", ctx.Err(), lastErr)
		case <-t.C:
		}
		pause = min(2*pause, time.Second)
	}
}
