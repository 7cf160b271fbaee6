package controller

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/acl"
	"github.com/petrelmq/petrel/pkg/auth"
)

// TestRaftHandshakeNeedsAnAdminAccount: with aclEnable a Raft connection
// reaches Raft only after a handshake signed by an admin account of the
// acceptor's ACL file; a non-admin account, a wrong secret, or a dialer
// without the handshake is closed before Raft sees a byte.
func TestRaftHandshakeNeedsAnAdminAccount(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "plain_acl.yml")
	require.NoError(t, os.WriteFile(path, []byte(`accounts:
  - accessKey: ctlAdmin1
    secretKey: ctl-secret-1
    admin: true
  - accessKey: user00001
    secretKey: user-secret-1
`), 0o600))
	g, err := acl.Open(acl.Config{Path: path, AdminCodes: acl.ControllerAdminCodes, OnlyAdminCodes: true}, nil)
	require.NoError(t, err)
	admin := auth.Credentials{AccessKey: "ctlAdmin1", SecretKey: "ctl-secret-1"}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	m := newMux(ln, "g", slog.New(slog.DiscardHandler))
	m.auth = &raftAuth{creds: admin, check: g.Check}
	m.start()
	defer func() { require.NoError(t, m.close()) }()
	addr := raft.ServerAddress(ln.Addr().String())

	// dial connects as a controller whose Raft connections use a (nil: no
	// handshake) and writes "raft" once connected.
	dial := func(a *raftAuth) (net.Conn, error) {
		dln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		dm := newMux(dln, "g", slog.New(slog.DiscardHandler))
		dm.auth = a
		t.Cleanup(func() { _ = dm.close() })
		sl, err := newStreamLayer(dm.raft, "x:1", "g")
		require.NoError(t, err)
		c, err := sl.Dial(addr, time.Second)
		if err != nil {
			return nil, err
		}
		_, err = c.Write([]byte("raft"))
		return c, err
	}

	c, err := dial(&raftAuth{creds: admin})
	require.NoError(t, err)
	defer c.Close()
	got, err := m.raft.Accept()
	require.NoError(t, err)
	defer got.Close()
	buf := make([]byte, 4)
	_, err = io.ReadFull(got, buf)
	require.NoError(t, err)
	require.Equal(t, "raft", string(buf), "Raft gets the bytes after the handshake")

	for name, creds := range map[string]auth.Credentials{
		"non-admin":    {AccessKey: "user00001", SecretKey: "user-secret-1"},
		"wrong secret": {AccessKey: "ctlAdmin1", SecretKey: "not-the-secret"},
		"unknown key":  {AccessKey: "nobody001", SecretKey: "ctl-secret-1"},
	} {
		_, err := dial(&raftAuth{creds: creds})
		require.ErrorContains(t, err, "refused this controller's Raft credentials", name)
	}

	// A controller without aclEnable sends no handshake: its Raft bytes are
	// taken as one, refused, and the connection closed.
	c2, err := dial(nil)
	require.NoError(t, err)
	defer c2.Close()
	_ = c2.SetReadDeadline(time.Now().Add(waitLong))
	_, err = io.ReadFull(c2, make([]byte, raftNonceLen+1))
	require.Error(t, err)
	require.False(t, errors.Is(err, os.ErrDeadlineExceeded), "the acceptor must close it")
}
