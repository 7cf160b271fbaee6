package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// ACLAccount is one account of a broker's plain_acl.yml, as the ACL admin
// request codes carry it (RocketMQ's PlainAccessConfig).
type ACLAccount struct {
	AccessKey string `json:"accessKey"`
	// SecretKey is required to create an account; on update "" keeps the
	// old one. Brokers answer ACLConfig with it masked ("******").
	SecretKey          string   `json:"secretKey"`
	WhiteRemoteAddress string   `json:"whiteRemoteAddress"`
	Admin              bool     `json:"admin"`
	DefaultTopicPerm   string   `json:"defaultTopicPerm"`
	DefaultGroupPerm   string   `json:"defaultGroupPerm"`
	TopicPerms         []string `json:"topicPerms"` // "topic=PUB|SUB"
	GroupPerms         []string `json:"groupPerms"` // "group=SUB"
}

// ACLConfig is a broker's ACL file as GET_BROKER_CLUSTER_ACL_CONFIG answers.
type ACLConfig struct {
	GlobalWhiteAddrs []string     `json:"globalWhiteAddrs"`
	Accounts         []ACLAccount `json:"plainAccessConfigs"`
}

// UpdateACLAccount creates or updates an account on the broker at
// brokerAddr (UPDATE_AND_CREATE_ACL_CONFIG, 50): fields left empty keep
// their value, Admin is always set. The client must be signed by an admin
// account (client.WithCredentials).
func (a *Admin) UpdateACLAccount(ctx context.Context, brokerAddr string, acct ACLAccount) error {
	ext := map[string]string{"accessKey": acct.AccessKey, "admin": strconv.FormatBool(acct.Admin)}
	for k, v := range map[string]string{"secretKey": acct.SecretKey, "whiteRemoteAddress": acct.WhiteRemoteAddress,
		"defaultTopicPerm": acct.DefaultTopicPerm, "defaultGroupPerm": acct.DefaultGroupPerm,
		"topicPerms": strings.Join(acct.TopicPerms, ","), "groupPerms": strings.Join(acct.GroupPerms, ",")} {
		if v != "" {
			ext[k] = v
		}
	}
	if _, err := a.core.Call(ctx, brokerAddr, protocol.NewRequest(protocol.UpdateAndCreateACLConfig, ext)); err != nil {
		return fmt.Errorf("admin: update ACL account %s on %s: %w", acct.AccessKey, brokerAddr, err)
	}
	return nil
}

// DeleteACLAccount deletes an account (DELETE_ACL_CONFIG, 51).
func (a *Admin) DeleteACLAccount(ctx context.Context, brokerAddr, accessKey string) error {
	req := protocol.NewRequest(protocol.DeleteACLConfig, map[string]string{"accessKey": accessKey})
	if _, err := a.core.Call(ctx, brokerAddr, req); err != nil {
		return fmt.Errorf("admin: delete ACL account %s on %s: %w", accessKey, brokerAddr, err)
	}
	return nil
}

// SetACLGlobalWhiteAddrs replaces the addresses whose requests need no
// signature (UPDATE_GLOBAL_WHITE_ADDRS_CONFIG, 53). aclFile names the ACL
// file to change (RocketMQ 4.9's aclFileFullPath); "" is the broker's
// file, the only one a Petrel broker has (it refuses another path).
func (a *Admin) SetACLGlobalWhiteAddrs(ctx context.Context, brokerAddr, aclFile string, addrs []string) error {
	ext := map[string]string{"globalWhiteAddrs": strings.Join(addrs, ",")}
	if aclFile != "" {
		ext["aclFileFullPath"] = aclFile
	}
	if _, err := a.core.Call(ctx, brokerAddr, protocol.NewRequest(protocol.UpdateGlobalWhiteAddrsConfig, ext)); err != nil {
		return fmt.Errorf("admin: set ACL global white addresses on %s: %w", brokerAddr, err)
	}
	return nil
}

// ACLConfig returns the broker's white addresses and accounts, secret keys
// masked (GET_BROKER_CLUSTER_ACL_CONFIG, 54).
func (a *Admin) ACLConfig(ctx context.Context, brokerAddr string) (*ACLConfig, error) {
	resp, err := a.core.Call(ctx, brokerAddr, protocol.NewRequest(protocol.GetBrokerClusterACLConfig, nil))
	if err != nil {
		return nil, fmt.Errorf("admin: ACL config of %s: %w", brokerAddr, err)
	}
	var c ACLConfig
	if err := json.Unmarshal(resp.Body, &c); err != nil {
		return nil, fmt.Errorf("admin: ACL config of %s: %w", brokerAddr, err)
	}
	return &c, nil
}

// ACLVersion is a broker's answer to GET_BROKER_CLUSTER_ACL_INFO: which
// broker it is and the data version of its ACL file.
type ACLVersion struct {
	ClusterName string `json:"clusterName"`
	BrokerName  string `json:"brokerName"`
	BrokerAddr  string `json:"brokerAddr"`
	// Version is the data version of the broker's ACL file: the counter
	// grows by one with each change made with the ACL admin codes.
	Version body.DataVersion `json:"version"`
	// Files is the data version of each ACL file by path (RocketMQ 4.9's
	// allAclFileVersion; a Petrel broker has one file).
	Files map[string]body.DataVersion `json:"files"`
}

// ACLVersion returns the data version of the broker's ACL file
// (GET_BROKER_CLUSTER_ACL_INFO, 52).
func (a *Admin) ACLVersion(ctx context.Context, brokerAddr string) (*ACLVersion, error) {
	resp, err := a.core.Call(ctx, brokerAddr, protocol.NewRequest(protocol.GetBrokerClusterACLInfo, nil))
	if err != nil {
		return nil, fmt.Errorf("admin: ACL version of %s: %w", brokerAddr, err)
	}
	v := &ACLVersion{ClusterName: resp.Ext("clusterName"), BrokerName: resp.Ext("brokerName"), BrokerAddr: resp.Ext("brokerAddr")}
	if s := resp.Ext("version"); s != "" {
		if err := json.Unmarshal([]byte(s), &v.Version); err != nil {
			return nil, fmt.Errorf("admin: ACL version of %s: version: %w", brokerAddr, err)
		}
	}
	if s := resp.Ext("allAclFileVersion"); s != "" {
		if err := json.Unmarshal([]byte(s), &v.Files); err != nil {
			return nil, fmt.Errorf("admin: ACL version of %s: allAclFileVersion: %w", brokerAddr, err)
		}
	}
	return v, nil
}
