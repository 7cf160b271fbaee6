package acl

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// File is plain_acl.yml, with RocketMQ 4.9's keys.
type File struct {
	// GlobalWhiteRemoteAddresses are address patterns whose requests are
	// accepted without a signature or permission check.
	GlobalWhiteRemoteAddresses []string `yaml:"globalWhiteRemoteAddresses" json:"globalWhiteAddrs"`
	// Accounts are the access keys.
	Accounts []Account `yaml:"accounts" json:"plainAccessConfigs"`
	// DataVersion is written back by the ACL admin requests (a list of one
	// element, as RocketMQ writes it); it is informational.
	DataVersion []DataVersion `yaml:"dataVersion,omitempty" json:"-"`
}

// Account is one entry of accounts.
type Account struct {
	AccessKey          string   `yaml:"accessKey" json:"accessKey"`
	SecretKey          string   `yaml:"secretKey" json:"secretKey"`
	WhiteRemoteAddress string   `yaml:"whiteRemoteAddress,omitempty" json:"whiteRemoteAddress"`
	Admin              bool     `yaml:"admin" json:"admin"`
	DefaultTopicPerm   string   `yaml:"defaultTopicPerm,omitempty" json:"defaultTopicPerm"`
	DefaultGroupPerm   string   `yaml:"defaultGroupPerm,omitempty" json:"defaultGroupPerm"`
	TopicPerms         []string `yaml:"topicPerms,omitempty" json:"topicPerms"`
	GroupPerms         []string `yaml:"groupPerms,omitempty" json:"groupPerms"`
}

// DataVersion is RocketMQ's DataVersion: a timestamp (ms) and a counter.
type DataVersion struct {
	Timestamp int64 `yaml:"timestamp" json:"timestamp"`
	Counter   int64 `yaml:"counter" json:"counter"`
}

// Key length limits: RocketMQ refuses keys of 6 characters or fewer.
const minKeyLen = 7

// retryPrefix marks a group resource: group g is the resource %RETRY%g, as in
// RocketMQ, so that sending to a retry topic needs the group's permission.
const retryPrefix = "%RETRY%"

// ParseFile parses plain_acl.yml and checks every account. An empty file is
// an error (as in RocketMQ): it is more likely a file caught half-written
// than a wish to refuse everyone, which `accounts: []` says.
func ParseFile(data []byte) (*File, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("acl: the file is empty (write accounts: [] to refuse everyone)")
	}
	var f File
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("acl: %w", err)
	}
	if _, err := compile(&f); err != nil {
		return nil, err
	}
	return &f, nil
}

// Marshal renders f as YAML.
func (f *File) Marshal() ([]byte, error) {
	b, err := yaml.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("acl: %w", err)
	}
	return b, nil
}

// rules is a compiled File: what Check reads.
type rules struct {
	global   []addrMatcher
	accounts map[string]*account
}

type account struct {
	accessKey, secretKey string
	white                addrMatcher
	admin                bool
	defTopic, defGroup   Perm
	perms                map[string]Perm // topic, or %RETRY%group
}

// compile checks f and builds its rules. It names the account and field of
// the first error, never the secret key.
func compile(f *File) (*rules, error) {
	r := &rules{accounts: make(map[string]*account, len(f.Accounts))}
	for _, s := range f.GlobalWhiteRemoteAddresses {
		m, err := parseAddrPattern(s)
		if err != nil {
			return nil, fmt.Errorf("acl: globalWhiteRemoteAddresses: %w", err)
		}
		r.global = append(r.global, m)
	}
	for i, a := range f.Accounts {
		ac, err := compileAccount(a)
		if err != nil {
			return nil, fmt.Errorf("acl: accounts[%d] (accessKey %q): %w", i, a.AccessKey, err)
		}
		if r.accounts[a.AccessKey] != nil {
			return nil, fmt.Errorf("acl: accounts[%d]: accessKey %q is listed twice", i, a.AccessKey)
		}
		r.accounts[a.AccessKey] = ac
	}
	return r, nil
}

func compileAccount(a Account) (*account, error) {
	if len(a.AccessKey) < minKeyLen {
		return nil, fmt.Errorf("accessKey must be longer than %d characters", minKeyLen-1)
	}
	if len(a.SecretKey) < minKeyLen {
		return nil, fmt.Errorf("secretKey must be longer than %d characters", minKeyLen-1)
	}
	ac := &account{accessKey: a.AccessKey, secretKey: a.SecretKey, admin: a.Admin, perms: map[string]Perm{}}
	var err error
	if ac.white, err = parseAddrPattern(a.WhiteRemoteAddress); err != nil {
		return nil, fmt.Errorf("whiteRemoteAddress: %w", err)
	}
	if ac.defTopic, err = ParsePerm(a.DefaultTopicPerm); err != nil {
		return nil, fmt.Errorf("defaultTopicPerm: %w", err)
	}
	if ac.defGroup, err = ParsePerm(a.DefaultGroupPerm); err != nil {
		return nil, fmt.Errorf("defaultGroupPerm: %w", err)
	}
	for _, list := range []struct {
		name  string
		items []string
		group bool
	}{{"groupPerms", a.GroupPerms, true}, {"topicPerms", a.TopicPerms, false}} {
		for _, item := range list.items {
			name, perm, err := parseResourcePerm(item)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", list.name, err)
			}
			if list.group {
				name = retryPrefix + name
			}
			ac.perms[name] = perm
		}
	}
	return ac, nil
}

// parseResourcePerm parses "name=PERM".
func parseResourcePerm(s string) (string, Perm, error) {
	name, p, ok := strings.Cut(s, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.Contains(p, "=") {
		return "", 0, fmt.Errorf("%q is not name=PERM", s)
	}
	perm, err := ParsePerm(p)
	if err != nil {
		return "", 0, fmt.Errorf("%q: %w", s, err)
	}
	return name, perm, nil
}

// errNoFile is returned when the ACL file does not exist.
var errNoFile = errors.New("acl: file does not exist")
