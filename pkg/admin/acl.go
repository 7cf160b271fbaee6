package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/petrelmq/petrel/pkg/protocol"
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
// signature (UPDATE_GLOBAL_WHITE_ADDRS_CONFIG, 53).
func (a *Admin) SetACLGlobalWhiteAddrs(ctx context.Context, brokerAddr string, addrs []string) error {
	req := protocol.NewRequest(protocol.UpdateGlobalWhiteAddrsConfig, map[string]string{"globalWhiteAddrs": strings.Join(addrs, ",")})
	if _, err := a.core.Call(ctx, brokerAddr, req); err != nil {
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

// ACLVersion returns the data version of the broker's ACL file, as JSON
// ({"timestamp":...,"counter":...}) (GET_BROKER_CLUSTER_ACL_INFO, 52).
func (a *Admin) ACLVersion(ctx context.Context, brokerAddr string) (string, error) {
	resp, err := a.core.Call(ctx, brokerAddr, protocol.NewRequest(protocol.GetBrokerClusterACLInfo, nil))
	if err != nil {
		return "", fmt.Errorf("admin: ACL version of %s: %w", brokerAddr, err)
	}
	return resp.Ext("version"), nil
}
