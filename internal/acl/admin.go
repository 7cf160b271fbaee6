package acl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// maskedSecret replaces secret keys in GET_BROKER_CLUSTER_ACL_CONFIG answers:
// Petrel never sends a secret back (RocketMQ sends them in clear).
const maskedSecret = "******"

// UpdateAccount creates the account a.AccessKey or updates it: fields that
// are empty in a (secretKey, whiteRemoteAddress, the default permissions,
// the perm lists) keep their value, admin is always set. A new account
// needs a secret key. The file is rewritten and the rules reloaded before
// it returns.
func (g *Guard) UpdateAccount(a Account) error {
	return g.edit(func(f *File) error {
		for i := range f.Accounts {
			old := &f.Accounts[i]
			if old.AccessKey != a.AccessKey {
				continue
			}
			if a.SecretKey != "" {
				old.SecretKey = a.SecretKey
			}
			if a.WhiteRemoteAddress != "" {
				old.WhiteRemoteAddress = a.WhiteRemoteAddress
			}
			old.Admin = a.Admin
			if a.DefaultTopicPerm != "" {
				old.DefaultTopicPerm = a.DefaultTopicPerm
			}
			if a.DefaultGroupPerm != "" {
				old.DefaultGroupPerm = a.DefaultGroupPerm
			}
			if len(a.TopicPerms) > 0 {
				old.TopicPerms = a.TopicPerms
			}
			if len(a.GroupPerms) > 0 {
				old.GroupPerms = a.GroupPerms
			}
			return nil
		}
		f.Accounts = append(f.Accounts, a)
		return nil
	})
}

// DeleteAccount removes the account accessKey; it fails if there is none.
func (g *Guard) DeleteAccount(accessKey string) error {
	return g.edit(func(f *File) error {
		for i := range f.Accounts {
			if f.Accounts[i].AccessKey == accessKey {
				f.Accounts = append(f.Accounts[:i], f.Accounts[i+1:]...)
				return nil
			}
		}
		return fmt.Errorf("acl: no account with accessKey %q", accessKey)
	})
}

// SetGlobalWhiteAddrs replaces globalWhiteRemoteAddresses.
func (g *Guard) SetGlobalWhiteAddrs(addrs []string) error {
	return g.edit(func(f *File) error {
		f.GlobalWhiteRemoteAddresses = addrs
		return nil
	})
}

// File reads the file and returns it with its data version. A file without
// dataVersion (never changed by the admin codes) is at counter 0, changed
// at its modification time (RocketMQ reports the time it loaded the file,
// which says less).
func (g *Guard) File() (*File, DataVersion, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f, err := g.readLocked()
	if err != nil {
		return nil, DataVersion{}, err
	}
	var v DataVersion
	if len(f.DataVersion) > 0 {
		v = f.DataVersion[0]
	} else if st, err := os.Stat(g.cfg.Path); err == nil {
		v.Timestamp = st.ModTime().UnixMilli()
	}
	return f, v, nil
}

func (g *Guard) readLocked() (*File, error) {
	data, err := os.ReadFile(g.cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("acl: %w", err)
	}
	return ParseFile(data)
}

// edit applies change to the file, checks the result, bumps the data
// version, writes it (atomically: a temporary file renamed over it) and
// reloads the rules.
func (g *Guard) edit(change func(*File) error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	f, err := g.readLocked()
	if err != nil {
		return err
	}
	if err := change(f); err != nil {
		return err
	}
	if _, err := compile(f); err != nil {
		return err
	}
	var v DataVersion
	if len(f.DataVersion) > 0 {
		v = f.DataVersion[0]
	}
	v.Counter++
	v.Timestamp = time.Now().UnixMilli()
	f.DataVersion = []DataVersion{v}
	data, err := f.Marshal()
	if err != nil {
		return err
	}
	if err := writeFileAtomic(g.cfg.Path, data); err != nil {
		return err
	}
	_, err = g.loadLocked()
	return err
}

func writeFileAtomic(path string, data []byte) error {
	mode := os.FileMode(0o600)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".plain_acl-*.yml")
	if err != nil {
		return fmt.Errorf("acl: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this fails harmlessly
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("acl: write %s: %w", path, err)
	}
	return nil
}

// AdminInfo names the server in GET_BROKER_CLUSTER_ACL_INFO answers.
type AdminInfo struct {
	BrokerName, BrokerAddr, ClusterName string
}

