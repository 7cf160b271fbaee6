package acl

import (
	"fmt"
	"strings"

	"github.com/petrelmq/petrel/pkg/auth"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// uniqueKeyQueryField is left out of the signed content by RocketMQ's
// broker (MixAll.UNIQUE_MSG_QUERY_FLAG) although its clients sign it; Check
// accepts either.
const uniqueKeyQueryField = "_UNIQUE_KEY_QUERY"

// traceTopic is RMQ_SYS_TRACE_TOPIC: publishing traces needs no topic
// permission, as in RocketMQ 4.9.
const traceTopic = "RMQ_SYS_TRACE_TOPIC"

// DeniedError says why a request was refused. Reason never holds a secret.
type DeniedError struct {
	Code      protocol.RequestCode
	AccessKey string // "" when the request carried none
	Remote    string
	Reason    string
}

func (e *DeniedError) Error() string { return e.Reason }

// BrokerAdminCodes are the broker request codes that need an admin account:
// RocketMQ 4.9's (UPDATE_AND_CREATE_TOPIC, UPDATE_BROKER_CONFIG,
// DELETE_TOPIC_IN_BROKER, UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
// DELETE_SUBSCRIPTIONGROUP) and, beyond RocketMQ, the ACL admin codes (so an
// ordinary account cannot make itself admin), resetting offsets and forcing
// file deletion.
var BrokerAdminCodes = codeSet(protocol.UpdateAndCreateTopic, protocol.UpdateBrokerConfig,
	protocol.DeleteTopicInBroker, protocol.UpdateAndCreateSubscription, protocol.DeleteSubscriptionGroup,
	protocol.UpdateAndCreateACLConfig, protocol.DeleteACLConfig, protocol.GetBrokerClusterACLInfo,
	protocol.UpdateGlobalWhiteAddrsConfig, protocol.GetBrokerClusterACLConfig,
	protocol.InvokeBrokerToResetOffset, protocol.TriggerDeleteFiles, protocol.CleanExpiredConsumeQueue,
	protocol.CleanUnusedTopic)

// NameServerAdminCodes are the name server request codes that change state:
// with ACL on they need a signed request from an admin account (RocketMQ
// 4.x checks nothing on the name server). Route and config reads stay open.
var NameServerAdminCodes = codeSet(protocol.PutKVConfig, protocol.DeleteKVConfig, protocol.RegisterBroker,
	protocol.UnregisterBroker, protocol.WipeWritePermOfBroker, protocol.AddWritePermOfBroker,
	protocol.UpdateNamesrvConfig, protocol.DeleteTopicInNamesrv)

// ControllerAdminCodes are the controller request codes that change a broker
// set (registration, liveness, SyncStateSet, elections, removal): with ACL
// on they need a signed request from an admin account (RocketMQ's
// controller checks nothing). Reads of a set's state stay open.
// A Raft connection between controllers is checked as
// CONTROLLER_ELECT_MASTER.
var ControllerAdminCodes = codeSet(protocol.ControllerRegisterBroker, protocol.BrokerHeartbeat,
	protocol.ControllerAlterSyncStateSet, protocol.ControllerElectMaster, protocol.CleanBrokerData)

func codeSet(codes ...protocol.RequestCode) map[protocol.RequestCode]bool {
	m := make(map[protocol.RequestCode]bool, len(codes))
	for _, c := range codes {
		m[c] = true
	}
	return m
}

// Request is what Check looks at.
type Request struct {
	Code   protocol.RequestCode
	Ext    map[string]string
	Body   []byte
	Remote string // "ip:port"
}

// check applies r to req: global white list, account, account white
// address, signature, admin flag, then every resource the request touches.
func (r *rules) check(req Request, admin map[protocol.RequestCode]bool) error {
	deny := func(ak, format string, args ...any) error {
		return &DeniedError{Code: req.Code, AccessKey: ak, Remote: req.Remote, Reason: fmt.Sprintf(format, args...)}
	}
	ip := remoteIP(req.Remote)
	for i := range r.global {
		if r.global[i].match(ip) {
			return nil
		}
	}
	ak := req.Ext[auth.FieldAccessKey]
	if ak == "" {
		return deny("", "No accessKey is configured")
	}
	acct := r.accounts[ak]
	if acct == nil {
		return deny(ak, "No acl config for %s", ak)
	}
	if acct.white.match(ip) {
		return nil
	}
	if !signed(req, acct.secretKey) {
		return deny(ak, "Check signature failed for accessKey=%s", ak)
	}
	if admin[req.Code] && !acct.admin {
		return deny(ak, "Need admin permission for request code=%d, but accessKey=%s is not admin", req.Code, ak)
	}
	need, err := resources(req)
	if err != nil {
		return deny(ak, "%v", err)
	}
	if len(need) == 1 && need[0].name == traceTopic && need[0].perm == Pub {
		return nil
	}
	if len(acct.perms) == 0 && acct.admin {
		return nil
	}
	for _, n := range need {
		if n.name == "" {
			continue
		}
		group := strings.HasPrefix(n.name, retryPrefix)
		owned, explicit := acct.perms[n.name]
		if !explicit {
			owned = acct.defTopic
			if group {
				owned = acct.defGroup
			}
		}
		if !grants(n.perm, owned) {
			what := "topic=" + n.name
			if group {
				what = "group=" + strings.TrimPrefix(n.name, retryPrefix)
			}
			if explicit {
				return deny(ak, "No permission for %s (%s needed, %s granted)", what, n.perm, owned)
			}
			return deny(ak, "No default permission for %s (%s needed, default %s)", what, n.perm, owned)
		}
	}
	return nil
}

// signed reports whether req's Signature is the HMAC of its content with
// secret.
func signed(req Request, secret string) bool {
	sig, ok := req.Ext[auth.FieldSignature]
	if !ok || sig == "" {
		return false
	}
	if auth.Equal(sig, auth.Sign(req.Ext, req.Body, secret, uniqueKeyQueryField)) {
		return true
	}
	if _, has := req.Ext[uniqueKeyQueryField]; has {
		return auth.Equal(sig, auth.Sign(req.Ext, req.Body, secret))
	}
	return false
}

// need is one resource a request touches and the permission it needs.
type need struct {
	name string // topic, or %RETRY%group
	perm Perm
}

// resources returns what req touches, as RocketMQ 4.9's PlainAccessResource
// parses it, plus the batch and reply sends (which RocketMQ leaves
// unchecked). A retry topic is its group's resource.
func resources(req Request) ([]need, error) {
	ext := req.Ext
	group := func(g string) string {
		if g == "" {
			return ""
		}
		return retryPrefix + g
	}
	// A send to a retry topic (%RETRY%group) needs SUB on the group: the
	// retry topic is the group's resource name. RocketMQ derives the group
	// from a header field instead, which for SEND_MESSAGE is not the one
	// clients set.
	send := func(topic string) []need {
		if strings.HasPrefix(topic, retryPrefix) {
			return []need{{topic, Sub}}
		}
		return []need{{topic, Pub}}
	}
	switch req.Code {
	case protocol.SendMessage, protocol.SendReplyMessage:
		return send(ext["topic"]), nil
	case protocol.SendMessageV2, protocol.SendReplyMessageV2:
		return send(ext["b"]), nil
	case protocol.SendBatchMessage:
		if t, ok := ext["b"]; ok {
			return send(t), nil
		}
		return send(ext["topic"]), nil
	case protocol.ConsumerSendMsgBack:
		return []need{{group(ext["group"]), Sub}, {ext["originTopic"], Pub}}, nil
	case protocol.PullMessage:
		return []need{{ext["topic"], Sub}, {group(ext["consumerGroup"]), Sub}}, nil
	case protocol.QueryMessage:
		return []need{{ext["topic"], Sub}}, nil
	case protocol.HeartBeat:
		hb, err := body.DecodeHeartbeat(req.Body)
		if err != nil {
			return nil, err
		}
		var out []need
		for _, c := range hb.ConsumerDataSet {
			out = append(out, need{group(c.GroupName), Sub})
			for _, s := range c.SubscriptionDataSet {
				out = append(out, need{s.Topic, Sub})
			}
		}
		return out, nil
	case protocol.UnregisterClient, protocol.GetConsumerListByGroup:
		return []need{{group(ext["consumerGroup"]), Sub}}, nil
	case protocol.UpdateConsumerOffset:
		return []need{{group(ext["consumerGroup"]), Sub}, {ext["topic"], Sub}}, nil
	}
	return nil, nil
}
