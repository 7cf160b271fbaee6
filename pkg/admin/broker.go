package admin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
)

// Broker and name-server calls: runtime info, configuration, write
// permission and the name servers' KV configuration (mqadmin brokerStatus,
// getBrokerConfig, updateBrokerConfig, wipeWritePerm, addWritePerm,
// getNamesrvConfig, updateNamesrvConfig, updateKvConfig, deleteKvConfig).

// BrokerRuntimeInfo returns one broker's GET_BROKER_RUNTIME_INFO (28) table:
// the figures mqadmin brokerStatus prints, by RocketMQ's key names.
func (a *Admin) BrokerRuntimeInfo(ctx context.Context, brokerAddr string) (map[string]string, error) {
	resp, err := a.core.Call(ctx, brokerAddr, protocol.NewRequest(protocol.GetBrokerRuntimeInfo, nil))
	if err != nil {
		return nil, fmt.Errorf("admin: runtime info of %s: %w", brokerAddr, err)
	}
	return decodeKVTable("runtime info of "+brokerAddr, resp.Body)
}

func decodeKVTable(what string, b []byte) (map[string]string, error) {
	var kv struct {
		Table map[string]string `json:"table"`
	}
	if err := json.Unmarshal(b, &kv); err != nil {
		return nil, fmt.Errorf("admin: %s: %w", what, err)
	}
	if kv.Table == nil {
		kv.Table = map[string]string{}
	}
	return kv.Table, nil
}

// parseProperties reads key=value lines (RocketMQ's Properties text); blank
// lines and # comments are skipped.
func parseProperties(b []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), len(b)+1)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out
}

func propertiesBody(kv map[string]string) []byte {
	var buf bytes.Buffer
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		fmt.Fprintf(&buf, "%s=%s\n", k, kv[k])
	}
	return buf.Bytes()
}

// BrokerConfig returns one broker's effective configuration
// (GET_BROKER_CONFIG, 26), by broker.conf key.
func (a *Admin) BrokerConfig(ctx context.Context, brokerAddr string) (map[string]string, error) {
	resp, err := a.core.Call(ctx, brokerAddr, protocol.NewRequest(protocol.GetBrokerConfig, nil))
	if err != nil {
		return nil, fmt.Errorf("admin: config of %s: %w", brokerAddr, err)
	}
	return parseProperties(resp.Body), nil
}

// UpdateBrokerConfig changes run-time configuration keys of one broker
// (UPDATE_BROKER_CONFIG, 25). The broker applies all of them or none.
func (a *Admin) UpdateBrokerConfig(ctx context.Context, brokerAddr string, kv map[string]string) error {
	req := protocol.NewRequest(protocol.UpdateBrokerConfig, nil)
	req.Body = propertiesBody(kv)
	if _, err := a.core.Call(ctx, brokerAddr, req); err != nil {
		return fmt.Errorf("admin: update config of %s: %w", brokerAddr, err)
	}
	return nil
}

// WipeWritePerm removes the write permission of a broker's topics on every
// name server (WIPE_WRITE_PERM_OF_BROKER, 205), so producers move away from
// it. It returns, by name-server address, how many topics changed.
func (a *Admin) WipeWritePerm(ctx context.Context, brokerName string) (map[string]int32, error) {
	return a.writePerm(ctx, brokerName, true)
}

// AddWritePerm gives a broker's topics their write permission back on every
// name server (ADD_WRITE_PERM_OF_BROKER, 327). It returns, by name-server
// address, how many topics changed.
func (a *Admin) AddWritePerm(ctx context.Context, brokerName string) (map[string]int32, error) {
	return a.writePerm(ctx, brokerName, false)
}

func (a *Admin) writePerm(ctx context.Context, brokerName string, wipe bool) (map[string]int32, error) {
	out := map[string]int32{}
	for _, ns := range a.core.NameServers() {
		var req *protocol.Command
		if wipe {
			req = header.NewRequest(protocol.WipeWritePermOfBroker, &header.WipeWritePermOfBroker{BrokerName: brokerName})
		} else {
			req = header.NewRequest(protocol.AddWritePermOfBroker, &header.AddWritePermOfBroker{BrokerName: brokerName})
		}
		resp, err := a.core.Call(ctx, ns, req)
		if err != nil {
			return out, fmt.Errorf("admin: write permission of %s on %s: %w", brokerName, ns, err)
		}
		if wipe {
			var h header.WipeWritePermOfBrokerResponse
			if err := h.Decode(resp); err != nil {
				return out, fmt.Errorf("admin: wipe write permission answer of %s: %w", ns, err)
			}
			out[ns] = h.WipeTopicCount
		} else {
			var h header.AddWritePermOfBrokerResponse
			if err := h.Decode(resp); err != nil {
				return out, fmt.Errorf("admin: add write permission answer of %s: %w", ns, err)
			}
			out[ns] = h.AddTopicCount
		}
	}
	return out, nil
}

// NamesrvConfig returns the effective configuration of every name server
// (GET_NAMESRV_CONFIG, 319), by name-server address.
func (a *Admin) NamesrvConfig(ctx context.Context) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for _, ns := range a.core.NameServers() {
		resp, err := a.core.Call(ctx, ns, protocol.NewRequest(protocol.GetNamesrvConfig, nil))
		if err != nil {
			return out, fmt.Errorf("admin: config of name server %s: %w", ns, err)
		}
		out[ns] = parseProperties(resp.Body)
	}
	return out, nil
}