// Processors returns the processors of the ACL admin codes (50 to 54), as
// RocketMQ's AdminBrokerProcessor answers them. The Guard's Intercept checks
// that the caller is an admin before they run.
func (g *Guard) Processors(info AdminInfo) map[protocol.RequestCode]remoting.ProcessorFunc {
	fail := func(req *protocol.Command, code protocol.ResponseCode, err error) *protocol.Command {
		g.log.Warn("acl: admin request failed", "code", req.RequestCode(), "err", err)
		return protocol.NewResponse(req, code, err.Error())
	}
	ok := func(req *protocol.Command) *protocol.Command { return protocol.NewResponse(req, protocol.Success, "") }
	return map[protocol.RequestCode]remoting.ProcessorFunc{
		protocol.UpdateAndCreateACLConfig: func(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
			a, err := accountFromExt(req.ExtFields)
			if err == nil {
				err = g.UpdateAccount(a)
			}
			if err != nil {
				return fail(req, protocol.UpdateAndCreateACLConfigFailed, err), nil
			}
			g.log.Info("acl: account updated", "access_key", a.AccessKey, "admin", a.Admin)
			return ok(req), nil
		},
		protocol.DeleteACLConfig: func(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
			ak := req.Ext("accessKey")
			if err := g.DeleteAccount(ak); err != nil {
				return fail(req, protocol.DeleteACLConfigFailed, err), nil
			}
			g.log.Info("acl: account deleted", "access_key", ak)
			return ok(req), nil
		},
		protocol.UpdateGlobalWhiteAddrsConfig: func(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
			addrs := splitList(req.Ext("globalWhiteAddrs"))
			err := g.checkFile(req.Ext("aclFileFullPath"))
			if err == nil {
				err = g.SetGlobalWhiteAddrs(addrs)
			}
			if err != nil {
				return fail(req, protocol.UpdateGlobalWhiteAddrsConfigFailed, err), nil
			}
			g.log.Info("acl: global white addresses set", "addrs", strings.Join(addrs, ","))
			return ok(req), nil
		},
		protocol.GetBrokerClusterACLInfo: func(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
			_, v, err := g.File()
			if err != nil {
				return fail(req, protocol.SystemError, err), nil
			}
			vj, _ := json.Marshal(v)
			resp := ok(req)
			resp.SetExt("version", string(vj))
			resp.SetExt("brokerName", info.BrokerName)
			resp.SetExt("brokerAddr", info.BrokerAddr)
			resp.SetExt("clusterName", info.ClusterName)
			all, _ := json.Marshal(map[string]DataVersion{g.cfg.Path: v})
			resp.SetExt("allAclFileVersion", string(all))
			return resp, nil
		},
		protocol.GetBrokerClusterACLConfig: func(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
			f, _, err := g.File()
			if err != nil {
				return fail(req, protocol.SystemError, err), nil
			}
			out := struct {
				GlobalWhiteAddrs   []string  `json:"globalWhiteAddrs"`
				PlainAccessConfigs []Account `json:"plainAccessConfigs"`
			}{GlobalWhiteAddrs: f.GlobalWhiteRemoteAddresses, PlainAccessConfigs: f.Accounts}
			if out.GlobalWhiteAddrs == nil {
				out.GlobalWhiteAddrs = []string{}
			}
			for i := range out.PlainAccessConfigs {
				out.PlainAccessConfigs[i].SecretKey = maskedSecret
			}
			b, err := json.Marshal(out)
			if err != nil {
				return nil, err
			}
			resp := ok(req)
			resp.Body = b
			return resp, nil
		},
	}
}

// checkFile accepts the aclFileFullPath of UPDATE_GLOBAL_WHITE_ADDRS_CONFIG
// when it is empty or names the Guard's file. RocketMQ 4.9 keeps several ACL
// files and rewrites whichever file the request names; a Petrel broker has
// one, and must not rewrite another file on a client's say-so.
func (g *Guard) checkFile(path string) error {
	if path == "" || filepath.Clean(path) == filepath.Clean(g.cfg.Path) {
		return nil
	}
	return fmt.Errorf("acl: aclFileFullPath %q is not this broker's ACL file (%s)", path, g.cfg.Path)
}

// accountFromExt reads CreateAccessConfigRequestHeader: the perm lists are
// comma-separated ("topicA=PUB,topicB=SUB").
func accountFromExt(ext map[string]string) (Account, error) {
	a := Account{
		AccessKey:          ext["accessKey"],
		SecretKey:          ext["secretKey"],
		WhiteRemoteAddress: ext["whiteRemoteAddress"],
		DefaultTopicPerm:   ext["defaultTopicPerm"],
		DefaultGroupPerm:   ext["defaultGroupPerm"],
		TopicPerms:         splitList(ext["topicPerms"]),
		GroupPerms:         splitList(ext["groupPerms"]),
	}
	if a.AccessKey == "" {
		return a, errors.New("acl: accessKey is required")
	}
	if v := ext["admin"]; v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return a, fmt.Errorf("acl: admin %q is not true or false", v)
		}
		a.Admin = b
	}
	return a, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
