package controller

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/petrelmq/petrel/internal/acl"
	"github.com/petrelmq/petrel/pkg/auth"
	"github.com/petrelmq/petrel/pkg/protocol"
)

// With aclEnable, a Raft connection is authenticated after its preamble
// (magic, group), before Raft's own bytes:
//
//	acceptor → dialer: nonce, 16 random bytes
//	dialer → acceptor: len(accessKey) (1 byte), accessKey,
//	                   len(signature) (1 byte), signature
//	acceptor → dialer: raftAuthOK (1 byte), or the connection closes
//
// The signature is RocketMQ's request signature (auth.Sign: HMAC-SHA1,
// base64) over the extension fields AccessKey, raftGroup and raftNonce (the
// nonce in hex), and the acceptor checks it with the ACL file as it checks a
// CONTROLLER_ELECT_MASTER request: the account must exist, be an admin, and
// be allowed from the dialer's address (or the address is globally white
// listed). A fresh nonce per connection makes a recorded handshake useless.
const (
	raftNonceLen = 16
	raftAuthOK   = 0x00
	// raftPeerCode is the request code a Raft peer is checked as: a peer
	// can decide elections, so it needs what an election request needs.
	raftPeerCode = protocol.ControllerElectMaster

	extRaftGroup = "raftGroup"
	extRaftNonce = "raftNonce"
)

// raftAuth authenticates Raft connections; nil means none (aclEnable off).
type raftAuth struct {
	creds auth.Credentials        // this controller's, for the connections it dials
	check func(acl.Request) error // the ACL file's check, for those it accepts
}

// raftExt is what the signature covers.
func raftExt(accessKey, group string, nonce []byte) map[string]string {
	return map[string]string{auth.FieldAccessKey: accessKey, extRaftGroup: group, extRaftNonce: hex.EncodeToString(nonce)}
}

// accept runs the acceptor's side on c (deadlines are the caller's).
func (a *raftAuth) accept(c net.Conn, group string) error {
	nonce := make([]byte, raftNonceLen)
	_, _ = rand.Read(nonce)
	if _, err := c.Write(nonce); err != nil {
		return err
	}
	ak, err := readShort(c)
	if err != nil {
		return err
	}
	sig, err := readShort(c)
	if err != nil {
		return err
	}
	ext := raftExt(ak, group, nonce)
	ext[auth.FieldSignature] = sig
	if err := a.check(acl.Request{Code: raftPeerCode, Ext: ext, Remote: c.RemoteAddr().String()}); err != nil {
		return err
	}
	_, err = c.Write([]byte{raftAuthOK})
	return err
}

// dial runs the dialer's side on c (deadlines are the caller's).
func (a *raftAuth) dial(c net.Conn, group string) error {
	nonce := make([]byte, raftNonceLen)
	if _, err := io.ReadFull(c, nonce); err != nil {
		return fmt.Errorf("controller: Raft handshake (does the peer run with aclEnable=true too?): %w", err)
	}
	sig := auth.Sign(raftExt(a.creds.AccessKey, group, nonce), nil, a.creds.SecretKey)
	msg := appendShort(appendShort(nil, a.creds.AccessKey), sig)
	if _, err := c.Write(msg); err != nil {
		return err
	}
	var ok [1]byte
	if _, err := io.ReadFull(c, ok[:]); err != nil || ok[0] != raftAuthOK {
		return errors.New("controller: the peer refused this controller's Raft credentials (accessKey/secretKey: an admin account of its ACL file)")
	}
	return nil
}

func appendShort(b []byte, s string) []byte { return append(append(b, byte(len(s))), s...) }

// readShort reads a string of at most 255 bytes preceded by its length.
func readShort(r io.Reader) (string, error) {
	var n [1]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return "", err
	}
	b := make([]byte, n[0])
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return string(b), nil
}

// handshakeTimeout bounds a dialer's wait for the acceptor's answers.
const handshakeTimeout = 10 * time.Second