// UpdateNamesrvConfig changes run-time keys on every name server
// (UPDATE_NAMESRV_CONFIG, 318).
func (a *Admin) UpdateNamesrvConfig(ctx context.Context, kv map[string]string) error {
	for _, ns := range a.core.NameServers() {
		req := protocol.NewRequest(protocol.UpdateNamesrvConfig, nil)
		req.Body = propertiesBody(kv)
		if _, err := a.core.Call(ctx, ns, req); err != nil {
			return fmt.Errorf("admin: update config of name server %s: %w", ns, err)
		}
	}
	return nil
}

// PutKVConfig sets a KV config entry on every name server (PUT_KV_CONFIG,
// 100), for example namespace ORDER_TOPIC_CONFIG.
func (a *Admin) PutKVConfig(ctx context.Context, namespace, key, value string) error {
	for _, ns := range a.core.NameServers() {
		_, err := a.core.Call(ctx, ns, header.NewRequest(protocol.PutKVConfig,
			&header.PutKVConfig{Namespace: namespace, Key: key, Value: value}))
		if err != nil {
			return fmt.Errorf("admin: put kv %s/%s on %s: %w", namespace, key, ns, err)
		}
	}
	return nil
}

// DeleteKVConfig deletes a KV config entry on every name server
// (DELETE_KV_CONFIG, 102).
func (a *Admin) DeleteKVConfig(ctx context.Context, namespace, key string) error {
	for _, ns := range a.core.NameServers() {
		_, err := a.core.Call(ctx, ns, header.NewRequest(protocol.DeleteKVConfig,
			&header.DeleteKVConfig{Namespace: namespace, Key: key}))
		if err != nil {
			return fmt.Errorf("admin: delete kv %s/%s on %s: %w", namespace, key, ns, err)
		}
	}
	return nil
}

// KVConfig reads one KV config entry from the name servers (GET_KV_CONFIG,
// 101); a missing entry gives an error matching protocol.ErrQueryNotFound.
func (a *Admin) KVConfig(ctx context.Context, namespace, key string) (string, error) {
	resp, err := a.core.InvokeNameServer(ctx, func() *protocol.Command {
		return header.NewRequest(protocol.GetKVConfig, &header.GetKVConfig{Namespace: namespace, Key: key})
	})
	if err != nil {
		return "", err
	}
	if err := protocol.ResponseError(resp); err != nil {
		return "", err
	}
	var h header.GetKVConfigResponse
	if err := h.Decode(resp); err != nil {
		return "", err
	}
	return h.Value, nil
}

// TopicConfigs returns one broker's topic table (GET_ALL_TOPIC_CONFIG, 21),
// by wire topic name.
func (a *Admin) TopicConfigs(ctx context.Context, brokerAddr string) (map[string]body.TopicConfig, error) {
	resp, err := a.core.Call(ctx, brokerAddr, protocol.NewRequest(protocol.GetAllTopicConfig, nil))
	if err != nil {
		return nil, fmt.Errorf("admin: topic configs of %s: %w", brokerAddr, err)
	}
	var w body.TopicConfigWrapper
	if err := json.Unmarshal(resp.Body, &w); err != nil {
		return nil, fmt.Errorf("admin: topic configs of %s: %w", brokerAddr, err)
	}
	return w.TopicConfigTable, nil
}

// TopicsOfCluster lists the topics of a cluster's brokers
// (GET_TOPICS_BY_CLUSTER, 224), sorted.
func (a *Admin) TopicsOfCluster(ctx context.Context, cluster string) ([]string, error) {
	resp, err := a.core.InvokeNameServer(ctx, func() *protocol.Command {
		return header.NewRequest(protocol.GetTopicsByCluster, &header.GetTopicsByCluster{Cluster: cluster})
	})
	if err == nil {
		err = protocol.ResponseError(resp)
	}
	if err != nil {
		return nil, fmt.Errorf("admin: topics of cluster %s: %w", cluster, err)
	}
	var tl struct {
		TopicList []string `json:"topicList"`
	}
	if err := json.Unmarshal(resp.Body, &tl); err != nil {
		return nil, fmt.Errorf("admin: topics of cluster %s: %w", cluster, err)
	}
	slices.Sort(tl.TopicList)
	return tl.TopicList, nil
}

// BrokerStatsData reads one statistic of a broker over the last minute,
// hour and day (VIEW_BROKER_STATS_DATA, 315): body.StatsTopicPutNums with a
// topic, body.StatsGroupGetNums with topic@group.
func (a *Admin) BrokerStatsData(ctx context.Context, brokerAddr, name, key string) (*body.BrokerStatsData, error) {
	resp, err := a.core.Call(ctx, brokerAddr, header.NewRequest(protocol.ViewBrokerStatsData,
		&header.ViewBrokerStatsData{StatsName: name, StatsKey: key}))
	if err != nil {
		return nil, fmt.Errorf("admin: stats %s of %s on %s: %w", name, key, brokerAddr, err)
	}
	var d body.BrokerStatsData
	if err := body.DecodeJSON("BrokerStatsData", resp.Body, &d); err != nil {
		return nil, err
	}
	return &d, nil
}
