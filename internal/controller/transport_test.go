package controller

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// TestMuxSplitsConnections: one port, two listeners. A Raft dial of the
// right group reaches the Raft side with its preamble consumed; one of
// another group is closed unseen; anything else reaches the remoting side
// with its first byte intact.
func TestMuxSplitsConnections(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	m := newMux(ln, "g", slog.New(slog.DiscardHandler))
	m.start()
	defer func() { require.NoError(t, m.close()) }()
	addr := raft.ServerAddress(ln.Addr().String())

	other, err := newStreamLayer(m.raft, "x:1", "other-group")
	require.NoError(t, err)
	c, err := other.Dial(addr, time.Second)
	require.NoError(t, err)
	_ = c.SetReadDeadline(time.Now().Add(waitLong))
	_, err = c.Read(make([]byte, 1))
	require.Error(t, err)
	require.False(t, errors.Is(err, os.ErrDeadlineExceeded), "the mux must close a connection of another group")
	_ = c.Close()

	same, err := newStreamLayer(m.raft, "x:1", "g")
	require.NoError(t, err)
	c, err = same.Dial(addr, time.Second)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("raft"))
	require.NoError(t, err)
	got, err := m.raft.Accept()
	require.NoError(t, err)
	defer got.Close()
	buf := make([]byte, 4)
	_, err = io.ReadFull(got, buf)
	require.NoError(t, err)
	require.Equal(t, "raft", string(buf))

	rc, err := net.Dial("tcp", string(addr))
	require.NoError(t, err)
	defer rc.Close()
	_, err = rc.Write([]byte{0, 0, 0, 9, 'x'})
	require.NoError(t, err)
	got2, err := m.rpc.Accept()
	require.NoError(t, err)
	defer got2.Close()
	buf = make([]byte, 5)
	_, err = io.ReadFull(got2, buf)
	require.NoError(t, err)
	require.Equal(t, []byte{0, 0, 0, 9, 'x'}, buf)

	// Closing the mux closes the Raft connections it handed out.
	require.NoError(t, m.close())
	_, err = got.Read(make([]byte, 1))
	require.Error(t, err)
}
