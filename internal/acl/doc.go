// Package acl is RocketMQ 4.x's ACL 1.0 ("plain ACL") for the broker and the
// name server: it reads plain_acl.yml, checks each request's signature and
// permissions, answers refused requests NO_PERMISSION, reloads the file when
// it changes, and serves the ACL admin request codes (50 to 54).
//
// # The check
//
// Guard.Check runs RocketMQ's PlainPermissionManager.validate order:
//
//  1. a peer whose IP matches globalWhiteRemoteAddresses passes;
//  2. the request must carry AccessKey ("No accessKey is configured") naming
//     an account ("No acl config for <key>");
//  3. a peer matching the account's whiteRemoteAddress passes;
//  4. Signature must equal base64(HMAC-SHA1(secretKey, content)), content
//     being the sorted extension field values and the body (package
//     pkg/auth) ("Check signature failed for accessKey=<key>");
//  5. an admin request code needs admin: true;
//  6. each resource the request touches (see resources: the send topic
//     needs PUB, a pull SUB on the topic and the group, a heartbeat SUB on
//     its groups and subscribed topics, ...) needs the permission from
//     topicPerms/groupPerms, else defaultTopicPerm/defaultGroupPerm. An
//     admin with no explicit perms may touch everything.
//
// Groups are resources named %RETRY%<group>, as in RocketMQ, so sending to a
// group's retry topic needs SUB on the group.
//
// Beyond RocketMQ: the ACL admin codes, offset resets and forced file
// deletion need admin (BrokerAdminCodes); the name server's state-changing
// codes need a signed admin request (NameServerAdminCodes) so that a forged
// REGISTER_BROKER cannot redirect producers; unknown permission words and
// bad address patterns are errors instead of a silent DENY; secrets are
// never logged nor sent back by GET_BROKER_CLUSTER_ACL_CONFIG.
//
// # The file
//
// A Guard is opened on one file and loads it whole; the rules are swapped
// atomically, so Check takes no lock. The reload loop compares the file's
// SHA-256 every ReloadInterval (500ms): an edit applies within a second, and
// a file that no longer parses is logged and ignored (the previous rules
// stay). The admin codes rewrite the file (temporary file, fsync, rename)
// and reload it before answering.
//
// # Ownership and imports
//
// The Guard owns its reload goroutine (Start/Close). The package imports the
// public packages and the YAML parser only; the broker and the name server
// install Guard.Intercept with remoting.Server.SetInterceptor.
package acl
