// Package auth signs requests the way RocketMQ 4.x's ACL 1.0 clients do, so
// that a broker or name server with aclEnable=true accepts them.
//
// A signed request carries three extension fields: AccessKey, the optional
// SecurityToken and Signature. The signature is the standard base64 encoding
// of HMAC-SHA1, keyed with the UTF-8 bytes of the secret key, over the
// request's content: the values (not the keys) of every extension field but
// Signature, concatenated in ascending key order, followed by the body bytes.
// AccessKey and SecurityToken are added before the content is computed, so
// they are signed too. This is what RocketMQ's AclClientRPCHook sends and
// what rocketmq-client-go v2.1.2 sends (except that the Go client leaves the
// SecurityToken value out of the content; see Content).
//
// Servers recompute the signature with the secret key of the account the
// AccessKey names (see internal/acl); a request whose fields or body changed
// after signing no longer matches.
//
// The package imports only the standard library and protocol. Its functions
// are safe for concurrent use; Sign modifies the command it is given.
//
//	creds := auth.Credentials{AccessKey: "rocketmq2", SecretKey: "12345678"}
//	req := protocol.NewRequest(protocol.UpdateAndCreateTopic, ext)
//	creds.Sign(req) // before encoding, after the last change to ext and body
package auth
