package main

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// The console's users file: read for the login, refused with the file and
// line when malformed, a warning when others may read it; the passwords
// never reach the log.
func TestConsoleUsersFile(t *testing.T) {
	log, buf := bufLogger()
	users, err := consoleUsers(log, "")
	require.NoError(t, err)
	require.Nil(t, users) // no file: no login

	good := writeConf(t, "users.properties", "# console users", "admin=Pa55-admin,1", "ops=Pa55-ops")
	require.NoError(t, os.Chmod(good, 0o600))
	users, err = consoleUsers(log, good)
	require.NoError(t, err)
	require.Len(t, users, 2)
	require.True(t, users[0].Admin)
	require.False(t, users[1].Admin)
	require.Contains(t, buf.String(), "console: login on")
	require.NotContains(t, buf.String(), "readable by others")

	require.NoError(t, os.Chmod(good, 0o644))
	_, err = consoleUsers(log, good)
	require.NoError(t, err)
	require.Contains(t, buf.String(), "readable by others")

	bad := writeConf(t, "users.properties", "admin=Pa55-admin,1", "ops")
	_, err = consoleUsers(log, bad)
	require.ErrorContains(t, err, bad)
	require.ErrorContains(t, err, "line 2")
	require.NotContains(t, err.Error(), "Pa55")
	_, err = consoleUsers(log, bad+".missing")
	require.ErrorContains(t, err, "console users file")
	require.NotContains(t, buf.String(), "Pa55")

	// The commands refuse a bad file before serving.
	require.ErrorContains(t, runCmd(t, "console", "--users-file", bad), "line 2")
	require.ErrorContains(t, runCmd(t, "standalone", "--store", t.TempDir(), "--console-users", bad), "line 2")
	require.ErrorIs(t, runCmd(t, "console", "--users-file", good), errLoaded)
}
