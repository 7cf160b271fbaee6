package console_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/console"
	"github.com/petrelmq/petrel/internal/testutil"
)

func TestParseUsers(t *testing.T) {
	t.Parallel()
	users, err := console.ParseUsers(strings.NewReader("# RocketMQ dashboard style\n\nadmin=adm1n,1\n! viewer\nviewer = v,iew ,0\nplain=a,b\n"))
	require.NoError(t, err)
	require.Equal(t, []console.User{{Name: "admin", Password: "adm1n", Admin: true}, {Name: "viewer", Password: "v,iew "},
		{Name: "plain", Password: "a,b"}}, users)
	for in, want := range map[string]string{
		"":                        "no user",
		"# only a comment\n":      "no user",
		"nopassword\n":            "line 1: want name=password",
		"=secret\n":               "line 1: want name=password",
		"a=x\nb=,1\n":             "line 2: user b has an empty password",
		"a=topsecret\na=other\n":  "line 2: user a given twice",
		"a=topsecret\nbad line\n": "line 2",
	} {
		_, err := console.ParseUsers(strings.NewReader(in))
		require.ErrorContains(t, err, want, in)
		require.NotContains(t, err.Error(), "topsecret", in)
	}
}

// syncBuffer is a log sink safe for the console's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// loginWorld is a console with the login on (users admin and viewer) over
// a cluster, logging to logs.
func loginWorld(t *testing.T) (base string, logs *syncBuffer) {
	t.Helper()
	c := testutil.StartCluster(t)
	logs = &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	con, err := console.New(console.Config{Addr: "127.0.0.1:0", NameServers: []string{c.NameServerAddr}, CacheTTL: time.Millisecond,
		Users: []console.User{{Name: "admin", Password: "Adm1n-pw", Admin: true}, {Name: "viewer", Password: "View-pw"}}}, log)
	require.NoError(t, err)
	require.NoError(t, con.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, con.Close()) })
	return "http://" + con.Addr().String(), logs
}

// With users configured, every page and API needs a session: the login
// refuses a wrong password (never logging it), sets a cookie for a right
// one, read-only users may not change anything, and logout ends the session.
func TestConsoleLogin(t *testing.T) {
	base, logs := loginWorld(t)
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	anon := &http.Client{CheckRedirect: noRedirect}
	do := func(c *http.Client, method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		if resp.StatusCode == http.StatusSeeOther {
			return resp.StatusCode, resp.Header.Get("Location")
		}
		return resp.StatusCode, string(b)
	}

	// No session: APIs answer 401, pages send to the login page, which
	// (with its script and style) is served.
	for _, p := range []string{"/api/cluster", "/api/topics", "/api/dlq/export?group=g", "/api/whoami"} {
		code, body := do(anon, "GET", p, "")
		require.Equal(t, http.StatusUnauthorized, code, p)
		require.Contains(t, body, "login required", p)
	}
	code, body := do(anon, "POST", "/api/topic", `{"name":"X"}`)
	require.Equal(t, http.StatusUnauthorized, code, body)
	for _, p := range []string{"/", "/index.html", "/app.js"} {
		code, loc := do(anon, "GET", p, "")
		require.Equal(t, http.StatusSeeOther, code, p)
		require.Equal(t, "/login.html", loc, p)
	}
	for _, p := range []string{"/login.html", "/login.js", "/style.css"} {
		code, _ := do(anon, "GET", p, "")
		require.Equal(t, http.StatusOK, code, p)
	}

	// Wrong passwords and unknown users are refused alike.
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	admin := &http.Client{Jar: jar, CheckRedirect: noRedirect}
	code, body = do(admin, "POST", "/api/login", `{"user":"admin","password":"Wrong-secret-1"}`)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, body, "wrong user name or password")
	code, body = do(admin, "POST", "/api/login", `{"user":"ghost","password":"Wrong-secret-2"}`)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, body, "wrong user name or password")
	code, _ = do(admin, "GET", "/api/cluster", "")
	require.Equal(t, http.StatusUnauthorized, code)
	code, body = do(admin, "POST", "/api/login", `{"user":`)
	require.Equal(t, http.StatusBadRequest, code, body)

	code, body = do(admin, "POST", "/api/login", `{"user":"admin","password":"Adm1n-pw"}`)
	require.Equal(t, http.StatusOK, code, body)
	code, body = do(admin, "GET", "/api/cluster", "")
	require.Equal(t, http.StatusOK, code, body)
	code, body = do(admin, "GET", "/api/whoami", "")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"login":true,"user":"admin","admin":true}`, body)
	code, _ = do(admin, "GET", "/", "")
	require.Equal(t, http.StatusOK, code)
	code, body = do(admin, "POST", "/api/topic", `{"name":"ByAdmin","queues":2}`)
	require.Equal(t, http.StatusOK, code, body)

	// A read-only user reads but does not change.
	jar2, err := cookiejar.New(nil)
	require.NoError(t, err)
	viewer := &http.Client{Jar: jar2, CheckRedirect: noRedirect}
	code, body = do(viewer, "POST", "/api/login", `{"user":"viewer","password":"View-pw"}`)
	require.Equal(t, http.StatusOK, code, body)
	code, _ = do(viewer, "GET", "/api/topics", "")
	require.Equal(t, http.StatusOK, code)
	for _, p := range []string{"/api/topic", "/api/topic/delete", "/api/topic/update", "/api/topic/send", "/api/dlq/resend", "/api/group/reset"} {
		code, body := do(viewer, "POST", p, `{"name":"ByAdmin"}`)
		require.Equal(t, http.StatusForbidden, code, p)
		require.Contains(t, body, "may only read", p)
	}

	// Logout ends the session: the old cookie no longer works.
	code, _ = do(admin, "POST", "/api/logout", "{}")
	require.Equal(t, http.StatusOK, code)
	code, _ = do(admin, "GET", "/api/cluster", "")
	require.Equal(t, http.StatusUnauthorized, code)

	// Ten failures in a minute from one address (two above): refused for
	// the minute, even with the right password.
	for range 8 {
		code, _ = do(anon, "POST", "/api/login", `{"user":"viewer","password":"Wrong-secret-3"}`)
		require.Equal(t, http.StatusUnauthorized, code)
	}
	code, body = do(anon, "POST", "/api/login", `{"user":"viewer","password":"View-pw"}`)
	require.Equal(t, http.StatusTooManyRequests, code, body)

	// Passwords, right or wrong, never reach the log; refusals do.
	out := logs.String()
	require.Contains(t, out, `login refused: wrong password" user=admin`)
	require.Contains(t, out, "login refused: unknown user")
	require.NotContains(t, out, "ghost") // maybe a password in the wrong field
	for _, pw := range []string{"Adm1n-pw", "View-pw", "Wrong-secret"} {
		require.NotContains(t, out, pw)
	}
}

// Without users the console has no login.
func TestConsoleNoLogin(t *testing.T) {
	w := setup(t)
	var who map[string]any
	require.Equal(t, http.StatusOK, w.getJSON(t, "/api/whoami", &who))
	require.Equal(t, map[string]any{"login": false}, who)
	var e apiErr
	require.Equal(t, http.StatusBadRequest, w.post(t, "/api/login", `{"user":"a","password":"b"}`, &e))
	require.Contains(t, e.Error, "no login")
}
